// Package tenantstampprocessor is the `tenantstamp` processor: it stamps the
// authenticated tenant on every resource (scada.tenant, overwriting what the
// client sent) and into client metadata, refuses data without a tenant, and
// enforces the tenant's rate limits.
package tenantstampprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
)

const typeStr = "tenantstamp"

// Type is the component type, `tenantstamp`.
var Type = component.MustNewType(typeStr)

// NewFactory returns the tenantstamp processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(Type, createDefaultConfig,
		processor.WithTraces(createTraces, component.StabilityLevelAlpha),
		processor.WithMetrics(createMetrics, component.StabilityLevelAlpha),
		processor.WithLogs(createLogs, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{Authenticator: component.MustNewID("tenantauth"), EnforceLimits: true}
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newStamp(set, cfg.(*Config), "traces")
	if err != nil {
		return nil, err
	}
	return &tracesStamp{stamp: p, next: next}, nil
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newStamp(set, cfg.(*Config), "metrics")
	if err != nil {
		return nil, err
	}
	return &metricsStamp{stamp: p, next: next}, nil
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newStamp(set, cfg.(*Config), "logs")
	if err != nil {
		return nil, err
	}
	return &logsStamp{stamp: p, next: next}, nil
}
