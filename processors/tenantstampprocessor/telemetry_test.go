package tenantstampprocessor

import (
	"context"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestRefusalsCountedPerTenant: limit refusals are counted with the tenant
// and the limit's name; accepted requests per tenant.
// Under synctest the clock stands still, so no tokens refill between calls.
func TestRefusalsCountedPerTenant(t *testing.T) {
	synctest.Test(t, testRefusalsCounted)
}

func testRefusalsCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	f := NewFactory()
	p, err := f.CreateTraces(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), benchHost(t)); err != nil { // west: 1000 spans/s
		t.Fatal(err)
	}
	west := tenants.NewContext(context.Background(), "west-pipeline-01")
	east := tenants.NewContext(context.Background(), "east-pipeline-02")
	for i := 0; i < 3; i++ {
		_ = p.ConsumeTraces(west, testTraces(900, "svc", "")) // 1st accepted, then refused
	}
	if err := p.ConsumeTraces(east, testTraces(900, "svc", "")); err != nil {
		t.Fatal(err)
	}

	count := func(name string, want ...attribute.KeyValue) int64 {
		m, err := tel.GetMetric(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			match := true
			for _, kv := range want {
				if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
					match = false
				}
			}
			if match {
				n += dp.Value
			}
		}
		return n
	}
	if n := count(MetricRefusedRequests, attribute.String(AttrTenant, "west-pipeline-01"), attribute.String("reason", tenants.LimitSpans)); n != 2 {
		t.Errorf("west refusals counted: %d, want 2", n)
	}
	if n := count(MetricRefusedRequests, attribute.String(AttrTenant, "east-pipeline-02")); n != 0 {
		t.Errorf("east refusals counted: %d, want 0", n)
	}
	if n := count(MetricAcceptedRequests, attribute.String(AttrTenant, "east-pipeline-02")); n != 1 {
		t.Errorf("east accepted: %d, want 1", n)
	}
	// Items: west's first 900 spans (then refused), east's 900.
	for _, tenant := range []string{"west-pipeline-01", "east-pipeline-02"} {
		if n := count(MetricAcceptedItems, attribute.String(AttrTenant, tenant), attribute.String("signal", "traces")); n != 900 {
			t.Errorf("%s accepted items: %d, want 900", tenant, n)
		}
	}
}

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the processor creates; TestRefusalsCountedPerTenant
// checks each one is produced.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := processortest.NewNopSettings(Type)
	set.MeterProvider = rec
	f := NewFactory()
	if _, err := f.CreateTraces(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop()); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}
