package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// fakeRoot is a PATH with the few real tools the scripts use and fake
// id, dpkg, apt-get, systemctl, npm and go that log their calls; no test
// dependency (kcat, chromium, ...) is on it.
func fakeRoot(t *testing.T) (bin, log string) {
	dir := t.TempDir()
	bin = filepath.Join(dir, "bin")
	log = filepath.Join(dir, "calls.log")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "sh", "dirname", "chmod", "rm", "cat", "mkdir"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	fakes := map[string]string{
		"id":   `echo 0`,
		"dpkg": `exit 1`, // no package installed
		// apt-get install checks what a package's postinst would see:
		// the service start policy.
		"apt-get": `echo "apt-get $*" >>"$CALLS"
if [ "$1" = install ]; then
  if [ -x "$SCADAOTEL_POLICY_RC_D" ]; then "$SCADAOTEL_POLICY_RC_D" prometheus start; echo "policy-rc.d says $?" >>"$CALLS"
  else echo "no policy-rc.d" >>"$CALLS"; fi
fi`,
		"systemctl": `echo "systemctl $*" >>"$CALLS"`,
		"npm":       `echo "npm $*" >>"$CALLS"`,
		// go version -m answers as for a telemetrygen built at
		// $FAKE_TG_VERSION.
		"go": `echo "GOBIN=$GOBIN go $*" >>"$CALLS"
if [ "$1 $2" = "version -m" ]; then
  printf '%s: go1.26.8\n\tpath\tgithub.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen\n\tmod\tgithub.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen\t%s\th1:x=\n' "$3" "$FAKE_TG_VERSION"
fi`,
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, log
}

func calls(t *testing.T, log string) string {
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallTestDepsLeavesNoService: make test-deps installs the missing
// packages with a policy-rc.d that forbids starting services, removes that
// policy afterwards, and disables Debian's prometheus service (now, with a
// running systemd; offline, without).
func TestInstallTestDepsLeavesNoService(t *testing.T) {
	for _, withSystemd := range []bool{true, false} {
		t.Run(map[bool]string{true: "systemd", false: "no systemd"}[withSystemd], func(t *testing.T) {
			bin, log := fakeRoot(t)
			dir := t.TempDir()
			policy := filepath.Join(dir, "policy-rc.d")
			run := filepath.Join(dir, "run-systemd-system")
			toolBin := filepath.Join(dir, "bin")
			if withSystemd {
				if err := os.Mkdir(run, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(filepath.Join(e2e.RepoRoot(t), "scripts", "install-test-deps.sh"))
			cmd.Env = []string{"PATH=" + bin, "CALLS=" + log, "SCADAOTEL_POLICY_RC_D=" + policy, "SCADAOTEL_SYSTEMD_RUN_DIR=" + run, "BIN=" + toolBin}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("install-test-deps.sh: %v\n%s", err, out)
			}
			c := calls(t, log)
			for _, want := range []string{"apt-get install", "prometheus", "kcat", "chromium", "libnss3-tools", "gcc", "libc6-dev", "policy-rc.d says 101",
				"GOBIN=" + toolBin + " go install -trimpath github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0"} {
				if !strings.Contains(c, want) {
					t.Errorf("calls lack %q:\n%s", want, c)
				}
			}
			wantDisable := "systemctl disable prometheus.service"
			if withSystemd {
				wantDisable = "systemctl disable --now prometheus.service"
			}
			if !strings.Contains(c, wantDisable) {
				t.Errorf("calls lack %q:\n%s", wantDisable, c)
			}
			if _, err := os.Stat(policy); !os.IsNotExist(err) {
				t.Errorf("policy-rc.d left behind (%v): no service could start on this machine any more", err)
			}
		})
	}

	// An existing policy-rc.d is the machine's: used as is, never removed.
	bin, log := fakeRoot(t)
	policy := filepath.Join(t.TempDir(), "policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e2e.RepoRoot(t), "scripts", "install-test-deps.sh"))
	cmd.Env = []string{"PATH=" + bin, "CALLS=" + log, "SCADAOTEL_POLICY_RC_D=" + policy, "SCADAOTEL_SYSTEMD_RUN_DIR=/nonexistent", "BIN=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install-test-deps.sh: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(policy); err != nil || string(b) != "#!/bin/sh\nexit 0\n" {
		t.Errorf("the machine's own policy-rc.d was changed: %v %q", err, b)
	}
}

// TestCheckTestDepsNamesWhatIsMissing: make test's check installs nothing,
// names each missing program and says to run make test-deps.
func TestCheckTestDepsNamesWhatIsMissing(t *testing.T) {
	bin, log := fakeRoot(t)
	cmd := exec.Command(filepath.Join(e2e.RepoRoot(t), "scripts", "check-test-deps.sh"))
	cmd.Env = []string{"PATH=" + bin, "CALLS=" + log, "BIN=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("check-test-deps.sh succeeded without kcat, chromium, ...:\n%s", out)
	}
	for _, want := range []string{"kcat", "promtool", "prometheus", "chromium", "certutil", "node", "gcc", "make test-deps",
		"sudo apt-get install --no-install-recommends kcat prometheus chromium libnss3-tools nodejs curl file gcc libc6-dev",
		"telemetrygen v0.161.0", "go install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if c := calls(t, log); c != "" {
		t.Errorf("the check ran installers:\n%s", c)
	}
}

// TestTelemetrygenPin: a telemetrygen built at another version than
// scripts/test-tools.sh pins is reported by the check and rebuilt by make
// test-deps; the pinned one is left alone.
func TestTelemetrygenPin(t *testing.T) {
	for _, version := range []string{"v0.160.0", "v0.161.0"} {
		t.Run(version, func(t *testing.T) {
			bin, log := fakeRoot(t)
			toolBin := t.TempDir()
			if err := os.WriteFile(filepath.Join(toolBin, "telemetrygen"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			env := []string{"PATH=" + bin, "CALLS=" + log, "BIN=" + toolBin, "FAKE_TG_VERSION=" + version,
				"SCADAOTEL_POLICY_RC_D=" + filepath.Join(t.TempDir(), "policy-rc.d"), "SCADAOTEL_SYSTEMD_RUN_DIR=/nonexistent"}
			check := exec.Command(filepath.Join(e2e.RepoRoot(t), "scripts", "check-test-deps.sh"))
			check.Env = env
			out, _ := check.CombinedOutput()
			stale := strings.Contains(string(out), "is not telemetrygen v0.161.0")
			if stale != (version != "v0.161.0") {
				t.Errorf("telemetrygen %s: check says stale=%v:\n%s", version, stale, out)
			}
			install := exec.Command(filepath.Join(e2e.RepoRoot(t), "scripts", "install-test-deps.sh"))
			install.Env = env
			if out, err := install.CombinedOutput(); err != nil {
				t.Fatalf("install-test-deps.sh: %v\n%s", err, out)
			}
			rebuilt := strings.Contains(calls(t, log), "go install")
			if rebuilt != (version != "v0.161.0") {
				t.Errorf("telemetrygen %s: make test-deps rebuilt it: %v\n%s", version, rebuilt, calls(t, log))
			}
		})
	}
}
