package traceindex

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// NoServiceName is what Jaeger lists for a resource without service.name
// (the OTLP → Jaeger translator's name for it).
const NoServiceName = "OTLPResourceNoServiceName"

// entry is one distinct (service, operation, span kind) of a request.
type entry struct {
	service string
	name    string
	kind    ptrace.SpanKind
}

func (e entry) op() Operation { return Operation{Name: e.name, SpanKind: SpanKind(e.kind)} }

// batch is the per-request dedup: the distinct entries and trace ids of
// one request, so that the index is locked once per request, not per span.
type batch struct {
	entries []entry
	ids     [][16]byte
	seen    map[entry]struct{} // only for requests with many distinct entries
}

// linearDedup is how many distinct entries are deduplicated by a scan
// before a map is cheaper.
const linearDedup = 16

var batchPool = sync.Pool{New: func() any { return &batch{} }}

func getBatch() *batch { return batchPool.Get().(*batch) }

func putBatch(b *batch) {
	b.entries = b.entries[:0]
	b.ids = b.ids[:0]
	clear(b.seen)
	if cap(b.entries) > 4096 || cap(b.ids) > 65536 {
		return // do not keep a huge request's buffers
	}
	batchPool.Put(b)
}

// addEntry adds e unless the request has it; from is where the entries of
// e's resource start (the service is the same from there on, so only the
// name and kind are compared).
func (b *batch) addEntry(e entry, from int) {
	if len(b.entries) < linearDedup {
		for i := from; i < len(b.entries); i++ {
			if have := &b.entries[i]; have.kind == e.kind && have.name == e.name {
				return
			}
		}
		b.entries = append(b.entries, e)
		if len(b.entries) == linearDedup {
			if b.seen == nil {
				b.seen = make(map[entry]struct{}, 2*linearDedup)
			}
			for _, have := range b.entries {
				b.seen[have] = struct{}{}
			}
		}
		return
	}
	if _, ok := b.seen[e]; !ok {
		b.seen[e] = struct{}{}
		b.entries = append(b.entries, e)
	}
}

func (b *batch) collect(td ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service := NoServiceName
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok && v.AsString() != "" {
			service = v.AsString()
		}
		from := len(b.entries)
		if len(b.entries) >= linearDedup {
			from = 0
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				b.addEntry(entry{service: service, name: s.Name(), kind: s.Kind()}, from)
				id := [16]byte(s.TraceID())
				if n := len(b.ids); n == 0 || b.ids[n-1] != id {
					b.ids = append(b.ids, id)
				}
			}
		}
	}
}

// SpanKind is the span kind as Jaeger's APIs name it ("" when unspecified).
func SpanKind(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	case ptrace.SpanKindInternal:
		return "internal"
	}
	return ""
}
