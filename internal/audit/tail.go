package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Tail reads the trail in chain order from a sequence number on, each call
// returning only what was appended since the last one: an exporter polls it
// without re-reading files it has read. Not safe for concurrent use.
type Tail struct {
	dir  string
	next uint64 // the sequence number wanted next
	file string // the file being read ("" before the first call)
	off  int64  // bytes of file consumed (whole lines only)
}

// NewTail starts at sequence number from (0: the oldest record kept).
func NewTail(dir string, from uint64) *Tail { return &Tail{dir: dir, next: from} }

// Next is the position after the last record returned: the sequence number
// to persist and pass to NewTail after a restart.
func (t *Tail) Next() uint64 { return t.next }

// Read returns up to limit records appended since the last call (in order,
// Seq >= the position). A line being written (no newline yet) is left for
// the next call; a line that does not parse is skipped and reported in
// damaged (`scadaotel audit verify` names it).
func (t *Tail) Read(limit int) (recs []Record, damaged int, err error) {
	files, err := listFiles(t.dir)
	if err != nil {
		return nil, 0, err
	}
	i := slices.Index(files, t.file)
	if i < 0 { // first call, or the file was removed by retention: find next's file
		i, t.off = 0, 0
		for k, name := range files {
			if first, ok := firstSeqOf(name); ok && first <= t.next {
				i = k
			}
		}
	}
	for ; i < len(files) && len(recs) < limit; i++ {
		if files[i] != t.file {
			t.file, t.off = files[i], 0
		}
		got, bad, err := t.readFile(limit - len(recs))
		damaged += bad
		recs = append(recs, got...)
		if err != nil {
			return recs, damaged, err
		}
		if len(recs) >= limit {
			break
		}
	}
	if n := len(recs); n > 0 {
		t.next = recs[n-1].Seq + 1
	}
	return recs, damaged, nil
}

// readFile reads whole lines of t.file from t.off.
func (t *Tail) readFile(limit int) (recs []Record, damaged int, err error) {
	f, err := os.Open(filepath.Join(t.dir, t.file))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil // removed by retention meanwhile: the next call moves on
	}
	if err != nil {
		return nil, 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, t.off, 1<<62))
	if err != nil {
		return nil, 0, fmt.Errorf("audit: %w", err)
	}
	for len(recs) < limit {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break // nothing more, or a line still being written
		}
		line := data[:nl]
		data = data[nl+1:]
		t.off += int64(nl + 1)
		if len(line) == 0 {
			continue
		}
		var r Record
		if json.Unmarshal(line, &r) != nil {
			damaged++
			continue
		}
		if r.Seq < t.next {
			continue
		}
		recs = append(recs, r)
	}
	return recs, damaged, nil
}
