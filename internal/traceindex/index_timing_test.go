package traceindex

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkRecordTraces: one request of 100 spans of one trace and one
// service, 3 operations, already known (the steady state).
func BenchmarkRecordTraces(b *testing.B) {
	x := New(Config{MaxServices: 1000, MaxOperations: 200, MaxTraceIDs: 4_000_000, Lookback: 168 * time.Hour}, nil)
	ops := make([]string, 100)
	for i := range ops {
		ops[i] = []string{"read", "write", "poll"}[i%3]
	}
	td := spans("plc-gateway", ops, ptrace.SpanKindServer, randomID(b))
	x.RecordTraces("west", td)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			x.RecordTraces("west", td)
		}
	})
}
