package iec104receiver

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/internal/iec104"
	outsim "github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// latencySink records, for each value (a sequence number), when it
// reached the next consumer.
type latencySink struct {
	mu    sync.Mutex
	sent  []time.Time
	lat   []time.Duration
	count atomic.Int64
}

func (s *latencySink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *latencySink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	now := time.Now()
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Name() != metricPressure {
			continue
		}
		dps := m.Gauge().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			seq := int(dps.At(j).DoubleValue())
			s.mu.Lock()
			if seq >= 0 && seq < len(s.sent) && !s.sent[seq].IsZero() {
				s.lat = append(s.lat, now.Sub(s.sent[seq]))
			}
			s.mu.Unlock()
			s.count.Add(1)
		}
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSpontaneous: one op is 1,000 spontaneous values spread over 200
// outstations × 100 points (IEC104_BENCH_OUTSTATIONS changes the count) on
// loopback TCP, through the receiver to a consumer that only counts; one
// float per ASDU (each change sent alone) or 10 per ASDU (changes sent
// together, like the scada benchmark's 10 pressures per poll). The
// simulated outstations run in the same process, so the CPU figure
// includes them.
func BenchmarkSpontaneous(b *testing.B) {
	for _, per := range []int{1, 10} {
		b.Run(fmt.Sprintf("values_per_asdu=%d", per), func(b *testing.B) { benchSpontaneous(b, per) })
	}
}

func benchSpontaneous(b *testing.B, perASDU int) {
	nOut := 200
	if v, err := strconv.Atoi(os.Getenv("IEC104_BENCH_OUTSTATIONS")); err == nil && v > 0 {
		nOut = v
	}
	const nPoints = 100
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sims := make([]*outsim.Server, nOut)
	var outs []any
	for i := range sims {
		pts := make([]outsim.Point, nPoints)
		var cfgPts []any
		for j := range pts {
			pts[j] = outsim.Point{CA: 1, IOA: uint32(1000 + j), Type: iec104.MMeNc1, Value: -1}
			cfgPts = append(cfgPts, map[string]any{"name": fmt.Sprintf("p%d", j), "kind": "pressure", "ioa": 1000 + j, "unit": "bar"})
		}
		sims[i] = outsim.New(pts)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = sims[i].Serve(ctx, ln) }()
		outs = append(outs, map[string]any{"name": fmt.Sprintf("o%d", i), "endpoint": "tcp://" + ln.Addr().String(),
			"tenant": "t1", "station": fmt.Sprintf("s%d", i), "common_address": 1, "points": cfgPts})
	}
	defer func() { cancel(); wg.Wait() }()
	cfg := testConfig(b, map[string]any{"outstations": outs, "interrogation_interval": "0s"})
	sink := &latencySink{}
	r, err := newReceiver(receivertest.NewNopSettings(component.MustNewType(typeStr)), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	// every outstation answered its interrogation (100 values each)
	for sink.count.Load() < int64(nOut*nPoints) {
		time.Sleep(10 * time.Millisecond)
	}
	seq := 0
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := sink.count.Load() + 1000
		c0 := cpuTime()
		for k := 0; k < 1000; k += perASDU {
			o := (seq + k) % nOut
			batch := make([]outsim.Point, perASDU)
			sink.mu.Lock()
			for j := range batch {
				sink.sent = append(sink.sent, time.Now())
				batch[j] = outsim.Point{CA: 1, IOA: uint32(1000 + (seq/nOut+j)%nPoints), Type: iec104.MMeNc1, Value: float64(len(sink.sent) - 1)}
			}
			sink.mu.Unlock()
			sims[o].SetMany(batch)
		}
		seq += 1000
		for sink.count.Load() < want {
			time.Sleep(100 * time.Microsecond)
		}
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	sink.mu.Lock()
	lat := slices.Clone(sink.lat)
	sink.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-change-to-consumer-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-change-to-consumer-ms")
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/1000-values")
}

// BenchmarkHandleASDU: the receiver's own work for ASDUs of 25 floats
// (decode, map, pdata, deliver to a no-op consumer), without the link;
// one op is 1,000 values (40 ASDUs).
func BenchmarkHandleASDU(b *testing.B) {
	var cfgPts []any
	objs := make([]iec104.Object, 25)
	for j := range objs {
		cfgPts = append(cfgPts, map[string]any{"name": fmt.Sprintf("p%d", j), "kind": "pressure", "ioa": 1000 + j, "unit": "bar"})
		objs[j] = iec104.Object{IOA: uint32(1000 + j), Value: float64(j)}
	}
	cfg := testConfig(b, map[string]any{"outstations": []any{map[string]any{"name": "o", "endpoint": "tcp://127.0.0.1:2404",
		"tenant": "t1", "station": "s", "common_address": 1, "points": cfgPts}}})
	r, err := newReceiver(receivertest.NewNopSettings(component.MustNewType(typeStr)), cfg, consumerNop{})
	if err != nil {
		b.Fatal(err)
	}
	o := r.outs[0]
	asdu, err := iec104.DefaultParams.Encode(nil, iec104.ASDU{Type: iec104.MMeNc1, Cause: iec104.CauseSpontaneous, CommonAddr: 1, Objects: objs})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range 40 {
			o.asdu(asdu, now)
		}
	}
}

type consumerNop struct{}

func (consumerNop) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }
func (consumerNop) ConsumeMetrics(context.Context, pmetric.Metrics) error { return nil }
