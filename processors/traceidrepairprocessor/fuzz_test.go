package traceidrepairprocessor

import (
	"context"
	"encoding/binary"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

// FuzzRepair feeds spans with arbitrary attribute names, values, ids, kinds
// and tenants through one small, long-lived processor: it must never panic,
// never lose or duplicate a span, and stay within its bounds.
func FuzzRepair(f *testing.F) {
	f.Add("X_B3_TraceId", "4bf92f3577b34da6", uint64(0), uint64(0x4bf92f3577b34da6), uint64(1), int32(4), "west-pipeline-01")
	f.Add("x_$dash$_b3_$dash$_traceid", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", uint64(7), uint64(8), uint64(0), int32(5), "")
	f.Add("messaging.message.id", "m-1", uint64(0x4bf92f3577b34da6), uint64(0xa3ce929d0e0e4736), uint64(2), int32(4), "east")
	f.Add("b3", "-:-::0x", uint64(0), uint64(0), uint64(0), int32(99), "a")
	f.Add("uber-trace-id", "ffffffffffffffff:ffffffffffffffff:0:1", ^uint64(0), uint64(0), uint64(3), int32(-1), "t")

	cfg := createDefaultConfig()
	cfg.Hold.Wait = 0
	cfg.Index.MaxTraces = 64
	cfg.Index.MaxCorrelations = 16
	cfg.Index.MaxFragments = 16
	cfg.Index.MaxTenants = 4
	sink := &consumertest.TracesSink{}
	p, err := newProcessor(processortest.NewNopSettings(componentType), cfg, sink)
	if err != nil {
		f.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Shutdown(context.Background()) })

	f.Fuzz(func(t *testing.T, name, value string, hi, lo, span uint64, kind int32, tenant string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		tenants.SetOnResource(rs.Resource(), tenant)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], hi)
		binary.BigEndian.PutUint64(id[8:], lo)
		for i := 0; i < 3; i++ {
			s := spans.AppendEmpty()
			s.SetTraceID(id)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], span+uint64(i))
			s.SetSpanID(sid)
			s.SetKind(ptrace.SpanKind(kind))
			s.Attributes().PutStr(name, value)
			s.Attributes().PutStr("messaging.message.id", value)
		}
		// An original whose halves are the fuzzed ones.
		o := spans.AppendEmpty()
		var oid pcommon.TraceID
		binary.BigEndian.PutUint64(oid[:8], lo)
		binary.BigEndian.PutUint64(oid[8:], hi|1)
		o.SetTraceID(oid)
		o.SetKind(ptrace.SpanKindProducer)
		o.Attributes().PutStr(name, value)
		before := sink.SpanCount()
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		if got := sink.SpanCount() - before; got != 4 {
			t.Fatalf("%d spans out of 4", got)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.tenants) > cfg.Index.MaxTenants || len(p.keys.cache) > maxKeyCache || p.heldSpans != 0 {
			t.Fatalf("bounds: %d tenants, %d cached keys, %d held", len(p.tenants), len(p.keys.cache), p.heldSpans)
		}
		for _, st := range p.tenants {
			if st.traces.len() > cfg.Index.MaxTraces || st.corrs.len() > cfg.Index.MaxCorrelations || st.frags.len() > cfg.Index.MaxFragments {
				t.Fatalf("tenant %q index over bounds: %d traces, %d correlations, %d fragments", st.tenant, st.traces.len(), st.corrs.len(), st.frags.len())
			}
			if len(st.frags.queue) > 2*cfg.Index.MaxFragments+2048 {
				t.Fatalf("fragment queue grows: %d", len(st.frags.queue))
			}
		}
		sink.Reset()
	})
}
