package traceidrepairprocessor

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

func tid(s string) pcommon.TraceID {
	var id pcommon.TraceID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		panic("bad trace id " + s)
	}
	copy(id[:], b)
	return id
}

func sid(s string) pcommon.SpanID {
	var id pcommon.SpanID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		panic("bad span id " + s)
	}
	copy(id[:], b)
	return id
}

// sp describes a span for tests.
type sp struct {
	trace, span, parent string
	kind                ptrace.SpanKind
	attrs               map[string]string
}

// batch builds one resource of tenant with spans.
func batch(tenant string, spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	if tenant != "" {
		tenants.SetOnResource(rs.Resource(), tenant)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	for _, s := range spans {
		x := ss.Spans().AppendEmpty()
		x.SetTraceID(tid(s.trace))
		x.SetSpanID(sid(s.span))
		if s.parent != "" {
			x.SetParentSpanID(sid(s.parent))
		}
		x.SetKind(s.kind)
		x.SetName("op-" + s.span)
		for k, v := range s.attrs {
			x.Attributes().PutStr(k, v)
		}
	}
	return td
}

type harness struct {
	p    *traceProcessor
	sink *consumertest.TracesSink
	tel  *componenttest.Telemetry
}

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := &consumertest.TracesSink{}
	p, err := newProcessor(set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	return &harness{p: p, sink: sink, tel: tel}
}

func (h *harness) send(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, h.p.ConsumeTraces(context.Background(), td))
}

// spans returns every span the sink received, by span id.
func (h *harness) spans() map[pcommon.SpanID]ptrace.Span {
	out := map[pcommon.SpanID]ptrace.Span{}
	for _, td := range h.sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					out[spans.At(k).SpanID()] = spans.At(k)
				}
			}
		}
	}
	return out
}

// counter returns the sum of a counter's points for tenant.
func (h *harness) counter(t *testing.T, name, tenant string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var sum int64
	for _, dp := range sumPoints(m) {
		if v, ok := dp.Attributes.Value(AttrTenant); ok && v.AsString() == tenant {
			sum += dp.Value
		}
	}
	return sum
}

func repairAttr(s ptrace.Span) string {
	v, ok := s.Attributes().Get(AttrRepair)
	if !ok {
		return ""
	}
	return v.Str()
}

func noWait() *Config {
	cfg := createDefaultConfig()
	cfg.Hold.Wait = 0
	return cfg
}
