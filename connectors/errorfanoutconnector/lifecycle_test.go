package errorfanoutconnector

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pipeline"
)

func newTracesInstance(t *testing.T, cfg *Config) (connector.Traces, component.ID) {
	t.Helper()
	return newTracesInstanceWith(t, cfg, connectortest.NewNopSettings(componentType).TelemetrySettings)
}

func newTracesInstanceWith(t *testing.T, cfg *Config, tel component.TelemetrySettings) (connector.Traces, component.ID) {
	t.Helper()
	router := connector.NewTracesRouter(map[pipeline.ID]consumer.Traces{
		pipeline.NewIDWithName(pipeline.SignalTraces, "store"): &consumertest.TracesSink{},
		pipeline.NewIDWithName(pipeline.SignalTraces, "alert"): &consumertest.TracesSink{},
	})
	set := connectortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, t.Name())
	set.TelemetrySettings = tel
	tc, err := NewFactory().CreateTracesToTraces(context.Background(), set, cfg, router)
	require.NoError(t, err)
	return tc, set.ID
}

// The collector shuts down every component it created, started or not, and
// also after a failed start: that used to close a nil channel and panic.
func TestShutdownAfterFailedOrAbsentStart(t *testing.T) {
	ctx := context.Background()
	t.Run("never started", func(t *testing.T) {
		tc, _ := newTracesInstance(t, testConfig())
		require.NoError(t, tc.Shutdown(ctx))
		require.NoError(t, tc.Shutdown(ctx), "a second shutdown is harmless too")
	})
	t.Run("start failed: no traces pipeline", func(t *testing.T) {
		set := connectortest.NewNopSettings(componentType)
		set.ID = component.NewIDWithName(componentType, t.Name())
		lc, err := NewFactory().CreateTracesToLogs(ctx, set, testConfig(), &consumertest.LogsSink{})
		require.NoError(t, err)
		require.Error(t, lc.Start(ctx, componenttest.NewNopHost()))
		require.NoError(t, lc.Shutdown(ctx))
	})
	t.Run("start failed: http port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		cfg := testConfig()
		cfg.History.Directory = t.TempDir()
		hc := defaultHTTP()
		hc.NetAddr.Endpoint = ln.Addr().String()
		cfg.HTTP = configoptional.Some(hc)
		tc, id := newTracesInstance(t, cfg)
		err = tc.Start(ctx, componenttest.NewNopHost())
		require.Error(t, err)
		assert.Contains(t, err.Error(), id.String())
		require.NoError(t, tc.Shutdown(ctx))
	})
	t.Run("started then stopped twice", func(t *testing.T) {
		tc, _ := newTracesInstance(t, testConfig())
		require.NoError(t, tc.Start(ctx, componenttest.NewNopHost()))
		require.NoError(t, tc.Shutdown(ctx))
		require.NoError(t, tc.Shutdown(ctx))
	})
}
