package tenantauthextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the extension creates; the middleware and decision tests
// check they are produced.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	if _, err := newExtension(createDefaultConfig().(*Config), set); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}

// TestRequestsProduced: an authentication decision is counted (the
// middleware test checks MetricRateLimitedRequests).
func TestRequestsProduced(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	cfg := createDefaultConfig().(*Config)
	cfg.Tenants = []tenants.Spec{{ID: "west-pipeline-01", TokenSHA256: []string{tenants.HashToken("w-token")}}}
	e, err := newExtension(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(context.Background(), map[string][]string{"authorization": {"Bearer w-token"}}); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckProduced(t, rec, MetricRequests)
}
