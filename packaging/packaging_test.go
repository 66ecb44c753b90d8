// Package packaging holds the systemd units and the release layout; its
// test checks what an auditor checks in the units.
package packaging

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func directives(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", file, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

func TestUnitsAreHardened(t *testing.T) {
	for file, dataDir := range map[string]string{
		"scadaotel.service":        "/var/lib/scadaotel",
		"scadaotel-jaeger.service": "/var/lib/scadaotel-jaeger",
	} {
		d := directives(t, file)
		for k, want := range map[string]string{
			"User": "scadaotel", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
			"PrivateTmp": "yes", "Restart": "on-failure", "CapabilityBoundingSet": "", "ReadWritePaths": dataDir,
		} {
			if got := d[k]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s=%q, want %q", file, k, got, want)
			}
		}
		if exec := strings.Join(d["ExecStart"], ""); strings.Contains(exec, "allow-root") || !strings.HasPrefix(exec, "/opt/scadaotel/bin/") {
			t.Errorf("%s: ExecStart=%q", file, exec)
		}
	}
}
