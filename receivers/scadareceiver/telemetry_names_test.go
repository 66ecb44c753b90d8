package scadareceiver

import (
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNamesRegistered holds MetricNames() (and documentation.md) to
// the instruments the receiver creates.
func TestMetricNamesRegistered(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := testSettings(t)
	set.MeterProvider = rec
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"rtus": []any{map[string]any{"name": "r", "endpoint": "tcp://127.0.0.1:1", "unit_id": 1, "tenant": "t1", "station": "s",
			"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}}},
	})
	if _, err := newReceiver(set, cfg, consumertest.NewNop()); err != nil {
		t.Fatal(err)
	}
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
}

// TestMetricsProduced: a poll of a live RTU whose batches the consumer
// refuses produces the poll timings, samples, refused and pending batches;
// an RTU nobody listens for produces errors (the fault tests check
// reconnects, skipped polls and dropped batches).
func TestMetricsProduced(t *testing.T) {
	sim := startSim(t)
	cfg := testConfig(t, map[string]any{
		"poll_groups":   fastGroups(),
		"retry_batches": 1000,
		"rtus": []any{
			map[string]any{"name": "r", "endpoint": sim.url(), "unit_id": 1, "tenant": "t1", "station": "s",
				"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}},
			map[string]any{"name": "gone", "endpoint": "tcp://127.0.0.1:1", "unit_id": 1, "tenant": "t1", "station": "s2",
				"points": []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}},
		},
	})
	s := &sink{}
	s.setRefuse(errors.New("data refused due to high memory usage"))
	_, tel := startReceiver(t, cfg, s)
	for _, name := range []string{MetricPollDuration, MetricPollLag, MetricSamples, MetricRefused, MetricPendingRetry, MetricErrors} {
		eventually(t, 5*time.Second, name, func() bool { _, err := tel.GetMetric(name); return err == nil })
	}
}
