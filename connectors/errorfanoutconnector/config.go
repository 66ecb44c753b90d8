package errorfanoutconnector

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/tenants"
)

// Config of the errorfanout connector.
type Config struct {
	// Store lists the traces pipelines that receive every trace.
	Store []pipeline.ID `mapstructure:"store"`
	// Alert lists the traces pipelines that receive the traces of firing keys.
	Alert []pipeline.ID `mapstructure:"alert"`
	// StoreWhileFiring keeps sending a firing key's traces to Store as well.
	StoreWhileFiring bool `mapstructure:"store_while_firing"`

	// Window is the length of the sliding window per (tenant, service).
	Window time.Duration `mapstructure:"window"`
	// Buckets is how many buckets the window is made of.
	Buckets int `mapstructure:"buckets"`
	// EvaluationInterval is how often keys are re-evaluated (resolve, expiry)
	// and the error ratio metrics are emitted. Default: one bucket.
	EvaluationInterval time.Duration `mapstructure:"evaluation_interval"`
	// Threshold is the error ratio (0..1) above which a key fires.
	Threshold float64 `mapstructure:"threshold"`
	// MinSpans is the number of spans a window needs before a key may fire.
	MinSpans uint64 `mapstructure:"min_spans"`
	// ResolveRatio: a firing key resolves when its ratio stays below
	// ResolveRatio*Threshold for a full window.
	ResolveRatio float64 `mapstructure:"resolve_ratio"`
	// Overrides change Threshold / MinSpans per tenant and/or service.
	Overrides []Override `mapstructure:"overrides"`

	// Errors defines what counts as an error span.
	Errors ErrorsConfig `mapstructure:"errors"`

	// IdleTimeout: a key that saw no span for this long (and is not firing)
	// is forgotten.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxKeys caps the number of tracked keys; the least recently seen
	// non-firing key is evicted (counted) to make room.
	MaxKeys int `mapstructure:"max_keys"`
	// MaxKeysPerTenant caps the keys of one tenant (at most MaxKeys): a
	// tenant at its bound replaces its own least recently seen non-firing
	// key, never another tenant's.
	MaxKeysPerTenant int `mapstructure:"max_keys_per_tenant"`
	// MaxTraceIDs is how many sample error trace ids an alert event carries.
	MaxTraceIDs int `mapstructure:"max_trace_ids"`
	// StationAttribute is the resource attribute naming the station.
	StationAttribute string `mapstructure:"station_attribute"`

	// History is the durable per-tenant alert history.
	History HistoryConfig `mapstructure:"history"`
	// HTTP, when set, serves the history on a tenant-scoped HTTP API.
	HTTP configoptional.Optional[confighttp.ServerConfig] `mapstructure:"http"`

	_ struct{}
}

// Override sets Threshold and/or MinSpans for a tenant, a service, or a
// (tenant, service) pair. Precedence: tenant+service, then tenant, then service.
type Override struct {
	Tenant    string  `mapstructure:"tenant"`
	Service   string  `mapstructure:"service"`
	Threshold float64 `mapstructure:"threshold"`
	MinSpans  uint64  `mapstructure:"min_spans"`
}

// ErrorsConfig defines what counts as an error span.
type ErrorsConfig struct {
	// StatusError counts spans whose status code is Error.
	StatusError bool `mapstructure:"status_error"`
	// HTTPStatusMin, when > 0, counts spans whose http.response.status_code
	// (or legacy http.status_code) is >= this value.
	HTTPStatusMin int64 `mapstructure:"http_status_min"`
	// RPCStatusAttribute, when set, counts spans whose attribute of this name
	// is a non-zero integer (e.g. rpc.grpc.status_code).
	RPCStatusAttribute string `mapstructure:"rpc_status_attribute"`
}

// HistoryConfig configures the durable alert history.
type HistoryConfig struct {
	// Directory holds alerts.log (the checksummed journal). Empty keeps the
	// history in memory only.
	Directory string `mapstructure:"directory"`
	// MaxEpisodes is the number of episodes kept per tenant.
	MaxEpisodes int `mapstructure:"max_episodes"`
	// DiskReserve is the free space history writes leave on the directory's
	// volume (the larger of bytes and percent; zero: diskreserve defaults).
	DiskReserve diskreserve.Config `mapstructure:"disk_reserve"`
}

func (c *Config) bucketWidth() time.Duration { return c.Window / time.Duration(c.Buckets) }

func (c *Config) evalInterval() time.Duration {
	if c.EvaluationInterval > 0 {
		return c.EvaluationInterval
	}
	return c.bucketWidth()
}

// Validate checks the configuration; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Store) == 0 {
		errs = append(errs, errors.New("store: at least one traces pipeline is required"))
	}
	seen := map[pipeline.ID]string{}
	for _, p := range c.Store {
		if p.Signal() != pipeline.SignalTraces {
			errs = append(errs, fmt.Errorf("store: pipeline %q is not a traces pipeline", p))
		}
		seen[p] = "store"
	}
	for _, p := range c.Alert {
		if p.Signal() != pipeline.SignalTraces {
			errs = append(errs, fmt.Errorf("alert: pipeline %q is not a traces pipeline", p))
		}
		if seen[p] == "store" {
			errs = append(errs, fmt.Errorf("alert: pipeline %q is also listed in store", p))
		}
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be positive, got %v", c.Window))
	}
	if c.Buckets < 1 || c.Buckets > 3600 {
		errs = append(errs, fmt.Errorf("buckets: must be in 1..3600, got %d", c.Buckets))
	} else if c.Window > 0 && c.Window%time.Duration(c.Buckets) != 0 {
		errs = append(errs, fmt.Errorf("buckets: window %v is not divisible into %d buckets", c.Window, c.Buckets))
	}
	if c.EvaluationInterval < 0 {
		errs = append(errs, fmt.Errorf("evaluation_interval: must not be negative, got %v", c.EvaluationInterval))
	}
	if c.Threshold <= 0 || c.Threshold >= 1 {
		errs = append(errs, fmt.Errorf("threshold: must be in (0, 1), got %v", c.Threshold))
	}
	if c.ResolveRatio <= 0 || c.ResolveRatio > 1 {
		errs = append(errs, fmt.Errorf("resolve_ratio: must be in (0, 1], got %v", c.ResolveRatio))
	}
	for i, o := range c.Overrides {
		if o.Tenant == "" && o.Service == "" {
			errs = append(errs, fmt.Errorf("overrides[%d]: tenant or service is required", i))
		}
		if o.Tenant != "" && !tenants.ValidID(o.Tenant) {
			errs = append(errs, fmt.Errorf("overrides[%d].tenant: %w", i, tenants.CheckID(o.Tenant)))
		}
		if o.Threshold < 0 || o.Threshold >= 1 {
			errs = append(errs, fmt.Errorf("overrides[%d].threshold: must be in (0, 1) or unset, got %v", i, o.Threshold))
		}
		if o.Threshold == 0 && o.MinSpans == 0 {
			errs = append(errs, fmt.Errorf("overrides[%d]: sets neither threshold nor min_spans", i))
		}
	}
	if !c.Errors.StatusError && c.Errors.HTTPStatusMin == 0 && c.Errors.RPCStatusAttribute == "" {
		errs = append(errs, errors.New("errors: no error definition enabled (status_error, http_status_min, rpc_status_attribute)"))
	}
	if c.Errors.HTTPStatusMin < 0 || c.Errors.HTTPStatusMin > 999 {
		errs = append(errs, fmt.Errorf("errors.http_status_min: must be in 0..999, got %d", c.Errors.HTTPStatusMin))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: must be positive, got %v", c.IdleTimeout))
	}
	if c.MaxKeys < 1 {
		errs = append(errs, fmt.Errorf("max_keys: must be at least 1, got %d", c.MaxKeys))
	}
	if c.MaxKeysPerTenant < 1 {
		errs = append(errs, fmt.Errorf("max_keys_per_tenant: must be at least 1, got %d", c.MaxKeysPerTenant))
	}
	if c.MaxTraceIDs < 0 || c.MaxTraceIDs > 100 {
		errs = append(errs, fmt.Errorf("max_trace_ids: must be in 0..100, got %d", c.MaxTraceIDs))
	}
	if err := c.History.DiskReserve.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("history.%w", err))
	}
	if c.History.MaxEpisodes < 1 {
		errs = append(errs, fmt.Errorf("history.max_episodes: must be at least 1, got %d", c.History.MaxEpisodes))
	}
	return errors.Join(errs...)
}
