package iec104receiver

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
	outsim "github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// simPoints is what the test outstation serves on common address 1.
func simPoints() []outsim.Point {
	return []outsim.Point{
		{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: 5.5},
		{CA: 1, IOA: 101, Type: iec104.MMeNb1, Value: 1234},
		{CA: 1, IOA: 200, Type: iec104.MDpNa1, Value: iec104.DPIOn},
		{CA: 1, IOA: 300, Type: iec104.MSpNa1, Value: 1},
		{CA: 1, IOA: 400, Type: iec104.MMeNa1, Value: 0.25},
		{CA: 1, IOA: 999, Type: iec104.MMeNc1, Value: 7}, // not configured
	}
}

func oneOutstation(extra map[string]any) map[string]any {
	m := map[string]any{
		"reconnect": map[string]any{"initial_interval": "1s", "max_interval": "4s", "jitter": 0},
		"outstations": []any{map[string]any{
			"name": "rtu-1", "endpoint": "tcp://rtu1:2404", "tenant": "t1", "station": "st1", "common_address": 1,
			"points": []any{
				map[string]any{"name": "inlet", "kind": "pressure", "ioa": 100, "unit": "bar"},
				map[string]any{"name": "outlet", "kind": "pressure", "ioa": 101, "scale": 0.01, "offset": -1, "unit": "bar"},
				map[string]any{"name": "v1", "kind": "valve", "ioa": 200},
				map[string]any{"name": "pump_running", "kind": "generic", "ioa": 300},
				map[string]any{"name": "level", "kind": "generic", "ioa": 400, "scale": 10, "unit": "m"},
			},
		}},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func goodValue(t *testing.T, s *sink, metric string, attrs map[string]string) float64 {
	t.Helper()
	attrs["quality"] = qualityGood
	p, ok := s.last(metric, attrs)
	if !ok {
		t.Fatalf("no %s %v", metric, attrs)
	}
	if p.noValue {
		t.Fatalf("%s %v: no recorded value", metric, attrs)
	}
	if p.tenant != "t1" || p.rtu != "rtu-1" {
		t.Fatalf("%s %v: tenant %q rtu %q", metric, attrs, p.tenant, p.rtu)
	}
	return p.value
}

// TestInterrogationFillsEveryPoint: on connect the receiver starts the
// link, interrogates, and every configured point gets its scaled value
// under the outstation's tenant; the unconfigured IOA is counted.
func TestInterrogationFillsEveryPoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, oneOutstation(nil)), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		if v := goodValue(t, h.sink, metricPressure, map[string]string{"point": "inlet", "unit": "bar", "station": "st1"}); v != 5.5 {
			t.Errorf("inlet %v", v)
		}
		if v := goodValue(t, h.sink, metricPressure, map[string]string{"point": "outlet"}); !near(v, 11.34) {
			t.Errorf("outlet %v, want 1234*0.01-1", v)
		}
		if v := goodValue(t, h.sink, metricValve, map[string]string{"valve_id": "v1", "status": "open"}); v != 1 {
			t.Errorf("v1 open %v", v)
		}
		for _, st := range []string{"closed", "travel", "fault"} {
			if v := goodValue(t, h.sink, metricValve, map[string]string{"valve_id": "v1", "status": st}); v != 0 {
				t.Errorf("v1 %s %v", st, v)
			}
		}
		if v := goodValue(t, h.sink, "pump_running", map[string]string{}); v != 1 {
			t.Errorf("pump_running %v", v)
		}
		if v := goodValue(t, h.sink, "level", map[string]string{"unit": "m"}); v != 2.5 {
			t.Errorf("level %v, want 0.25*10", v)
		}
		if p, ok := h.sink.last(metricRTUUp, map[string]string{"rtu": "rtu-1"}); !ok || p.value != 1 {
			t.Errorf("scada_rtu_up %+v", p)
		}
		if st := sim.Stats(); st.Interrogations != 1 {
			t.Errorf("interrogations %d", st.Interrogations)
		}
		if n := h.counter(MetricUnconfigured, map[string]string{"outstation": "rtu-1", "tenant": "t1"}); n != 1 {
			t.Errorf("unconfigured points %d", n)
		}
		if n := h.counter(MetricLinkUp, map[string]string{"outstation": "rtu-1"}); n != 1 {
			t.Errorf("link_up %d", n)
		}
		// IOA 100 and 999: the outstation sends one ASDU per run of one type
		if n := h.counter(MetricASDUs, map[string]string{"type": "M_ME_NC_1"}); n != 2 {
			t.Errorf("asdus M_ME_NC_1 %d", n)
		}
		if n := h.counter(MetricFrames, map[string]string{"direction": "tx", "format": "U"}); n != 1 {
			t.Errorf("STARTDT frames sent %d", n)
		}
	})
}

// TestSpontaneousChangeAndSourceTime: a spontaneous change arrives at once;
// a valid CP56Time2a is the sample's time, an invalid one (IV) gives the
// arrival time.
func TestSpontaneousChangeAndSourceTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, oneOutstation(nil)), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		// synctest's clock starts at 2000-01-01, the first instant CP56Time2a covers
		src := time.Now().Add(90*time.Second + 123*time.Millisecond).UTC()
		sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeTf1, Value: 6.25, Time: src})
		synctest.Wait()
		p, _ := h.sink.last(metricPressure, map[string]string{"point": "inlet"})
		if p.value != 6.25 || !p.ts.Equal(src) {
			t.Errorf("got %v at %v, want 6.25 at the source time %v", p.value, p.ts, src)
		}
		sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeTf1, Value: 7, Time: src, TimeInvalid: true})
		synctest.Wait()
		p, _ = h.sink.last(metricPressure, map[string]string{"point": "inlet"})
		if p.value != 7 || !p.ts.Equal(time.Now()) {
			t.Errorf("got %v at %v, want 7 at the arrival time %v", p.value, p.ts, time.Now())
		}
	})
}

// TestQualityDescriptors: IV → bad (NaN, no recorded value, the good
// series ended); NT → not_topical with its value (or bad when configured);
// SB/BL/OV → attributes.
func TestQualityDescriptors(t *testing.T) {
	for _, nt := range []string{NotTopicalQuality, NotTopicalBad} {
		t.Run(nt, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := outsim.New(simPoints())
				h := newHarness(t, testConfig(t, oneOutstation(map[string]any{"not_topical": nt})), map[string]*outsim.Server{"rtu1:2404": sim})
				defer h.close()
				time.Sleep(time.Second)
				synctest.Wait()
				sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: 3, Quality: iec104.QualityIV})
				synctest.Wait()
				p, _ := h.sink.last(metricPressure, map[string]string{"point": "inlet", "quality": qualityBad})
				if !p.noValue || !math.IsNaN(p.value) {
					t.Errorf("IV: %+v", p)
				}
				if p, _ := h.sink.last(metricPressure, map[string]string{"point": "inlet", "quality": qualityGood}); !p.noValue {
					t.Errorf("the good series is not ended: %+v", p)
				}
				sim.Set(outsim.Point{CA: 1, IOA: 101, Type: iec104.MMeNb1, Value: 200, Quality: iec104.QualityNT})
				synctest.Wait()
				p, _ = h.sink.last(metricPressure, map[string]string{"point": "outlet"})
				if nt == NotTopicalQuality && (p.attrs["quality"] != qualityNotTopical || p.value != 1 || p.noValue) {
					t.Errorf("NT: %+v", p)
				}
				if nt == NotTopicalBad && (p.attrs["quality"] != qualityBad || !p.noValue) {
					t.Errorf("NT as bad: %+v", p)
				}
				sim.Set(outsim.Point{CA: 1, IOA: 400, Type: iec104.MMeNa1, Value: 0.5, Quality: iec104.QualitySB | iec104.QualityBL | iec104.QualityOV})
				synctest.Wait()
				p, _ = h.sink.last("level", map[string]string{})
				if p.attrs["quality"] != qualityGood || p.value != 5 || p.attrs["substituted"] != "true" || p.attrs["blocked"] != "true" || p.attrs["overflow"] != "true" {
					t.Errorf("SB/BL/OV: %+v", p)
				}
				sim.Set(outsim.Point{CA: 1, IOA: 200, Type: iec104.MDpNa1, Value: iec104.DPIIndeterminate})
				synctest.Wait()
				if v := goodValue(t, h.sink, metricValve, map[string]string{"valve_id": "v1", "status": "fault"}); v != 1 {
					t.Errorf("v1 fault %v", v)
				}
			})
		})
	}
}

// TestLinkDropCommLostAndRecovery: a dropped link gives comm_lost (NaN, no
// recorded value) for every point at once and every status_interval;
// the receiver reconnects after its backoff and interrogates again.
func TestLinkDropCommLostAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, oneOutstation(map[string]any{"status_interval": "500ms"})), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		h.setDown("rtu1:2404", true)
		sim.DropLinks()
		synctest.Wait()
		dropped := time.Now()
		for _, pt := range []string{"inlet", "outlet"} {
			p, ok := h.sink.last(metricPressure, map[string]string{"point": pt, "quality": qualityCommLost})
			if !ok || !p.noValue || !math.IsNaN(p.value) || !p.ts.Equal(dropped) {
				t.Errorf("%s: %+v", pt, p)
			}
		}
		if p, ok := h.sink.last(metricValve, map[string]string{"valve_id": "v1", "status": "open", "quality": qualityCommLost}); !ok || !p.noValue {
			t.Errorf("v1: %+v", p)
		}
		if p, _ := h.sink.last(metricRTUUp, nil); p.value != 0 {
			t.Errorf("scada_rtu_up %v", p.value)
		}
		n := len(h.sink.all())
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		if len(h.sink.all()) <= n {
			t.Error("no comm_lost repeated after status_interval")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := h.counter(MetricLinkErrors, map[string]string{"kind": faultRefused}); n < 1 {
			t.Errorf("refused %d", n)
		}
		h.setDown("rtu1:2404", false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if st := sim.Stats(); st.Interrogations != 2 {
			t.Errorf("interrogations %d, want a fresh one after the reconnect", st.Interrogations)
		}
		if v := goodValue(t, h.sink, metricPressure, map[string]string{"point": "inlet"}); v != 5.5 {
			t.Errorf("inlet after recovery %v", v)
		}
		if n := h.counter(MetricReconnects, nil); n != 1 {
			t.Errorf("reconnects %d", n)
		}
		if n := h.counter(MetricLinkErrors, map[string]string{"kind": faultClosed}); n != 1 {
			t.Errorf("closed %d", n)
		}
	})
}

// TestUnansweredTestFRClosesAfterT1: an idle link is tested after t3; a
// TESTFR never confirmed closes it t1 later, with comm_lost at that moment.
func TestUnansweredTestFRClosesAfterT1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		sim.Faults.IgnoreTestFR.Store(true)
		h := newHarness(t, testConfig(t, oneOutstation(nil)), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		// the last frame from the outstation arrived at the start (+0)
		start := time.Now().Add(-time.Second)
		time.Sleep(40 * time.Second)
		synctest.Wait()
		p, ok := h.sink.last(metricPressure, map[string]string{"point": "inlet", "quality": qualityCommLost})
		var first got
		for _, q := range h.sink.all() {
			if q.attrs["quality"] == qualityCommLost {
				first = q
				break
			}
		}
		if want := start.Add(20*time.Second + 15*time.Second); !ok || !first.ts.Equal(want) {
			t.Errorf("comm_lost at %v, want t3+t1 = %v (%+v)", first.ts.Sub(start), want.Sub(start), p)
		}
		if n := h.counter(MetricLinkErrors, map[string]string{"kind": faultT1}); n != 1 {
			t.Errorf("t1 faults %d", n)
		}
	})
}

// TestFaultsCloseTheLink: a wrong N(S) and a malformed APDU close the link
// and are counted; the link comes back.
func TestFaultsCloseTheLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*outsim.Faults)
		kind string
	}{
		{"wrong sequence", func(f *outsim.Faults) { f.WrongSeq.Store(true) }, faultSequence},
		{"malformed", func(f *outsim.Faults) { f.Malformed.Store(true) }, faultMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := outsim.New(simPoints())
				h := newHarness(t, testConfig(t, oneOutstation(nil)), map[string]*outsim.Server{"rtu1:2404": sim})
				defer h.close()
				time.Sleep(time.Second)
				synctest.Wait()
				tc.set(&sim.Faults)
				sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: 9})
				synctest.Wait()
				if n := h.counter(MetricLinkErrors, map[string]string{"kind": tc.kind}); n != 1 {
					t.Errorf("%s faults %d", tc.kind, n)
				}
				if tc.kind == faultSequence {
					if n := h.counter(MetricSequenceErrors, nil); n != 1 {
						t.Errorf("sequence errors %d", n)
					}
				}
				if _, ok := h.sink.last(metricPressure, map[string]string{"point": "inlet", "quality": qualityCommLost}); !ok {
					t.Error("no comm_lost")
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if v := goodValue(t, h.sink, metricPressure, map[string]string{"point": "inlet"}); v != 9 {
					t.Errorf("after the reconnect inlet %v", v)
				}
			})
		})
	}
}

// TestBurstBeyondK: an outstation that ignores k and sends 200 changes in
// a row loses none of them.
func TestBurstBeyondK(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		sim.K = 2
		sim.Faults.IgnoreK.Store(true)
		h := newHarness(t, testConfig(t, oneOutstation(nil)), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		before := len(h.sink.all())
		for i := range 200 {
			sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: float64(i)})
		}
		synctest.Wait()
		var n int
		for _, p := range h.sink.all()[before:] {
			if p.metric == metricPressure {
				n++
			}
		}
		if n != 200 {
			t.Errorf("%d of 200 changes arrived", n)
		}
		if n := h.counter(MetricLinkErrors, nil); n != 0 {
			t.Errorf("link errors %d", n)
		}
	})
}

// TestBackupEndpoint: with the first address refusing, the receiver
// alternates to the backup address.
func TestBackupEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfgm := oneOutstation(nil)
		cfgm["outstations"].([]any)[0].(map[string]any)["backup_endpoint"] = "tcp://rtu1b:2404"
		sim := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, cfgm), map[string]*outsim.Server{"rtu1b:2404": sim})
		defer h.close()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if v := goodValue(t, h.sink, metricPressure, map[string]string{"point": "inlet"}); v != 5.5 {
			t.Errorf("inlet %v", v)
		}
	})
}

// TestStalledOutstationDelaysNoOther: an outstation that never answers
// STARTDT does not hold up another's spontaneous change.
func TestStalledOutstationDelaysNoOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfgm := oneOutstation(nil)
		o1 := cfgm["outstations"].([]any)[0].(map[string]any)
		o2 := map[string]any{"name": "rtu-2", "endpoint": "tcp://rtu2:2404", "tenant": "t2", "station": "st2", "common_address": 1,
			"points": o1["points"]}
		cfgm["outstations"] = append(cfgm["outstations"].([]any), o2)
		hung := outsim.New(simPoints())
		hung.Faults.Silent.Store(true)
		live := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, cfgm), map[string]*outsim.Server{"rtu1:2404": hung, "rtu2:2404": live})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		at := time.Now()
		live.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: 42})
		synctest.Wait()
		p, ok := h.sink.last(metricPressure, map[string]string{"point": "inlet", "quality": qualityGood, "station": "st2"})
		if !ok || p.value != 42 || p.tenant != "t2" || !p.ts.Equal(at) {
			t.Errorf("rtu-2's change: %+v", p)
		}
		if _, ok := h.sink.last(metricPressure, map[string]string{"station": "st1", "quality": qualityGood}); ok {
			t.Error("the silent outstation produced a good value")
		}
	})
}

// TestPeriodicInterrogationCountersClockAndDiscovery: the general
// interrogation repeats; counter interrogation and clock sync are sent;
// discovery exports the unconfigured object.
func TestPeriodicInterrogationCountersClockAndDiscovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pts := append(simPoints(), outsim.Point{CA: 1, IOA: 500, Type: iec104.MItNa1, Value: 123456})
		sim := outsim.New(pts)
		cfgm := oneOutstation(map[string]any{
			"interrogation_interval": "1m", "counter_interrogation_interval": "5m", "clock_sync": true, "discovery": true,
		})
		o1 := cfgm["outstations"].([]any)[0].(map[string]any)
		o1["points"] = append(o1["points"].([]any), map[string]any{"name": "energy", "kind": "generic", "ioa": 500, "unit": "kWh"})
		h := newHarness(t, testConfig(t, cfgm), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(61 * time.Second)
		synctest.Wait()
		st := sim.Stats()
		if st.Interrogations != 2 || st.CounterRequests != 1 || st.ClockSyncs != 1 {
			t.Errorf("stats %+v", st)
		}
		if v := goodValue(t, h.sink, "energy", map[string]string{"unit": "kWh"}); v != 123456 {
			t.Errorf("energy %v", v)
		}
		p, ok := h.sink.last(metricDiscovery, map[string]string{"ca": "1", "ioa": "999", "type": "M_ME_NC_1"})
		if !ok || p.value != 7 {
			t.Errorf("discovered %+v", p)
		}
	})
}
