// Package iec104receiver is an IEC 60870-5-104 controlling station: it
// connects to outstations (RTUs), interrogates them and receives their
// spontaneous changes, and emits the same series as the scada receiver
// (docs/architecture.md).
package iec104receiver

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

const (
	typeStr   = "iec104"
	stability = component.StabilityLevelDevelopment
	scopeName = "github.com/scadaotel/scadaotel/receivers/iec104receiver"
)

// NewFactory returns the factory of the iec104 receiver.
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
		return nil, fmt.Errorf("iec104 receiver: unexpected config type %T", cfg)
	}
	return newReceiver(set, c, next)
}
