package vmexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/scadaotel/scadaotel/internal/vmstore"
)

// segmentReadError means a segment could not be read at all (open, map, or
// an I/O fault while reading it): it is moved aside, never deleted.
type segmentReadError struct {
	path string
	err  error
}

func (e *segmentReadError) Error() string {
	return fmt.Sprintf("cannot read wal segment %q: %v", e.path, e.err)
}

func (e *segmentReadError) Unwrap() error { return e.err }

// readSegment maps the segment at path and scans it (see scanSegment).
// Mapping instead of reading keeps a large segment out of the heap; an I/O
// error under the mapping arrives as a fault, turned into a
// *segmentReadError instead of killing the process.
func readSegment(path string, fn func(payload []byte) error) (res segmentScan, err error) {
	f, err := os.Open(path)
	if err != nil {
		return res, &segmentReadError{path, err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, &segmentReadError{path, err}
	}
	if st.Size() == 0 {
		return scanSegment(nil, fn)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return res, &segmentReadError{path, fmt.Errorf("mmap: %w", err)}
	}
	defer func() { _ = unix.Munmap(data) }()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Only memory faults of the mapping; anything else is a bug.
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = &segmentReadError{path, fmt.Errorf("read fault at address %#x: %v", fault.Addr(), r)}
			return
		}
		panic(r)
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return scanSegment(data, fn)
}

// moveAside renames segment seq to <name>.damaged-<unix seconds> so that it
// is neither replayed nor deleted again, and returns the new path. When the
// rename fails the segment stays where it is, excluded from removal.
func (w *wal) moveAside(seq uint64) (string, error) {
	from := filepath.Join(w.dir, segmentName(seq))
	base := from + ".damaged-" + strconv.FormatInt(time.Now().Unix(), 10)
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(from, to); err != nil {
		w.keep[seq] = true
		return from, fmt.Errorf("cannot move damaged wal segment %q aside, it is kept in place: %w", from, err)
	}
	return to, syncDir(w.dir)
}

// replay adds the rows of a previous run's segments, persists them, and
// removes the segments. Rows that had already reached disk are written
// again with the same timestamps and collapse by deduplication.
//
// Damage never stops it: a damaged span is skipped and logged (file, byte
// range) at error level, replay resumes at the next intact record, and a
// damaged or unreadable segment is moved aside rather than deleted. Only an
// incomplete final record of the last segment written to (a crash mid-write: never
// acknowledged) is the benign case, logged at warn level and counted. An
// error is returned only when the storage refuses rows or cannot persist;
// the caller retries later.
func (e *vmExporter) replay(ctx context.Context, segs []uint64) error {
	if len(segs) == 0 {
		return nil
	}
	var rows []vmstore.Row
	total := 0
	var aside []uint64
	last := lastWritten(e.wal.dir, segs)
	for _, seq := range segs {
		path := filepath.Join(e.wal.dir, segmentName(seq))
		badRecords := 0
		res, err := readSegment(path, func(p []byte) error {
			var derr error
			rows, derr = decodeRecord(p, rows[:0])
			if derr != nil {
				// Checksums hold but the rows do not decode: written
				// wrong, so skipped like damage.
				badRecords++
				e.logger.Error("WAL record has intact checksums but cannot be decoded; skipped",
					zap.String("file", path), zap.Error(derr))
				return nil
			}
			total += len(rows)
			return e.store.Add(rows)
		})
		var rerr *segmentReadError
		if errors.As(err, &rerr) {
			e.mDamagedSegments.Add(ctx, 1)
			if st, serr := os.Stat(path); serr == nil {
				e.mDamagedBytes.Add(ctx, st.Size())
			}
			moved, merr := e.wal.moveAside(seq)
			e.logger.Error("WAL segment cannot be read; its samples are not replayed, the file is kept for inspection",
				zap.String("file", path), zap.String("kept_as", moved), zap.Error(errors.Join(err, merr)))
			continue
		}
		if err != nil {
			return fmt.Errorf("wal segment %q: %w", path, err)
		}
		e.mDamagedRegions.Add(ctx, int64(badRecords))
		if e.reportScan(ctx, path, seq >= last, res) || badRecords > 0 {
			aside = append(aside, seq)
		}
	}
	if err := e.store.Persist(); err != nil {
		return err
	}
	for _, seq := range aside {
		moved, err := e.wal.moveAside(seq)
		e.mDamagedSegments.Add(ctx, 1)
		e.logger.Error("damaged WAL segment kept for inspection after its intact records were replayed",
			zap.String("kept_as", moved), zap.Error(err))
	}
	if err := e.wal.RemoveBefore(e.wal.seq); err != nil {
		return err
	}
	e.mReplayed.Add(ctx, int64(total))
	e.logger.Info("replayed write-ahead log", zap.Int("segments", len(segs)), zap.Int("samples", total))
	return nil
}

// lastWritten returns the newest segment holding more than a file header:
// the one a crash can have cut mid-write. Segments after it were created by
// later starts (each opens a fresh segment before replaying) and never
// written to, so a torn tail before them is still the crash's.
func lastWritten(dir string, segs []uint64) uint64 {
	for i := len(segs) - 1; i > 0; i-- {
		st, err := os.Stat(filepath.Join(dir, segmentName(segs[i])))
		if err != nil || st.Size() > int64(len(segmentHeader)) {
			return segs[i]
		}
	}
	return segs[0]
}

// reportScan logs and counts what replay skipped in one segment, and
// reports whether the segment is damaged (to be kept aside).
func (e *vmExporter) reportScan(ctx context.Context, path string, isLast bool, res segmentScan) bool {
	damaged := res.Damaged
	if res.Torn != nil {
		if isLast {
			e.mTornTails.Add(ctx, 1)
			e.mTornBytes.Add(ctx, res.Torn.Len())
			e.logger.Warn("WAL ends in an incomplete record (crash during a write); it was never acknowledged",
				zap.String("file", path), zap.Int64("from_byte", res.Torn.From), zap.Int64("to_byte", res.Torn.To),
				zap.Int("records_replayed", res.Records))
		} else {
			// Only the newest segment written to can end mid-write.
			damaged = append(damaged, *res.Torn)
		}
	}
	for _, d := range damaged {
		e.mDamagedRegions.Add(ctx, 1)
		e.mDamagedBytes.Add(ctx, d.Len())
		msg := "WAL damage: bytes skipped, acknowledged samples in them are lost; replay resumed at the next intact record"
		if res.Format == 1 {
			msg = "WAL damage in a format-1 segment (no record markers to resume on): the rest of the segment is not replayed"
		}
		e.logger.Error(msg, zap.String("file", path), zap.Int64("from_byte", d.From), zap.Int64("to_byte", d.To),
			zap.Int64("bytes", d.Len()), zap.Int("records_replayed", res.Records))
	}
	return len(damaged) > 0
}
