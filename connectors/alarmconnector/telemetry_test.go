package alarmconnector

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"

	"github.com/scadaotel/scadaotel/internal/telemetrytest"
)

// TestMetricNames holds MetricNames() to the instruments the connector
// creates, and checks the evaluation figures and the active gauge are
// produced.
func TestMetricNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101"))
		rec := telemetrytest.NewRecorder()
		set := connectortest.NewNopSettings(componentType)
		set.ID = component.NewIDWithName(componentType, "names")
		set.MeterProvider = rec
		cfg := createDefaultConfig().(*Config)
		cfg.DefinitionsFile = defs
		cfg.State.Directory = filepath.Join(dir, "state")
		cfg.HTTP = configoptional.None[confighttp.ServerConfig]()
		sink := &recSink{}
		c := newConnector(set, cfg, sink)
		if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		telemetrytest.CheckDeclared(t, typeStr, MetricNames(), rec)
		if err := c.ConsumeMetrics(context.Background(), rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75})); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		telemetrytest.CheckProduced(t, rec, MetricSamples, MetricEvaluationTime, MetricTransitions, MetricDeliveredRecords, MetricPendingRecords, MetricActive)
	})
}
