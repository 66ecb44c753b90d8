// Package vmexporter stores metrics in the embedded VictoriaMetrics storage
// of the appliance, one reserved scada_tenant label per series, behind a
// write-ahead log so that nothing acknowledged is lost on kill -9.
package vmexporter

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const typeStr = "victoriametrics"

// DataDirEnv names the appliance data directory; the default directory is
// $SCADAOTEL_DATA_DIR/metrics.
const DataDirEnv = "SCADAOTEL_DATA_DIR"

// DefaultResourceToLabels is the default promotion list: the resource
// attributes that identify where a SCADA series comes from.
var DefaultResourceToLabels = []string{"scada.site", "scada.station", "scada.plc", "host.name"}

// NewFactory returns the victoriametrics exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType(typeStr), createDefaultConfig,
		exporter.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	dir := "data"
	if d := os.Getenv(DataDirEnv); d != "" {
		dir = d
	}
	remote := RemoteConfig{
		ClientConfig:    confighttp.NewDefaultClientConfig(),
		MaxRequestBytes: 8 << 20,
		QueueConfig:     configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		BackOffConfig:   configretry.NewDefaultBackOffConfig(),
	}
	remote.Timeout = 10 * time.Second
	// Never give up on a batch: an outage of the server delays data, the
	// queue bounds it (docs/durability.md). A request that keeps failing blocks only
	// its queue consumer.
	remote.BackOffConfig.MaxElapsedTime = 0
	return &Config{
		Mode:               ModeEmbedded,
		Remote:             remote,
		Directory:          filepath.Join(dir, "metrics"),
		Retention:          30 * 24 * time.Hour,
		MemoryLimitMiB:     512,
		ResourceToLabels:   append([]string(nil), DefaultResourceToLabels...),
		AddMetricSuffixes:  true,
		TargetInfo:         true,
		VisibilityInterval: 200 * time.Millisecond,
		WAL:                WALConfig{CheckpointInterval: 10 * time.Second, MaxBytes: 1 << 30},
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	if cfg.(*Config).Mode == ModeRemote {
		return createRemoteMetrics(ctx, set, cfg.(*Config))
	}
	e, err := newExporter(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// No queue, no retry: push returns only after the WAL fsync, so the
		// sender's acknowledgement means "durable".
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
	)
}
