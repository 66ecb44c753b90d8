package scadareceiver

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"go.opentelemetry.io/collector/confmap"
)

// testConfig builds a validated config from a YAML-like map.
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

func fastGroups() map[string]any {
	return map[string]any{"pressure": "50ms", "valve": "100ms", "generic": "100ms"}
}

func TestReceiverValuesAndLabels(t *testing.T) {
	sim := startSim(t)
	sim.set(func(u func(uint8) *image) {
		img := u(1)
		img.input[0], img.input[1] = 0x0000, 0x4148 // float32 12.5, CDAB
		img.input[2] = 1234                         // int16 -> 1234*0.01-1 = 11.34
		img.holding[100] = 2                        // valve: travel
		img.coils[0] = true                         // valve: open
		img.holding[200], img.holding[201] = 0xb2d0, 0x5e00
		img.holding[300], img.holding[301], img.holding[302], img.holding[303] = 0x6666, 0x6666, 0x6612, 0x71c0
	})
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"rtus": []any{map[string]any{
			"name": "rtu-1", "endpoint": sim.url(), "unit_id": 1, "tenant": "west-pipeline-01", "station": "compressor-7",
			"timeout": "500ms",
			"points": []any{
				map[string]any{"name": "suction", "kind": "pressure", "register": "input", "address": 0, "type": "float32", "byte_order": "CDAB", "unit": "bar"},
				map[string]any{"name": "discharge", "kind": "pressure", "register": "input", "address": 2, "type": "int16", "scale": 0.01, "offset": -1, "unit": "bar"},
				map[string]any{"name": "casing", "kind": "pressure", "register": "input", "address": 3, "type": "uint16", "unit": "kPa"},
				map[string]any{"name": "inlet_valve", "kind": "valve", "register": "holding", "address": 100, "type": "uint16",
					"states": map[string]any{"0": "closed", "1": "open", "2": "travel", "3": "fault"}},
				map[string]any{"name": "outlet_valve", "kind": "valve", "register": "coil", "address": 0,
					"states": map[string]any{"false": "closed", "true": "open"}},
				map[string]any{"name": "flow_total", "kind": "generic", "register": "holding", "address": 200, "type": "uint32", "unit": "m3"},
				map[string]any{"name": "gas_temperature", "kind": "generic", "register": "holding", "address": 300, "type": "float64", "byte_order": "DCBA", "unit": "Cel"},
			},
		}},
	})
	s := &sink{}
	startReceiver(t, cfg, s)
	eventually(t, 3*time.Second, "pressure and valve batches", func() bool {
		pts := flatten(s.all())
		_, okP := find(pts, metricPressure, map[string]any{"point": "suction"})
		_, okV := find(pts, metricValve, map[string]any{"valve_id": "inlet_valve"})
		_, okG := find(pts, "gas_temperature", nil)
		return okP && okV && okG
	})
	now := time.Now()
	pts := flatten(s.all())
	for _, b := range s.all() {
		if b.tenant != "west-pipeline-01" {
			t.Fatalf("batch delivered with context tenant %q", b.tenant)
		}
	}
	check := func(metric string, attrs map[string]any, want float64, unit string) {
		t.Helper()
		p, ok := find(pts, metric, attrs)
		if !ok {
			t.Errorf("no %s %v", metric, attrs)
			return
		}
		if math.Abs(p.value-want) > 1e-9 || p.noValue {
			t.Errorf("%s %v = %v (noValue %v), want %v", metric, attrs, p.value, p.noValue, want)
		}
		if p.unit != "" || unit != "" && p.attrs["unit"] != unit {
			t.Errorf("%s %v metric unit %q, unit attribute %v, want the attribute %q only", metric, attrs, p.unit, p.attrs["unit"], unit)
		}
		if p.attrs["quality"] != "good" || p.attrs["station"] != "compressor-7" {
			t.Errorf("%s %v attrs %v", metric, attrs, p.attrs)
		}
		if p.resource["scada.tenant"] != "west-pipeline-01" || p.resource["scada.station"] != "compressor-7" || p.resource["scada.rtu"] != "rtu-1" {
			t.Errorf("resource %v", p.resource)
		}
		if d := now.Sub(p.ts); d < 0 || d > time.Second {
			t.Errorf("%s timestamp %v is %v before now", metric, p.ts, d)
		}
	}
	check(metricPressure, map[string]any{"point": "suction", "unit": "bar"}, 12.5, "bar")
	check(metricPressure, map[string]any{"point": "discharge", "unit": "bar"}, 11.34, "bar")
	check(metricPressure, map[string]any{"point": "casing", "unit": "kPa"}, 0, "kPa")
	check(metricValve, map[string]any{"valve_id": "inlet_valve", "status": "travel"}, 1, "")
	for _, st := range []string{"closed", "open", "fault"} {
		check(metricValve, map[string]any{"valve_id": "inlet_valve", "status": st}, 0, "")
	}
	check(metricValve, map[string]any{"valve_id": "outlet_valve", "status": "open"}, 1, "")
	check(metricValve, map[string]any{"valve_id": "outlet_valve", "status": "closed"}, 0, "")
	check("flow_total", nil, 3000000000, "m3")
	check("gas_temperature", nil, -273.15, "Cel")
	check(metricRTUUp, map[string]any{"rtu": "rtu-1"}, 1, "")

	// The valve moves: the state set follows.
	sim.set(func(u func(uint8) *image) { u(1).holding[100] = 1 })
	eventually(t, 2*time.Second, "valve open", func() bool {
		p, ok := find(flatten(s.all()), metricValve, map[string]any{"valve_id": "inlet_valve", "status": "open"})
		return ok && p.value == 1
	})
	// An unmapped raw value is a bad sample, not a guess.
	sim.set(func(u func(uint8) *image) { u(1).holding[100] = 9 })
	eventually(t, 2*time.Second, "valve bad", func() bool {
		p, ok := find(flatten(s.all()), metricValve, map[string]any{"valve_id": "inlet_valve", "status": "open"})
		return ok && p.attrs["quality"] == "bad" && p.noValue && math.IsNaN(p.value)
	})
}

func TestReceiverMergesRequests(t *testing.T) {
	sim := startSim(t)
	var points []any
	for i := range 10 { // 10 float32 pressures at 0,2,..,18: one FC3 read
		points = append(points, map[string]any{"name": fmt.Sprintf("p%d", i), "kind": "pressure", "register": "holding", "address": 2 * i, "type": "float32", "unit": "bar"})
	}
	for i := range 3 { // 3 pressures at 100, 102, 104 (gap 80 > max_gap): a second FC3 read
		points = append(points, map[string]any{"name": fmt.Sprintf("q%d", i), "kind": "pressure", "register": "holding", "address": 100 + 2*i, "type": "float32", "unit": "bar"})
	}
	for i := range 5 { // 5 valves on coils 0..4: one FC1 read per valve poll
		points = append(points, map[string]any{"name": fmt.Sprintf("v%d", i), "kind": "valve", "register": "coil", "address": i,
			"states": map[string]any{"false": "closed", "true": "open"}})
	}
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"rtus":        []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s", "points": points}},
	})
	s := &sink{}
	r, _ := startReceiver(t, cfg, s)
	var pressurePolls, valvePolls int
	count := func() {
		pressurePolls, valvePolls = 0, 0
		for _, b := range s.all() {
			names := map[string]bool{}
			for _, m := range b.md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
				names[m.Name()] = true
			}
			if names[metricPressure] {
				pressurePolls++
			}
			if names[metricValve] {
				valvePolls++
			}
		}
	}
	eventually(t, 5*time.Second, "5 pressure and 2 valve polls", func() bool {
		count()
		return pressurePolls >= 5 && valvePolls >= 2
	})
	_ = r.Shutdown(t.Context())
	count() // after Shutdown: every poll's batch, to compare with the server's count
	if pressurePolls < 5 || valvePolls < 2 {
		t.Fatalf("only %d pressure and %d valve polls", pressurePolls, valvePolls)
	}
	if got := sim.count("fc3/u1"); got != 2*pressurePolls {
		t.Errorf("server saw %d FC3 requests for %d pressure polls, want 2 per poll (13 points merged into 2 reads)", got, pressurePolls)
	}
	if got := sim.count("fc1/u1"); got != valvePolls {
		t.Errorf("server saw %d FC1 requests for %d valve polls, want 1 per poll", got, valvePolls)
	}
}

func TestReceiverGatewaySharesOneConnection(t *testing.T) {
	sim := startSim(t)
	sim.set(func(u func(uint8) *image) { u(3).holding[0] = 30; u(4).holding[0] = 40 })
	pts := []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"gateways":    []any{map[string]any{"name": "gw", "endpoint": sim.url(), "timeout": "500ms"}},
		"point_sets":  map[string]any{"std": pts},
		"rtus": []any{
			map[string]any{"name": "u3", "gateway": "gw", "unit_id": 3, "tenant": "north-02", "station": "s3", "point_sets": []any{"std"}},
			map[string]any{"name": "u4", "gateway": "gw", "unit_id": 4, "tenant": "north-03", "station": "s4", "point_sets": []any{"std"}},
		},
	})
	s := &sink{}
	r, _ := startReceiver(t, cfg, s)
	if len(r.lanes) != 1 {
		t.Fatalf("%d lanes for one gateway", len(r.lanes))
	}
	eventually(t, 2*time.Second, "both units", func() bool {
		pts := flatten(s.all())
		a, ok1 := find(pts, metricPressure, map[string]any{"scada.rtu": "u3"})
		b, ok2 := find(pts, metricPressure, map[string]any{"scada.rtu": "u4"})
		return ok1 && ok2 && a.value == 30 && b.value == 40
	})
	// Each unit's batch goes out under its own tenant.
	for _, b := range s.all() {
		rtuName, _ := b.md.ResourceMetrics().At(0).Resource().Attributes().Get("scada.rtu")
		want := map[string]string{"u3": "north-02", "u4": "north-03"}[rtuName.Str()]
		if b.tenant != want {
			t.Fatalf("batch of %s under tenant %q, want %q", rtuName.Str(), b.tenant, want)
		}
	}
}

func TestReceiverQualityWhenRTUDiesAndReturns(t *testing.T) {
	sim := startSim(t)
	sim.set(func(u func(uint8) *image) { u(1).holding[0] = 7 })
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"reconnect":   map[string]any{"initial_interval": "20ms", "max_interval": "100ms"},
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s", "timeout": "200ms",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	s := &sink{}
	_, tel := startReceiver(t, cfg, s)
	latest := func() (dp, dp) {
		pts := flatten(s.all())
		p, _ := find(pts, metricPressure, nil)
		up, _ := find(pts, metricRTUUp, nil)
		return p, up
	}
	eventually(t, 2*time.Second, "good sample", func() bool { p, _ := latest(); return p.attrs["quality"] == "good" && p.value == 7 })

	sim.stop()
	eventually(t, 3*time.Second, "comm_lost sample", func() bool {
		p, up := latest()
		return p.attrs["quality"] == "comm_lost" && up.value == 0
	})
	p, _ := latest()
	if !p.noValue || !math.IsNaN(p.value) {
		t.Errorf("lost sample: noValue=%v value=%v, want flagged NaN (never a zero)", p.noValue, p.value)
	}
	// The good series ends with a staleness marker (flagged point with the
	// good series' labels) at the transition, exactly once.
	ends := 0
	for _, q := range flatten(s.all()) {
		if q.metric == metricPressure && q.attrs["quality"] == "good" && q.noValue {
			ends++
		}
	}
	if ends != 1 {
		t.Errorf("%d end-of-good-series markers, want 1", ends)
	}
	// Polls go on while the RTU is down: lost samples must not be silent gaps.
	n := len(s.all())
	eventually(t, 5*time.Second, "4 more batches while the RTU is down", func() bool { return len(s.all())-n >= 4 })
	faults := counterSum(t, tel, MetricErrors, map[string]string{"rtu": "r", "kind": "refused"}) +
		counterSum(t, tel, MetricErrors, map[string]string{"rtu": "r", "kind": "disconnect"})
	if faults == 0 {
		t.Error("no refused/disconnect errors counted")
	}

	sim.set(func(u func(uint8) *image) { u(1).holding[0] = 8 })
	sim.start()
	eventually(t, 3*time.Second, "good again", func() bool {
		p, up := latest()
		return p.attrs["quality"] == "good" && p.value == 8 && up.value == 1
	})
	if got := counterSum(t, tel, MetricReconnects, map[string]string{"rtu": "r"}); got < 1 {
		t.Errorf("reconnects = %d", got)
	}
}

func TestReceiverExceptionIsBadQuality(t *testing.T) {
	sim := startSim(t)
	sim.setException(modbus.ErrIllegalDataAddress)
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	s := &sink{}
	_, tel := startReceiver(t, cfg, s)
	eventually(t, 2*time.Second, "bad sample", func() bool {
		pts := flatten(s.all())
		p, ok := find(pts, metricPressure, nil)
		up, _ := find(pts, metricRTUUp, nil)
		return ok && p.attrs["quality"] == "bad" && p.noValue && up.value == 1
	})
	if got := counterSum(t, tel, MetricErrors, map[string]string{"kind": "exception", "code": "2"}); got == 0 {
		t.Error("exception code 2 not counted")
	}
	if got := counterSum(t, tel, MetricReconnects, nil); got != 0 {
		t.Errorf("an exception caused %d reconnects; the connection is healthy", got)
	}
}

func TestReceiverKeepsRefusedBatches(t *testing.T) {
	sim := startSim(t)
	cfg := testConfig(t, map[string]any{
		"poll_groups":   fastGroups(),
		"retry_batches": 1000,
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	s := &sink{}
	s.setRefuse(errors.New("data refused due to high memory usage"))
	r, tel := startReceiver(t, cfg, s)
	eventually(t, 5*time.Second, "4 refused polls", func() bool { return counterSum(t, tel, MetricRefused, nil) >= 4 })
	s.setRefuse(nil)
	eventually(t, 5*time.Second, "10 batches delivered", func() bool { return len(s.all()) >= 10 })
	_ = r.Shutdown(t.Context())
	bs := s.all()
	if len(bs) < 10 {
		t.Fatalf("%d batches delivered", len(bs))
	}
	// No sample was lost: every sample the receiver produced (self-metric)
	// reached the consumer, in order.
	var ts []time.Time
	for _, p := range flatten(bs) {
		if p.metric == metricPressure {
			ts = append(ts, p.ts)
		}
	}
	if produced := counterSum(t, tel, MetricSamples, nil); int64(len(ts)) != produced {
		t.Errorf("consumer got %d samples, receiver produced %d: refused batches were lost", len(ts), produced)
	}
	if !slices.IsSortedFunc(ts, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Error("retried batches delivered out of order")
	}
	if d := counterSum(t, tel, MetricDropped, nil); d != 0 {
		t.Errorf("dropped = %d", d)
	}
}

func TestReceiverRetryBufferIsBoundedAndCounted(t *testing.T) {
	sim := startSim(t)
	cfg := testConfig(t, map[string]any{
		"poll_groups":   fastGroups(),
		"retry_batches": 2,
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	s := &sink{}
	s.setRefuse(errors.New("refused"))
	_, tel := startReceiver(t, cfg, s)
	eventually(t, 5*time.Second, "the retry buffer's overflow counted (3 dropped)", func() bool {
		return counterSum(t, tel, MetricDropped, map[string]string{"reason": "retry_limit"}) >= 3
	})
}
