package scadauiextension

import (
	"strings"
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
	cfg := createDefaultConfig().(*Config)
	if _, err := newExtension(cfg, set); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}

// TestExposedNamesAreRead: each metric the view reads, written as the
// collector's endpoint writes it (counters with _total), is parsed back to
// the registered name the view compares.
func TestExposedNamesAreRead(t *testing.T) {
	for _, m := range readMetrics {
		text := ExposedName(m.name, m.counter) + "{tenant=\"west\"} 1\n"
		samples, err := parseExposition(strings.NewReader(text))
		if err != nil || len(samples) != 1 || samples[0].name != m.name {
			t.Errorf("%s: %v %+v", m.name, err, samples)
		}
	}
}
