package traceidrepairprocessor

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

const scopeName = "github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRepaired      = "scadaotel_traceidrepair_repaired_fragments"
	MetricRepairedSpans = "scadaotel_traceidrepair_repaired_spans"
	MetricAmbiguous     = "scadaotel_traceidrepair_ambiguous_fragments"
	MetricUnmatched     = "scadaotel_traceidrepair_unmatched_fragments"
	MetricHeld          = "scadaotel_traceidrepair_held_fragments"
	MetricHeldSpans     = "scadaotel_traceidrepair_held_spans"
	MetricEvicted       = "scadaotel_traceidrepair_evicted_entries"
	MetricReleaseFailed = "scadaotel_traceidrepair_release_failed_spans"
	MetricRefused       = "scadaotel_traceidrepair_refused_spans"
	// AttrTenant is the tenant attribute of every self-metric.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the processor registers.
func MetricNames() []string {
	return []string{MetricRepaired, MetricRepairedSpans, MetricAmbiguous, MetricUnmatched, MetricHeld, MetricHeldSpans, MetricEvicted, MetricReleaseFailed, MetricRefused}
}

// telemetry holds the self-metrics; every measurement carries the tenant
// (attribute AttrTenant).
type telemetry struct {
	repaired      metric.Int64Counter
	repairedSpans metric.Int64Counter
	ambiguous     metric.Int64Counter
	unmatched     metric.Int64Counter
	held          metric.Int64Counter
	heldSpans     metric.Int64UpDownCounter
	evicted       metric.Int64Counter
	releaseFailed metric.Int64Counter
	refused       metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	t := &telemetry{}
	var err error
	counters := []struct {
		dst        *metric.Int64Counter
		name, desc string
		unit       string
	}{
		{&t.repaired, MetricRepaired, "Fragments put back into their original trace.", "{fragment}"},
		{&t.repairedSpans, MetricRepairedSpans, "Spans whose trace id was rewritten.", "{span}"},
		{&t.ambiguous, MetricAmbiguous, "Fragments that matched more than one original and were left as they were.", "{fragment}"},
		{&t.unmatched, MetricUnmatched, "Fragments for which no original was found within the wait.", "{fragment}"},
		{&t.held, MetricHeld, "Fragments held to wait for a late original.", "{fragment}"},
		{&t.evicted, MetricEvicted, "Index entries removed before their window ended (reason=capacity) or at its end (reason=expired), by index.", "{entry}"},
		{&t.releaseFailed, MetricReleaseFailed, "Held spans the next consumer refused when they were released (the refusal is returned to the sender).", "{span}"},
		{&t.refused, MetricRefused, "Spans refused with a retryable error because hold.max_spans was reached.", "{span}"},
	}
	for _, c := range counters {
		if *c.dst, err = m.Int64Counter(c.name, metric.WithDescription(c.desc), metric.WithUnit(c.unit)); err != nil {
			return nil, err
		}
	}
	if t.heldSpans, err = m.Int64UpDownCounter(MetricHeldSpans,
		metric.WithDescription("Spans currently held waiting for a late original."), metric.WithUnit("{span}")); err != nil {
		return nil, err
	}
	return t, nil
}

func tenantAttrs(tenant string) attribute.Set {
	return attribute.NewSet(tenants.SelfMetricTenant(tenant))
}

func evictAttrs(tenant, index, reason string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(
		tenants.SelfMetricTenant(tenant),
		attribute.String("index", index),
		attribute.String("reason", reason)))
}
