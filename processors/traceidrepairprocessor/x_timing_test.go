package traceidrepairprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

const (
	benchSpans     = 1000 // spans per batch
	benchPerTrace  = 10   // spans per trace in undamaged batches
	benchFragSpans = 4    // spans per damaged fragment
	benchPool      = 64   // distinct batches cycled through
)

func benchID(rnd *rand.Rand) (uint64, uint64) { return rnd.Uint64() | 1, rnd.Uint64() | 1 }

func putID(hi, lo uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], hi)
	binary.BigEndian.PutUint64(id[8:], lo)
	return id
}

// benchSpan fills a span the way an RTU service's span looks: 6 attributes.
func benchSpan(s ptrace.Span, id pcommon.TraceID, rnd *rand.Rand, kind ptrace.SpanKind) {
	s.SetTraceID(id)
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], rnd.Uint64()|1)
	s.SetSpanID(sid)
	s.SetKind(kind)
	s.SetName("read-holding-registers")
	a := s.Attributes()
	a.PutStr("modbus.function", "read_holding_registers")
	a.PutInt("modbus.unit", 7)
	a.PutStr("scada.station", "ps-042")
	a.PutStr("net.peer.name", "rtu-042.pipeline.local")
	a.PutInt("net.peer.port", 502)
	a.PutStr("otel.status_code", "OK")
}

func benchBatch() (ptrace.Traces, ptrace.SpanSlice) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "rtu-gateway")
	tenants.SetOnResource(rs.Resource(), tenantA)
	return td, rs.ScopeSpans().AppendEmpty().Spans()
}

// undamagedBatches are benchPool batches of fresh traces.
func undamagedBatches(rnd *rand.Rand) []ptrace.Traces {
	out := make([]ptrace.Traces, benchPool)
	for i := range out {
		td, spans := benchBatch()
		for t := 0; t < benchSpans/benchPerTrace; t++ {
			id := putID(benchID(rnd))
			for k := 0; k < benchPerTrace; k++ {
				kind := ptrace.SpanKindInternal
				if k == benchPerTrace-1 {
					kind = ptrace.SpanKindProducer
				}
				benchSpan(spans.AppendEmpty(), id, rnd, kind)
			}
		}
		out[i] = td
	}
	return out
}

type passThrough struct{ next consumer.Traces }

func (p passThrough) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.next.ConsumeTraces(ctx, td)
}

// BenchmarkPassThrough is the baseline: a processor that only forwards.
func BenchmarkPassThrough(b *testing.B) {
	batches := undamagedBatches(rand.New(rand.NewPCG(1, 1)))
	p := passThrough{consumertest.NewNop()}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = p.ConsumeTraces(context.Background(), batches[i%benchPool])
		i++
	}
	b.ReportMetric(float64(i*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

type inspectPassThrough struct {
	next consumer.Traces
	sink *int
}

// ConsumeTraces reads every span's trace id and attribute keys, then forwards.
func (p inspectPassThrough) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				id := s.TraceID()
				n += int(id[0])
				for name := range s.Attributes().All() {
					n += len(name)
				}
			}
		}
	}
	*p.sink += n
	return p.next.ConsumeTraces(ctx, td)
}

// BenchmarkPassThroughInspect is a second baseline: forward after reading
// each span's trace id and attribute names (the least a span-level processor does).
func BenchmarkPassThroughInspect(b *testing.B) {
	batches := undamagedBatches(rand.New(rand.NewPCG(1, 1)))
	var sink int
	p := inspectPassThrough{consumertest.NewNop(), &sink}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = p.ConsumeTraces(context.Background(), batches[i%benchPool])
		i++
	}
	b.ReportMetric(float64(i*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

func benchProcessor(b *testing.B, mutate func(*Config)) *traceProcessor {
	cfg := createDefaultConfig()
	cfg.Hold.Wait = 0
	if mutate != nil {
		mutate(cfg)
	}
	p, err := newProcessor(processortest.NewNopSettings(componentType), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkUndamaged: every trace is new (indexed), nothing to repair.
func BenchmarkUndamaged(b *testing.B) {
	batches := undamagedBatches(rand.New(rand.NewPCG(1, 1)))
	p := benchProcessor(b, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = p.ConsumeTraces(context.Background(), batches[i%benchPool])
		i++
	}
	b.ReportMetric(float64(i*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkDamaged: every span belongs to a damaged fragment that needs an
// index lookup (half carried in a header, or a zero-padded id); the
// originals are indexed. Copying the batch is excluded from the timing.
func BenchmarkDamaged(b *testing.B) {
	rnd := rand.New(rand.NewPCG(2, 2))
	p := benchProcessor(b, func(c *Config) { c.Index.MaxFragments = 1 }) // no shortcut through remembered fragments
	var pool []ptrace.Traces
	originals, _ := benchBatch()
	for i := 0; i < benchPool; i++ {
		td, spans := benchBatch()
		for f := 0; f < benchSpans/benchFragSpans; f++ {
			hi, lo := benchID(rnd)
			benchSpan(originals.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty(), putID(hi, lo), rnd, ptrace.SpanKindProducer)
			var frag pcommon.TraceID
			if f%2 == 0 {
				frag = putID(0, lo) // zero-padded rightmost half
			} else {
				frag = putID(benchID(rnd)) // new id, leftmost half in a header
			}
			for k := 0; k < benchFragSpans; k++ {
				s := spans.AppendEmpty()
				benchSpan(s, frag, rnd, ptrace.SpanKindInternal)
				if f%2 == 1 {
					s.Attributes().PutStr("X_B3_TraceId", fmt.Sprintf("%016x", hi))
				}
			}
		}
		pool = append(pool, td)
	}
	if err := p.ConsumeTraces(context.Background(), originals); err != nil {
		b.Fatal(err)
	}
	work := make([]ptrace.Traces, benchPool)
	for i := range work {
		work[i] = ptrace.NewTraces()
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := ptrace.NewTraces()
		pool[i%benchPool].CopyTo(td)
		b.StartTimer()
		_ = p.ConsumeTraces(context.Background(), td)
		n += benchSpans
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "spans/s")
	if p.tenants[tenantA].frags.len() > 1 {
		b.Fatal("fragments were remembered")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkIndexBytesPerTrace fills a trace index with 1M traces and reports
// its memory per trace (as the index counts it, and as the heap grew).
func BenchmarkIndexBytesPerTrace(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		rnd := rand.New(rand.NewPCG(3, 3))
		before := heapInUse()
		x := newTraceIndex(n, 5)
		for i := 0; i < n; i++ {
			hi, lo := benchID(rnd)
			x.touch(hi, lo, 1)
		}
		after := heapInUse()
		b.ReportMetric(float64(x.bytes())/n, "B/trace")
		b.ReportMetric(float64(after-before)/n, "heapB/trace")
		runtime.KeepAlive(x)
	}
}

// BenchmarkCorrIndexBytesPerKey is the same for the correlation index.
func BenchmarkCorrIndexBytesPerKey(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		rnd := rand.New(rand.NewPCG(4, 4))
		before := heapInUse()
		x := newCorrIndex(n, 5)
		for i := 0; i < n; i++ {
			x.put(rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), 1)
		}
		after := heapInUse()
		b.ReportMetric(float64(x.bytes())/n, "B/key")
		b.ReportMetric(float64(after-before)/n, "heapB/key")
		runtime.KeepAlive(x)
	}
}
