package logstorageextension

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/scadaotel/scadaotel/internal/recordio"
)

// segLog is one client's log: segment files of records, an in-memory index
// of live keys pointing at their values in the files, and group commit.
//
// Durability: a write that adds a key (a queue item) returns only after an
// fsync that covers it; concurrent such writes share one fsync. Overwrites
// and deletes (the queue's cursor moves) return at once and become durable
// with the next fsync, the periodic one at the latest. The log is one
// sequence, so an fsync makes every earlier record durable too, and a
// restart sees a prefix of the writes: always a state the queue was in.
type segLog struct {
	dir    string
	opts   logOptions
	logger *zap.Logger

	mu       sync.Mutex
	index    map[string]location
	segs     []*segment // oldest first; the last is the active one
	appended int64      // logical bytes appended over all segments
	buf      []byte     // the record being written: header, then payload
	closed   bool

	syncMu sync.Mutex
	synced int64 // logical position known to be on disk

	stats logStats
	done  chan struct{}
	wg    sync.WaitGroup
}

type logOptions struct {
	segmentBytes int64
	syncInterval time.Duration
	// compactBelow: the oldest segment is rewritten when less than this
	// share of its bytes is live.
	compactBelow float64
	// fsync is unix.Fdatasync in production; tests observe or fail it.
	fsync func(*os.File) error
}

// location of a live value: in segment seg at byte off, n bytes long;
// small values are also kept in memory.
type location struct {
	seg    *segment
	off    int64
	n      int
	inline []byte
}

// inlineMax: values up to this size are served from memory (the queue's
// metadata key is read and written on every operation).
const inlineMax = 512

type segment struct {
	id   uint64
	path string
	f    *os.File
	base int64 // logical position of the segment's first byte
	size int64
	live int64 // bytes of records' keys and values still in the index
}

// costOf is what one live key accounts for in its segment.
func costOf(key string, n int) int64 { return int64(len(key) + n + 8) }

type logStats struct {
	fsyncs, appendedBytes, appendedRecords, syncedRecords atomic.Int64
	compactions, damagedBytes, tornBytes                  atomic.Int64
	replaySeconds                                         atomic.Value // float64
	pendingRecords                                        atomic.Int64 // appended, not yet covered by an fsync
}

func defaultFsync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

const segPrefix, segSuffix = "seg-", ".log"

func segName(id uint64) string { return fmt.Sprintf("%s%016x%s", segPrefix, id, segSuffix) }

// openLog replays dir's segments and starts a fresh active segment.
func openLog(dir string, opts logOptions, logger *zap.Logger) (*segLog, error) {
	if opts.fsync == nil {
		opts.fsync = defaultFsync
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("log storage directory %s: %w", dir, err)
	}
	l := &segLog{dir: dir, opts: opts, logger: logger, index: map[string]location{}, done: make(chan struct{})}
	start := time.Now()
	if err := l.replay(); err != nil {
		return nil, err
	}
	l.stats.replaySeconds.Store(time.Since(start).Seconds())
	if err := l.rotateLocked(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.synced = l.appended
	l.wg.Add(1)
	go l.background()
	return l, nil
}

// replay rebuilds the index from every segment, oldest first. Damage is
// skipped and logged by file and byte range; a torn or damaged tail of the
// newest segment is cut off (it was never acknowledged: an acknowledged
// record was fsync'ed whole); a segment that cannot be read is moved aside.
func (l *segLog) replay() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("log storage directory %s: %w", l.dir, err)
	}
	var ids []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		path := filepath.Join(l.dir, segName(id))
		data, err := os.ReadFile(path)
		if err != nil {
			aside := fmt.Sprintf("%s.damaged-%d", path, time.Now().Unix())
			rerr := os.Rename(path, aside)
			l.logger.Error("log storage segment cannot be read; moved aside, its records are lost",
				zap.String("file", path), zap.String("moved_to", aside), zap.Error(err), zap.NamedError("rename", rerr))
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("log storage segment %s: %w", path, err)
		}
		seg := &segment{id: id, path: path, f: f, base: l.appended, size: int64(len(data))}
		last := i == len(ids)-1
		var cut int64 = -1
		_ = recordio.Scan(data, func(off int64, p []byte) error {
			ops, err := decodeOps(p)
			if err != nil {
				l.stats.damagedBytes.Add(int64(recordio.HeaderSize + len(p)))
				l.logger.Error("log storage record does not decode; skipped",
					zap.String("file", path), zap.Int64("offset", off), zap.Int("bytes", recordio.HeaderSize+len(p)), zap.Error(err))
				return nil
			}
			l.applyLocked(seg, off+recordio.HeaderSize, ops, p)
			return nil
		}, func(d recordio.Damage) {
			if last && d.End == int64(len(data)) {
				cut = d.Start
				l.stats.tornBytes.Add(d.End - d.Start)
				if d.Torn {
					l.logger.Warn("log storage: torn last record cut off (a crash during a write that was never acknowledged)",
						zap.String("file", path), zap.Stringer("range", d))
				} else {
					l.logger.Error("log storage: damaged tail of the newest segment cut off",
						zap.String("file", path), zap.Stringer("range", d))
				}
				return
			}
			l.stats.damagedBytes.Add(d.End - d.Start)
			l.logger.Error("log storage: damaged range skipped; the records in it are lost, the ones after it are kept",
				zap.String("file", path), zap.Stringer("range", d))
		})
		if cut >= 0 {
			if err := f.Truncate(cut); err != nil {
				l.logger.Error("log storage: cannot cut the damaged tail", zap.String("file", path), zap.Error(err))
			} else {
				seg.size = cut
			}
		}
		l.segs = append(l.segs, seg)
		l.appended += seg.size
	}
	return nil
}

// applyLocked updates the index for the ops of one record whose payload
// starts at payloadOff in seg.
func (l *segLog) applyLocked(seg *segment, payloadOff int64, ops []op, payload []byte) {
	for _, o := range ops {
		if old, ok := l.index[o.key]; ok {
			old.seg.live -= costOf(o.key, old.n)
		}
		if o.typ == opDelete {
			delete(l.index, o.key)
			continue
		}
		loc := location{seg: seg, off: payloadOff + int64(o.valueOff), n: len(o.value)}
		if len(o.value) <= inlineMax {
			loc.inline = append([]byte(nil), payload[o.valueOff:o.valueOff+len(o.value)]...)
		}
		l.index[o.key] = loc
		seg.live += costOf(o.key, len(o.value))
	}
}

var errClosed = errors.New("log storage is closed")

// appendOps writes one record; with syncIfNew it returns only after an fsync
// when the record adds a key that was not in the index. admit, when not
// nil, is asked (under the same lock, so the answer holds) before a record
// that adds a key is written: the disk reserve refuses new items there.
func (l *segLog) appendOps(ops []op, syncIfNew bool, admit func() error) error {
	l.mu.Lock()
	if admit != nil && l.addsKeyLocked(ops) {
		if err := admit(); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	pos, needSync, err := l.appendLocked(ops, syncIfNew)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if needSync {
		return l.syncTo(pos)
	}
	return nil
}

// appendLocked writes one record and indexes it; it returns the logical
// position after it and whether the caller must sync to it.
func (l *segLog) appendLocked(ops []op, syncIfNew bool) (int64, bool, error) {
	if l.closed {
		return 0, false, errClosed
	}
	needSync := syncIfNew && l.addsKeyLocked(ops)
	if cap(l.buf) < recordio.HeaderSize {
		l.buf = make([]byte, recordio.HeaderSize, 4096)
	}
	l.buf = encodeOps(l.buf[:recordio.HeaderSize], ops)
	payloadLen := len(l.buf) - recordio.HeaderSize
	if payloadLen > recordio.MaxPayload {
		return 0, false, fmt.Errorf("log storage: a batch of %d bytes is larger than %d", payloadLen, recordio.MaxPayload)
	}
	// Frame in place: the header goes in front of the encoded payload.
	recordio.PutHeader(l.buf[:recordio.HeaderSize], l.buf[recordio.HeaderSize:])
	rec := l.buf
	act := l.segs[len(l.segs)-1]
	if act.size > 0 && act.size+int64(len(rec)) > l.opts.segmentBytes {
		if err := l.rotateLocked(); err != nil {
			return 0, false, err
		}
		act = l.segs[len(l.segs)-1]
	}
	off := act.size
	if _, err := act.f.WriteAt(rec, off); err != nil {
		// Cut back to the last whole record: the file stays clean and the
		// next write (once space returns) starts on a record boundary.
		_ = act.f.Truncate(off)
		return 0, false, fmt.Errorf("log storage write to %s: %w", act.path, err)
	}
	act.size += int64(len(rec))
	l.appended += int64(len(rec))
	// encodeOps set valueOff relative to the payload's start.
	l.applyLocked(act, off+recordio.HeaderSize, ops, rec[recordio.HeaderSize:])
	l.stats.appendedBytes.Add(int64(len(rec)))
	l.stats.appendedRecords.Add(1)
	l.stats.pendingRecords.Add(1)
	return l.appended, needSync, nil
}

// syncTo returns once everything up to logical position pos is on disk.
// The first caller syncs for every writer that appended before it
// started; the others find their position covered and return.
func (l *segLog) syncTo(pos int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= pos {
		return nil
	}
	l.mu.Lock()
	act := l.segs[len(l.segs)-1]
	end := l.appended
	pending := l.stats.pendingRecords.Swap(0)
	l.mu.Unlock()
	if err := l.opts.fsync(act.f); err != nil && !errors.Is(err, os.ErrClosed) {
		l.stats.pendingRecords.Add(pending)
		return fmt.Errorf("log storage fsync %s: %w", act.path, err)
	}
	l.stats.fsyncs.Add(1)
	l.stats.syncedRecords.Add(pending)
	l.synced = end
	return nil
}

// rotateLocked makes the active segment durable and starts a new one.
func (l *segLog) rotateLocked() error {
	var id uint64 = 1
	if n := len(l.segs); n > 0 {
		act := l.segs[n-1]
		if err := l.opts.fsync(act.f); err != nil {
			return fmt.Errorf("log storage fsync %s: %w", act.path, err)
		}
		id = act.id + 1
	}
	path := filepath.Join(l.dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("log storage segment: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	l.segs = append(l.segs, &segment{id: id, path: path, f: f, base: l.appended})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("log storage directory sync %s: %w", dir, err)
	}
	return nil
}

// get returns a copy of key's value, or nil when absent.
func (l *segLog) get(key string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errClosed
	}
	loc, ok := l.index[key]
	if !ok {
		return nil, nil
	}
	if loc.inline != nil || loc.n == 0 {
		return append([]byte{}, loc.inline...), nil
	}
	v := make([]byte, loc.n)
	if _, err := loc.seg.f.ReadAt(v, loc.off); err != nil {
		return nil, fmt.Errorf("log storage read %s at %d: %w", loc.seg.path, loc.off, err)
	}
	return v, nil
}

// background syncs what is pending every syncInterval and reclaims space.
func (l *segLog) background() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.syncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			l.mu.Lock()
			pos := l.appended
			l.mu.Unlock()
			if err := l.syncTo(pos); err != nil {
				l.logger.Error("log storage periodic sync failed", zap.Error(err))
				continue
			}
			if err := l.reclaim(); err != nil {
				l.logger.Error("log storage compaction failed", zap.Error(err))
			}
		}
	}
}

// reclaim deletes the oldest segments once nothing in them is live, and
// rewrites the oldest one when little of it is: its live records are
// appended again (and synced) so the segment can go. Only the oldest
// segment is ever removed, so no delete record is dropped while an older
// copy of its key is still on disk.
func (l *segLog) reclaim() error {
	for {
		l.mu.Lock()
		if l.closed || len(l.segs) < 2 {
			l.mu.Unlock()
			return nil
		}
		old := l.segs[0]
		if old.live == 0 {
			l.segs = l.segs[1:]
			l.mu.Unlock()
			_ = old.f.Close()
			if err := os.Remove(old.path); err != nil {
				return err
			}
			continue
		}
		if old.size == 0 || float64(old.live)/float64(old.size) >= l.opts.compactBelow {
			l.mu.Unlock()
			return nil
		}
		// Copy the live values still located in the oldest segment, under
		// the same lock as the append, so no newer write is overtaken.
		var ops []op
		for k, loc := range l.index {
			if loc.seg != old {
				continue
			}
			v := loc.inline
			if v == nil && loc.n > 0 {
				v = make([]byte, loc.n)
				if _, err := old.f.ReadAt(v, loc.off); err != nil {
					l.mu.Unlock()
					return fmt.Errorf("compaction read %s: %w", old.path, err)
				}
			}
			ops = append(ops, op{typ: opSet, key: k, value: v})
		}
		pos, _, err := l.appendLocked(ops, false)
		l.mu.Unlock()
		if err != nil {
			return err
		}
		if err := l.syncTo(pos); err != nil {
			return err
		}
		l.stats.compactions.Add(1)
	}
}

// liveBytes and diskBytes for self-metrics.
func (l *segLog) sizes() (live, disk int64, segments int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		live += s.live
		disk += s.size
	}
	return live, disk, len(l.segs)
}

// close syncs what is pending and closes the files.
func (l *segLog) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	pos := l.appended
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
	err := l.syncTo(pos)
	l.mu.Lock()
	l.closed = true
	l.closeFiles()
	l.mu.Unlock()
	return err
}

func (l *segLog) closeFiles() {
	for _, s := range l.segs {
		_ = s.f.Close()
	}
}

// addsKeyLocked reports whether ops set a key that is not in the index.
func (l *segLog) addsKeyLocked(ops []op) bool {
	for _, o := range ops {
		if o.typ == opSet {
			if _, ok := l.index[o.key]; !ok {
				return true
			}
		}
	}
	return false
}
