package iec104receiver

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type().String() != "iec104" {
		t.Fatalf("type %q", f.Type())
	}
	if err := componenttest.CheckConfigStruct(f.CreateDefaultConfig()); err != nil {
		t.Fatal(err)
	}
	set := receivertest.NewNopSettings(component.MustNewType(typeStr))
	_, err := f.CreateMetrics(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop())
	if err == nil || !strings.Contains(err.Error(), "outstations") {
		t.Fatalf("create with default config: %v", err)
	}
	r, err := f.CreateMetrics(context.Background(), set, loadExample(t), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the receiver creates.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := receivertest.NewNopSettings(component.MustNewType(typeStr))
	set.MeterProvider = rec
	if _, err := newReceiver(set, loadExample(t), consumertest.NewNop()); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}
