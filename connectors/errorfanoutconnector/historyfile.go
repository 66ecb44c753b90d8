package errorfanoutconnector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/recordio"
)

// History journal (format 2): <history.directory>/alerts.log, a sequence of
// recordio records. The first is a header; each other one is an EventRecord
// as JSON (an event, or a later delivery mark of the same alert_id and
// state). Replaying them in order rebuilds the history. A damaged record is
// skipped and the reader resynchronises on the next good one.
const (
	historyLogName    = "alerts.log"
	historyFormatName = "scadaotel.errorfanout.alert-history"
	historyVersion    = 2
)

type journalHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// journalEntry is either a header or an EventRecord.
type journalEntry struct {
	Format  string `json:"format,omitempty"`
	Version int    `json:"version,omitempty"`
	EventRecord
}

func (e *journalEntry) isEvent() bool {
	return e.Format == "" && e.AlertID != "" &&
		(e.State == StateFiring || e.State == StateResolved) &&
		(e.Delivery == DeliveryPending || e.Delivery == DeliveryQueued)
}

// historyStore is the history's file. Its methods run under history.mu.
type historyStore struct {
	dir, path string
	logger    *zap.Logger
	reserve   diskreserve.Config
	guard     *diskreserve.Guard // nil until the directory exists

	f        *os.File // open for appending; nil until the file is known good
	size     int64    // bytes of f that hold whole records
	appended int      // event records in the file

	// unsaved: memory holds changes the file does not; the next write
	// rewrites the whole file instead of appending.
	unsaved bool
	// blocked: the file could neither be read nor moved aside; it is never
	// overwritten, so the history stays in memory only.
	blocked error
}

func newHistoryStore(cfg HistoryConfig, logger *zap.Logger) *historyStore {
	return &historyStore{dir: cfg.Directory, path: filepath.Join(cfg.Directory, historyLogName), logger: logger, reserve: cfg.DiskReserve}
}

// loadStats says what the load could not recover.
type loadStats struct {
	damagedRecords int64 // damaged byte ranges and unreadable records skipped
	damagedBytes   int64
}

// load reads the journal (or migrates a format 1 alerts.json) into h. It
// never fails: damage is skipped and logged, a file that cannot be read at
// all is moved aside, and the appliance starts with what could be read.
func (s *historyStore) load(h *history) loadStats {
	var st loadStats
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		s.logger.Error("cannot create the alert history directory; the history is kept in memory until it can be written",
			zap.String("directory", s.dir), zap.Error(err))
		s.unsaved = true
		return st
	}
	s.guard = diskreserve.New(s.dir, s.reserve)
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s.loadV1(h)
	case err != nil:
		st.damagedRecords, st.damagedBytes = 1, fileSize(s.path)
		s.moveAside(fmt.Sprintf("cannot read it: %v", err))
		s.unsaved = true
		return st
	}
	events, damaged, good := decodeJournal(b)
	for _, er := range events {
		h.applyLocked(er)
	}
	for _, d := range damaged {
		st.damagedRecords++
		st.damagedBytes += d.End - d.Start
		s.logger.Error("alert history damaged: the records in this byte range are lost",
			zap.String("file", s.path), zap.Int64("from_byte", d.Start), zap.Int64("to_byte", d.End))
	}
	switch {
	case len(damaged) == 0:
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			s.logger.Error("cannot open the alert history for appending; it is rewritten on the next change", zap.String("file", s.path), zap.Error(err))
			s.unsaved = true
			return st
		}
		s.f, s.size, s.appended = f, int64(len(b)), len(events)
		return st
	case good == 0:
		s.moveAside("no readable record in it")
	default:
		s.moveAside(fmt.Sprintf("%d damaged byte ranges (%d bytes) skipped, %d events kept", st.damagedRecords, st.damagedBytes, len(events)))
	}
	// Write what was recovered as a clean file, now or on the next change.
	s.unsaved = true
	if err := s.rewrite(h.snapshotLocked()); err != nil {
		s.logger.Error("cannot write the recovered alert history; retried on the next change", zap.String("file", s.path), zap.Error(err))
	}
	return st
}

// decodeJournal returns the events of a journal in order, the damaged byte
// ranges, and how many good records (header included) it held.
func decodeJournal(b []byte) (events []EventRecord, damaged []recordio.Damage, good int) {
	recs, damaged := recordio.ScanAll(b)
	for _, r := range recs {
		var e journalEntry
		if err := json.Unmarshal(r.Payload, &e); err != nil || (!e.isEvent() && e.Format != historyFormatName) {
			// A good checksum around a record we do not understand: written
			// by something else, or a future format. Skipped and kept aside.
			damaged = append(damaged, recordio.Damage{Start: r.Offset, End: r.Offset + int64(recordio.HeaderSize+len(r.Payload))})
			continue
		}
		good++
		if e.isEvent() {
			events = append(events, e.EventRecord)
		}
	}
	sort.Slice(damaged, func(i, j int) bool { return damaged[i].Start < damaged[j].Start })
	return events, damaged, good
}

// encodeJournal is a whole journal: the header, then recs.
func encodeJournal(recs []EventRecord) ([]byte, error) {
	b, err := json.Marshal(journalHeader{Format: historyFormatName, Version: historyVersion})
	if err != nil {
		return nil, err
	}
	buf := recordio.Append(nil, b)
	for _, er := range recs {
		p, err := json.Marshal(er)
		if err != nil {
			return nil, fmt.Errorf("cannot encode event %s/%s: %w", er.AlertID, er.State, err)
		}
		buf = recordio.Append(buf, p)
	}
	return buf, nil
}

func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// moveAside renames the damaged file to <name>.damaged-<unix> (never
// deleting it) so that the appliance can start with a clean one.
func (s *historyStore) moveAside(why string) {
	aside, err := renameAside(s.path, "damaged")
	if err != nil {
		s.blocked = fmt.Errorf("alert history %s is damaged (%s) and cannot be moved aside: %w; the history is kept in memory only until it is moved by hand", s.path, why, err)
		s.logger.Error("alert history damaged and not moved aside", zap.String("file", s.path), zap.String("damage", why), zap.Error(err))
		return
	}
	s.logger.Error("alert history damaged: moved aside, starting with what could be read",
		zap.String("file", s.path), zap.String("moved_to", aside), zap.String("damage", why))
}

// renameAside renames path to <path>.<what>-<unix>[-n], never replacing a file.
func renameAside(path, what string) (string, error) {
	base := fmt.Sprintf("%s.%s-%d", path, what, time.Now().Unix())
	aside := base
	for n := 1; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, n)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// compactAfter: the journal is rewritten once it holds this many more event
// records than the history keeps (delivery marks and trimmed episodes).
const compactSlack = 256

// encodeRecords is the journal frames of recs.
func encodeRecords(recs []EventRecord) ([]byte, error) {
	var frames []byte
	for _, er := range recs {
		payload, err := json.Marshal(er)
		if err != nil {
			return nil, fmt.Errorf("cannot encode event %s/%s: %w", er.AlertID, er.State, err)
		}
		frames = recordio.Append(frames, payload)
	}
	return frames, nil
}

// appendFrames writes n records' frames with one write, fsync'ed when sync
// is set. After a failed write (or while unsaved) it rewrites the whole
// history from snapshot instead.
func (s *historyStore) appendFrames(frames []byte, n int, sync bool, live func() int, snapshot func() []EventRecord) error {
	if s.blocked != nil {
		return s.blocked
	}
	if s.unsaved || s.f == nil {
		return s.rewrite(snapshot())
	}
	if err := s.checkReserve(); err != nil {
		return err
	}
	if _, err := s.f.Write(frames); err != nil {
		return s.failAppend(fmt.Errorf("alert history %s: cannot append: %w", s.path, err))
	}
	if sync {
		if err := s.f.Sync(); err != nil {
			return s.failAppend(fmt.Errorf("alert history %s: cannot sync: %w", s.path, err))
		}
	}
	s.size += int64(len(frames))
	s.appended += n
	if s.appended > 2*live()+compactSlack {
		if err := s.rewrite(snapshot()); err != nil {
			// The appended records are on disk; only the compaction waits.
			s.unsaved = false
			s.logger.Warn("cannot compact the alert history; retried on a later write", zap.String("file", s.path), zap.Error(err))
		}
	}
	return nil
}

// checkReserve refuses a write while the volume is inside its reserve
// (retryable: diskreserve.ErrFull), so a full disk never leaves a torn
// record; the history stays in memory and is written once space returns.
func (s *historyStore) checkReserve() error {
	if s.guard == nil {
		if err := os.MkdirAll(s.dir, 0o750); err != nil {
			return fmt.Errorf("alert history: cannot create directory %s: %w", s.dir, err)
		}
		s.guard = diskreserve.New(s.dir, s.reserve)
	}
	if err := s.guard.Check(); err != nil {
		s.unsaved = true
		return fmt.Errorf("alert history %s not written: %w", s.path, err)
	}
	return nil
}

// failAppend cuts a torn record off the end and falls back to a rewrite
// on the next write.
func (s *historyStore) failAppend(err error) error {
	if terr := s.f.Truncate(s.size); terr != nil {
		err = errors.Join(err, fmt.Errorf("cannot cut the torn record off %s: %w", s.path, terr))
	}
	s.unsaved = true
	return err
}

// rewrite writes the whole history to a new file (temp file, fsync,
// rename, directory fsync) and appends to it from then on.
func (s *historyStore) rewrite(recs []EventRecord) error {
	if s.blocked != nil {
		return s.blocked
	}
	s.unsaved = true
	if err := s.checkReserve(); err != nil {
		return err
	}
	buf, err := encodeJournal(recs)
	if err != nil {
		return fmt.Errorf("alert history %s: %w", s.path, err)
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("alert history: cannot create directory %s: %w", s.dir, err)
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("alert history: cannot write %s: %w", tmp, err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("alert history: cannot write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("alert history: cannot sync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("alert history: cannot replace %s: %w", s.path, err)
	}
	if err := syncDir(s.dir); err != nil {
		s.logger.Warn("cannot sync the alert history directory", zap.String("directory", s.dir), zap.Error(err))
	}
	// The temp file, renamed, is the journal: keep appending to it.
	if s.f != nil {
		s.f.Close()
	}
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		s.f = nil
		return fmt.Errorf("alert history %s: %w", s.path, err)
	}
	s.f, s.size, s.appended, s.unsaved = f, int64(len(buf)), len(recs), false
	return nil
}

func (s *historyStore) close() {
	if s.f != nil {
		_ = s.f.Sync() // delivery marks appended without their own fsync
		s.f.Close()
		s.f = nil
	}
}
