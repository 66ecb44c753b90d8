package errorfanoutconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pipeline"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(componentType, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigDefaultIsValid(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 30*time.Second, cfg.Window)
	assert.Equal(t, 5*time.Second, cfg.evalInterval())
	assert.Equal(t, 0.05, cfg.Threshold)
	assert.Equal(t, uint64(20), cfg.MinSpans)
	assert.True(t, cfg.Errors.StatusError)
	assert.True(t, cfg.StoreWhileFiring)
	assert.False(t, cfg.HTTP.HasValue())
}

func TestConfigReadmeExample(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalTraces, "alert")}, cfg.Alert)
	assert.Equal(t, int64(500), cfg.Errors.HTTPStatusMin)
	assert.Len(t, cfg.Overrides, 3)
	require.True(t, cfg.HTTP.HasValue())
	assert.Equal(t, "127.0.0.1:8089", cfg.HTTP.Get().NetAddr.Endpoint)
	require.True(t, cfg.HTTP.Get().Auth.HasValue())
	assert.Equal(t, "tenantauth", cfg.HTTP.Get().Auth.Get().Config.AuthenticatorID.String())
	assert.Equal(t, "/var/lib/scadaotel/errorfanout", cfg.History.Directory)
	assert.Equal(t, int64(64<<20), cfg.History.DiskReserve.Bytes)
	assert.Equal(t, 2.0, cfg.History.DiskReserve.Percent)
}

func TestConfigValidateNamesKeys(t *testing.T) {
	err := loadConfig(t, "bad").Validate()
	require.Error(t, err)
	for _, want := range []string{"store:", "buckets:", "threshold:", "overrides[0]:", "history.disk_reserve.percent:"} {
		assert.Contains(t, err.Error(), want)
	}
}
