package iec104receiver

import (
	"context"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	outsim "github.com/scadaotel/scadaotel/internal/iec104/outstation"
	"github.com/scadaotel/scadaotel/tenants"
)

func testConfig(t testing.TB, m map[string]any) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// got is one data point as the next consumer saw it.
type got struct {
	tenant, rtu string
	metric      string
	attrs       map[string]string
	value       float64
	noValue     bool
	ts          time.Time
}

// sink records every data point it is given.
type sink struct {
	mu     sync.Mutex
	points []got
	refuse error
}

func (s *sink) Capabilities() consumerCapabilities { return consumerCapabilities{} }

func (s *sink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return s.refuse
	}
	tenant := tenants.FromContext(ctx)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rtu, _ := rm.Resource().Attributes().Get(attrRTU)
		if rt := tenants.FromResource(rm.Resource()); rt != tenant || rt == "" {
			panic("resource tenant " + rt + " differs from the context's " + tenant)
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				dps := m.Gauge().DataPoints()
				for l := 0; l < dps.Len(); l++ {
					dp := dps.At(l)
					g := got{tenant: tenant, rtu: rtu.Str(), metric: m.Name(), attrs: map[string]string{},
						noValue: dp.Flags().NoRecordedValue(), ts: dp.Timestamp().AsTime()}
					dp.Attributes().Range(func(k string, v pcommonValue) bool { g.attrs[k] = v.AsString(); return true })
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						g.value = float64(dp.IntValue())
					} else {
						g.value = dp.DoubleValue()
					}
					s.points = append(s.points, g)
				}
			}
		}
	}
	return nil
}

func (s *sink) all() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.points...)
}

// last returns the newest point of metric whose attributes include want.
func (s *sink) last(metric string, want map[string]string) (got, bool) {
	pts := s.all()
	for i := len(pts) - 1; i >= 0; i-- {
		p := pts[i]
		if p.metric != metric {
			continue
		}
		ok := true
		for k, v := range want {
			if p.attrs[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return got{}, false
}

// harness runs a receiver whose dials reach in-process outstations over
// net.Pipe (so it runs inside a synctest bubble).
type harness struct {
	t    *testing.T
	r    *iecReceiver
	sink *sink
	tel  *componenttest.Telemetry
	sims map[string]*outsim.Server // by address
	down map[string]bool           // addresses that refuse
	mu   sync.Mutex
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

func newHarness(t *testing.T, cfg *Config, sims map[string]*outsim.Server) *harness {
	t.Helper()
	h := &harness{t: t, sink: &sink{}, tel: componenttest.NewTelemetry(), sims: sims, down: map[string]bool{}}
	h.ctx, h.stop = context.WithCancel(context.Background())
	set := receivertest.NewNopSettings(component.MustNewType(typeStr))
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	r, err := newReceiver(set, cfg, h.sink)
	if err != nil {
		t.Fatal(err)
	}
	r.dial = h.dial
	h.r = r
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) setDown(addr string, down bool) {
	h.mu.Lock()
	h.down[addr] = down
	h.mu.Unlock()
}

func (h *harness) dial(_ context.Context, addr string) (net.Conn, error) {
	h.mu.Lock()
	sim, down := h.sims[addr], h.down[addr]
	h.mu.Unlock()
	if sim == nil || down {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused}
	}
	a, b := net.Pipe()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		_ = sim.ServeConn(h.ctx, b)
	}()
	return a, nil
}

type refusedErr struct{}

func (refusedErr) Error() string { return "connection refused" }

var errRefused = refusedErr{}

func (h *harness) close() {
	if err := h.r.Shutdown(context.Background()); err != nil {
		h.t.Error(err)
	}
	h.stop()
	h.wg.Wait()
	_ = h.tel.Shutdown(context.Background())
}

// counter sums an int64 counter's points whose attributes include want.
func (h *harness) counter(name string, want map[string]string) int64 {
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if attrsMatch(dp.Attributes.ToSlice(), want) {
				n += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			if attrsMatch(dp.Attributes.ToSlice(), want) {
				n += dp.Value
			}
		}
	}
	return n
}

func attrsMatch(kvs []attributeKeyValue, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, kv := range kvs {
			if string(kv.Key) == k && kv.Value.String() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
