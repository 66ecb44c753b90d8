package alarmconnector

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
)

// Config of the alarm connector.
type Config struct {
	// DefinitionsFile is the per-tenant alarm definitions file, re-read
	// while running. A missing file means no alarms until it appears.
	DefinitionsFile string `mapstructure:"definitions_file"`
	// ReloadInterval is how often the definitions file is checked.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// TickInterval is how often delays and shelve expiries are applied
	// between samples (samples apply them as they arrive).
	TickInterval time.Duration `mapstructure:"tick_interval"`
	// State is where the alarm states, the transitions not yet delivered
	// and the operator journal are kept.
	State StateConfig `mapstructure:"state"`
	// MaxLinksPerTenant bounds the RTU links tracked per tenant.
	MaxLinksPerTenant int `mapstructure:"max_links_per_tenant"`
	// MaxOutboxPerTenant bounds a tenant's transition records not yet
	// accepted by the logs pipeline; at the bound the tenant's samples and
	// operator actions are refused, retryably.
	MaxOutboxPerTenant int `mapstructure:"max_outbox_per_tenant"`
	// SeriesInterval is how often each tenant's alarm series (active
	// alarms by priority, alarms by state, the EEMUA 191 figures) go to the
	// metrics pipeline the connector is a receiver of, if any.
	SeriesInterval time.Duration `mapstructure:"series_interval"`
	// HTTP, when set, serves the tenant-scoped operator API.
	HTTP configoptional.Optional[confighttp.ServerConfig] `mapstructure:"http"`

	_ struct{}
}

// StateConfig places the durable state.
type StateConfig struct {
	// Directory holds alarms.log. Empty keeps the states in memory only.
	Directory string `mapstructure:"directory"`
	// JournalPerTenant is how many operator actions are kept per tenant.
	JournalPerTenant int `mapstructure:"journal_per_tenant"`
}

func defaultHTTP() confighttp.ServerConfig {
	c := confighttp.NewDefaultServerConfig()
	c.NetAddr.Endpoint = "127.0.0.1:8090"
	return c
}

// Validate checks the configuration; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	if c.ReloadInterval < 100*time.Millisecond || c.ReloadInterval > time.Minute {
		errs = append(errs, fmt.Errorf("reload_interval: must be in 100ms..1m, got %s", c.ReloadInterval))
	}
	if c.TickInterval < 10*time.Millisecond || c.TickInterval > 10*time.Second {
		errs = append(errs, fmt.Errorf("tick_interval: must be in 10ms..10s, got %s", c.TickInterval))
	}
	if c.SeriesInterval < time.Second || c.SeriesInterval > 10*time.Minute {
		errs = append(errs, fmt.Errorf("series_interval: must be in 1s..10m, got %s", c.SeriesInterval))
	}
	if c.State.JournalPerTenant < 1 || c.State.JournalPerTenant > 100000 {
		errs = append(errs, fmt.Errorf("state.journal_per_tenant: must be in 1..100000, got %d", c.State.JournalPerTenant))
	}
	if c.MaxLinksPerTenant < 1 {
		errs = append(errs, fmt.Errorf("max_links_per_tenant: must be at least 1, got %d", c.MaxLinksPerTenant))
	}
	if c.MaxOutboxPerTenant < 1 || c.MaxOutboxPerTenant > 10000000 {
		errs = append(errs, fmt.Errorf("max_outbox_per_tenant: must be in 1..10000000, got %d", c.MaxOutboxPerTenant))
	}
	if c.HTTP.HasValue() && !c.HTTP.Get().Auth.HasValue() {
		errs = append(errs, errors.New("http.auth.authenticator: required (the operator API is tenant-scoped: name the tenantauth extension)"))
	}
	return errors.Join(errs...)
}
