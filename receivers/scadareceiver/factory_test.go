package scadareceiver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type().String() != "scada" {
		t.Fatalf("type %q", f.Type())
	}
	if err := componenttest.CheckConfigStruct(f.CreateDefaultConfig()); err != nil {
		t.Fatal(err)
	}
	// The default config has no RTUs: creation fails with the key named.
	_, err := f.CreateMetrics(context.Background(), testSettings(t), f.CreateDefaultConfig(), consumertest.NewNop())
	if err == nil || !strings.Contains(err.Error(), "rtus") {
		t.Fatalf("create with default config: %v", err)
	}
	cfg := loadExample(t)
	r, err := f.CreateMetrics(context.Background(), testSettings(t), cfg, consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown without Start returns at once.
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Shutdown stops polling, then delivers the batches the next consumer
// refused while running, once it accepts again.
func TestShutdownFlushesRefusedBatches(t *testing.T) {
	sim := startSim(t)
	cfg := testConfig(t, map[string]any{
		"poll_groups":   fastGroups(),
		"retry_batches": 100,
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	s := &sink{}
	s.setRefuse(errors.New("refused"))
	r, tel := startReceiver(t, cfg, s)
	eventually(t, 5*time.Second, "3 refused batches", func() bool { return counterSum(t, tel, MetricRefused, nil) >= 3 })
	s.setRefuse(nil)
	start := time.Now()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if n := len(s.all()); n < 3 {
		t.Errorf("%d batches delivered at shutdown, want the kept ones", n)
	}
	if d := counterSum(t, tel, MetricDropped, nil); d != 0 {
		t.Errorf("dropped %d", d)
	}
	n := len(s.all())
	time.Sleep(150 * time.Millisecond) // an absence: ~6 poll intervals in which nothing may come
	if len(s.all()) != n {
		t.Error("polling continued after Shutdown")
	}
}
