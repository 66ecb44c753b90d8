// Package deadletter keeps, on disk, what an exporter's destination refused
// for good (malformed for it, too large even alone, refused by policy), so
// that nothing acknowledged disappears without a durable trace: the request
// is counted per tenant and reason, kept in checksummed records, and can be
// replayed once the cause is fixed (`scadaotel dead-letter replay`).
//
// Files are `deadletter-<seq>.log` in the exporter's directory, each a
// sequence of recordio records. A process writes one file per start, so a
// replay never races a writer on a file other than the newest.
package deadletter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/recordio"
)

// Config of one exporter's dead-letter area.
type Config struct {
	// Directory for this exporter's dead-letter files (required).
	Directory string `mapstructure:"directory"`
	// DiskReserve: free space kept on the volume; inside it a dead-letter
	// write fails with a retryable error and the request stays queued.
	DiskReserve diskreserve.Config `mapstructure:"disk_reserve"`
}

// Validate names the key at fault. Whether a directory is required is the
// component's call (see RequireDirectory).
func (c Config) Validate() error {
	return c.DiskReserve.Validate()
}

// RequireDirectory is the error for a component that needs the area.
func (c Config) RequireDirectory() error {
	if c.Directory == "" {
		return errors.New("dead_letter.directory: required (where refused requests are kept for replay)")
	}
	return nil
}

const (
	filePrefix   = "deadletter-"
	fileSuffix   = ".log"
	progressExt  = ".replayed"
	filePerm     = 0o600
	dirPerm      = 0o750
	maxFileBytes = 256 << 20 // a new file past this size
)

// Store appends entries, each fsync'ed before Put returns.
type Store struct {
	dir   string
	guard *diskreserve.Guard

	mu   sync.Mutex
	f    *os.File
	seq  int
	size int64
	buf  []byte
}

// Open creates the directory if needed. The first Put creates a new file.
func Open(cfg Config) (*Store, error) {
	if err := os.MkdirAll(cfg.Directory, dirPerm); err != nil {
		return nil, fmt.Errorf("dead-letter directory %s: %w", cfg.Directory, err)
	}
	files, err := Files(cfg.Directory)
	if err != nil {
		return nil, err
	}
	seq := 0
	if len(files) > 0 {
		seq = fileSeq(files[len(files)-1])
	}
	return &Store{dir: cfg.Directory, guard: diskreserve.New(cfg.Directory, cfg.DiskReserve), seq: seq}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Put appends e and fsyncs. An error means e is not stored: the caller keeps
// the request (a diskreserve.ErrFull error is retryable).
func (s *Store) Put(e Entry) error {
	if err := s.guard.Check(); err != nil {
		return fmt.Errorf("dead-letter write refused: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = recordio.Append(s.buf[:0], e.encode(nil))
	if len(s.buf)-recordio.HeaderSize > recordio.MaxPayload {
		return fmt.Errorf("dead-letter entry of %d bytes: %w", len(s.buf), recordio.ErrTooLarge)
	}
	if s.f == nil || s.size >= maxFileBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(s.buf)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		// Cut back to the last whole record so the file stays clean, and
		// start a fresh file next time.
		_ = s.f.Truncate(s.size)
		_ = s.f.Close()
		s.f = nil
		s.guard.Refresh()
		return fmt.Errorf("dead-letter write to %s: %w", s.dir, err)
	}
	s.size += int64(n)
	return nil
}

func (s *Store) rotate() error {
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			return err
		}
	}
	s.seq++
	name := filepath.Join(s.dir, fmt.Sprintf("%s%010d%s", filePrefix, s.seq, fileSuffix))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, filePerm)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil { // the new name survives a crash
		_ = d.Sync()
		_ = d.Close()
	}
	s.f, s.size = f, 0
	return nil
}

// Close closes the current file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Files lists a directory's dead-letter files, oldest first.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("dead-letter directory %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, filePrefix) && strings.HasSuffix(n, fileSuffix) && fileSeq(n) > 0 {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.SortFunc(out, func(a, b string) int { return fileSeq(a) - fileSeq(b) })
	return out, nil
}

func fileSeq(path string) int {
	n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), filePrefix), fileSuffix)
	seq, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return seq
}
