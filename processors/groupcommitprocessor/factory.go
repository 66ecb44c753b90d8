// Package groupcommitprocessor merges the trace requests that arrive while
// the previous one is still being written by a durable exporter queue into
// one request, so that one disk write and fsync acknowledges all of them
// (group commit). Each caller still returns only when its data is in the
// queue, so nothing is acknowledged before it is on disk.
package groupcommitprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
)

// TypeStr is the component type.
const TypeStr = "groupcommit"

var componentType = component.MustNewType(TypeStr)

// NewFactory returns the factory of the groupcommit processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(componentType,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelAlpha))
}

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newProcessor(set, cfg.(*Config), next)
}
