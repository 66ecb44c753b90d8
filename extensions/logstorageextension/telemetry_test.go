package logstorageextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNames holds MetricNames() (and documentation.md) to the
// instruments the extension creates, and checks an open client with one
// write produces every one of them.
func TestMetricNames(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := extensiontest.NewNopSettings(Type)
	set.MeterProvider = rec
	ext, err := newExtension(set, testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, Type.String(), MetricNames(), rec)

	ctx := context.Background()
	if err := ext.Start(ctx, componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ext.Shutdown(ctx) }()
	c, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("otlp"), "traces")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx) }()
	if err := c.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckProduced(t, rec, MetricNames()...)
}
