package logstorageextension

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

type logStorage struct {
	cfg    *Config
	set    extension.Settings
	guard  *diskreserve.Guard
	tel    *telemetry
	host   component.Host
	mu     sync.Mutex
	open   map[string]*segLog
	full   bool
	fullMu sync.Mutex
}

var _ storage.Extension = (*logStorage)(nil)

func newExtension(set extension.Settings, cfg *Config) (*logStorage, error) {
	s := &logStorage{cfg: cfg, set: set, guard: diskreserve.New(cfg.Directory, cfg.DiskReserve), open: map[string]*segLog{}}
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	s.tel = tel
	return s, nil
}

func (s *logStorage) Start(_ context.Context, host component.Host) error {
	s.host = host
	return nil
}

func (s *logStorage) Shutdown(context.Context) error {
	s.mu.Lock()
	logs := make([]*segLog, 0, len(s.open))
	for _, l := range s.open {
		logs = append(logs, l)
	}
	s.open = map[string]*segLog{}
	s.mu.Unlock()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.close())
	}
	errs = append(errs, s.tel.close())
	return errors.Join(errs...)
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// clientName follows file_storage's naming, so a migration finds the file.
func clientName(kind component.Kind, id component.ID, storageName string) string {
	n := fmt.Sprintf("%s_%s_%s", kindString(kind), id.Type(), id.Name())
	if storageName != "" {
		n += "_" + storageName
	}
	return unsafeChars.ReplaceAllString(n, "~")
}

func kindString(k component.Kind) string {
	switch k {
	case component.KindReceiver:
		return "receiver"
	case component.KindProcessor:
		return "processor"
	case component.KindExporter:
		return "exporter"
	case component.KindExtension:
		return "extension"
	case component.KindConnector:
		return "connector"
	}
	return "other"
}

// GetClient opens the client's log (replaying it) under
// <directory>/<kind>_<type>_<name>[_<storage name>].
func (s *logStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, storageName string) (storage.Client, error) {
	name := clientName(kind, id, storageName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.open[name]; busy {
		return nil, fmt.Errorf("log storage client %s is already open", name)
	}
	logger := s.set.Logger.With(zap.String("client", name))
	l, err := openLog(filepath.Join(s.cfg.Directory, name), logOptions{
		segmentBytes: s.cfg.SegmentSize, syncInterval: s.cfg.SyncInterval, compactBelow: s.cfg.CompactBelow,
	}, logger)
	if err != nil {
		return nil, err
	}
	if dir := s.cfg.MigrateFrom.Directory; dir != "" {
		old := name
		if o, ok := s.cfg.MigrateFrom.Clients[name]; ok {
			old = o
		}
		if err := migrateFileStorage(filepath.Join(dir, old), l, logger); err != nil {
			logger.Error("file_storage migration failed; the old queue file is left in place", zap.Error(err))
		}
	}
	s.open[name] = l
	s.tel.add(name, l)
	return &client{log: l, guard: s.guard, onFull: s.reportFull, release: func() {
		s.mu.Lock()
		if s.open[name] == l {
			delete(s.open, name)
		}
		s.mu.Unlock()
	}}, nil
}

// reportFull turns the reserve into component status, once per change.
func (s *logStorage) reportFull(err error) {
	full := err != nil
	s.fullMu.Lock()
	defer s.fullMu.Unlock()
	if full == s.full || s.host == nil {
		return
	}
	s.full = full
	if full {
		s.set.Logger.Error("disk reserve reached: new queue items are refused (senders get a retryable error) until space is freed", zap.Error(err))
		componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(err))
	} else {
		s.set.Logger.Info("disk space is back above the reserve: queue items accepted again")
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}
