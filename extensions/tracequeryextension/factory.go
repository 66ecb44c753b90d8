// Package tracequeryextension is the `tenant_trace_query` extension: Jaeger's
// HTTP query API (/api/... and /api/v3/...) served as a proxy in front of
// Jaeger, authenticated by tenantauth, showing a caller only the spans whose
// resource carries its tenant (scada.tenant).
package tracequeryextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

const typeStr = "tenant_trace_query"

// Type is the component type, `tenant_trace_query`.
var Type = component.MustNewType(typeStr)

// NewFactory returns the tenant_trace_query extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{
		Endpoint:         "127.0.0.1:16687",
		JaegerEndpoint:   "http://127.0.0.1:16686",
		Authenticator:    component.MustNewID("tenantauth"),
		ServicesLookback: 7 * 24 * time.Hour,
		SearchDepth:      100,
		Timeout:          10 * time.Second,
		Index: IndexConfig{
			MaxServices:   1000,
			MaxOperations: 500,
			MaxTraceIDs:   4_000_000,
			FlushInterval: time.Minute,
		},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
