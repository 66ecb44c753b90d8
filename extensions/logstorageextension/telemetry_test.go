package logstorageextension

import (
	"testing"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the extension creates.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	if _, err := newExtension(set, testConfig(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, Type.String(), MetricNames(), rec)
}
