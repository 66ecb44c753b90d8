package traceidrepairprocessor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cobol := createDefaultConfig()
	cobol.Carriers.TraceIDAttributes = []string{"X_B3_TraceId", "traceparent"}
	cobol.Carriers.CorrelationAttributes = []string{"messaging.message.id", "messaging.message.conversation_id", "order.id"}
	cobol.Index = IndexConfig{Window: 15 * time.Minute, MaxTraces: 1_000_000, MaxCorrelations: 500_000, MaxFragments: 200_000, MaxTenants: 64}
	cobol.Hold = HoldConfig{Wait: 10 * time.Second, MaxSpans: 200_000, MaxSpansPerTenant: 50_000}
	strict := createDefaultConfig()
	strict.Carriers = CarriersConfig{ZeroHalf: false, TraceIDAttributes: []string{"x-b3-traceid"}, CorrelationAttributes: []string{}}
	strict.Hold.Wait = 0
	strict.AmbiguousAction = AmbiguousNone
	for _, tc := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(componentType), createDefaultConfig()},
		{component.NewIDWithName(componentType, "cobol"), cobol},
		{component.NewIDWithName(componentType, "strict"), strict},
	} {
		t.Run(tc.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tc.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tc.want, cfg)
		})
	}
}

// The README shows testdata/config.yaml verbatim.
func TestReadmeShowsTestdataConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	cfg, err := os.ReadFile(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), "```yaml\n"+string(cfg)+"```", "README must show testdata/config.yaml verbatim")
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		key    string
	}{
		{func(c *Config) { c.Index.Window = 0 }, "index.window"},
		{func(c *Config) { c.Index.Window = 48 * time.Hour }, "index.window"},
		{func(c *Config) { c.Index.MaxTraces = 0 }, "index.max_traces"},
		{func(c *Config) { c.Index.MaxCorrelations = -1 }, "index.max_correlations"},
		{func(c *Config) { c.Index.MaxFragments = 0 }, "index.max_fragments"},
		{func(c *Config) { c.Index.MaxTenants = 0 }, "index.max_tenants"},
		{func(c *Config) { c.Hold.Wait = -time.Second }, "hold.wait"},
		{func(c *Config) { c.Hold.Wait = time.Hour }, "hold.wait"},
		{func(c *Config) { c.Hold.MaxSpans = -1 }, "hold.max_spans"},
		{func(c *Config) { c.Hold.MaxSpansPerTenant = -1 }, "hold.max_spans_per_tenant"},
		{func(c *Config) { c.AmbiguousAction = "guess" }, "ambiguous_action"},
		{func(c *Config) { c.Carriers.TraceIDAttributes = []string{""} }, "carriers.trace_id_attributes[0]"},
		{func(c *Config) { c.Carriers.TraceIDAttributes = []string{"x-b3-traceid", "X_B3_TraceId"} }, "carriers.trace_id_attributes[1]"},
		{func(c *Config) {
			c.Carriers.CorrelationAttributes = []string{"x-b3-traceid"}
		}, "carriers.correlation_attributes[0]"},
		{func(c *Config) {
			c.Carriers = CarriersConfig{}
		}, "carriers"},
	} {
		cfg := createDefaultConfig()
		tc.mutate(cfg)
		err := cfg.Validate()
		require.Error(t, err, tc.key)
		assert.True(t, strings.Contains(err.Error(), tc.key+":"), "%q does not name %s", err, tc.key)
	}
	require.NoError(t, createDefaultConfig().Validate())
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}
