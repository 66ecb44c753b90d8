package groupcommitprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestMetricNames: every declared self-metric is registered and produced by
// one request.
func TestMetricNames(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := processortest.NewNopSettings(componentType)
	set.MeterProvider = rec
	p, err := newProcessor(set, createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, TypeStr, MetricNames(), rec)
	if err := p.ConsumeTraces(tenants.NewContext(context.Background(), "west"), traces("west", 1)); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckProduced(t, rec, MetricNames()...)
}
