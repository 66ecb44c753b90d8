// Package scadauiextension is the `scada_ui` extension: the operator web UI
// of the appliance. It serves the embedded assets (package ui: ui/dist,
// built from ui/web) and a small JSON API (/ui/api/...) that reads the
// caller's tenant's data only, through the same tenant-scoped paths as
// every other read API.
package scadauiextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

const typeStr = "scada_ui"

// Type is the component type, `scada_ui`.
var Type = component.MustNewType(typeStr)

// NewFactory returns the scada_ui extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{
		Endpoint:           "127.0.0.1:8080",
		Authenticator:      component.MustNewID("tenantauth"),
		TraceQueryEndpoint: "http://127.0.0.1:16687",
		AlertsEndpoint:     "http://127.0.0.1:8089",
		AlarmsEndpoint:     "http://127.0.0.1:8090",
		SessionTTL:         12 * time.Hour,
		// 等保 2.0: a console left alone logs out.
		SessionIdleTimeout: 15 * time.Minute,
		MaxSessions:        1000,
		// A control room has a handful of consoles per pipeline; 100 leaves
		// room for ten tenants at their bound within max_sessions.
		MaxSessionsPerTenant: 100,
		StaleAfter:           10 * time.Second,
		Timeout:              10 * time.Second,
		TelemetryEndpoint:    "http://127.0.0.1:8888/metrics",
		TelemetryInterval:    5 * time.Second,
		// Appliance-wide figures add up every tenant's load: administrators only.
		SharedFigures: false,
		LoginLimit:    LoginLimitConfig{PerAddress: 10, PerTenant: 30, Period: time.Minute},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
