package traceidrepairprocessor

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

const scopeName = "github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"

// telemetry holds the self-metrics; every measurement carries the tenant
// (label scada_tenant).
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
		{&t.repaired, "traceidrepair.repaired", "Fragments put back into their original trace.", "{fragments}"},
		{&t.repairedSpans, "traceidrepair.repaired.spans", "Spans whose trace id was rewritten.", "{spans}"},
		{&t.ambiguous, "traceidrepair.ambiguous", "Fragments that matched more than one original and were left as they were.", "{fragments}"},
		{&t.unmatched, "traceidrepair.unmatched", "Fragments for which no original was found within the wait.", "{fragments}"},
		{&t.held, "traceidrepair.held", "Fragments held to wait for a late original.", "{fragments}"},
		{&t.evicted, "traceidrepair.evicted", "Index entries removed before their window ended (reason=capacity) or at its end (reason=expired), by index.", "{entries}"},
		{&t.releaseFailed, "traceidrepair.release.failed", "Held spans the next consumer refused when they were released (the refusal is returned to the sender).", "{spans}"},
		{&t.refused, "traceidrepair.refused", "Spans refused with a retryable error because hold.max_spans was reached.", "{spans}"},
	}
	for _, c := range counters {
		if *c.dst, err = m.Int64Counter(c.name, metric.WithDescription(c.desc), metric.WithUnit(c.unit)); err != nil {
			return nil, err
		}
	}
	if t.heldSpans, err = m.Int64UpDownCounter("traceidrepair.held.spans",
		metric.WithDescription("Spans currently held waiting for a late original."), metric.WithUnit("{spans}")); err != nil {
		return nil, err
	}
	return t, nil
}

func tenantAttrs(tenant string) attribute.Set {
	return attribute.NewSet(attribute.String(tenants.MetricLabel, tenant))
}

func evictAttrs(tenant, index, reason string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(
		attribute.String(tenants.MetricLabel, tenant),
		attribute.String("index", index),
		attribute.String("reason", reason)))
}
