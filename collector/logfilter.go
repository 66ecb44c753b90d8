package main

import (
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The collector's persistent queue (exporterhelper) looks for metadata of
// an older format whenever a queue has none, which is also the case of
// every brand-new queue: a new data directory logged "attempting to load
// legacy format" and "Successfully migrated to consolidated metadata
// format" for each queue although nothing was migrated. queueLogFilter
// drops that pair when the queue turns out to be new ("Initializing new
// persistent queue", which is kept), and lets a real migration through.
const (
	pqLegacyMsg   = "New queue metadata key not found, attempting to load legacy format."
	pqNewMsg      = "Initializing new persistent queue"
	pqMigratedMsg = "Successfully migrated to consolidated metadata format"
	pqCallerFile  = "queue/persistent_queue.go"
)

func queueLogFilterOption() zap.Option {
	return zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &queueLogFilter{Core: c, st: &queueLogState{}} })
}

type queueLogFilter struct {
	zapcore.Core
	st *queueLogState // one per logger: a queue logs through its exporter's logger
}

type queueLogState struct {
	mu            sync.Mutex
	pending       *zapcore.Entry
	pendingFields []zapcore.Field
	newQueue      bool
}

func (f *queueLogFilter) With(fields []zapcore.Field) zapcore.Core {
	return &queueLogFilter{Core: f.Core.With(fields), st: &queueLogState{}}
}

// isQueueMsg: Check sees no caller yet (zap adds it after Check), so the
// file is compared in Write only.
func isQueueMsg(ent zapcore.Entry, checkCaller bool) bool {
	if ent.Level != zapcore.InfoLevel || (checkCaller && !strings.HasSuffix(ent.Caller.File, pqCallerFile)) {
		return false
	}
	switch ent.Message {
	case pqLegacyMsg, pqNewMsg, pqMigratedMsg:
		return true
	}
	return false
}

// pqUndecodableMsg is how exporterhelper's persistent queue reports an
// item it read back and cannot decode: at debug level, and the item is
// deleted. Data the appliance acknowledged is gone, so it is raised to
// error. (Attribute nesting, the one cause the appliance's own writes can
// produce, is refused at ingest by tenantstamp with the tenant named; the
// item's tenant cannot be read from bytes that do not decode.)
const pqUndecodableMsg = "Failed to dispatch item"

// Enabled lets debug entries reach Check (zap asks Enabled first), where
// everything but pqUndecodableMsg goes to the wrapped core's own check.
func (f *queueLogFilter) Enabled(l zapcore.Level) bool {
	return l == zapcore.DebugLevel || f.Core.Enabled(l)
}

func (f *queueLogFilter) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if ent.Message == pqUndecodableMsg && ent.Level < zapcore.ErrorLevel {
		ent.Level = zapcore.ErrorLevel
		ent.Message = "persistent queue dropped an item it cannot decode (acknowledged data lost)"
		return f.Core.Check(ent, ce)
	}
	if isQueueMsg(ent, false) && f.Core.Enabled(ent.Level) {
		return ce.AddCore(ent, f)
	}
	return f.Core.Check(ent, ce)
}

func (f *queueLogFilter) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if !isQueueMsg(ent, true) {
		return f.Core.Write(ent, fields)
	}
	st := f.st
	st.mu.Lock()
	defer st.mu.Unlock()
	switch ent.Message {
	case pqLegacyMsg:
		e := ent
		st.pending, st.pendingFields, st.newQueue = &e, fields, false
		return nil
	case pqNewMsg:
		st.pending, st.pendingFields, st.newQueue = nil, nil, true
		return f.Core.Write(ent, fields)
	default: // pqMigratedMsg
		if st.newQueue {
			st.newQueue = false
			return nil
		}
		if st.pending != nil {
			if err := f.Core.Write(*st.pending, st.pendingFields); err != nil {
				return err
			}
			st.pending, st.pendingFields = nil, nil
		}
		return f.Core.Write(ent, fields)
	}
}
