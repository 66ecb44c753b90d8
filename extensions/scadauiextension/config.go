package scadauiextension

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
)

// Config of the scada_ui extension.
type Config struct {
	// Endpoint is where the UI listens (loopback by default).
	Endpoint string `mapstructure:"endpoint"`
	// TLS, when present, serves HTTPS: the collector's configtls server
	// settings (cert_file, key_file, reload_interval, client_ca_file for
	// mTLS). The default config fills it from listener_tls. With it, the
	// UI's own calls to https upstreams trust exactly this certificate and
	// present it when asked for a client certificate.
	TLS configoptional.Optional[configtls.ServerConfig] `mapstructure:"tls"`
	// Authenticator is the tenantauth extension that turns a token into a tenant.
	Authenticator component.ID `mapstructure:"authenticator"`
	// TraceQueryEndpoint is the base URL of the tenant_trace_query
	// extension ("" turns the Traces view off).
	TraceQueryEndpoint string `mapstructure:"trace_query_endpoint"`
	// AlertsEndpoint is the base URL of the errorfanout connector's alert
	// history API ("" turns the Alerts view off).
	AlertsEndpoint string `mapstructure:"alerts_endpoint"`
	// AlarmsEndpoint is the base URL of the alarm connector's operator API
	// ("" turns the alarm list, Alarms view and chart limits off).
	AlarmsEndpoint string `mapstructure:"alarms_endpoint"`
	// SessionTTL is how long a login session lasts at most.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// SessionIdleTimeout ends a session not used for this long.
	SessionIdleTimeout time.Duration `mapstructure:"session_idle_timeout"`
	// MaxSessions caps the live sessions of all tenants; beyond it the
	// oldest session of the tenant holding the most is dropped.
	MaxSessions int `mapstructure:"max_sessions"`
	// MaxSessionsPerTenant caps one tenant's live sessions; beyond it that
	// tenant's oldest session is dropped.
	MaxSessionsPerTenant int `mapstructure:"max_sessions_per_tenant"`
	// StaleAfter: an RTU whose last poll is older than this is "stale".
	StaleAfter time.Duration `mapstructure:"stale_after"`
	// Timeout bounds each upstream call.
	Timeout time.Duration `mapstructure:"timeout"`
	// TelemetryEndpoint is the appliance's own Prometheus metrics endpoint
	// (service.telemetry.metrics pull reader), read by the Appliance view
	// ("" turns the view off).
	TelemetryEndpoint string `mapstructure:"telemetry_endpoint"`
	// TelemetryInterval is how often it is read.
	TelemetryInterval time.Duration `mapstructure:"telemetry_interval"`
	// SharedFigures shows every tenant the appliance-wide figures (per
	// receiver, exporter and queue, disk), which carry no tenant.
	SharedFigures bool `mapstructure:"shared_figures"`
	// DiskPaths are directories whose disk use is shown besides the
	// metrics store's.
	DiskPaths []string `mapstructure:"disk_paths"`
	// LoginLimit bounds login attempts.
	LoginLimit LoginLimitConfig `mapstructure:"login_limit"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// LoginLimitConfig bounds logins with token buckets: each holds the
// number of attempts and refills that many per period.
type LoginLimitConfig struct {
	// PerAddress: login attempts (right or wrong) from one client address.
	PerAddress int `mapstructure:"per_address"`
	// PerTenant: accepted logins of one tenant.
	PerTenant int `mapstructure:"per_tenant"`
	// Period over which the attempts are allowed.
	Period time.Duration `mapstructure:"period"`

	_ struct{}
}

func checkURL(key, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: want an http(s) URL such as http://127.0.0.1:16687, or empty to turn the view off, got %q", key, v)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%s: must not have credentials, a query or a fragment, got %q", key, v)
	}
	return nil
}

// Validate checks the config; every error names its key.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: want host:port such as 127.0.0.1:8080, got %q", c.Endpoint))
	}
	if c.Authenticator.Type().String() == "" {
		errs = append(errs, errors.New("authenticator: must name the tenantauth extension, e.g. tenantauth"))
	}
	errs = append(errs, checkURL("trace_query_endpoint", c.TraceQueryEndpoint), checkURL("alerts_endpoint", c.AlertsEndpoint),
		checkURL("alarms_endpoint", c.AlarmsEndpoint),
		checkURL("telemetry_endpoint", c.TelemetryEndpoint))
	if c.TelemetryInterval < time.Second || c.TelemetryInterval > 5*time.Minute {
		errs = append(errs, fmt.Errorf("telemetry_interval: must be between 1s and 5m, got %s", c.TelemetryInterval))
	}
	for i, p := range c.DiskPaths {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("disk_paths[%d]: must name a directory, got %q", i, p))
		}
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("session_ttl: must be between 1m and 168h, got %s", c.SessionTTL))
	}
	if c.SessionIdleTimeout < time.Minute || c.SessionIdleTimeout > c.SessionTTL {
		errs = append(errs, fmt.Errorf("session_idle_timeout: must be between 1m and session_ttl (%s), got %s", c.SessionTTL, c.SessionIdleTimeout))
	}
	if c.MaxSessions < 1 || c.MaxSessions > 100000 {
		errs = append(errs, fmt.Errorf("max_sessions: must be in 1..100000, got %d", c.MaxSessions))
	}
	if c.MaxSessionsPerTenant < 1 || c.MaxSessionsPerTenant > c.MaxSessions {
		errs = append(errs, fmt.Errorf("max_sessions_per_tenant: must be in 1..max_sessions (%d), got %d", c.MaxSessions, c.MaxSessionsPerTenant))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("stale_after: must be > 0, got %s", c.StaleAfter))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be > 0, got %s", c.Timeout))
	}
	if c.LoginLimit.PerAddress < 1 || c.LoginLimit.PerAddress > 100000 {
		errs = append(errs, fmt.Errorf("login_limit.per_address: must be in 1..100000, got %d", c.LoginLimit.PerAddress))
	}
	if c.LoginLimit.PerTenant < 1 || c.LoginLimit.PerTenant > 100000 {
		errs = append(errs, fmt.Errorf("login_limit.per_tenant: must be in 1..100000, got %d", c.LoginLimit.PerTenant))
	}
	if c.LoginLimit.Period < time.Second || c.LoginLimit.Period > 24*time.Hour {
		errs = append(errs, fmt.Errorf("login_limit.period: must be between 1s and 24h, got %s", c.LoginLimit.Period))
	}
	return errors.Join(errs...)
}
