package scadauiextension

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/internal/telemetrytest"
	"github.com/scadaotel/scadaotel/tenants"
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

// TestMetricsProduced: a login produces both self-metrics.
func TestMetricsProduced(t *testing.T) {
	af := tenantauthextension.NewFactory()
	acfg := af.CreateDefaultConfig().(*tenantauthextension.Config)
	acfg.Tenants = []tenants.Spec{{ID: "north", TokenSHA256: []string{tenants.HashToken("north-token")}}}
	auth, err := af.Create(context.Background(), extensiontest.NewNopSettings(af.Type()), acfg)
	require.NoError(t, err)
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("tenantauth"): auth}}
	require.NoError(t, auth.Start(context.Background(), h))
	t.Cleanup(func() { _ = auth.Shutdown(context.Background()) })

	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	cfg.AlertsEndpoint = "http://127.0.0.1:1"
	cfg.TraceQueryEndpoint = ""
	require.NoError(t, cfg.Validate())
	ext, err := newExtension(cfg, set)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	login(t, &http.Client{}, "http://"+ext.addr, "north-token")
	telemetrytest.CheckProduced(t, rec, MetricNames()...)
}
