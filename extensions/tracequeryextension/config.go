package tracequeryextension

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config of the tenant_trace_query extension.
type Config struct {
	// Endpoint is where the tenant-scoped API listens (loopback by default).
	Endpoint string `mapstructure:"endpoint"`
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
	return nil
}
