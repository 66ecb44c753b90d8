package durableotlpexporter

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var sizer ptrace.ProtoMarshaler

// splitTraces cuts td into requests of at most maxBytes (protobuf size) by
// halving: resources first, then scopes, then spans. A single span larger
// than maxBytes cannot be cut and comes back alone, still too large: the
// caller dead-letters it.
func splitTraces(td ptrace.Traces, maxBytes int) []ptrace.Traces {
	if sizer.TracesSize(td) <= maxBytes {
		return []ptrace.Traces{td}
	}
	a, b, ok := halve(td)
	if !ok {
		return []ptrace.Traces{td}
	}
	return append(splitTraces(a, maxBytes), splitTraces(b, maxBytes)...)
}

// halve splits td into two non-empty parts of about the same number of
// items at the highest level that has more than one; ok is false for a
// request of one span (or none).
func halve(td ptrace.Traces) (a, b ptrace.Traces, ok bool) {
	rss := td.ResourceSpans()
	a, b = ptrace.NewTraces(), ptrace.NewTraces()
	if rss.Len() > 1 {
		for i := range rss.Len() {
			dst := a
			if i >= rss.Len()/2 {
				dst = b
			}
			rss.At(i).CopyTo(dst.ResourceSpans().AppendEmpty())
		}
		return a, b, true
	}
	if rss.Len() == 0 {
		return td, ptrace.Traces{}, false
	}
	rs := rss.At(0)
	ras, rbs := a.ResourceSpans().AppendEmpty(), b.ResourceSpans().AppendEmpty()
	for _, r := range []ptrace.ResourceSpans{ras, rbs} {
		rs.Resource().CopyTo(r.Resource())
		r.SetSchemaUrl(rs.SchemaUrl())
	}
	sss := rs.ScopeSpans()
	if sss.Len() > 1 {
		for i := range sss.Len() {
			dst := ras
			if i >= sss.Len()/2 {
				dst = rbs
			}
			sss.At(i).CopyTo(dst.ScopeSpans().AppendEmpty())
		}
		return a, b, true
	}
	if sss.Len() == 0 || sss.At(0).Spans().Len() < 2 {
		return td, ptrace.Traces{}, false
	}
	ss := sss.At(0)
	sas, sbs := ras.ScopeSpans().AppendEmpty(), rbs.ScopeSpans().AppendEmpty()
	for _, s := range []ptrace.ScopeSpans{sas, sbs} {
		ss.Scope().CopyTo(s.Scope())
		s.SetSchemaUrl(ss.SchemaUrl())
	}
	spans := ss.Spans()
	for i := range spans.Len() {
		dst := sas
		if i >= spans.Len()/2 {
			dst = sbs
		}
		spans.At(i).CopyTo(dst.Spans().AppendEmpty())
	}
	return a, b, true
}

// mergeTraces puts parts back into one request (for a partial retry).
func mergeTraces(parts ...ptrace.Traces) ptrace.Traces {
	if len(parts) == 1 {
		return parts[0]
	}
	out := ptrace.NewTraces()
	for _, p := range parts {
		p.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out
}
