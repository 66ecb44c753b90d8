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

// TestSmokeScenario runs `scadaotel-testbench run --scenario
// testbench/scenarios/smoke.yaml` against the real scadaotel and Jaeger
// binaries: it must exit 0 within 2 minutes, and the checks whose parts
// exist must have passed (never "not built" for parts that are there).
func TestSmokeScenario(t *testing.T) {
	root := e2e.RepoRoot(t)
	app := e2e.Binary(t)
	jaeger := e2e.JaegerBinary(t)
	tb := testbenchBinary(t, root)
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tb, "run", "--scenario", filepath.Join(root, "testbench", "scenarios", "smoke.yaml"), "--out", out)
	cmd.Env = append(os.Environ(), "SCADAOTEL_BIN="+app, "JAEGER_BIN="+jaeger)
	start := time.Now()
	output, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("smoke scenario failed after %v: %v\n%s", took, err, output)
	}
	if took > 2*time.Minute {
		t.Errorf("smoke took %v, budget 2m", took)
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
	for _, name := range []string{"appliance_healthy", "rtu_readback", "traffic_sent", "traces_stored"} {
		if status[name] != scenario.StatusPass {
			t.Errorf("check %s: %q, want pass\n%s", name, status[name], output)
		}
	}
	has := map[string]bool{}
	for _, c := range rep.Components {
		has[c] = true
	}
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
	for name, st := range status {
		if st != scenario.StatusPass && st != scenario.StatusFail && st != scenario.StatusNotBuilt && st != scenario.StatusNotRun {
			t.Errorf("check %s has unknown status %q", name, st)
		}
	}
	t.Logf("smoke took %v; report:\n%s", took, rep.Markdown())
}
