package vmexporter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// wal is a segmented write-ahead log with group commit: Append returns once
// its record is fsynced, and every fsync covers all records appended while
// the previous one ran (never one fsync per sample or per caller when
// callers overlap). Records are framed as [len u32][crc32c u32][payload];
// a torn or corrupt tail (kill -9 mid-write) ends replay of that segment.
type wal struct {
	dir string

	mu       sync.Mutex
	cond     *sync.Cond
	f        *os.File
	seq      uint64 // current segment number
	buf      []byte // records waiting for the next commit
	spare    []byte
	fillGen  uint64 // generation of the records in buf
	doneGen  uint64 // last generation fsynced
	writing  bool
	err      error // sticky: the log is unusable after a failed write
	closed   bool
	onCommit func(bytes int) // self-metrics hook
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

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
	w := &wal{dir: dir, fillGen: 1}
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

func (w *wal) openSegment(seq uint64) error {
	f, err := os.OpenFile(filepath.Join(w.dir, segmentName(seq)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create wal segment %d in %q: %w", seq, w.dir, err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = f.Close()
		return err
	}
	w.f, w.seq = f, seq
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

// Append writes one record and returns once it is durable.
func (w *wal) Append(payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("wal is closed")
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, crcTable))
	w.buf = append(w.buf, hdr[:]...)
	w.buf = append(w.buf, payload...)
	my := w.fillGen
	if w.writing {
		// The leader commits our record with its next batch.
		for w.doneGen < my && w.err == nil {
			w.cond.Wait()
		}
		return w.err
	}
	// Become the leader: commit batches until none is waiting.
	w.writing = true
	for len(w.buf) > 0 && w.err == nil {
		batch, gen := w.buf, w.fillGen
		w.buf, w.spare = w.spare[:0], nil
		w.fillGen++
		f := w.f
		w.mu.Unlock()
		_, err := f.Write(batch)
		if err == nil {
			err = f.Sync()
		}
		w.mu.Lock()
		if err != nil {
			w.err = fmt.Errorf("wal write to %q failed; refusing data until restart: %w", f.Name(), err)
		} else if w.onCommit != nil {
			w.onCommit(len(batch))
		}
		w.spare = batch[:0]
		w.doneGen = gen
		w.cond.Broadcast()
	}
	w.writing = false
	return w.err
}

// Rotate closes the current segment and starts the next one. The caller
// guarantees that no Append is in flight. It returns the new segment's
// number: every older segment may be removed once its rows are persisted.
func (w *wal) Rotate() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if err := w.f.Close(); err != nil {
		w.err = fmt.Errorf("cannot close wal segment: %w", err)
		return 0, w.err
	}
	if err := w.openSegment(w.seq + 1); err != nil {
		w.err = err
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

// replaySegment calls fn for every intact record of segment seq, in order.
// It returns how many records it read and whether the segment ended in a
// torn or corrupt record (expected after kill -9 during a write).
func replaySegment(dir string, seq uint64, fn func(payload []byte) error) (n int, torn bool, err error) {
	f, err := os.Open(filepath.Join(dir, segmentName(seq)))
	if err != nil {
		return 0, false, fmt.Errorf("cannot open wal segment %d: %w", seq, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [8]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return n, false, nil
			}
			return n, true, nil
		}
		size := binary.LittleEndian.Uint32(hdr[:4])
		if size > 1<<30 {
			return n, true, nil
		}
		if cap(payload) < int(size) {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if _, err := io.ReadFull(r, payload); err != nil {
			return n, true, nil
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return n, true, nil
		}
		if err := fn(payload); err != nil {
			return n, false, fmt.Errorf("wal segment %d record %d: %w", seq, n, err)
		}
		n++
	}
}
