package tenantstampprocessor

import (
	"errors"

	"go.opentelemetry.io/collector/component"
)

// Config of the tenantstamp processor.
type Config struct {
	// Authenticator is the tenantauth extension whose registry holds the
	// tenants' limits.
	Authenticator component.ID `mapstructure:"authenticator"`
	// EnforceLimits turns the per-tenant limits on (default true).
	EnforceLimits bool `mapstructure:"enforce_limits"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if c.Authenticator.Type().String() == "" {
		return errors.New("authenticator: must name the tenantauth extension, e.g. tenantauth")
	}
	return nil
}
