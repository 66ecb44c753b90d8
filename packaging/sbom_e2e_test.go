//go:build e2e

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestSBOM runs `make sbom` as a release engineer would: both SBOMs are
// written, valid CycloneDX, and name the pinned module versions (the
// script fails otherwise); a damaged SBOM fails the same schema check.
func TestSBOM(t *testing.T) {
	root := e2e.RepoRoot(t)
	dist := t.TempDir()
	cmd := exec.Command("make", "sbom", "DIST="+dist, "BIN="+filepath.Dir(e2e.JaegerBinary(t)))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make sbom: %v\n%s", err, out)
	}
	for _, want := range []string{"scadaotel.cdx.json: valid", "jaeger.cdx.json: valid", "github.com/VictoriaMetrics/VictoriaMetrics v1.151.0",
		"github.com/IBM/sarama v", "go.opentelemetry.io/collector/otelcol v0.165.0", "github.com/jaegertracing/jaeger v"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make sbom output lacks %q:\n%s", want, out)
		}
	}
	// The schema check can fail: a component without its required type.
	body, err := os.ReadFile(filepath.Join(dist, "scadaotel.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dist, "bad.cdx.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(body), `"type": "library"`, `"type": 7`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	schemas, err := exec.Command("go", "list", "-C", filepath.Join(root, "tools/supplychain"), "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := exec.Command("go", "run", "-C", filepath.Join(root, "tools/supplychain"), "./validate", filepath.Join(strings.TrimSpace(string(schemas)), "schema"), bad)
	if out, err := v.CombinedOutput(); err == nil || !strings.Contains(string(out), "validation failed") {
		t.Errorf("a damaged SBOM passed the schema check: %v\n%s", err, out)
	}
}
