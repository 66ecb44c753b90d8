package promqueryextension

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the extension creates, and checks a request produces them.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(component.MustNewType(typeStr))
	set.MeterProvider = rec
	e, err := newExtension(createDefaultConfig().(*Config), set)
	if err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
	// Any answer is counted (without a metrics store: 503).
	e.serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/query?query=up", nil))
	telemetrytest.CheckProduced(t, rec, MetricNames()...)
}
