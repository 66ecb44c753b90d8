package scadareceiver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Benchmark setup: simulated RTUs on loopback, 20 points each:
// 10 float32 pressures (holding 0..19) polled every 500 ms and 10 uint16
// valves (holding 100..109) every 2 s. Both benchmarks poll the same
// in-process server, so server CPU is part of both figures.
// Run: go test -run XXX -bench . -benchtime 2x ./receivers/scadareceiver/
// SCADA_BENCH_RTUS overrides the RTU count (default 1000).

func benchRTUs() int {
	if n, err := strconv.Atoi(os.Getenv("SCADA_BENCH_RTUS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

const (
	benchPressureIv = 500 * time.Millisecond
	benchValveIv    = 2 * time.Second
)

// fastServer answers FC1-FC4 reads with a fixed image, as cheaply as a
// hand-written loop can, so that the client side dominates.
func fastServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var image [256]byte // registers 0..127, big endian
	for i := 0; i < 20; i += 2 {
		binary.BigEndian.PutUint32(image[2*i:], 0x41480000) // float32 12.5
	}
	for i := 100; i < 110; i++ {
		binary.BigEndian.PutUint16(image[2*i:], uint16(i%4))
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				req := make([]byte, 12)
				resp := make([]byte, 0, 260)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					addr := int(binary.BigEndian.Uint16(req[8:]))
					qty := int(binary.BigEndian.Uint16(req[10:]))
					resp = append(resp[:0], req[0], req[1], 0, 0, 0, 0, req[6], req[7])
					switch req[7] {
					case 3, 4:
						resp = append(resp, byte(2*qty))
						resp = append(resp, image[2*addr:2*(addr+qty)]...)
					default:
						n := (qty + 7) / 8
						resp = append(resp, byte(n))
						for range n {
							resp = append(resp, 0x55)
						}
					}
					binary.BigEndian.PutUint16(resp[4:], uint16(len(resp)-6))
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// lagRecorder keeps each poll's start lag behind its scheduled tick.
type lagRecorder struct {
	mu      sync.Mutex
	lags    []time.Duration
	samples atomic.Int64
}

func (l *lagRecorder) add(d time.Duration, samples int) {
	l.samples.Add(int64(samples))
	l.mu.Lock()
	l.lags = append(l.lags, d)
	l.mu.Unlock()
}

func (l *lagRecorder) reset() {
	l.mu.Lock()
	l.lags = l.lags[:0]
	l.mu.Unlock()
	l.samples.Store(0)
}

func (l *lagRecorder) p99() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lags) == 0 {
		return 0
	}
	s := slices.Clone(l.lags)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// lagConsumer is the receiver's next consumer: it counts point samples
// (valve state sets count once per valve). Lags come from pollHook.
type lagConsumer struct{ rec *lagRecorder }

func (c lagConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c lagConsumer) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	n := 0
	var ts time.Time
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		dps := m.Gauge().DataPoints()
		switch m.Name() {
		case metricValve:
			n += dps.Len() / 4 // 4 statuses per valve
		case metricRTUUp:
		default:
			n += dps.Len()
		}
		if dps.Len() > 0 {
			ts = dps.At(0).Timestamp().AsTime()
		}
	}
	_ = ts
	c.rec.samples.Add(int64(n))
	return nil
}

func report(b *testing.B, rec *lagRecorder, cpu, wall time.Duration, rtus int) {
	samples := float64(rec.samples.Load())
	b.ReportMetric(samples/wall.Seconds(), "samples/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/(samples/1000), "cpu-ms/1k-samples")
	b.ReportMetric(float64(rec.p99().Microseconds())/1000, "p99-jitter-ms")
	b.ReportMetric(rssMB(), "rss-MB")
	b.ReportMetric(float64(rtus), "rtus")
	b.ReportMetric(0, "ns/op") // one op is a 2 s polling window; ns/op says nothing
}

// BenchmarkReceiver runs the scada receiver against the simulated RTUs;
// each iteration is one 2 s window (4 pressure ticks, 1 valve tick).
func BenchmarkReceiver(b *testing.B) {
	b.ReportAllocs()
	addr := fastServer(b)
	n := benchRTUs()
	var pts []any
	for i := range 10 {
		pts = append(pts, map[string]any{"name": fmt.Sprintf("pt%d", i), "kind": "pressure", "register": "holding", "address": 2 * i, "type": "float32", "unit": "bar"})
		pts = append(pts, map[string]any{"name": fmt.Sprintf("xv%d", i), "kind": "valve", "register": "holding", "address": 100 + i, "type": "uint16",
			"states": map[string]any{"0": "closed", "1": "open", "2": "travel", "3": "fault"}})
	}
	var rtus []any
	for i := range n {
		rtus = append(rtus, map[string]any{"name": fmt.Sprintf("rtu-%04d", i), "endpoint": "tcp://" + addr, "unit_id": 1,
			"tenant": "bench", "station": "s", "timeout": "1s", "point_sets": []any{"std"}})
	}
	cfg := testConfig(b, map[string]any{"point_sets": map[string]any{"std": pts}, "rtus": rtus})
	rec := &lagRecorder{}
	r, err := newReceiver(testSettingsTB(b), cfg, lagConsumer{rec})
	if err != nil {
		b.Fatal(err)
	}
	r.pollHook = func(tick, start time.Time) {
		rec.mu.Lock()
		rec.lags = append(rec.lags, start.Sub(tick))
		rec.mu.Unlock()
	}
	if err := r.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	time.Sleep(2500 * time.Millisecond) // connect and warm up
	rec.reset()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for range b.N {
		time.Sleep(benchValveIv)
	}
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	b.StopTimer()
	report(b, rec, cpu, wall, n)
}

// BenchmarkBaselineLibraryLoop is the baseline: the same load as a plain
// loop of library reads and decodes, one ticker per poll group firing all
// RTUs' reads together, no pdata, no quality, no self-metrics.
func BenchmarkBaselineLibraryLoop(b *testing.B) {
	b.ReportAllocs()
	addr := fastServer(b)
	n := benchRTUs()
	clients := make([]*modbus.ModbusClient, n)
	for i := range clients {
		c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Open(); err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	rec := &lagRecorder{}
	var sink atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	group := func(iv time.Duration, poll func(c *modbus.ModbusClient) int) {
		defer wg.Done()
		next := time.Now().Truncate(iv).Add(iv)
		t := time.NewTimer(time.Until(next))
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			tick := next
			var inner sync.WaitGroup
			for _, c := range clients {
				inner.Add(1)
				go func() {
					defer inner.Done()
					lag := time.Since(tick)
					rec.add(lag, poll(c))
				}()
			}
			inner.Wait()
			next = next.Add(iv)
			t.Reset(time.Until(next))
		}
	}
	// a client is shared by both groups
	locks := map[*modbus.ModbusClient]*sync.Mutex{}
	for _, c := range clients {
		locks[c] = &sync.Mutex{}
	}
	wg.Add(2)
	go group(benchPressureIv, func(c *modbus.ModbusClient) int {
		locks[c].Lock()
		defer locks[c].Unlock()
		v, err := c.ReadFloat32s(0, 10, modbus.HOLDING_REGISTER)
		if err != nil {
			return 0
		}
		for _, f := range v {
			sink.Add(uint64(f))
		}
		return len(v)
	})
	go group(benchValveIv, func(c *modbus.ModbusClient) int {
		locks[c].Lock()
		defer locks[c].Unlock()
		v, err := c.ReadRegisters(100, 10, modbus.HOLDING_REGISTER)
		if err != nil {
			return 0
		}
		for _, x := range v {
			sink.Add(uint64(x))
		}
		return len(v)
	})
	time.Sleep(2500 * time.Millisecond)
	rec.reset()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for range b.N {
		time.Sleep(benchValveIv)
	}
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	b.StopTimer()
	cancel()
	wg.Wait()
	report(b, rec, cpu, wall, n)
}
