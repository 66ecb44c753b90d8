package tenantstampprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

// nest puts levels maps inside each other under key "deep" of m.
func nest(m pcommon.Map, levels int) {
	v := m.PutEmptyMap("deep")
	for i := 1; i < levels; i++ {
		v = v.PutEmptyMap("d")
	}
}

func deepTraces(levels int) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("read")
	nest(sp.Attributes(), levels)
	return td
}

// TestAttributesNestedTooDeeplyAreRefused (issue 19 point 11): a span,
// data point or log body nesting deeper than MaxAttributeDepth is refused
// (InvalidArgument, permanent: 400 on OTLP/HTTP) before any queue; at the
// limit it passes and still survives the protobuf round trip a persistent
// queue makes, which a deeper one would not.
func TestAttributesNestedTooDeeplyAreRefused(t *testing.T) {
	ctx := tenants.NewContext(context.Background(), "west-pipeline-01")
	f := NewFactory()
	set := processortest.NewNopSettings(f.Type())
	traces := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(context.Background(), set, f.CreateDefaultConfig(), traces)
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(context.Background(), startedHost(t)); err != nil {
		t.Fatal(err)
	}
	err = tp.ConsumeTraces(ctx, deepTraces(MaxAttributeDepth+1))
	if !consumererror.IsPermanent(err) || status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `span "read"`) {
		t.Fatalf("too deep: %v", err)
	}
	if err := tp.ConsumeTraces(ctx, deepTraces(MaxAttributeDepth)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if len(traces.AllTraces()) != 1 {
		t.Fatalf("%d requests passed on, want 1", len(traces.AllTraces()))
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(traces.AllTraces()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw); err != nil {
		t.Fatalf("the accepted request does not survive a queue: %v", err)
	}
	raw, _ = (&ptrace.ProtoMarshaler{}).MarshalTraces(deepTraces(MaxAttributeDepth + 8))
	if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw); err == nil {
		t.Fatal("the limit is needlessly low: a deeper request survives the protobuf round trip")
	}

	md := gauge(1, "")
	nest(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes(), MaxAttributeDepth+1)
	mp := startMetrics(t, new(consumertest.MetricsSink))
	if err := mp.ConsumeMetrics(ctx, md); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("metrics too deep: %v", err)
	}

	ld := plog.NewLogs()
	nest(ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetEmptyMap(), MaxAttributeDepth)
	lp, err := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), new(consumertest.LogsSink))
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.Start(context.Background(), startedHost(t)); err != nil {
		t.Fatal(err)
	}
	if err := lp.ConsumeLogs(ctx, ld); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("log body too deep: %v", err)
	}
}
