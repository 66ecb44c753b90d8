package tracequeryextension

import (
	"testing"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the extension creates; TestSelfMetrics checks each one is
// produced.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	if _, err := newExtension(createDefaultConfig().(*Config), set); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}
