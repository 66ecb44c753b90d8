// Package promqueryextension serves the Prometheus HTTP query API of the
// embedded metrics store (written by the victoriametrics exporter), every
// read scoped to the authenticated tenant.
package promqueryextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"
)

const typeStr = "prometheus_query"

// NewFactory returns the prometheus_query extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(component.MustNewType(typeStr), createDefaultConfig, createExtension, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = "127.0.0.1:8428"
	srv.WriteTimeout = time.Minute
	return &Config{ServerConfig: srv, LatencyOffset: time.Second,
		Concurrency: ConcurrencyConfig{QueuedPerTenant: 16, QueueTimeout: 30 * time.Second}}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
