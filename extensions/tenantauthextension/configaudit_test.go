package tenantauthextension

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"

	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestConfigLoadRecordedAtEachStart: each start records the effective
// configuration's hash once, saying whether it changed since the last
// start; the configuration's content (a secret in it) is never written.
func TestConfigLoadRecordedAtEachStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	start := func(conf map[string]any) {
		t.Helper()
		cfg := createDefaultConfig().(*Config)
		cfg.Tenants = []tenants.Spec{{ID: "west-pipeline-01", TokenSHA256: []string{tenants.HashToken("w-token")}}}
		cfg.Audit.Directory = dir
		e, err := newExtension(cfg, settings())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
		if err := e.NotifyConfigSnapshot(context.Background(), extensioncapabilities.NewConfigSnapshot(confmap.NewFromStringMap(conf), nil)); err != nil {
			t.Fatal(err)
		}
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	conf := map[string]any{"exporters": map[string]any{"kafka_alerts": map[string]any{"brokers": []any{"10.0.0.5:9093"}, "password": "s3cret-kafka"}}}
	start(conf)
	start(conf)
	conf["exporters"].(map[string]any)["kafka_alerts"].(map[string]any)["brokers"] = []any{"10.0.0.6:9093"}
	start(conf)

	recs, err := audit.Read(dir, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var loads []audit.Record
	for _, r := range recs {
		if r.Action == ActionConfigLoad {
			loads = append(loads, r)
		}
		if strings.Contains(r.Detail+r.Object, "s3cret") {
			t.Fatalf("the configuration's content is in the audit trail: %+v", r)
		}
	}
	if len(loads) != 3 {
		t.Fatalf("%d config_load records for 3 starts: %+v", len(loads), loads)
	}
	if !strings.HasPrefix(loads[0].Object, "sha256:") || loads[0].Detail != "first start with this audit trail" {
		t.Errorf("first start: %+v", loads[0])
	}
	if loads[1].Object != loads[0].Object || loads[1].Detail != "unchanged since the last start" {
		t.Errorf("same configuration: %+v", loads[1])
	}
	if loads[2].Object == loads[1].Object || loads[2].Detail != "changed since the last start (was "+loads[1].Object+")" {
		t.Errorf("changed configuration: %+v", loads[2])
	}
	key, err := audit.LoadKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(dir, key); err != nil {
		t.Fatalf("the chain does not verify: %v", err)
	}
}
