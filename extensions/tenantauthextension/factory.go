// Package tenantauthextension is the `tenantauth` server authenticator: the
// bearer token selects the tenant, for OTLP receivers (gRPC and HTTP) and for
// every HTTP API of the appliance (Middleware). It owns the process's tenant
// registry.
package tenantauthextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

const typeStr = "tenantauth"

// Type is the component type, `tenantauth`.
var Type = component.MustNewType(typeStr)

// NewFactory returns the tenantauth extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{ReloadInterval: time.Second}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
