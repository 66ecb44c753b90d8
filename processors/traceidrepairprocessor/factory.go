// Package traceidrepairprocessor puts spans that fell out of their trace at
// an MQ bridge (truncated, zero-padded, renamed or dropped trace ids) back
// into their original trace, and only when exactly one original matches.
package traceidrepairprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
)

// TypeStr is the component type.
const TypeStr = "traceidrepair"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the factory of the traceidrepair processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(componentType,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelAlpha))
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newProcessor(set, cfg.(*Config), next)
}
