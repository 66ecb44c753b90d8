package promqueryextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Config is the prometheus_query extension configuration.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default 127.0.0.1:8428),
	// auth.authenticator (required: any extensionauth.Server that puts the
	// tenant on the request context, e.g. tenantauth), TLS, timeouts.
	confighttp.ServerConfig `mapstructure:",squash"`
	// LatencyOffset hides points younger than this from queries at "now"
	// (the storage's default is 30 s; live SCADA dashboards want ~1 s).
	LatencyOffset time.Duration `mapstructure:"latency_offset"`
	// QueryCache enables the engine's rollup result cache (process-wide).
	// Off by default: it can hide backfilled samples for ~10 s.
	QueryCache bool `mapstructure:"query_cache"`

	_ struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, e.g. 127.0.0.1:8428"))
	}
	if !c.Auth.HasValue() {
		errs = append(errs, errors.New("auth: required: set auth.authenticator to the tenant authenticator (e.g. tenantauth); every read is scoped to the authenticated tenant"))
	}
	if c.LatencyOffset < 0 {
		errs = append(errs, fmt.Errorf("latency_offset: must be >= 0, got %s", c.LatencyOffset))
	}
	return errors.Join(errs...)
}
