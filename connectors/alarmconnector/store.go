package alarmconnector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/recordio"
)

// State file: <state.directory>/alarms.log, a sequence of internal/recordio
// records, each one JSON entry:
//
//	{"h": {"format": ..., "version": 1}}     header, first
//	{"a": {...}}   the state of one alarm after a change (the last one wins)
//	{"l": {...}}   an RTU link going down or coming back
//	{"r": {...}}   a transition record, not yet delivered
//	{"d": [...]}   record ids the logs pipeline accepted
//	{"j": {...}}   an operator action (the journal)
//
// Every write is fsync'ed before the request that caused it is answered.
// The file is rewritten (temporary file, fsync, rename, directory fsync)
// when it has grown past four times what it holds, and after damage.
const (
	stateFileName = "alarms.log"
	stateFormat   = "scadaotel.alarm.state"
	stateVersion  = 1
)

type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

type instSnap struct {
	Tenant     string      `json:"tenant"`
	ID         string      `json:"id"`
	Kind       alarm.Kind  `json:"kind"`
	Link       string      `json:"link,omitempty"`
	Station    string      `json:"station,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	Value      *float64    `json:"value,omitempty"`
	SampleTime time.Time   `json:"sample_time,omitzero"`
	Alarm      alarm.Alarm `json:"alarm"`
	// Raises are the alarm's raises per hour of the last 24 hours (bad
	// actors); absent in files of earlier releases.
	Raises *raiseBuckets `json:"raises,omitempty"`
}

type linkSnap struct {
	Tenant  string `json:"tenant"`
	Link    string `json:"link"`
	Station string `json:"station,omitempty"`
	Down    bool   `json:"down"`
}

// Action is one operator action in the journal.
type Action struct {
	Time         time.Time `json:"time"`
	Tenant       string    `json:"tenant"`
	Actor        string    `json:"actor"`
	Source       string    `json:"source,omitempty"`
	Action       string    `json:"action"`
	AlarmID      string    `json:"alarm_id"`
	Reason       string    `json:"reason,omitempty"`
	ShelvedUntil *string   `json:"shelved_until,omitempty"`
	FromState    string    `json:"from_state"`
	ToState      string    `json:"to_state"`
	RecordID     string    `json:"record_id"`
}

type stateEntry struct {
	Header    *header   `json:"h,omitempty"`
	Alarm     *instSnap `json:"a,omitempty"`
	Link      *linkSnap `json:"l,omitempty"`
	Record    *Record   `json:"r,omitempty"`
	Delivered []string  `json:"d,omitempty"`
	Action    *Action   `json:"j,omitempty"`
	KPI       *kpiSnap  `json:"k,omitempty"`
}

func snapOf(in *inst) *instSnap {
	s := &instSnap{Tenant: in.tenant, ID: in.id, Kind: in.kind, Link: in.link, Station: in.station, Unit: in.unit,
		Value: finite(in.value), SampleTime: in.sampleTime, Alarm: *in.a}
	if in.raises.Hour != 0 {
		r := in.raises
		s.Raises = &r
	}
	return s
}

// loaded is what a start reads back.
type loaded struct {
	alarms  map[[2]string]*instSnap
	links   map[[2]string]*linkSnap
	pending []*Record
	journal map[string][]*Action
	kpis    map[string]*kpiSnap
	damaged int
}

// stateStore is the state file. Its methods run under connector.mu.
type stateStore struct {
	dir, path string
	logger    *zap.Logger
	f         *os.File
	appended  int  // entries written since the last rewrite
	live      int  // entries the last rewrite held
	dirty     bool // a write failed: the next write rewrites the file
}

func newStateStore(dir string, logger *zap.Logger) *stateStore {
	if dir == "" {
		return nil
	}
	return &stateStore{dir: dir, path: filepath.Join(dir, stateFileName), logger: logger}
}

// load reads the file. It never fails for damage: damaged ranges are
// skipped, logged with their byte range and counted, a copy of the damaged
// file is kept as alarms.log.damaged-<unix>, and the caller rewrites the
// file clean.
func (s *stateStore) load() (*loaded, error) {
	ld := &loaded{alarms: map[[2]string]*instSnap{}, links: map[[2]string]*linkSnap{}, journal: map[string][]*Action{},
		kpis: map[string]*kpiSnap{}}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, fmt.Errorf("state.directory: %w", err)
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return ld, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state.directory: cannot read %s: %w", s.path, err)
	}
	recs, damaged := recordio.ScanAll(data)
	pending := map[string]*Record{}
	var order []string
	for _, r := range recs {
		var e stateEntry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			damaged = append(damaged, recordio.Damage{Start: r.Offset, End: r.Offset + int64(recordio.HeaderSize+len(r.Payload))})
			continue
		}
		switch {
		case e.Header != nil:
			if e.Header.Format != stateFormat {
				return nil, fmt.Errorf("state.directory: %s is not an alarm state file (format %q)", s.path, e.Header.Format)
			}
		case e.Alarm != nil:
			ld.alarms[[2]string{e.Alarm.Tenant, e.Alarm.ID}] = e.Alarm
		case e.Link != nil:
			ld.links[[2]string{e.Link.Tenant, e.Link.Link}] = e.Link
		case e.Record != nil:
			if _, dup := pending[e.Record.RecordID]; !dup {
				order = append(order, e.Record.RecordID)
			}
			pending[e.Record.RecordID] = e.Record
		case len(e.Delivered) > 0:
			for _, id := range e.Delivered {
				delete(pending, id)
			}
		case e.Action != nil:
			ld.journal[e.Action.Tenant] = append(ld.journal[e.Action.Tenant], e.Action)
		case e.KPI != nil:
			ld.kpis[e.KPI.Tenant] = e.KPI
		}
	}
	for _, id := range order {
		if r, ok := pending[id]; ok {
			ld.pending = append(ld.pending, r)
		}
	}
	if len(damaged) > 0 {
		aside := fmt.Sprintf("%s.damaged-%d", s.path, time.Now().Unix())
		if err := os.WriteFile(aside, data, 0o600); err != nil {
			aside = ""
		}
		for _, d := range damaged {
			lvl := s.logger.Error
			msg := "alarm state file damaged: the entries in this byte range are lost"
			if d.Torn {
				lvl, msg = s.logger.Warn, "alarm state file ends in a torn write (a crash during a write that was never answered); cut off"
			}
			lvl(msg, zap.String("file", s.path), zap.Int64("from_byte", d.Start), zap.Int64("to_byte", d.End), zap.String("copy", aside))
		}
		ld.damaged = len(damaged)
		s.dirty = true
	}
	return ld, nil
}

func encodeEntries(entries []stateEntry) ([]byte, error) {
	var buf []byte
	for i := range entries {
		b, err := json.Marshal(&entries[i])
		if err != nil {
			return nil, err
		}
		buf = recordio.Append(buf, b)
	}
	return buf, nil
}

// write appends entries and fsyncs. full is the whole state, for a
// rewrite (after a failed write, damage, or growth).
func (s *stateStore) write(entries []stateEntry, full func() []stateEntry) error {
	if s == nil || len(entries) == 0 {
		return nil
	}
	if s.dirty || s.f == nil || s.appended > 4*s.live+10000 {
		return s.rewrite(full())
	}
	buf, err := encodeEntries(entries)
	if err != nil {
		return err
	}
	if _, err = s.f.Write(buf); err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		s.dirty = true
		return fmt.Errorf("alarm state file %s: %w", s.path, err)
	}
	s.appended += len(entries)
	return nil
}

// rewrite replaces the file with entries.
func (s *stateStore) rewrite(entries []stateEntry) error {
	if s == nil {
		return nil
	}
	all := append([]stateEntry{{Header: &header{Format: stateFormat, Version: stateVersion}}}, entries...)
	buf, err := encodeEntries(all)
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	err = func() error {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, s.path); err != nil {
			return err
		}
		if d, err := os.Open(s.dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
		return nil
	}()
	if err != nil {
		_ = os.Remove(tmp)
		s.dirty = true
		return fmt.Errorf("alarm state file %s: %w", s.path, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.f, s.dirty = nil, true
		return fmt.Errorf("alarm state file %s: %w", s.path, err)
	}
	s.dirty, s.appended, s.live = false, 0, len(entries)
	return nil
}

func (s *stateStore) close() {
	if s != nil && s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
