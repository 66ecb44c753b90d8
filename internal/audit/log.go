package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scadaotel/scadaotel/internal/secretfile"
)

// KeyFile is the chain key's file name in the audit directory's parent
// (the data directory), so that the log and its key can be kept apart.
const KeyFile = "audit.key"

const (
	filePrefix = "audit-"
	fileSuffix = ".jsonl"
	lockFile   = ".lock"
	// maxTail bounds how much of a file's end is read to find its last
	// record; Append bounds each record well below it.
	maxTail   = 64 << 10
	maxDetail = 1024
)

// Config of a Log.
type Config struct {
	Dir          string
	Key          []byte
	MaxFileBytes int64         // rotate once the active file is this big (> 0)
	Retention    time.Duration // remove older files (0: keep all)
	Now          func() time.Time
}

// Log appends records to the audit directory. Several processes may append
// to one directory (the appliance and the `tenants` command): each append
// holds an exclusive file lock and reads the chain's end from the file.
type Log struct {
	cfg Config
	mu  sync.Mutex
}

// Open creates the directory (0700) if needed and checks it can be locked.
func Open(cfg Config) (*Log, error) {
	if len(cfg.Key) == 0 {
		return nil, errors.New("audit: no key")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{cfg: cfg}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	unlock()
	return l, nil
}

// OpenDir opens the audit trail of dir with its key beside it (KeyFile in
// dir's parent, made on first use): the appliance and the `tenants` command
// share both.
func OpenDir(dir string, maxBytes int64, retention time.Duration) (*Log, error) {
	key, err := LoadKey(dir, true)
	if err != nil {
		return nil, err
	}
	return Open(Config{Dir: dir, Key: key, MaxFileBytes: maxBytes, Retention: retention})
}

// LoadKey reads the key of the audit trail in dir (creating it if asked).
func LoadKey(dir string, create bool) ([]byte, error) {
	path := filepath.Join(filepath.Dir(filepath.Clean(dir)), KeyFile)
	if !create {
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		return key, nil
	}
	return secretfile.LoadOrCreate(path, 32, "audit key")
}

// Dir is the audit directory.
func (l *Log) Dir() string { return l.cfg.Dir }

func (l *Log) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(l.cfg.Dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Append writes r as the chain's next record and returns once it is on
// disk. Seq, Time, Prev and Hash are set here.
func (l *Log) Append(r Record) (Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := l.lock()
	if err != nil {
		return Record{}, err
	}
	defer unlock()

	files, err := listFiles(l.cfg.Dir)
	if err != nil {
		return Record{}, err
	}
	var last Record
	var active string
	var size int64
	for i := len(files) - 1; i >= 0 && active == ""; i-- {
		rec, n, err := lastRecord(filepath.Join(l.cfg.Dir, files[i]))
		if err != nil {
			return Record{}, err
		}
		if n == 0 && i > 0 {
			continue // an empty file left by a crash right after a rotation
		}
		active, last, size = files[i], rec, n
	}
	r.Seq = last.Seq + 1
	r.Prev = last.Hash
	r.Time = l.cfg.Now().UTC()
	if len(r.Detail) > maxDetail {
		r.Detail = r.Detail[:maxDetail] + "…"
	}
	r.Hash = hashOf(l.cfg.Key, r)
	line, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')

	rotated := false
	if active == "" || size >= l.cfg.MaxFileBytes {
		active, rotated = fileName(r.Seq), true
	}
	path := filepath.Join(l.cfg.Dir, active)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Record{}, fmt.Errorf("audit: cannot write %s: %w", path, err)
	}
	if rotated {
		if d, err := os.Open(l.cfg.Dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
		l.removeExpired(files)
	}
	return r, nil
}

// removeExpired deletes files, never the newest, whose last record is older
// than the retention.
func (l *Log) removeExpired(files []string) {
	if l.cfg.Retention <= 0 {
		return
	}
	cutoff := l.cfg.Now().Add(-l.cfg.Retention)
	for _, name := range files {
		rec, _, err := lastRecord(filepath.Join(l.cfg.Dir, name))
		if err != nil || rec.Time.IsZero() || !rec.Time.Before(cutoff) {
			return // files are in chain order: the rest are newer
		}
		_ = os.Remove(filepath.Join(l.cfg.Dir, name))
	}
}

func fileName(firstSeq uint64) string {
	return fmt.Sprintf("%s%020d%s", filePrefix, firstSeq, fileSuffix)
}

// listFiles returns the audit files in chain order.
func listFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, filePrefix) && strings.HasSuffix(n, fileSuffix) && e.Type().IsRegular() {
			out = append(out, n)
		}
	}
	sort.Strings(out) // zero-padded first sequence numbers
	return out, nil
}

// lastRecord is the last complete record of a file and the file's size
// after a torn final line (a crash within a write) is cut off.
func lastRecord(path string) (Record, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Record{}, 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Record{}, 0, fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	from := max(0, size-maxTail)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return Record{}, 0, fmt.Errorf("audit: %w", err)
	}
	if cut := bytes.LastIndexByte(buf, '\n') + 1; cut < len(buf) {
		// A torn last line: it was never acknowledged (Append returns
		// after the sync), so it is removed rather than chained onto.
		if err := f.Truncate(from + int64(cut)); err != nil {
			return Record{}, 0, fmt.Errorf("audit: cannot cut a torn record off %s: %w", path, err)
		}
		buf, size = buf[:cut], from+int64(cut)
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	if len(buf) == 0 {
		return Record{}, size, nil
	}
	line := buf[bytes.LastIndexByte(buf, '\n')+1:]
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return Record{}, 0, fmt.Errorf("audit: the last record of %s is damaged (%v): run `scadaotel audit verify`", path, err)
	}
	return r, size, nil
}

// firstSeqOf parses a file name's first sequence number.
func firstSeqOf(name string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix), 10, 64)
	return n, err == nil
}
