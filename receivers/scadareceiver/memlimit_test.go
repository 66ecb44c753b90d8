package scadareceiver

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// The real memory_limiter, set below this process's heap, refuses every
// batch: the receiver must treat that refusal as retryable (kept, counted
// as refused), never as a drop, until its retry buffer is full.
func TestReceiverBehindRealMemoryLimiter(t *testing.T) {
	f := memorylimiterprocessor.NewFactory()
	mlCfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(map[string]any{"check_interval": "10ms", "limit_mib": 1, "spike_limit_mib": 0}).Unmarshal(mlCfg); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ml, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), mlCfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := ml.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ml.Shutdown(context.Background()) }()
	// The limiter refuses only after its first check of the heap; a poll
	// before that passes. Let a few check intervals go by first.
	time.Sleep(100 * time.Millisecond)

	sim := startSim(t)
	cfg := testConfig(t, map[string]any{
		"poll_groups":   fastGroups(),
		"retry_batches": 5,
		"rtus": []any{map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	r, tel := startReceiver(t, cfg, ml)
	eventually(t, 5*time.Second, "2 refused polls", func() bool { return counterSum(t, tel, MetricRefused, nil) >= 2 })
	if d := counterSum(t, tel, MetricDropped, nil); d != 0 && counterSum(t, tel, MetricRefused, nil) <= 5 {
		t.Fatalf("memory_limiter refusal dropped %d batches within retry_batches; it must be retried", d)
	}
	// More refused polls than retry_batches: the overflow is dropped.
	eventually(t, 5*time.Second, "more refused polls than retry_batches", func() bool {
		return counterSum(t, tel, MetricDropped, map[string]string{"reason": "retry_limit"}) > 0
	})
	_ = r.Shutdown(context.Background())
	if len(s.all()) != 0 {
		t.Fatalf("%d batches passed a memory_limiter set below the heap", len(s.all()))
	}
	if d := counterSum(t, tel, MetricDropped, map[string]string{"reason": "retry_limit"}); d == 0 {
		t.Error("overflow of the retry buffer not counted")
	}
}
