package errorfanoutconnector

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNames holds MetricNames() (and documentation.md) to the
// instruments the connector creates at start, and checks the gauges and
// the span counter are produced (the history tests check the damage and
// write-failure counters, the alert tests the events).
func TestMetricNames(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = rec
	cfg := testConfig()
	cfg.History.Directory = t.TempDir()
	tc, _ := newTracesInstanceWith(t, cfg, set)
	require.NoError(t, tc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, tc.Shutdown(context.Background())) }()
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)

	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	require.NoError(t, tc.ConsumeTraces(context.Background(), td))
	telemetrytest.CheckProduced(t, rec, MetricSpans, MetricKeys, MetricFiringKeys, MetricEvictedKeys,
		MetricRefusedKeys, MetricExpiredKeys, MetricPendingAlertEvents, MetricHistoryUnsaved)
}
