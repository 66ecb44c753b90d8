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

	// MaxDecodedSize bounds a request's body after decompression (snappy,
	// marked or not, gzip, zstd): larger bodies are refused with 413 before
	// they are decoded, from snappy's length header where there is one.
	MaxDecodedSize int64 `mapstructure:"max_decoded_size"`
	// MaxConcurrentDecodes bounds how many requests are read, decompressed,
	// decoded and handed to the pipeline at once; the others wait. With
	// MaxDecodedSize it bounds the memory bodies can take.
	MaxConcurrentDecodes int `mapstructure:"max_concurrent_decodes"`

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
	if c.MaxDecodedSize <= 0 {
		errs = append(errs, errors.New("max_decoded_size: must be positive (bytes of a body after decompression), e.g. 33554432"))
	}
	if c.MaxConcurrentDecodes <= 0 {
		errs = append(errs, errors.New("max_concurrent_decodes: must be positive, e.g. 4"))
	}
	return errors.Join(errs...)
}
