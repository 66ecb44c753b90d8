// Package alarmconnector evaluates process alarms (ISA-18.2: limits, rate
// of change, discrete states, command/feedback mismatch, quality and RTU
// communication) on every metric sample as it passes, keeps their states
// durable, serves a tenant-scoped operator API (acknowledge, shelve) and
// emits every transition as one log record for the kafka_alerts exporter.
package alarmconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
)

const typeStr = "alarm"

var componentType = component.MustNewType(typeStr)

// NewFactory returns the alarm connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(componentType, createDefaultConfig,
		connector.WithMetricsToLogs(createMetricsToLogs, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		ReloadInterval:    time.Second,
		TickInterval:      time.Second,
		State:             StateConfig{JournalPerTenant: 1000},
		MaxLinksPerTenant: 10000,
		// About 50 MB of records held for one tenant during a long
		// Kafka outage (a record is about 500 bytes).
		MaxOutboxPerTenant: 100000,
		HTTP:               configoptional.Default(defaultHTTP()),
	}
}

func createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	return newConnector(set, cfg.(*Config), next)
}
