package tracequeryextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scadaotel/scadaotel/tenants"
)

// TestSelfMetrics: with Jaeger unreachable (a real refused connection), a
// tenant's request answers 502 and is counted by route, status and tenant,
// timed, and the failed upstream call is counted by reason.
func TestSelfMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := createDefaultConfig().(*Config)
	p := newProxy(mustURL(t, "http://127.0.0.1:1"), cfg, nil)
	var err error
	if p.tel, err = newTelemetry(tel.NewTelemetrySettings().MeterProvider, nil); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/services", nil)
	req = req.WithContext(tenants.NewContext(req.Context(), "west"))
	rec := httptest.NewRecorder()
	p.routes().ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("Jaeger unreachable: %d, want 502", rec.Code)
	}

	sumOf := func(name string, attrs ...attribute.KeyValue) int64 {
		m, err := tel.GetMetric(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := attribute.NewSet(attrs...)
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if dp.Attributes.Equals(&want) {
				n += dp.Value
			}
		}
		return n
	}
	if n := sumOf(MetricRequests, attribute.String("route", "GET /api/services"),
		attribute.Int("code", 502), attribute.String(AttrTenant, "west")); n != 1 {
		t.Errorf("requests{GET /api/services, 502, west} = %d, want 1", n)
	}
	if n := sumOf(MetricUpstreamFailures, attribute.String("reason", "unavailable")); n < 1 {
		t.Errorf("upstream failures{unavailable} = %d, want >= 1", n)
	}
	m, err := tel.GetMetric(MetricDuration)
	if err != nil {
		t.Fatal(err)
	}
	if dps := m.Data.(metricdata.Histogram[float64]).DataPoints; len(dps) != 1 || dps[0].Count != 1 {
		t.Errorf("duration: %+v, want one observation", dps)
	}
}
