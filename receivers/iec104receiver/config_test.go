package iec104receiver

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func loadExample(t *testing.T) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("iec104")
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadExampleConfig(t *testing.T) {
	cfg := loadExample(t)
	if err := confmap.Validate(cfg); err != nil {
		t.Fatalf("README example config does not validate: %v", err)
	}
	if cfg.T1 != 15*time.Second || cfg.CounterInterrogationInterval != 15*time.Minute || !cfg.ClockSync || cfg.TimeZone != "Asia/Shanghai" {
		t.Errorf("top-level keys not loaded: %+v", cfg)
	}
	if len(cfg.Outstations) != 2 || cfg.Outstations[0].BackupEndpoint != "tcp://10.10.1.11:2404" || cfg.Outstations[1].CommonAddress != 3 {
		t.Fatalf("outstations not loaded: %+v", cfg.Outstations)
	}
	pts := cfg.outstationPoints(&cfg.Outstations[0])
	if len(pts) != 6 || pts[1].Scale != 0.001 || pts[3].States["intermediate"] != "moving" {
		t.Fatalf("points: %+v", pts)
	}
	r, err := newReceiver(receivertest.NewNopSettings(component.MustNewType(typeStr)), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := r.outs[0]
	if len(o.addrs) != 2 || o.addrs[1] != "10.10.1.11:2404" || len(o.list) != 6 || o.points[pointKey(1, 2001)].statusList[0] != "closed" {
		t.Errorf("compiled outstation: %+v", o)
	}
	if len(o.cas) != 1 || o.cas[0] != 1 {
		t.Errorf("interrogated common addresses %v", o.cas)
	}
	if got := r.outs[1].points[pointKey(3, 1001)]; got == nil {
		t.Error("the point set's points take the outstation's common address")
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	if cfg.K != 12 || cfg.W != 8 || cfg.T0 != 30*time.Second || cfg.T1 != 15*time.Second || cfg.T2 != 10*time.Second || cfg.T3 != 20*time.Second {
		t.Errorf("link defaults are not the standard's: %+v", cfg)
	}
	if p := cfg.params(); p.COTSize != 2 || p.CASize != 2 || p.IOASize != 3 {
		t.Errorf("sizes %+v", p)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "outstations") {
		t.Errorf("empty config: %v", err)
	}
}

func TestValidateErrorsNameTheKey(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"outstations": []any{map[string]any{
				"name": "o1", "endpoint": "tcp://127.0.0.1:2404", "tenant": "west-pipeline-01", "station": "s1", "common_address": 1,
				"points": []any{map[string]any{"name": "p1", "kind": "pressure", "ioa": 100}},
			}},
		}
	}
	out := func(m map[string]any) map[string]any { return m["outstations"].([]any)[0].(map[string]any) }
	pt := func(m map[string]any) map[string]any { return out(m)["points"].([]any)[0].(map[string]any) }
	cases := []struct {
		name string
		mod  func(m map[string]any)
		want string
	}{
		{"ok", func(map[string]any) {}, ""},
		{"cot size", func(m map[string]any) { m["cot_size"] = 3 }, "cot_size: 3"},
		{"ca size", func(m map[string]any) { m["ca_size"] = 0 }, "ca_size: 0"},
		{"ioa size", func(m map[string]any) { m["ioa_size"] = 4 }, "ioa_size: 4"},
		{"w above k", func(m map[string]any) { m["w"] = 20 }, "w: 20"},
		{"t2 above t1", func(m map[string]any) { m["t2"] = "20s" }, "t2: 20s must be below t1"},
		{"t0", func(m map[string]any) { m["t0"] = "0s" }, "t0: must be positive"},
		{"time zone", func(m map[string]any) { m["time_zone"] = "Mars/Olympus" }, "time_zone:"},
		{"not topical", func(m map[string]any) { m["not_topical"] = "good" }, "not_topical:"},
		{"jitter", func(m map[string]any) { m["reconnect"] = map[string]any{"jitter": 2} }, "reconnect.jitter"},
		{"endpoint", func(m map[string]any) { out(m)["endpoint"] = "udp://1.2.3.4:2404" }, "outstations[0] (o1).endpoint"},
		{"backup", func(m map[string]any) { out(m)["backup_endpoint"] = "tcp://x" }, "outstations[0] (o1).backup_endpoint"},
		{"tenant", func(m map[string]any) { out(m)["tenant"] = "West Pipeline" }, "outstations[0] (o1).tenant: invalid tenant id"},
		{"station", func(m map[string]any) { delete(out(m), "station") }, "outstations[0] (o1).station: required"},
		{"ca", func(m map[string]any) { out(m)["common_address"] = 70000 }, "outstations[0] (o1).common_address"},
		{"ioa range", func(m map[string]any) { pt(m)["ioa"] = 1 << 24 }, `points[0]: point "p1": ioa: 16777216`},
		{"ioa range with ioa_size 2", func(m map[string]any) { m["ioa_size"] = 2; pt(m)["ioa"] = 70000 }, "ioa: 70000 must be in [0, 65535]"},
		{"kind", func(m map[string]any) { pt(m)["kind"] = "flow" }, `kind: "flow"`},
		{"valve states", func(m map[string]any) { pt(m)["kind"] = "valve"; pt(m)["states"] = map[string]any{"open": "open"} }, "states.open: must be off, on"},
		{"states on pressure", func(m map[string]any) { pt(m)["states"] = map[string]any{"on": "open"} }, "states: only valid for kind valve"},
		{"valve scale", func(m map[string]any) { pt(m)["kind"] = "valve"; pt(m)["scale"] = 2 }, "scale/offset: not applicable"},
		{"point name", func(m map[string]any) { pt(m)["name"] = "9 bad" }, "name:"},
		{"duplicate address", func(m map[string]any) {
			out(m)["points"] = append(out(m)["points"].([]any), map[string]any{"name": "p2", "kind": "generic", "ioa": 100})
		}, `points "p1" and "p2" share common address 1, IOA 100`},
		{"no points", func(m map[string]any) { delete(out(m), "points") }, "no points"},
		{"no points with discovery", func(m map[string]any) { delete(out(m), "points"); m["discovery"] = true }, ""},
		{"unknown point set", func(m map[string]any) { out(m)["point_sets"] = []any{"nope"} }, `point_sets: unknown point set "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.mod(m)
			cfg := createDefaultConfig()
			if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}

func TestReadmeEmbedsExampleConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(example)) {
		t.Fatal("README.md does not contain testdata/config.yaml verbatim: update the README example")
	}
}
