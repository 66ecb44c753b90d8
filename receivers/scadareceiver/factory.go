// Package scadareceiver polls RTUs over Modbus TCP and emits their points
// as OTLP metrics with a quality per sample (docs/architecture.md).
package scadareceiver

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

const (
	typeStr   = "scada"
	stability = component.StabilityLevelDevelopment
	scopeName = "github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// NewFactory returns the factory of the scada receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		component.MustNewType(typeStr),
		func() component.Config { return createDefaultConfig() },
		receiver.WithMetrics(createMetrics, stability),
	)
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("scada receiver: unexpected config type %T", cfg)
	}
	return newReceiver(set, c, next)
}
