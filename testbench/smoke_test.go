//go:build e2e

// Package testbench holds the end-to-end test that runs the smoke scenario
// with the built testbench against the real appliance and Jaeger.
package testbench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
	"github.com/scadaotel/scadaotel/testbench/scenario"
)

// testbenchBinary is $TESTBENCH_BIN (make test sets it) or a fresh build.
func testbenchBinary(t *testing.T, root string) string {
	if p := os.Getenv("TESTBENCH_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TESTBENCH_BIN=%s: %v", p, err)
		}
		return p
	}
	p := filepath.Join(t.TempDir(), "scadaotel-testbench")
	cmd := exec.Command("go", "build", "-o", p, "./testbench/cmd/scadaotel-testbench")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build testbench: %v\n%s", err, out)
	}
	return p
}

// runScenario runs `scadaotel-testbench run --scenario
// testbench/scenarios/<file>` against the real scadaotel and Jaeger binaries
// within budget and returns its report, the checks' statuses and the output.
func runScenario(t *testing.T, file string, budget time.Duration) (*scenario.Report, map[string]string, string) {
	t.Helper()
	root := e2e.RepoRoot(t)
	app := e2e.Binary(t)
	jaeger := e2e.JaegerBinary(t)
	tb := testbenchBinary(t, root)
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	cmd := exec.CommandContext(ctx, tb, "run", "--scenario", filepath.Join(root, "testbench", "scenarios", file), "--out", out)
	cmd.Env = append(os.Environ(), "SCADAOTEL_BIN="+app, "JAEGER_BIN="+jaeger)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s failed after %v: %v\n%s", file, took, err, output)
	}
	if took > budget {
		t.Errorf("%s took %v, budget %v", file, took, budget)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("no JSON report: %v\n%s", err, output)
	}
	var rep scenario.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "report.md")); err != nil {
		t.Errorf("no Markdown report: %v", err)
	}
	status := map[string]string{}
	for _, c := range rep.Checks {
		status[c.Name] = c.Status
	}
	for name, st := range status {
		if st != scenario.StatusPass && st != scenario.StatusFail && st != scenario.StatusNotBuilt && st != scenario.StatusNotRun {
			t.Errorf("check %s has unknown status %q", name, st)
		}
	}
	t.Logf("%s took %v; report:\n%s", file, took, rep.Markdown())
	return &rep, status, string(output)
}

func components(rep *scenario.Report) map[string]bool {
	has := map[string]bool{}
	for _, c := range rep.Components {
		has[c] = true
	}
	return has
}

// TestSmokeScenario runs smoke.yaml: it must exit 0 within 2 minutes, and
// the checks whose parts exist must have passed (never "not built" for
// parts that are there).
func TestSmokeScenario(t *testing.T) {
	rep, status, output := runScenario(t, "smoke.yaml", 2*time.Minute)
	for _, name := range []string{"appliance_healthy", "rtu_readback", "traffic_sent", "traces_stored"} {
		if status[name] != scenario.StatusPass {
			t.Errorf("check %s: %q, want pass\n%s", name, status[name], output)
		}
	}
	has := components(rep)
	if has["processors/traceidrepair"] && status["trace_repair"] != scenario.StatusPass {
		t.Errorf("traceidrepair is built but trace_repair is %q", status["trace_repair"])
	}
	if has["receivers/scada"] && has["exporters/victoriametrics"] && has["extensions/prometheus_query"] && has["extensions/tenantauth"] {
		for _, name := range []string{"samples_stored", "change_to_query_latency"} {
			if status[name] != scenario.StatusPass {
				t.Errorf("scada, victoriametrics and prometheus_query are built but %s is %q", name, status[name])
			}
		}
	}
}

// TestErrorBurstScenario runs error-burst.yaml: a 20 % burst on one service
// of one tenant must give exactly one firing record on Kafka within
// window + 2 s, one resolved record, none for any other key, and the firing
// record's trace ids must be readable in Jaeger.
func TestErrorBurstScenario(t *testing.T) {
	rep, status, output := runScenario(t, "error-burst.yaml", 90*time.Second)
	for _, name := range []string{"appliance_healthy", "traffic_sent", "traces_stored", "trace_repair", "burst_alert"} {
		if status[name] != scenario.StatusPass {
			t.Errorf("check %s: %q, want pass\n%s", name, status[name], output)
		}
	}
	for _, c := range rep.Checks {
		if c.Name != "burst_alert" {
			continue
		}
		d, _ := c.Metrics["west-pipeline-01/dispatch-service alert_delay_s"].(float64)
		if d <= 0 || d > 7 {
			t.Errorf("burst start -> firing on Kafka %.3f s, want (0, 7] s", d)
		}
		if n, _ := c.Metrics["other_keys_alerted"].(float64); n != 0 {
			t.Errorf("%v keys without a burst alerted", n)
		}
		if n, _ := c.Metrics["alert_trace_ids_in_jaeger"].(float64); n == 0 {
			t.Error("no trace id of the firing record was read from Jaeger")
		}
	}
}

// TestTenantsScenario runs tenants.yaml: write, trace-read and metric-read
// isolation probes between two tenants must all come back refused or empty,
// after positive controls.
func TestTenantsScenario(t *testing.T) {
	_, status, output := runScenario(t, "tenants.yaml", 90*time.Second)
	for _, name := range []string{"appliance_healthy", "traffic_sent", "samples_stored", "tenant_isolation", "tenant_isolation_traces", "tenant_isolation_writes"} {
		if status[name] != scenario.StatusPass {
			t.Errorf("check %s: %q, want pass\n%s", name, status[name], output)
		}
	}
}

// TestBatadalAlarmsScenario runs batadal-alarms.yaml (issue 17): the
// BATADAL tank levels with H and L limits through the real appliance's
// alarm connector and kafka_alerts; every alarm's records on scada.alarms
// must be exactly the sequence the check computes from the CSV itself.
func TestBatadalAlarmsScenario(t *testing.T) {
	if thirdparty.BatadalPath() == "" {
		t.Fatal(thirdparty.BatadalHowTo) // fails, never skips
	}
	rep, status, output := runScenario(t, "batadal-alarms.yaml", 150*time.Second)
	for _, name := range []string{"appliance_healthy", "alarm_sequence"} {
		if status[name] != scenario.StatusPass {
			t.Errorf("check %s: %q, want pass\n%s", name, status[name], output)
		}
	}
	for _, c := range rep.Checks {
		if c.Name != "alarm_sequence" {
			continue
		}
		// 48 rows give T1 2, T2 2, T3 8 and T5 10 transitions.
		if n, _ := c.Metrics["records"].(float64); n != 22 {
			t.Errorf("%v alarm records, want the 22 the CSV's 48 rows give", n)
		}
	}
}
