package vmexporter

import (
	"errors"
	"fmt"
	"time"
)

// Config is the victoriametrics exporter configuration.
type Config struct {
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

// Validate checks the configuration.
func (c *Config) Validate() error {
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
	for i, a := range c.ResourceToLabels {
		if a == "" {
			errs = append(errs, fmt.Errorf("resource_to_labels[%d]: empty attribute name", i))
		}
	}
	return errors.Join(errs...)
}
