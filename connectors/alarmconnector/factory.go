// Package alarmconnector evaluates process alarms (ISA-18.2: limits, rate
// of change, discrete states, command/feedback mismatch, quality and RTU
// communication) on every metric sample as it passes, keeps their states
// durable, serves a tenant-scoped operator API (acknowledge, shelve),
// emits every transition as one log record for the kafka_alerts exporter
// and, as a receiver of a metrics pipeline, each tenant's alarm figures as
// stored series.
package alarmconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/sharedcomponent"
)

const typeStr = "alarm"

var componentType = component.MustNewType(typeStr)

// NewFactory returns the alarm connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(componentType, createDefaultConfig,
		connector.WithMetricsToLogs(createMetricsToLogs, component.StabilityLevelAlpha),
		connector.WithMetricsToMetrics(createMetricsToMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		ReloadInterval:    time.Second,
		TickInterval:      time.Second,
		SeriesInterval:    15 * time.Second,
		State:             StateConfig{JournalPerTenant: 1000},
		MaxLinksPerTenant: 10000,
		// About 50 MB of records held for one tenant during a long
		// Kafka outage (a record is about 500 bytes).
		MaxOutboxPerTenant: 100000,
		HTTP:               configoptional.Default(defaultHTTP()),
	}
}

// cores: the collector creates one instance per pair of pipeline signals
// (metrics→logs for the transitions, metrics→metrics for the series); the
// alarm states, the API and the state file exist once per connector id.
var cores sharedcomponent.Map[*alarmConnector]

func acquire(set connector.Settings, cfg *Config) *sharedcomponent.Instance[*alarmConnector] {
	return cores.Acquire(set.ID, func() *alarmConnector { return newConnector(set, cfg, nil) })
}

func createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	in := acquire(set, cfg.(*Config))
	in.Value().setLogs(next)
	return &instance{shared: in, evaluates: true}, nil
}

func createMetricsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Metrics, error) {
	in := acquire(set, cfg.(*Config))
	in.Value().setSeries(next)
	return &instance{shared: in}, nil
}

// instance is one of the collector's instances of the connector. The
// metrics→logs one evaluates; the metrics→metrics one receives the same
// samples (both are exporters of one metrics pipeline), so it ignores them.
type instance struct {
	shared    *sharedcomponent.Instance[*alarmConnector]
	evaluates bool
}

func (i *instance) Start(ctx context.Context, host component.Host) error {
	return i.shared.Start(func() error { return i.shared.Value().Start(ctx, host) })
}

func (i *instance) Shutdown(ctx context.Context) error {
	return i.shared.Shutdown(func() error { return i.shared.Value().Shutdown(ctx) })
}

func (i *instance) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (i *instance) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if !i.evaluates {
		return nil
	}
	return i.shared.Value().ConsumeMetrics(ctx, md)
}
