package errorfanoutconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricAlertEvents           = "scadaotel_errorfanout_alert_events"
	MetricSpans                 = "scadaotel_errorfanout_spans"
	MetricHistoryDamagedRecords = "scadaotel_errorfanout_history_damaged_records"
	MetricHistoryDamagedBytes   = "scadaotel_errorfanout_history_damaged_bytes"
	MetricHistoryWriteFailures  = "scadaotel_errorfanout_history_write_failures"
	MetricHistoryUnsaved        = "scadaotel_errorfanout_history_unsaved"
	MetricKeys                  = "scadaotel_errorfanout_keys"
	MetricFiringKeys            = "scadaotel_errorfanout_firing_keys"
	MetricEvictedKeys           = "scadaotel_errorfanout_evicted_keys"
	MetricRefusedKeys           = "scadaotel_errorfanout_refused_keys"
	MetricExpiredKeys           = "scadaotel_errorfanout_expired_keys"
	MetricPendingAlertEvents    = "scadaotel_errorfanout_pending_alert_events"
)

// MetricNames lists every self-metric the connector registers.
func MetricNames() []string {
	return []string{MetricAlertEvents, MetricSpans, MetricHistoryDamagedRecords, MetricHistoryDamagedBytes, MetricHistoryWriteFailures, MetricHistoryUnsaved, MetricKeys, MetricFiringKeys, MetricEvictedKeys, MetricRefusedKeys, MetricExpiredKeys, MetricPendingAlertEvents}
}

// telemetry holds the connector's self-metrics.
type telemetry struct {
	alerts metric.Int64Counter
	spansC metric.Int64Counter

	damagedRecords, damagedBytes, writeFailures metric.Int64Counter
	reg                                         metric.Registration
	attrs                                       map[string]metric.MeasurementOption
}

func newTelemetry(set component.TelemetrySettings, c *core) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/connectors/errorfanoutconnector")
	t := &telemetry{attrs: map[string]metric.MeasurementOption{
		StateFiring:   metric.WithAttributeSet(attribute.NewSet(attribute.String("state", StateFiring))),
		StateResolved: metric.WithAttributeSet(attribute.NewSet(attribute.String("state", StateResolved))),
	}}
	var err error
	if t.alerts, err = m.Int64Counter(MetricAlertEvents, metric.WithDescription("Alert state changes, by state."), metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if t.spansC, err = m.Int64Counter(MetricSpans, metric.WithDescription("Spans counted."), metric.WithUnit("{span}")); err != nil {
		return nil, err
	}
	if t.damagedRecords, err = m.Int64Counter(MetricHistoryDamagedRecords, metric.WithDescription("Damaged parts of the alert history skipped at start (each a byte range of one or more records, or a whole unreadable file)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if t.damagedBytes, err = m.Int64Counter(MetricHistoryDamagedBytes, metric.WithDescription("Bytes of the alert history skipped as damaged at start."), metric.WithUnit("By")); err != nil {
		return nil, err
	}
	if t.writeFailures, err = m.Int64Counter(MetricHistoryWriteFailures, metric.WithDescription("Alert history writes that failed (reason disk_reserve: refused inside the disk reserve; io: the write failed); the history is kept in memory and written again."), metric.WithUnit("{write}")); err != nil {
		return nil, err
	}
	unsaved, err := m.Int64ObservableGauge(MetricHistoryUnsaved, metric.WithDescription("1 while the alert history in memory holds changes not yet on disk."), metric.WithUnit("1"))
	if err != nil {
		return nil, err
	}
	keys, err := m.Int64ObservableGauge(MetricKeys, metric.WithDescription("Tracked (tenant, service) keys."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	firing, err := m.Int64ObservableGauge(MetricFiringKeys, metric.WithDescription("Keys currently firing."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	evicted, err := m.Int64ObservableCounter(MetricEvictedKeys, metric.WithDescription("Keys evicted at max_keys."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	refused, err := m.Int64ObservableCounter(MetricRefusedKeys, metric.WithDescription("New keys not tracked: the tenant at max_keys_per_tenant with every key of its own firing, or max_keys reached with no key to replace and the tenant over its fair share; by tenant."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	expired, err := m.Int64ObservableCounter(MetricExpiredKeys, metric.WithDescription("Idle keys forgotten after idle_timeout."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	pending, err := m.Int64ObservableGauge(MetricPendingAlertEvents, metric.WithDescription("Alert events not yet accepted by the alert logs pipeline."), metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c.mu.Lock()
		n, f := c.tr.len(), c.tr.firingKeys()
		ev, ex := c.tr.evicted, c.tr.expired
		rf := make(map[string]uint64, len(c.tr.refusedBy))
		for tenant, n := range c.tr.refusedBy {
			rf[tenant] = n
		}
		c.mu.Unlock()
		o.ObserveInt64(keys, int64(n))
		o.ObserveInt64(firing, int64(f))
		o.ObserveInt64(evicted, int64(ev))
		if len(rf) == 0 {
			o.ObserveInt64(refused, 0)
		}
		for tenant, n := range rf {
			o.ObserveInt64(refused, int64(n), metric.WithAttributes(tenants.SelfMetricTenant(tenant)))
		}
		o.ObserveInt64(expired, int64(ex))
		o.ObserveInt64(pending, int64(c.pendingEvents()))
		u := int64(0)
		if c.hist.unsaved() {
			u = 1
		}
		o.ObserveInt64(unsaved, u)
		return nil
	}, keys, firing, evicted, refused, expired, pending, unsaved)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) alert(state string) {
	t.alerts.Add(context.Background(), 1, t.attrs[state])
}

func (t *telemetry) spans(ctx context.Context, n int) {
	t.spansC.Add(ctx, int64(n))
}

func (t *telemetry) historyDamaged(st loadStats) {
	if st.damagedRecords > 0 {
		t.damagedRecords.Add(context.Background(), st.damagedRecords)
		t.damagedBytes.Add(context.Background(), st.damagedBytes)
	}
}

func (t *telemetry) historyWriteFailed(reason string) {
	t.writeFailures.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
}

func (t *telemetry) close() error { return t.reg.Unregister() }
