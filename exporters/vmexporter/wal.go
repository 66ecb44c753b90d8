package vmexporter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// wal is a segmented write-ahead log with group commit: Append returns once
// its record is fsynced, and every fsync covers all records appended while
// the previous one ran (never one fsync per sample or per caller when
// callers overlap). The on-disk format is in walformat.go, reading it back
// (with damage) in walrecover.go.
//
// A failed write or fsync (ENOSPC, EIO) fails only the callers of that
// commit: the segment is truncated back to its last committed record, or,
// when that fails too, abandoned for a fresh segment, and the next Append
// tries again. The log never refuses "until restart".
type wal struct {
	dir   string
	guard *diskreserve.Guard // nil: no reserve check

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	seq     uint64 // current segment number
	size    int64  // committed bytes of the current segment
	broken  bool   // the current segment's end is unknown: start a new one
	buf     []byte // records waiting for the next commit
	spare   []byte
	cur     *commit // the commit buf belongs to
	writing bool
	closed  bool
	keep    map[uint64]bool // segments RemoveBefore must leave alone

	onCommit     func(bytes int) // self-metrics hooks
	onWriteError func(err error)
}

// commit is the outcome of one group commit, shared by its callers.
type commit struct {
	done bool
	err  error
}

const segmentSuffix = ".wal"

func segmentName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segmentSuffix) }

// openWAL opens dir, returning the log and the sorted numbers of the
// segments left by a previous run (to replay, then remove). New records go
// to a fresh segment numbered after them.
func openWAL(dir string) (*wal, []uint64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("cannot create wal directory %q: %w", dir, err)
	}
	old, err := listSegments(dir)
	if err != nil {
		return nil, nil, err
	}
	w := &wal{dir: dir, cur: &commit{}, keep: map[uint64]bool{}}
	w.cond = sync.NewCond(&w.mu)
	next := uint64(1)
	if len(old) > 0 {
		next = old[len(old)-1] + 1
	}
	if err := w.openSegment(next); err != nil {
		return nil, nil, err
	}
	return w, old, nil
}

func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list wal directory %q: %w", dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, n)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// openSegment creates segment seq with its file header, fsynced, and makes
// it current. On failure nothing of it is left and the current segment is
// unchanged.
func (w *wal) openSegment(seq uint64) error {
	path := filepath.Join(w.dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create wal segment %q: %w", path, err)
	}
	_, err = f.Write([]byte(segmentHeader))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot create wal segment %q: %w", path, err)
	}
	if w.f != nil {
		_ = w.f.Close()
	}
	w.f, w.seq, w.size, w.broken = f, seq, int64(len(segmentHeader)), false
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open wal directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot fsync wal directory %q: %w", dir, err)
	}
	return nil
}

// Append writes one record and returns once it is durable. While the
// volume is inside its disk reserve it refuses with a *diskreserve.FullError
// (retryable) before writing anything.
func (w *wal) Append(payload []byte) error {
	if len(payload) > maxRecordSize {
		return fmt.Errorf("wal record of %d bytes is over the %d-byte limit", len(payload), maxRecordSize)
	}
	if w.guard != nil {
		if err := w.guard.Check(); err != nil {
			return fmt.Errorf("wal %q: %w", w.dir, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("wal is closed")
	}
	w.buf = appendRecord(w.buf, payload)
	mine := w.cur
	if w.writing {
		// The leader commits our record with its next batch.
		for !mine.done {
			w.cond.Wait()
		}
		return mine.err
	}
	// Become the leader: commit batches until none is waiting.
	w.writing = true
	for len(w.buf) > 0 {
		batch, c := w.buf, w.cur
		w.buf, w.spare, w.cur = w.spare[:0], nil, &commit{}
		var err error
		if w.broken {
			if err = w.openSegment(w.seq + 1); err != nil {
				err = fmt.Errorf("batch not acknowledged: %w", err)
			}
		}
		if err == nil {
			f, size := w.f, w.size
			w.mu.Unlock()
			err = writeAndSync(f, batch)
			w.mu.Lock()
			if err != nil {
				err = w.recoverFailedWrite(f, size, err)
			} else {
				w.size += int64(len(batch))
				if w.onCommit != nil {
					w.onCommit(len(batch))
				}
			}
		}
		w.spare = batch[:0]
		c.err, c.done = err, true
		w.cond.Broadcast()
	}
	w.writing = false
	return mine.err
}

func writeAndSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

// recoverFailedWrite cuts segment f back to size, its last committed record,
// so the next commit appends after intact data. When that is impossible the
// segment is abandoned (its torn end is never acknowledged data) and the
// next commit starts a new one. Called with w.mu held.
func (w *wal) recoverFailedWrite(f *os.File, size int64, werr error) error {
	if w.onWriteError != nil {
		w.onWriteError(werr)
	}
	err := fmt.Errorf("wal write to %q failed (batch not acknowledged; the log accepts writes again once the cause is gone): %w", f.Name(), werr)
	if terr := f.Truncate(size); terr != nil {
		w.broken = true
		return errors.Join(err, fmt.Errorf("cannot truncate %q back to %d bytes, the next write starts a new segment: %w", f.Name(), size, terr))
	}
	if serr := f.Sync(); serr != nil {
		w.broken = true
		return errors.Join(err, fmt.Errorf("cannot fsync %q after truncating it, the next write starts a new segment: %w", f.Name(), serr))
	}
	return err
}

// Rotate starts the next segment and closes the current one. The caller
// guarantees that no Append is in flight. It returns the new segment's
// number: every older segment may be removed once its rows are persisted.
// When the new segment cannot be created, writes go on in the current one.
func (w *wal) Rotate() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errors.New("wal is closed")
	}
	if err := w.openSegment(w.seq + 1); err != nil {
		return 0, err
	}
	return w.seq, nil
}

// RemoveBefore deletes the segments numbered below seq.
func (w *wal) RemoveBefore(seq uint64) error {
	seqs, err := listSegments(w.dir)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s >= seq {
			break
		}
		if w.keep[s] {
			continue
		}
		if err := os.Remove(filepath.Join(w.dir, segmentName(s))); err != nil {
			return fmt.Errorf("cannot remove wal segment %d: %w", s, err)
		}
	}
	return syncDir(w.dir)
}

// Size returns the bytes held in segments on disk.
func (w *wal) Size() int64 {
	seqs, _ := listSegments(w.dir)
	var n int64
	for _, s := range seqs {
		if st, err := os.Stat(filepath.Join(w.dir, segmentName(s))); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Close closes the current segment.
func (w *wal) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}
