package vmexporter

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/tenants"
)

// Modes of the exporter.
const (
	ModeEmbedded = "embedded"
	ModeRemote   = "remote"
)

// URL template placeholders of remote.endpoint.
const (
	placeholderTenant    = "{tenant}"
	placeholderAccountID = "{account_id}"
)

// Config is the victoriametrics exporter configuration.
type Config struct {
	// Mode is "embedded" (the appliance's own storage, default) or "remote"
	// (Prometheus remote write to a VictoriaMetrics server or cluster).
	Mode string `mapstructure:"mode"`
	// Remote configures remote mode; ignored in embedded mode.
	Remote RemoteConfig `mapstructure:"remote"`

	// Directory holds the storage (<directory>/data) and the write-ahead
	// log (<directory>/wal).
	Directory string `mapstructure:"directory"`
	// Retention is the global retention of the embedded storage.
	Retention time.Duration `mapstructure:"retention"`
	// MemoryLimitMiB caps the memory the storage sizes its caches for.
	MemoryLimitMiB int64 `mapstructure:"memory_limit_mib"`
	// ResourceToLabels lists resource attributes copied onto every series
	// of their resource (sanitized to label names). Datapoint attributes of
	// the same name win.
	ResourceToLabels []string `mapstructure:"resource_to_labels"`
	// AddMetricSuffixes adds unit and _total suffixes to names.
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`
	// TargetInfo writes the target_info series (all resource attributes).
	TargetInfo bool `mapstructure:"target_info"`
	// VisibilityInterval bounds how long written samples stay invisible
	// to queries (the storage alone takes 1-2 s).
	VisibilityInterval time.Duration `mapstructure:"visibility_interval"`
	// WAL configures the write-ahead log.
	WAL WALConfig `mapstructure:"wal"`
	// DiskReserve is the free space kept on the volume of Directory: new
	// data is refused (retryable) while less is free.
	DiskReserve diskreserve.Config `mapstructure:"disk_reserve"`

	_ struct{}
}

// WALConfig configures the write-ahead log.
type WALConfig struct {
	// CheckpointInterval is how often rows are persisted by the storage and
	// the log segments holding them are removed.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// MaxBytes refuses new data while the log holds more than this (0 = no limit).
	MaxBytes int64 `mapstructure:"max_bytes"`
}

// RemoteConfig configures remote mode.
type RemoteConfig struct {
	// ClientConfig holds the HTTP client settings; its endpoint is a URL
	// template with {tenant} and {account_id} placeholders.
	confighttp.ClientConfig `mapstructure:",squash"`
	// TenantAccountIDs maps a tenant to its VictoriaMetrics cluster
	// accountID (required for every tenant when the endpoint names
	// {account_id}).
	TenantAccountIDs map[string]uint32 `mapstructure:"tenant_account_ids"`
	// MaxRequestBytes caps the uncompressed size of one remote-write
	// request; a larger batch is split.
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
	// QueueConfig is the exporterhelper sending queue (persistent with
	// storage: file_storage).
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// BackOffConfig configures retries (max_elapsed_time 0 = forever).
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// DeadLetter keeps what the server refuses for good (a 4xx other than
	// 429): required in remote mode.
	DeadLetter deadletter.Config `mapstructure:"dead_letter"`
}

// usesAccountID reports whether the endpoint template names {account_id}.
func (r *RemoteConfig) usesAccountID() bool {
	return strings.Contains(r.Endpoint, placeholderAccountID)
}

func (r *RemoteConfig) validate() []error {
	var errs []error
	if err := r.DeadLetter.RequireDirectory(); err != nil {
		errs = append(errs, fmt.Errorf("remote.%w", err))
	}
	if r.Endpoint == "" {
		errs = append(errs, errors.New("remote.endpoint: must be set in remote mode, e.g. http://vminsert:8480/insert/{account_id}/prometheus/api/v1/write"))
	} else {
		// Substitute placeholders with sample values to check the rest.
		probe := strings.NewReplacer(placeholderTenant, "t", placeholderAccountID, "0").Replace(r.Endpoint)
		u, err := url.Parse(probe)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("remote.endpoint: %q is not a URL: %w", r.Endpoint, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("remote.endpoint: %q must start with http:// or https://", r.Endpoint))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("remote.endpoint: %q has no host", r.Endpoint))
		case strings.ContainsAny(templateAuthority(r.Endpoint), "{}"):
			errs = append(errs, fmt.Errorf("remote.endpoint: placeholders are allowed in the path and query only, not the host of %q", r.Endpoint))
		}
		if strings.ContainsAny(probe, "{}") {
			errs = append(errs, fmt.Errorf("remote.endpoint: unknown placeholder in %q (known: {tenant}, {account_id})", r.Endpoint))
		}
	}
	if r.usesAccountID() && len(r.TenantAccountIDs) == 0 {
		errs = append(errs, errors.New("remote.tenant_account_ids: must map every tenant to an accountID because remote.endpoint uses {account_id}"))
	}
	if !r.usesAccountID() && len(r.TenantAccountIDs) > 0 {
		errs = append(errs, errors.New("remote.tenant_account_ids: set, but remote.endpoint does not use {account_id}; the map would be ignored"))
	}
	ids := make([]string, 0, len(r.TenantAccountIDs))
	for t := range r.TenantAccountIDs {
		ids = append(ids, t)
	}
	sort.Strings(ids)
	owner := map[uint32]string{}
	for _, t := range ids {
		if !tenants.ValidID(t) {
			errs = append(errs, fmt.Errorf("remote.tenant_account_ids: %q is not a valid tenant id", t))
		}
		a := r.TenantAccountIDs[t]
		if o, dup := owner[a]; dup {
			errs = append(errs, fmt.Errorf("remote.tenant_account_ids: tenants %q and %q share account_id %d; each tenant needs its own account", o, t, a))
		}
		owner[a] = t
	}
	if r.MaxRequestBytes < 1024 {
		errs = append(errs, fmt.Errorf("remote.max_request_bytes: must be >= 1024, got %d", r.MaxRequestBytes))
	}
	if r.Compression != "" && r.Compression != "none" {
		errs = append(errs, fmt.Errorf("remote.compression: %q not supported; remote write bodies are always snappy-compressed", r.Compression))
	}
	return errs
}

// templateAuthority returns the user:password@host:port part of a URL
// template (which url.Parse would reject or hide placeholders in).
func templateAuthority(tmpl string) string {
	if i := strings.Index(tmpl, "://"); i >= 0 {
		tmpl = tmpl[i+3:]
	}
	if i := strings.IndexAny(tmpl, "/?#"); i >= 0 {
		tmpl = tmpl[:i]
	}
	return tmpl
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeRemote:
		return errors.Join(c.Remote.validate()...)
	case ModeEmbedded:
		if c.Remote.Endpoint != "" {
			return errors.New("remote.endpoint: set, but mode is embedded; set mode: remote to write to a VictoriaMetrics server")
		}
	default:
		return fmt.Errorf("mode: %q, want embedded or remote", c.Mode)
	}
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: must be set (default ${SCADAOTEL_DATA_DIR}/metrics)"))
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention: %s is below the 24h minimum of the storage", c.Retention))
	}
	if c.MemoryLimitMiB < 0 {
		errs = append(errs, fmt.Errorf("memory_limit_mib: must be >= 0, got %d", c.MemoryLimitMiB))
	}
	if c.VisibilityInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("visibility_interval: must be >= 10ms, got %s", c.VisibilityInterval))
	}
	if c.WAL.CheckpointInterval < time.Second {
		errs = append(errs, fmt.Errorf("wal.checkpoint_interval: must be >= 1s, got %s", c.WAL.CheckpointInterval))
	}
	if c.WAL.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("wal.max_bytes: must be >= 0, got %d", c.WAL.MaxBytes))
	}
	if err := c.DiskReserve.Validate(); err != nil {
		errs = append(errs, err)
	}
	for i, a := range c.ResourceToLabels {
		if a == "" {
			errs = append(errs, fmt.Errorf("resource_to_labels[%d]: empty attribute name", i))
		}
	}
	return errors.Join(errs...)
}
