package promqueryextension

import (
	"errors"
	"fmt"
	"runtime"
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
	// Concurrency bounds each tenant's queries, so one tenant's heavy
	// queries never hold the engine for another.
	Concurrency ConcurrencyConfig `mapstructure:"query_concurrency"`

	_ struct{}
}

// ConcurrencyConfig bounds one tenant's queries in flight.
type ConcurrencyConfig struct {
	// PerTenant is how many queries of one tenant run at once (0: half the
	// CPUs, at least 1).
	PerTenant int `mapstructure:"per_tenant"`
	// QueuedPerTenant is how many more wait for a slot; beyond: 429.
	QueuedPerTenant int `mapstructure:"queued_per_tenant"`
	// QueueTimeout is how long a query waits for a slot; then: 429.
	QueueTimeout time.Duration `mapstructure:"queue_timeout"`

	_ struct{}
}

// perTenant resolves 0 to half the CPUs (at least 1).
func (c ConcurrencyConfig) perTenant() int {
	if c.PerTenant > 0 {
		return c.PerTenant
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
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
	if c.Concurrency.PerTenant < 0 || c.Concurrency.PerTenant > 1024 {
		errs = append(errs, fmt.Errorf("query_concurrency.per_tenant: must be in 0..1024 (0: half the CPUs), got %d", c.Concurrency.PerTenant))
	}
	if c.Concurrency.QueuedPerTenant < 0 || c.Concurrency.QueuedPerTenant > 10000 {
		errs = append(errs, fmt.Errorf("query_concurrency.queued_per_tenant: must be in 0..10000, got %d", c.Concurrency.QueuedPerTenant))
	}
	if c.Concurrency.QueueTimeout <= 0 || c.Concurrency.QueueTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("query_concurrency.queue_timeout: must be in (0, 10m], got %s", c.Concurrency.QueueTimeout))
	}
	return errors.Join(errs...)
}
