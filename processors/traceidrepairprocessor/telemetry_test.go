package traceidrepairprocessor

import (
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the processor creates; the repair and hold tests check
// each one is produced.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := processortest.NewNopSettings(componentType)
	set.MeterProvider = rec
	if _, err := newProcessor(set, createDefaultConfig(), &consumertest.TracesSink{}); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, TypeStr, MetricNames(), rec)
}
