package kafkaalertexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNames holds MetricNames() (and documentation.md) to the
// instruments the exporter creates and checks the head gauges are produced
// (the broker tests check the counters' values).
func TestMetricNames(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := exportertest.NewNopSettings(componentType)
	set.MeterProvider = rec
	_, err := NewFactory().CreateLogs(context.Background(), set, createDefaultConfig())
	require.NoError(t, err)
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
	telemetrytest.CheckProduced(t, rec, MetricInFlightRecords, MetricOldestQueuedAge)
}
