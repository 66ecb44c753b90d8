package scadareceiver

import (
	"testing"

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
