package tenantstampprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

// indexExt stands for tenant_trace_query: an extension that is a
// traceindex.Recorder.
type indexExt struct {
	component.StartFunc
	component.ShutdownFunc
	tenants  []string
	resource []string // scada.tenant of each recorded resource
}

func (x *indexExt) RecordTraces(tenant string, td ptrace.Traces) {
	x.tenants = append(x.tenants, tenant)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		x.resource = append(x.resource, tenants.FromResource(td.ResourceSpans().At(i).Resource()))
	}
}

func TestTracesFeedTheHostsTraceIndexes(t *testing.T) {
	h := benchHost(t)
	idx := &indexExt{}
	h[component.MustNewID("tenant_trace_query")] = idx
	f := NewFactory()
	tp, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	mp, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []component.Component{tp, mp} {
		if err := c.Start(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	ctx := tenants.NewContext(context.Background(), "east-pipeline-02")
	if err := tp.ConsumeTraces(ctx, testTraces(3, "plc-gateway", "west-pipeline-01")); err != nil {
		t.Fatal(err)
	}
	if len(idx.tenants) != 1 || idx.tenants[0] != "east-pipeline-02" || idx.resource[0] != "east-pipeline-02" {
		t.Errorf("recorded %v %v: want the stamped request once, as east", idx.tenants, idx.resource)
	}
	// Refused data is not recorded.
	if err := tp.ConsumeTraces(context.Background(), testTraces(1, "x", "")); err == nil {
		t.Fatal("no tenant accepted")
	}
	if len(idx.tenants) != 1 {
		t.Errorf("refused request recorded: %v", idx.tenants)
	}
}
