// Package tenantauthextension is the `tenantauth` server authenticator: the
// bearer token selects the tenant, for OTLP receivers (gRPC and HTTP) and for
// every HTTP API of the appliance (Middleware). It owns the process's tenant
// registry.
package tenantauthextension

import (
	"context"
	"github.com/scadaotel/scadaotel/tenants"
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

// DefaultLimits bound a tenant that sets none: a large pipeline site (500
// RTUs × 20 points every 500 ms is 20,000 samples/s and some 10,000
// series) fits ten times over; a tenant writing a million series or
// flooding the box does not.
var DefaultLimits = tenants.Limits{
	SamplesPerSecond: 200_000,
	SpansPerSecond:   50_000,
	BytesPerSecond:   64 << 20,
	ActiveSeries:     200_000,
}

func createDefaultConfig() component.Config {
	return &Config{ReloadInterval: time.Second, DefaultLimits: DefaultLimits,
		Audit: AuditConfig{MaxFileMiB: 16, RetentionDays: 180, FailureWindow: time.Minute}}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
