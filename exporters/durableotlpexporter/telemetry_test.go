package durableotlpexporter

import (
	"testing"

	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the exporter creates.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := exportertest.NewNopSettings(Type)
	set.MeterProvider = rec
	cfg := createDefaultConfig().(*Config)
	cfg.DeadLetter.Directory = t.TempDir()
	if _, err := newExporter(set, cfg); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, Type.String(), MetricNames(), rec)
}
