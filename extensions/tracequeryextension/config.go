package tracequeryextension

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
)

// Config of the tenant_trace_query extension.
type Config struct {
	// Endpoint is where the tenant-scoped API listens (loopback by default).
	Endpoint string `mapstructure:"endpoint"`
	// TLS, when present, serves HTTPS: the collector's configtls server
	// settings (cert_file, key_file, reload_interval, client_ca_file for
	// mTLS). The default config fills it from listener_tls.
	TLS configoptional.Optional[configtls.ServerConfig] `mapstructure:"tls"`
	// JaegerEndpoint is the base URL of Jaeger's query HTTP API.
	JaegerEndpoint string `mapstructure:"jaeger_endpoint"`
	// Authenticator is the tenantauth extension that authenticates callers.
	Authenticator component.ID `mapstructure:"authenticator"`
	// ServicesLookback is how far back a service must have a trace of the
	// caller's tenant to be listed.
	ServicesLookback time.Duration `mapstructure:"services_lookback"`
	// SearchDepth is how many traces per service are scanned to list the
	// tenant's services and operations.
	SearchDepth int `mapstructure:"search_depth"`
	// Timeout bounds each call to Jaeger.
	Timeout time.Duration `mapstructure:"timeout"`
	// Index is the tenant → services → operations and trace id index the
	// tenantstamp processor feeds (internal/traceindex).
	Index IndexConfig `mapstructure:"index"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IndexConfig bounds and places the index.
type IndexConfig struct {
	// Directory holds the saved index (index.gob.gz); "" keeps it in
	// memory only (rebuilt from Jaeger at each start).
	Directory string `mapstructure:"directory"`
	// MaxServices per tenant.
	MaxServices int `mapstructure:"max_services"`
	// MaxOperations per service of a tenant.
	MaxOperations int `mapstructure:"max_operations"`
	// MaxTraceIDs per tenant over services_lookback.
	MaxTraceIDs int `mapstructure:"max_trace_ids"`
	// FlushInterval is how often a changed index is saved.
	FlushInterval time.Duration `mapstructure:"flush_interval"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return fmt.Errorf("endpoint: want host:port, got %q: %w", c.Endpoint, err)
	}
	u, err := url.Parse(c.JaegerEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("jaeger_endpoint: want an http(s) URL such as http://127.0.0.1:16686, got %q", c.JaegerEndpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("jaeger_endpoint: must not have a query or fragment, got %q", c.JaegerEndpoint)
	}
	if c.Authenticator.Type().String() == "" {
		return errors.New("authenticator: must name the tenantauth extension, e.g. tenantauth")
	}
	if c.ServicesLookback <= 0 {
		return fmt.Errorf("services_lookback: must be > 0, got %s", c.ServicesLookback)
	}
	if c.SearchDepth <= 0 || c.SearchDepth > 10000 {
		return fmt.Errorf("search_depth: must be in 1..10000, got %d", c.SearchDepth)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: must be > 0, got %s", c.Timeout)
	}
	if c.Index.MaxServices <= 0 || c.Index.MaxServices > 1_000_000 {
		return fmt.Errorf("index.max_services: must be in 1..1000000, got %d", c.Index.MaxServices)
	}
	if c.Index.MaxOperations <= 0 || c.Index.MaxOperations > 1_000_000 {
		return fmt.Errorf("index.max_operations: must be in 1..1000000, got %d", c.Index.MaxOperations)
	}
	if c.Index.MaxTraceIDs < 1000 || c.Index.MaxTraceIDs > 1_000_000_000 {
		return fmt.Errorf("index.max_trace_ids: must be in 1000..1000000000, got %d", c.Index.MaxTraceIDs)
	}
	if c.Index.FlushInterval <= 0 {
		return fmt.Errorf("index.flush_interval: must be > 0, got %s", c.Index.FlushInterval)
	}
	return nil
}
