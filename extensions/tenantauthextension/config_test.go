package tenantauthextension

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

func loadConfig(t *testing.T, cm *confmap.Conf, id string) *Config {
	t.Helper()
	sub, err := cm.Sub(id)
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return cfg
}

// TestConfigExamples loads testdata/config.yaml and every yaml example of
// the README, so the documentation cannot rot.
func TestConfigExamples(t *testing.T) {
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, cm, "tenantauth")
	if len(cfg.Tenants) != 1 || cfg.Tenants[0].Limits.SpansPerSecond != 5000 || cfg.Tenants[0].KafkaTopic != "scada.alerts.west" {
		t.Errorf("inline example: %+v", cfg.Tenants)
	}
	if cfg := loadConfig(t, cm, "tenantauth/file"); cfg.TenantsFile == "" {
		t.Error("file example lost tenants_file")
	}
	if cfg := loadConfig(t, cm, "tenantauth/local"); cfg.DefaultTenant != "local" {
		t.Error("local example lost default_tenant")
	}
	for _, id := range []string{"tenantauth", "tenantauth/file", "tenantauth/local"} {
		sub, _ := cm.Sub(id)
		c := createDefaultConfig().(*Config)
		_ = sub.Unmarshal(c)
		if _, err := newExtension(c, settings()); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}

	examples := readmeconfig.Examples(t, "README.md", "extensions", "tenantauth", createDefaultConfig)
	for _, e := range examples {
		if e.Err != nil && e.Config.(*Config).TenantsFile == "" {
			t.Errorf("README %s: %v", e.ID, e.Err)
		}
	}
	if len(examples) < 3 {
		t.Errorf("README has %d tenantauth examples, want at least 3", len(examples))
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	for want, cfg := range map[string]*Config{
		"tenants:":          {ReloadInterval: 1},
		"reload_interval":   {DefaultTenant: "local"},
		"default_tenant":    {DefaultTenant: "Local Tenant", ReloadInterval: 1},
		"tenants[0].id":     {Tenants: []tenantsSpec{{ID: ""}}, ReloadInterval: 1},
		"token_sha256[0]":   {Tenants: []tenantsSpec{{ID: "a", TokenSHA256: []string{"secret"}}}, ReloadInterval: 1},
		"reload_interval: ": {DefaultTenant: "local", ReloadInterval: 1 << 40},
	} {
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("want error naming %q, got %v", want, err)
		}
	}
	if err := createDefaultConfig().(*Config).Validate(); err == nil {
		t.Error("default config with no tenants must not validate")
	}
}
