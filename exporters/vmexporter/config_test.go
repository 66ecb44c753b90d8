package vmexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// TestREADMEConfigExample loads testdata/config.yaml, the example shown in
// the README, so the documentation cannot rot.
func TestREADMEConfigExample(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(typeStr)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "/var/lib/scadaotel/metrics", cfg.Directory)
	assert.Equal(t, 720*time.Hour, cfg.Retention)
	assert.Equal(t, int64(512), cfg.MemoryLimitMiB)
	assert.Equal(t, DefaultResourceToLabels, cfg.ResourceToLabels)
	assert.Equal(t, 200*time.Millisecond, cfg.VisibilityInterval)
	assert.Equal(t, 10*time.Second, cfg.WAL.CheckpointInterval)
	assert.Equal(t, int64(1<<30), cfg.WAL.MaxBytes)
}

func TestDefaultDirectoryFollowsDataDirEnv(t *testing.T) {
	t.Setenv(DataDirEnv, "/srv/appliance")
	assert.Equal(t, "/srv/appliance/metrics", createDefaultConfig().(*Config).Directory)
}
