package durableotlpexporter

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricDeadLetterSpans  = "scadaotel_durable_otlp_dead_letter_spans"
	MetricDeadLetterStored = "scadaotel_durable_otlp_dead_letter_stored_spans"
	MetricSplits           = "scadaotel_durable_otlp_split_requests"
	MetricRejectedSpans    = "scadaotel_durable_otlp_rejected_spans"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
	attrReason = "reason"
)

// MetricNames lists every self-metric the exporter registers.
func MetricNames() []string {
	return []string{MetricDeadLetterSpans, MetricDeadLetterStored, MetricSplits, MetricRejectedSpans}
}

type telemetry struct {
	deadSpans metric.Int64Counter
	splits    metric.Int64Counter
	rejectedC metric.Int64Counter
	reg       metric.Registration
	logger    *zap.Logger

	mu     sync.Mutex
	stored map[string]int64 // spans in the dead-letter area, by tenant
}

func newTelemetry(set component.TelemetrySettings, dir string, logger *zap.Logger) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/exporters/durableotlpexporter")
	t := &telemetry{logger: logger, stored: storedSpans(dir, logger)}
	var err error
	if t.deadSpans, err = m.Int64Counter(MetricDeadLetterSpans, metric.WithUnit("{span}"),
		metric.WithDescription("Spans the destination refused for good, written to the dead-letter area, by tenant and reason.")); err != nil {
		return nil, err
	}
	if t.splits, err = m.Int64Counter(MetricSplits, metric.WithUnit("{request}"),
		metric.WithDescription("Extra requests made by splitting batches over max_request_bytes or refused as too large.")); err != nil {
		return nil, err
	}
	if t.rejectedC, err = m.Int64Counter(MetricRejectedSpans, metric.WithUnit("{span}"),
		metric.WithDescription("Spans the destination reported as rejected in a partial success (it does not say which).")); err != nil {
		return nil, err
	}
	stored, err := m.Int64ObservableGauge(MetricDeadLetterStored, metric.WithUnit("{span}"),
		metric.WithDescription("Spans in the dead-letter area on disk, by tenant (read at start, then counted)."))
	if err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		for tenant, n := range t.stored {
			o.ObserveInt64(stored, n, metric.WithAttributes(tenants.SelfMetricTenant(tenant)))
		}
		return nil
	}, stored)
	return t, err
}

func (t *telemetry) deadLettered(ctx context.Context, tenant, reason string, spans int) {
	t.deadSpans.Add(ctx, int64(spans), metric.WithAttributes(tenants.SelfMetricTenant(tenant), attribute.String(attrReason, reason)))
	t.mu.Lock()
	t.stored[tenant] += int64(spans)
	t.mu.Unlock()
}

func (t *telemetry) rejected(ctx context.Context, tenant string, n int64, msg string) {
	t.rejectedC.Add(ctx, n, metric.WithAttributes(tenants.SelfMetricTenant(tenant)))
	t.logger.Error("destination accepted a request but rejected some of its spans (it does not say which; they are lost)",
		zap.String("tenant", tenant), zap.Int64("rejected_spans", n), zap.String("message", msg))
}

func (t *telemetry) close() error {
	if t.reg != nil {
		return t.reg.Unregister()
	}
	return nil
}

// storedSpans counts the spans already in the dead-letter area by tenant,
// so the figure survives restarts (replayed parts excluded).
func storedSpans(dir string, logger *zap.Logger) map[string]int64 {
	out := map[string]int64{}
	files, err := deadletter.Files(dir)
	if err != nil {
		logger.Error("cannot list the dead-letter area", zap.Error(err))
		return out
	}
	for _, f := range files {
		from, err := deadletter.Progress(f)
		if err != nil {
			logger.Error("cannot read dead-letter replay progress", zap.String("file", f), zap.Error(err))
		}
		err = deadletter.ReadFile(f, from, func(_ int64, e deadletter.Entry) error {
			out[e.Tenant] += int64(e.Items)
			return nil
		}, func(d deadletter.Damage) {
			logger.Error("dead-letter file damaged; skipping the range", zap.String("file", d.File), zap.Stringer("range", d.Damage))
		})
		if err != nil {
			logger.Error("cannot read dead-letter file", zap.String("file", f), zap.Error(err))
		}
	}
	return out
}
