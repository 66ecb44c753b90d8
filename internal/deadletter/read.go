package deadletter

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/scadaotel/scadaotel/internal/recordio"
)

// Damage is a byte range of a dead-letter file that held no readable entry.
type Damage struct {
	File string
	recordio.Damage
}

// ReadFile calls fn for each readable entry of path at or after offset from,
// in order, with the offset just past it. Damaged ranges go to onDamage and
// are skipped; the entries after them are still read.
func ReadFile(path string, from int64, fn func(next int64, e Entry) error, onDamage func(Damage)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	if from < 0 || from > int64(len(data)) {
		return fmt.Errorf("%s: replay offset %d outside the file (%d bytes)", path, from, len(data))
	}
	return recordio.Scan(data[from:], func(off int64, p []byte) error {
		e, err := decodeEntry(p)
		if err != nil {
			if onDamage != nil {
				start := from + off
				onDamage(Damage{File: path, Damage: recordio.Damage{Start: start, End: start + int64(recordio.HeaderSize+len(p))}})
			}
			return nil
		}
		return fn(from+off+int64(recordio.HeaderSize+len(p)), e)
	}, func(d recordio.Damage) {
		if onDamage != nil {
			d.Start += from
			d.End += from
			onDamage(Damage{File: path, Damage: d})
		}
	})
}

// Progress is how far a replay got in path (0 when never replayed).
func Progress(path string) (int64, error) {
	b, err := os.ReadFile(path + progressExt)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s%s: %w", path, progressExt, err)
	}
	return n, nil
}

// SetProgress records, durably, that everything of path before offset was
// replayed, so a replay stopped halfway resumes without sending it twice.
func SetProgress(path string, offset int64) error {
	tmp := path + progressExt + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, filePerm)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatInt(offset, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path+progressExt)
}

// Remove deletes a fully replayed file and its progress.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	if err := os.Remove(path + progressExt); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
