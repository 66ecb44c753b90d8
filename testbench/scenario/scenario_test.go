package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/tenants"
)

// TestScenariosLoadAndRender loads every shipped scenario and renders its
// appliance config for a binary with and without the optional components:
// both must be valid YAML whose pipelines only name what the binary has.
func TestScenariosLoadAndRender(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "scenarios", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("scenarios: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Root == "" || s.Checks.MinTraceRatio == 0 || s.Checks.MinSamplesRatio == 0 {
				t.Errorf("defaults not applied: %+v", s.Checks)
			}
			if filepath.Base(f) == "smoke.yaml" && s.Timeout > 110e9 {
				t.Errorf("smoke timeout %v exceeds the 2-minute budget", s.Timeout)
			}
			all := map[string]bool{"scada": true, "victoriametrics": true, "prometheus_query": true, "tenantauth": true, "traceidrepair": true,
				"tenantstamp": true, "errorfanout": true, "kafka_alerts": true, "tenant_trace_query": true,
				"alarm": true, "log_storage": true}
			sets := []map[string]bool{{}, all}
			if len(s.Requires) > 0 {
				// The runner refuses such a scenario on a binary lacking a
				// required component; only the full binary renders.
				sets = sets[1:]
				for _, c := range s.Requires {
					if !all[c] {
						t.Errorf("requires unknown component %q", c)
					}
				}
			}
			for _, comps := range sets {
				d := TemplateData{Health: "127.0.0.1:1", OTLPGRPC: "127.0.0.1:2", OTLPHTTP: "127.0.0.1:3", QueryAddr: "127.0.0.1:4",
					JaegerOTLPGRPC: "127.0.0.1:5", DataDir: "/tmp/x", components: comps,
					Scada: "rtus:\n  - name: a\n    endpoint: tcp://127.0.0.1:6\n", QueryToken: "t", RTUTenant: "west-pipeline-01"}
				if s.Traffic != nil {
					d.Tenants = s.Traffic.Tenants
				}
				tmpl, err := template.New("a").Funcs(template.FuncMap{"indent": indent, "sha256": tenants.HashToken}).Parse(s.Appliance.Config)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := tmpl.Execute(&b, d); err != nil {
					t.Fatal(err)
				}
				var cfg struct {
					Connectors map[string]any `yaml:"connectors"`
					Receivers  map[string]any `yaml:"receivers"`
					Exporters  map[string]any `yaml:"exporters"`
					Service    struct {
						Pipelines map[string]struct {
							Receivers []string `yaml:"receivers"`
							Exporters []string `yaml:"exporters"`
						} `yaml:"pipelines"`
					} `yaml:"service"`
				}
				if err := yaml.Unmarshal(b.Bytes(), &cfg); err != nil {
					t.Fatalf("rendered config (components %v) is not YAML: %v\n%s", comps, err, b.String())
				}
				for name, p := range cfg.Service.Pipelines {
					for _, r := range p.Receivers {
						if _, ok := cfg.Receivers[r]; !ok && cfg.Connectors[r] == nil {
							t.Errorf("pipeline %s names receiver %s that is not configured", name, r)
						}
						if r == "scada" && !comps["scada"] {
							t.Errorf("scada receiver used without the component")
						}
					}
					for _, e := range p.Exporters {
						if _, ok := cfg.Exporters[e]; !ok && cfg.Connectors[e] == nil {
							t.Errorf("pipeline %s names exporter %s that is not configured", name, e)
						}
					}
				}
				if len(s.Requires) == 0 && comps["victoriametrics"] != strings.Contains(b.String(), "victoriametrics") {
					t.Errorf("victoriametrics wired = %v with components %v", strings.Contains(b.String(), "victoriametrics"), comps)
				}
			}
		})
	}
}

func TestReportMarkdownAndVerdict(t *testing.T) {
	r := &Report{Scenario: "x", OutDir: t.TempDir()}
	r.add(Check{Name: "a", Status: StatusPass, Detail: "fine | with pipe"})
	r.add(Check{Name: "b", Status: StatusNotBuilt, Detail: "lacks <x>"})
	if r.Failed() {
		t.Fatal("not built counted as a failure")
	}
	md := r.Markdown()
	if !strings.Contains(md, "**PASS**") || !strings.Contains(md, `fine \| with pipe`) || !strings.Contains(md, "lacks &lt;x&gt;") {
		t.Errorf("markdown:\n%s", md)
	}
	r.add(Check{Name: "c", Status: StatusFail})
	if !r.Failed() || !strings.Contains(r.Markdown(), "**FAIL**") {
		t.Error("a failed check does not fail the report")
	}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "report.md"} {
		if _, err := os.Stat(filepath.Join(r.OutDir, f)); err != nil {
			t.Error(err)
		}
	}
}
