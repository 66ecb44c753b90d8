package tenantauthextension

import (
	"errors"
	"fmt"
	"time"

	"github.com/scadaotel/scadaotel/tenants"
)

// Config declares the tenants and how requests are matched to them.
type Config struct {
	// Tenants declared inline.
	Tenants []tenants.Spec `mapstructure:"tenants"`
	// TenantsFile names a YAML file with more tenants (`tenants:` list, same
	// keys), re-read every ReloadInterval.
	TenantsFile string `mapstructure:"tenants_file"`
	// ReloadInterval is how often TenantsFile is checked for changes.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// DefaultTenant, when set, is the tenant of requests without an
	// Authorization header (unauthenticated local setups only). Off by default.
	DefaultTenant string `mapstructure:"default_tenant"`
	// DefaultLimits apply to every limit a tenant leaves at 0, so that no
	// tenant is unbounded unless the operator says so (0 here: unlimited).
	DefaultLimits tenants.Limits `mapstructure:"default_limits"`
	// Audit is the appliance's audit trail.
	Audit AuditConfig `mapstructure:"audit"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if err := tenants.ValidateSpecs("tenants", c.Tenants); err != nil {
		return err
	}
	if err := c.DefaultLimits.Validate("default_limits"); err != nil {
		return err
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	if c.ReloadInterval <= 0 {
		return fmt.Errorf("reload_interval: must be > 0, got %s", c.ReloadInterval)
	}
	if c.ReloadInterval > 5*time.Second {
		return fmt.Errorf("reload_interval: must be <= 5s so that revoked tokens stop working quickly, got %s", c.ReloadInterval)
	}
	if c.DefaultTenant != "" {
		if err := tenants.CheckID(c.DefaultTenant); err != nil {
			return fmt.Errorf("default_tenant: %w", err)
		}
	}
	if len(c.Tenants) == 0 && c.TenantsFile == "" && c.DefaultTenant == "" {
		return errors.New("tenants: declare at least one tenant (tenants or tenants_file) or set default_tenant")
	}
	return nil
}
