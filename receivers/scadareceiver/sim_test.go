package scadareceiver

import (
	"context"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// image is the register image of one unit id.
type image struct {
	holding, input  [4096]uint16
	coils, discrete [4096]bool
}

// simRTU is a Modbus TCP server (the library's own) with per-unit
// register images and a count of the requests it served.
type simRTU struct {
	t   testing.TB
	mu  sync.Mutex
	img map[uint8]*image
	// reqs counts requests per "fc<code>/u<unit>".
	reqs map[string]int
	// exc, when set, is returned for every read.
	exc  error
	srv  *modbus.ModbusServer
	addr string
}

func startSim(t testing.TB) *simRTU {
	s := &simRTU{t: t, img: map[uint8]*image{}, reqs: map[string]int{}}
	s.addr = e2e.FreeAddr(t)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *simRTU) url() string { return "tcp://" + s.addr }

func (s *simRTU) start() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger briefly after a stop
		s.srv, err = modbus.NewServer(&modbus.ServerConfiguration{
			URL: "tcp://" + s.addr, Timeout: 30 * time.Second, MaxClients: 64,
			Logger: log.New(io.Discard, "", 0),
		}, s)
		if err == nil {
			if err = s.srv.Start(); err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("cannot start simulated RTU on %s: %v", s.addr, err)
}

func (s *simRTU) stop() {
	if s.srv != nil {
		_ = s.srv.Stop()
		s.srv = nil
	}
}

func (s *simRTU) unit(u uint8) *image {
	if s.img[u] == nil {
		s.img[u] = &image{}
	}
	return s.img[u]
}

// set writes registers under the lock.
func (s *simRTU) set(f func(unit func(uint8) *image)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.unit)
}

func (s *simRTU) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[key]
}

func (s *simRTU) setException(err error) {
	s.mu.Lock()
	s.exc = err
	s.mu.Unlock()
}

func (s *simRTU) bits(fc int, unit uint8, addr, qty uint16, table func(*image) *[4096]bool) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs[fmt.Sprintf("fc%d/u%d", fc, unit)]++
	if s.exc != nil {
		return nil, s.exc
	}
	if int(addr)+int(qty) > 4096 {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]bool, qty)
	copy(out, table(s.unit(unit))[addr:])
	return out, nil
}

func (s *simRTU) regs(fc int, unit uint8, addr, qty uint16, table func(*image) *[4096]uint16) ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs[fmt.Sprintf("fc%d/u%d", fc, unit)]++
	if s.exc != nil {
		return nil, s.exc
	}
	if int(addr)+int(qty) > 4096 {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]uint16, qty)
	copy(out, table(s.unit(unit))[addr:])
	return out, nil
}

func (s *simRTU) HandleCoils(r *modbus.CoilsRequest) ([]bool, error) {
	if r.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	return s.bits(1, r.UnitId, r.Addr, r.Quantity, func(i *image) *[4096]bool { return &i.coils })
}

func (s *simRTU) HandleDiscreteInputs(r *modbus.DiscreteInputsRequest) ([]bool, error) {
	return s.bits(2, r.UnitId, r.Addr, r.Quantity, func(i *image) *[4096]bool { return &i.discrete })
}

func (s *simRTU) HandleHoldingRegisters(r *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if r.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	return s.regs(3, r.UnitId, r.Addr, r.Quantity, func(i *image) *[4096]uint16 { return &i.holding })
}

func (s *simRTU) HandleInputRegisters(r *modbus.InputRegistersRequest) ([]uint16, error) {
	return s.regs(4, r.UnitId, r.Addr, r.Quantity, func(i *image) *[4096]uint16 { return &i.input })
}

// sink records batches with the tenant their context carried.
type sink struct {
	mu      sync.Mutex
	batches []batch
	refuse  error
}

type batch struct {
	md     pmetric.Metrics
	tenant string
	at     time.Time
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return s.refuse
	}
	s.batches = append(s.batches, batch{md: md, tenant: tenants.FromContext(ctx), at: time.Now()})
	return nil
}

func (s *sink) setRefuse(err error) {
	s.mu.Lock()
	s.refuse = err
	s.mu.Unlock()
}

func (s *sink) all() []batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]batch(nil), s.batches...)
}

// dp is a flattened data point for assertions.
type dp struct {
	tenant   string
	resource map[string]any
	metric   string
	unit     string
	attrs    map[string]any
	value    float64
	noValue  bool
	ts       time.Time
}

func flatten(bs []batch) []dp {
	var out []dp
	for _, b := range bs {
		for _, rm := range b.md.ResourceMetrics().All() {
			res := rm.Resource().Attributes().AsRaw()
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for _, p := range m.Gauge().DataPoints().All() {
						v := p.DoubleValue()
						if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(p.IntValue())
						}
						out = append(out, dp{tenant: b.tenant, resource: res, metric: m.Name(), unit: m.Unit(),
							attrs: p.Attributes().AsRaw(), value: v,
							noValue: p.Flags().NoRecordedValue(), ts: p.Timestamp().AsTime()})
					}
				}
			}
		}
	}
	return out
}

// find returns the last data point of metric whose attributes include want.
func find(points []dp, metric string, want map[string]any) (dp, bool) {
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		if p.metric != metric {
			continue
		}
		ok := true
		for k, v := range want {
			if p.attrs[k] != v && p.resource[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return dp{}, false
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startReceiver(t testing.TB, cfg *Config, next consumer.Metrics) (*scadaReceiver, *componenttest.Telemetry) {
	t.Helper()
	return startReceiverLogged(t, cfg, next, nil)
}

func startReceiverLogged(t testing.TB, cfg *Config, next consumer.Metrics, logger *zap.Logger) (*scadaReceiver, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	set := testSettingsTB(t)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	if logger != nil {
		set.Logger = logger
	}
	r, err := newReceiver(set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Shutdown(context.Background())
		_ = tel.Shutdown(context.Background())
	})
	return r, tel
}

// counterSum sums an int64 sum self-metric over the points matching attrs.
func counterSum(t testing.TB, tel *componenttest.Telemetry, name string, attrs map[string]string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is %T", name, m.Data)
	}
	for _, p := range sum.DataPoints {
		match := true
		for k, v := range attrs {
			if got, _ := p.Attributes.Value(attrKey(k)); got.AsString() != v {
				match = false
			}
		}
		if match {
			n += p.Value
		}
	}
	return n
}

var _ = pcommon.NewTimestampFromTime
