package vmexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
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
	assert.Equal(t, diskreserve.Config{Bytes: 64 << 20, Percent: 2}, cfg.DiskReserve)
}

func TestREADMERemoteConfigExample(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(typeStr + "/remote")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, ModeRemote, cfg.Mode)
	assert.Equal(t, "http://vminsert.example:8480/insert/{account_id}/prometheus/api/v1/write", cfg.Remote.Endpoint)
	assert.Equal(t, map[string]uint32{"west-pipeline-01": 1, "east-pipeline-02": 2}, cfg.Remote.TenantAccountIDs)
	assert.Equal(t, 10*time.Second, cfg.Remote.Timeout)
	assert.Equal(t, 8<<20, cfg.Remote.MaxRequestBytes)
	q := cfg.Remote.QueueConfig.Get()
	require.NotNil(t, q)
	require.NotNil(t, q.StorageID)
	assert.Equal(t, "file_storage/vmqueue", q.StorageID.String())
	assert.Equal(t, int64(5000), q.QueueSize)
	assert.Equal(t, 2, q.NumConsumers)
	assert.True(t, cfg.Remote.BackOffConfig.Enabled)
	assert.Equal(t, time.Duration(0), cfg.Remote.BackOffConfig.MaxElapsedTime)
	assert.Equal(t, 30*time.Second, cfg.Remote.BackOffConfig.MaxInterval)
	r := &remoteExporter{cfg: cfg}
	u, err := r.endpoint("east-pipeline-02")
	require.NoError(t, err)
	assert.Equal(t, "http://vminsert.example:8480/insert/2/prometheus/api/v1/write", u)
}

func TestDefaultDirectoryFollowsDataDirEnv(t *testing.T) {
	t.Setenv(DataDirEnv, "/srv/appliance")
	assert.Equal(t, "/srv/appliance/metrics", createDefaultConfig().(*Config).Directory)
}
