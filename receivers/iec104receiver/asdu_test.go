package iec104receiver

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/internal/iec104"
	outsim "github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// TestUnknownAndMalformedASDUsCounted: an ASDU of an unknown type or of a
// wrong length is counted and skipped, never a crash; an end of
// initialisation asks for a new interrogation.
func TestUnknownAndMalformedASDUsCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	set := receivertest.NewNopSettings(component.MustNewType(typeStr))
	set.TelemetrySettings = tel.NewTelemetrySettings()
	s := &sink{}
	r, err := newReceiver(set, testConfig(t, oneOutstation(nil)), s)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{tel: tel}
	o := r.outs[0]
	now := time.Now()
	for _, b := range [][]byte{
		{24, 1, 3, 0, 1, 0, 0, 0, 0, 0}, // type 24: not decoded
		{26, 1, 3, 0},                   // shorter than its header
		{13, 2, 3, 0, 1, 0, 100, 0, 0, 0, 0, 0x80, 0x3f, 0}, // says 2 objects, carries 1
		{},
	} {
		o.asdu(b, now)
	}
	if n := h.counter(MetricUnknownTypes, map[string]string{"type": "type 24"}); n != 1 {
		t.Errorf("unknown types %d", n)
	}
	if n := h.counter(MetricMalformedASDUs, nil); n != 3 {
		t.Errorf("malformed ASDUs %d", n)
	}
	if len(s.all()) != 0 {
		t.Errorf("samples from bad ASDUs: %v", s.all())
	}
	o.asdu([]byte{70, 1, 4, 0, 1, 0, 0, 0, 0, 1}, now)
	if !o.nextGI.Equal(now) {
		t.Error("M_EI_NA_1 did not ask for an interrogation")
	}
}

// TestRefusedBatchesKeptAndRetried: batches the next consumer refuses are
// kept and delivered, oldest first, with the next one once it accepts;
// beyond retry_batches the oldest is dropped and counted.
func TestRefusedBatchesKeptAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := outsim.New(simPoints())
		h := newHarness(t, testConfig(t, oneOutstation(map[string]any{"retry_batches": 3})), map[string]*outsim.Server{"rtu1:2404": sim})
		defer h.close()
		time.Sleep(time.Second)
		synctest.Wait()
		h.sink.mu.Lock()
		h.sink.refuse = errors.New("data refused due to high memory usage")
		h.sink.mu.Unlock()
		for i := range 5 {
			sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: float64(100 + i)})
		}
		synctest.Wait()
		if n := h.counter(MetricRefused, nil); n < 5 {
			t.Errorf("refused %d", n)
		}
		if n := h.counter(MetricDropped, map[string]string{"reason": "retry_limit"}); n != 2 {
			t.Errorf("dropped %d, want 2 beyond retry_batches 3", n)
		}
		h.sink.mu.Lock()
		h.sink.refuse = nil
		h.sink.mu.Unlock()
		sim.Set(outsim.Point{CA: 1, IOA: 100, Type: iec104.MMeNc1, Value: 200})
		synctest.Wait()
		var got []float64
		for _, p := range h.sink.all() {
			if p.metric == metricPressure && p.attrs["point"] == "inlet" {
				got = append(got, p.value)
			}
		}
		if want := []float64{5.5, 102, 103, 104, 200}; len(got) != len(want) || got[1] != 102 || got[4] != 200 {
			t.Errorf("delivered %v, want %v", got, want)
		}
		if sim.Connections() != 1 || h.counter(MetricLinkErrors, nil) != 0 {
			t.Error("a refusing consumer disturbed the link")
		}
	})
}
