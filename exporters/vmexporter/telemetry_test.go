package vmexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNames holds MetricNames() (and documentation.md) to the
// instruments the local and the remote exporter create, and checks a local
// write produces its counters and the disk reserve gauges (the WAL recovery,
// disk reserve and remote tests check the others' values).
func TestMetricNames(t *testing.T) {
	rec := telemetrytest.NewRecorder()
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	set.MeterProvider = rec
	remote := createDefaultConfig().(*Config)
	remote.Mode = ModeRemote
	remote.Remote.Endpoint = "http://127.0.0.1:1/insert/{account_id}/prometheus/api/v1/write"
	remote.Remote.TenantAccountIDs = map[string]uint32{"acme": 1}
	remote.Remote.DeadLetter.Directory = t.TempDir()
	require.NoError(t, remote.Validate())
	_, err := NewFactory().CreateMetrics(context.Background(), set, remote)
	require.NoError(t, err)
	exp, err := NewFactory().CreateMetrics(context.Background(), set, testConfig(t, t.TempDir()))
	require.NoError(t, err)
	telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)

	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 1)))
	require.Error(t, exp.ConsumeMetrics(context.Background(), fixture("", 1)))
	require.NoError(t, exp.Shutdown(context.Background()))
	telemetrytest.CheckProduced(t, rec, MetricSamples, MetricRefusedBatches, MetricWALCommits, MetricWALBytes,
		MetricCheckpoints, MetricDiskReserveFull, MetricDiskReserveFreeBytes)
}
