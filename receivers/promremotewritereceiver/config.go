package promremotewritereceiver

import (
	"errors"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Config is the prometheus_remote_write receiver configuration.
type Config struct {
	// ServerConfig is the HTTP server: endpoint (default 127.0.0.1:9201),
	// auth.authenticator (required; the tenant comes from it),
	// max_request_body_size, TLS, timeouts.
	confighttp.ServerConfig `mapstructure:",squash"`

	_ struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set, e.g. 127.0.0.1:9201"))
	}
	if !c.Auth.HasValue() {
		errs = append(errs, errors.New("auth: required: set auth.authenticator to the tenant authenticator (e.g. tenantauth); samples are stored under the authenticated tenant"))
	}
	return errors.Join(errs...)
}
