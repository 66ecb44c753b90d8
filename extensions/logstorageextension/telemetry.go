package logstorageextension

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Self-metric names, listed in documentation.md.
const (
	MetricFsyncs          = "scadaotel_log_storage_fsyncs"
	MetricAppendedBytes   = "scadaotel_log_storage_appended_bytes"
	MetricAppendedRecords = "scadaotel_log_storage_appended_records"
	MetricSyncedRecords   = "scadaotel_log_storage_synced_records"
	MetricLiveBytes       = "scadaotel_log_storage_live_bytes"
	MetricDiskBytes       = "scadaotel_log_storage_disk_bytes"
	MetricSegments        = "scadaotel_log_storage_segments"
	MetricCompactions     = "scadaotel_log_storage_compactions"
	MetricReplaySeconds   = "scadaotel_log_storage_replay_duration"
	MetricDamagedBytes    = "scadaotel_log_storage_damaged_bytes"
	attrClient            = "client"
	attrKind              = "kind"
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string {
	return []string{MetricFsyncs, MetricAppendedBytes, MetricAppendedRecords, MetricSyncedRecords, MetricLiveBytes,
		MetricDiskBytes, MetricSegments, MetricCompactions, MetricReplaySeconds, MetricDamagedBytes}
}

type telemetry struct {
	reg  metric.Registration
	mu   sync.Mutex
	logs map[string]*segLog // closed logs keep their counters until exit
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	t := &telemetry{logs: map[string]*segLog{}}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/extensions/logstorageextension")
	fsyncs, err1 := m.Int64ObservableCounter(MetricFsyncs, metric.WithUnit("{fsync}"), metric.WithDescription("fsyncs of the log (group commits and periodic syncs)."))
	bytes, err2 := m.Int64ObservableCounter(MetricAppendedBytes, metric.WithUnit("By"), metric.WithDescription("Bytes appended to the log."))
	recs, err3 := m.Int64ObservableCounter(MetricAppendedRecords, metric.WithUnit("{record}"), metric.WithDescription("Records (storage batches) appended; divided by fsyncs: records per fsync."))
	synced, err4 := m.Int64ObservableCounter(MetricSyncedRecords, metric.WithUnit("{record}"), metric.WithDescription("Records made durable by an fsync."))
	live, err5 := m.Int64ObservableGauge(MetricLiveBytes, metric.WithUnit("By"), metric.WithDescription("Bytes of live keys and values."))
	disk, err6 := m.Int64ObservableGauge(MetricDiskBytes, metric.WithUnit("By"), metric.WithDescription("Bytes of segment files on disk."))
	segs, err7 := m.Int64ObservableGauge(MetricSegments, metric.WithUnit("{segment}"), metric.WithDescription("Segment files."))
	comp, err8 := m.Int64ObservableCounter(MetricCompactions, metric.WithUnit("{compaction}"), metric.WithDescription("Oldest segments rewritten to reclaim space."))
	replay, err9 := m.Float64ObservableGauge(MetricReplaySeconds, metric.WithUnit("s"), metric.WithDescription("Time the last start took to replay the log."))
	damaged, err10 := m.Int64ObservableCounter(MetricDamagedBytes, metric.WithUnit("By"), metric.WithDescription("Bytes skipped at replay: kind=torn (an unacknowledged last write, cut off) or kind=damaged (records lost, logged by file and range)."))
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9, err10} {
		if err != nil {
			return nil, err
		}
	}
	var err error
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		for name, l := range t.logs {
			a := metric.WithAttributes(attribute.String(attrClient, name))
			o.ObserveInt64(fsyncs, l.stats.fsyncs.Load(), a)
			o.ObserveInt64(bytes, l.stats.appendedBytes.Load(), a)
			o.ObserveInt64(recs, l.stats.appendedRecords.Load(), a)
			o.ObserveInt64(synced, l.stats.syncedRecords.Load(), a)
			lv, dk, n := l.sizes()
			o.ObserveInt64(live, lv, a)
			o.ObserveInt64(disk, dk, a)
			o.ObserveInt64(segs, int64(n), a)
			o.ObserveInt64(comp, l.stats.compactions.Load(), a)
			if v, ok := l.stats.replaySeconds.Load().(float64); ok {
				o.ObserveFloat64(replay, v, a)
			}
			o.ObserveInt64(damaged, l.stats.tornBytes.Load(), metric.WithAttributes(attribute.String(attrClient, name), attribute.String(attrKind, "torn")))
			o.ObserveInt64(damaged, l.stats.damagedBytes.Load(), metric.WithAttributes(attribute.String(attrClient, name), attribute.String(attrKind, "damaged")))
		}
		return nil
	}, fsyncs, bytes, recs, synced, live, disk, segs, comp, replay, damaged)
	return t, err
}

func (t *telemetry) add(name string, l *segLog) {
	t.mu.Lock()
	t.logs[name] = l
	t.mu.Unlock()
}

func (t *telemetry) close() error {
	if t.reg != nil {
		return t.reg.Unregister()
	}
	return nil
}
