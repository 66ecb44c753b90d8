package tenantstampprocessor

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

const benchSpans = 100 // spans per request

// benchAuth: west is limited (flooder in the latency benchmark), east has
// limits high enough never to refuse, so the limiter path is measured.
func benchAuth() string {
	return `
tenants:
  - id: west-pipeline-01
    token_sha256: [` + tenants.HashToken(westToken) + `]
    limits: {spans_per_second: 1000}
  - id: east-pipeline-02
    token_sha256: [` + tenants.HashToken(eastToken) + `]
    limits: {spans_per_second: 1000000000, bytes_per_second: 1000000000000}
`
}

func benchOTLP(b *testing.B, stamp bool) {
	p := startPipeline(b, stamp, benchAuth(), consumertest.NewNop())
	td := testTraces(benchSpans, "plc-gateway", "")
	kv := []string{}
	if stamp {
		kv = []string{"authorization", "Bearer " + eastToken}
	}
	b.ReportAllocs()
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.exportGRPC(td, kv...); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchSpans)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkOTLPPassThrough is the baseline: real OTLP gRPC receiver -> nop.
func BenchmarkOTLPPassThrough(b *testing.B) { benchOTLP(b, false) }

// BenchmarkOTLPAuthStamp: the same with tenantauth + tenantstamp (+ limiter).
func BenchmarkOTLPAuthStamp(b *testing.B) { benchOTLP(b, true) }

// BenchmarkStampOnlyBaseline and BenchmarkStampOnly isolate the processor.
func BenchmarkStampOnlyBaseline(b *testing.B) {
	td := testTraces(benchSpans, "plc-gateway", "")
	next := consumertest.NewNop()
	ctx := tenants.NewContext(context.Background(), "east-pipeline-02")
	b.ReportAllocs()
	for b.Loop() {
		_ = next.ConsumeTraces(ctx, td)
	}
}

func BenchmarkStampOnly(b *testing.B) {
	f := NewFactory()
	proc, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := proc.Start(context.Background(), benchHost(b)); err != nil {
		b.Fatal(err)
	}
	td := testTraces(benchSpans, "plc-gateway", "")
	ctx := tenants.NewContext(context.Background(), "east-pipeline-02")
	b.ReportAllocs()
	for b.Loop() {
		if err := proc.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTenantBLatency measures tenant B's p99 request latency through
// the real receiver + auth + stamp: alone; while tenant A sends 10x its
// 1000 spans/s limit (the scenario: 100 requests/s of 100 spans);
// and while A floods unpaced from 4 senders (CPU saturation on 2 cores).
func BenchmarkTenantBLatency(b *testing.B) {
	for _, mode := range []struct {
		name     string
		interval time.Duration // per sender; 0 = unpaced
		senders  int
	}{{"alone", 0, 0}, {"A-10x-limit", 40 * time.Millisecond, 4}, {"A-unpaced", 0, 4}} {
		b.Run(mode.name, func(b *testing.B) {
			p := startPipeline(b, true, benchAuth(), consumertest.NewNop())
			td := testTraces(benchSpans, "plc-gateway", "")
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var refused atomic.Int64
			for i := 0; i < mode.senders; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var tick <-chan time.Time
					if mode.interval > 0 {
						t := time.NewTicker(mode.interval)
						defer t.Stop()
						tick = t.C
					}
					for {
						if tick != nil {
							select {
							case <-stop:
								return
							case <-tick:
							}
						} else {
							select {
							case <-stop:
								return
							default:
							}
						}
						if status.Code(p.exportGRPC(td, "authorization", "Bearer "+westToken)) == codes.ResourceExhausted {
							refused.Add(1)
						}
					}
				}()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := p.exportGRPC(td, "authorization", "Bearer "+eastToken); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			if mode.senders > 0 {
				b.ReportMetric(float64(refused.Load())/b.Elapsed().Seconds(), "A-429s/s")
			}
		})
	}
}
