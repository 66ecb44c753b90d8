// Package promremotewritereceiver accepts Prometheus remote write (v1,
// snappy-compressed protobuf on /api/v1/write), authenticated per tenant,
// and feeds the samples into the metrics pipeline as OTLP gauges stamped
// with the tenant.
package promremotewritereceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

const typeStr = "prometheus_remote_write"

// NewFactory returns the prometheus_remote_write receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(component.MustNewType(typeStr), createDefaultConfig,
		receiver.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = "127.0.0.1:9201"
	srv.MaxRequestBodySize = 32 << 20
	return &Config{ServerConfig: srv, MaxDecodedSize: 32 << 20, MaxConcurrentDecodes: 4}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(cfg.(*Config), set, next)
}
