package logstorageextension

import (
	"errors"
	"fmt"
	"time"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// Config of the log_storage extension.
type Config struct {
	// Directory holds one sub-directory of segment files per client.
	Directory string `mapstructure:"directory"`
	// SegmentSize: a new segment file is started past this many bytes.
	SegmentSize int64 `mapstructure:"segment_size"`
	// SyncInterval: overwrites and deletes (queue cursor moves) are synced
	// at least this often; new items are synced before their write returns.
	SyncInterval time.Duration `mapstructure:"sync_interval"`
	// CompactBelow: the oldest segment is rewritten once less than this
	// share of it is live (0 < x < 1).
	CompactBelow float64 `mapstructure:"compact_below"`
	// DiskReserve: free space kept on the volume; inside it new items are
	// refused with a retryable error.
	DiskReserve diskreserve.Config `mapstructure:"disk_reserve"`
	// MigrateFrom: file_storage queue files imported on first use of a
	// client, then renamed *.migrated.
	MigrateFrom Migration `mapstructure:"migrate_from"`
}

// Migration names where an earlier file_storage kept its queues.
type Migration struct {
	// Directory of the file_storage extension.
	Directory string `mapstructure:"directory"`
	// Clients maps a client of this storage to the file_storage file it
	// takes over when their names differ (the exporter changed type or
	// name), e.g. exporter_durable_otlp_jaeger_traces:
	// exporter_otlp_grpc_jaeger_traces. Other clients look for their own name.
	Clients map[string]string `mapstructure:"clients"`
}

// Validate names the key at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: required"))
	}
	if c.SegmentSize < 1<<20 {
		errs = append(errs, fmt.Errorf("segment_size: must be at least 1 MiB, got %d", c.SegmentSize))
	}
	if c.SyncInterval <= 0 || c.SyncInterval > 10*time.Second {
		errs = append(errs, fmt.Errorf("sync_interval: must be between 0 and 10s, got %s", c.SyncInterval))
	}
	if c.CompactBelow <= 0 || c.CompactBelow >= 1 {
		errs = append(errs, fmt.Errorf("compact_below: must be between 0 and 1, got %v", c.CompactBelow))
	}
	if len(c.MigrateFrom.Clients) > 0 && c.MigrateFrom.Directory == "" {
		errs = append(errs, errors.New("migrate_from.directory: required with migrate_from.clients"))
	}
	if err := c.DiskReserve.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
