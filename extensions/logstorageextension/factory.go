// Package logstorageextension is a storage extension for exporterhelper's
// persistent queue whose clients are append-only segment logs: the queue
// keeps doing the queueing, and "acknowledged ⇒ on disk" costs about one
// fsync per burst of new items instead of three B-tree commits per request.
package logstorageextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// Type is the component type, as configs name it.
var Type = component.MustNewType("log_storage")

// NewFactory returns the log_storage extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{
		SegmentSize:  16 << 20,
		SyncInterval: 100 * time.Millisecond,
		CompactBelow: 0.25,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(set, cfg.(*Config))
}
