package durableotlpexporter

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// a reserve no disk can satisfy
var fullReserve = diskreserve.Config{Bytes: 1 << 62}

func TestSplitKeepsEverySpanInOrderUnderTheBound(t *testing.T) {
	td := traces(0, 5000, 700, "a", "b", "c")
	// and one resource holding many spans in two scopes
	rs := td.ResourceSpans().AppendEmpty()
	for s := range 2 {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope" + itoa(s))
		for i := range 3000 {
			sp := ss.Spans().AppendEmpty()
			sp.SetName("inner-" + itoa(s*3000+i))
			sp.Attributes().PutStr("pad", string(make([]byte, 500)))
		}
	}
	const limit = 512 << 10
	parts := splitTraces(td, limit)
	var names []string
	for _, p := range parts {
		if sz := sizer.TracesSize(p); sz > limit {
			t.Fatalf("part of %d bytes over %d", sz, limit)
		}
		forEachSpan(p, func(sp ptrace.Span) { names = append(names, sp.Name()) })
	}
	var want []string
	forEachSpan(td, func(sp ptrace.Span) { want = append(want, sp.Name()) })
	if len(names) != len(want) {
		t.Fatalf("%d spans after split, want %d", len(names), len(want))
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("span %d is %s, want %s", i, names[i], want[i])
		}
	}
	if len(parts) < 2 {
		t.Fatal("nothing split")
	}
}

func TestSplitSingleOversizedSpanComesBackAlone(t *testing.T) {
	td := traces(0, 1, 10000, "a")
	parts := splitTraces(td, 1000)
	if len(parts) != 1 || parts[0].SpanCount() != 1 {
		t.Fatalf("%d parts", len(parts))
	}
	if _, _, ok := halve(ptrace.NewTraces()); ok {
		t.Fatal("empty request halved")
	}
}
