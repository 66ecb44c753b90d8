// Package errorfanoutconnector watches the error ratio of every
// (tenant, service.name) over a sliding window, routes traces to the store
// and (while a key is firing) alert pipelines, and emits alert events as log
// records and the windowed ratio as metrics.
package errorfanoutconnector

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/scadaotel/scadaotel/internal/sharedcomponent"
)

const typeStr = "errorfanout"

var componentType = component.MustNewType(typeStr)

// NewFactory returns the errorfanout connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(componentType, createDefaultConfig,
		connector.WithTracesToTraces(createTracesToTraces, component.StabilityLevelAlpha),
		connector.WithTracesToLogs(createTracesToLogs, component.StabilityLevelAlpha),
		connector.WithTracesToMetrics(createTracesToMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Store:            []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalTraces, "store")},
		Alert:            []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalTraces, "alert")},
		StoreWhileFiring: true,
		Window:           30 * time.Second,
		Buckets:          6,
		Threshold:        0.05,
		MinSpans:         20,
		ResolveRatio:     0.8,
		Errors:           ErrorsConfig{StatusError: true},
		IdleTimeout:      5 * time.Minute,
		MaxKeys:          50000,
		MaxKeysPerTenant: 10000,
		MaxTraceIDs:      10,
		StationAttribute: "scada.station",
		History:          HistoryConfig{MaxEpisodes: 100},
		HTTP:             configoptional.Default(defaultHTTP()),
	}
}

func defaultHTTP() confighttp.ServerConfig {
	c := confighttp.NewDefaultServerConfig()
	c.NetAddr.Endpoint = "127.0.0.1:8089"
	return c
}

// cores are shared by the traces→traces, traces→logs and traces→metrics
// instances of one connector id: the collector creates one instance per
// pair of pipeline signals, but the windows must exist once.
var cores sharedcomponent.Map[*core]

func acquireCore(set connector.Settings, cfg *Config) *sharedcomponent.Instance[*core] {
	return cores.Acquire(set.ID, func() *core { return newCore(set, cfg) })
}

func createTracesToTraces(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Traces) (connector.Traces, error) {
	c := cfg.(*Config)
	router, ok := next.(connector.TracesRouterAndConsumer)
	if !ok {
		return nil, fmt.Errorf("%s: the traces output must be a router over the store/alert pipelines", set.ID)
	}
	store, err := router.Consumer(c.Store...)
	if err != nil {
		return nil, fmt.Errorf("%s: store: %w", set.ID, err)
	}
	var alert consumer.Traces
	if len(c.Alert) > 0 {
		if alert, err = router.Consumer(c.Alert...); err != nil {
			return nil, fmt.Errorf("%s: alert: %w", set.ID, err)
		}
	}
	in := acquireCore(set, c)
	if err := in.Value().setTraces(store, alert); err != nil {
		_ = in.Shutdown(func() error { return nil })
		return nil, err
	}
	return &tracesConnector{shared: in}, nil
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	in := acquireCore(set, cfg.(*Config))
	in.Value().setLogs(next)
	return &sideConnector{shared: in}, nil
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	in := acquireCore(set, cfg.(*Config))
	in.Value().setMetrics(next)
	return &sideConnector{shared: in}, nil
}
