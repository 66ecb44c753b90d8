package scadareceiver

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadExample(t *testing.T) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("scada")
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
	if got := cfg.PollGroups["pressure"]; got != 500*time.Millisecond {
		t.Errorf("pressure interval = %v", got)
	}
	if got := cfg.PollGroups["slow"]; got != 10*time.Second {
		t.Errorf("slow interval = %v", got)
	}
	if len(cfg.RTUs) != 3 || cfg.RTUs[1].Gateway != "gw-north" || cfg.RTUs[0].Tenant != "west-pipeline-01" {
		t.Fatalf("rtus not loaded: %+v", cfg.RTUs)
	}
	pts := cfg.rtuPoints(&cfg.RTUs[0])
	if len(pts) != 5 {
		t.Fatalf("rtu-west-01 has %d points, want 4 shared + 1 own", len(pts))
	}
	if pts[0].ByteOrder != "CDAB" || pts[1].Scale != 0.01 || pts[1].Offset != -1 || pts[2].States["2"] != "travel" {
		t.Errorf("point fields not loaded: %+v", pts[:3])
	}
	if pts[2].PollGroup != "valve" || pts[3].Type != "bool" || pts[4].PollGroup != "slow" {
		t.Errorf("defaults not derived: %+v", pts)
	}
	// The receiver can be built from it (no I/O before Start).
	r, err := newReceiver(testSettings(t), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.lanes) != 2 {
		t.Errorf("lanes = %d, want 2 (one RTU, one shared gateway)", len(r.lanes))
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	if cfg.PollGroups["pressure"] != 500*time.Millisecond || cfg.PollGroups["valve"] != 2*time.Second {
		t.Errorf("default poll groups: %v", cfg.PollGroups)
	}
	// Without RTUs the default config is rejected, naming the key.
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtus") {
		t.Errorf("empty config: %v", err)
	}
}

func TestValidateErrorsNameTheKey(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"rtus": []any{map[string]any{
				"name": "r1", "endpoint": "tcp://127.0.0.1:502", "unit_id": 1,
				"tenant": "west-pipeline-01", "station": "s1",
				"points": []any{map[string]any{"name": "p1", "kind": "pressure", "register": "holding", "address": 0, "type": "float32"}},
			}},
		}
	}
	rtu := func(m map[string]any) map[string]any { return m["rtus"].([]any)[0].(map[string]any) }
	pt := func(m map[string]any) map[string]any { return rtu(m)["points"].([]any)[0].(map[string]any) }
	cases := []struct {
		name string
		mod  func(m map[string]any)
		want string
	}{
		{"ok", func(map[string]any) {}, ""},
		{"bad scheme", func(m map[string]any) { rtu(m)["endpoint"] = "udp://1.2.3.4:502" }, "rtus[0] (r1).endpoint"},
		{"no port", func(m map[string]any) { rtu(m)["endpoint"] = "tcp://1.2.3.4" }, "rtus[0] (r1).endpoint"},
		{"no endpoint", func(m map[string]any) { delete(rtu(m), "endpoint") }, "rtus[0] (r1).endpoint: required"},
		{"unit id", func(m map[string]any) { rtu(m)["unit_id"] = 300 }, "rtus[0] (r1).unit_id"},
		{"tenant", func(m map[string]any) { rtu(m)["tenant"] = "West Pipeline" }, "rtus[0] (r1).tenant: invalid tenant id"},
		{"station", func(m map[string]any) { delete(rtu(m), "station") }, "rtus[0] (r1).station: required"},
		{"unknown gateway", func(m map[string]any) { delete(rtu(m), "endpoint"); rtu(m)["gateway"] = "gw" }, `gateway: unknown gateway "gw"`},
		{"kind", func(m map[string]any) { pt(m)["kind"] = "flow" }, `points[0]: point "p1": kind: "flow"`},
		{"register", func(m map[string]any) { pt(m)["register"] = "memory" }, "register:"},
		{"type", func(m map[string]any) { pt(m)["type"] = "float16" }, "type:"},
		{"bool on holding", func(m map[string]any) { pt(m)["type"] = "bool" }, "type: bool is only valid"},
		{"float on coil", func(m map[string]any) { pt(m)["register"] = "coil" }, "type: coil registers hold single bits"},
		{"byte order", func(m map[string]any) { pt(m)["byte_order"] = "ABDC" }, "byte_order:"},
		{"address", func(m map[string]any) { pt(m)["address"] = 65535 }, "runs past 65535"},
		{"group", func(m map[string]any) { pt(m)["poll_group"] = "fast" }, `poll_group: unknown poll group "fast"`},
		{"valve without states", func(m map[string]any) { pt(m)["kind"] = "valve"; pt(m)["type"] = "uint16" }, "states: a valve needs"},
		{"valve bad raw", func(m map[string]any) {
			pt(m)["kind"] = "valve"
			pt(m)["type"] = "uint16"
			pt(m)["states"] = map[string]any{"open": "open"}
		}, `states.open: raw value "open" is not an integer`},
		{"states on pressure", func(m map[string]any) { pt(m)["states"] = map[string]any{"1": "open"} }, "states: only valid for kind valve"},
		{"point name", func(m map[string]any) { pt(m)["name"] = "9 bad name" }, "name:"},
		{"max gap", func(m map[string]any) { m["max_gap"] = 200 }, "max_gap:"},
		{"interval", func(m map[string]any) { m["poll_groups"] = map[string]any{"pressure": "1ms"} }, "poll_groups.pressure"},
		{"jitter", func(m map[string]any) { m["reconnect"] = map[string]any{"jitter": 2} }, "reconnect.jitter"},
		{"unknown point set", func(m map[string]any) { rtu(m)["point_sets"] = []any{"nope"} }, `point_sets: unknown point set "nope"`},
		{"duplicate point", func(m map[string]any) {
			rtu(m)["points"] = append(rtu(m)["points"].([]any), pt(m))
		}, `duplicate point name "p1"`},
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

// Validate only checks: the derivable defaults are filled when the config is
// unmarshalled (and when the receiver compiles it), never by Validate.
func TestValidateChangesNothing(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.RTUs = []RTUConfig{{Name: "r", Endpoint: "tcp://127.0.0.1:502", Tenant: "t1", Station: "s",
		Points: []PointConfig{{Name: "p", Kind: KindPressure, Register: RegHolding, ByteOrder: "cdab"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.RTUs[0].Points[0]; got.Type != "" || got.ByteOrder != "cdab" || got.Scale != 0 || got.PollGroup != "" {
		t.Errorf("Validate changed the point: %+v", got)
	}
	got := cfg.RTUs[0].Points[0].withDefaults()
	if got.Type != "uint16" || got.ByteOrder != "CDAB" || got.Scale != 1 || got.PollGroup != KindPressure {
		t.Errorf("withDefaults: %+v", got)
	}
}
