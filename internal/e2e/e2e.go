// Package e2e runs the real scadaotel binary (and Jaeger) for end-to-end
// tests: it locates or builds the binaries, picks free loopback ports,
// starts processes with their logs captured, waits for health, and stops
// them the way an operator would (SIGTERM), checking the exit.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/internal/freeport"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); bytes.Contains(b, []byte("module github.com/scadaotel/scadaotel\n")) {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the scadaotel repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the scadaotel binary: $SCADAOTEL_BIN when set (make test
// sets it), else one built from ./collector once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SCADAOTEL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SCADAOTEL_BIN=%s: %v", p, err)
		}
		return p
	}
	root := RepoRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scadaotel-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "scadaotel")
		cmd := exec.Command("go", "build", "-o", buildPath, "./collector")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./collector: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// JaegerBinary returns the Jaeger binary: $JAEGER_BIN, else <root>/bin/jaeger.
// It fails (never skips) when neither exists: `make build` makes it.
func JaegerBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("JAEGER_BIN")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "jaeger")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("jaeger binary not found at %s (run `make build` first, or set JAEGER_BIN): %v", p, err)
	}
	return p
}

// VictoriaMetricsBinary returns the single-node VictoriaMetrics server built
// by `make bin/victoria-metrics` from the module version the appliance embeds
// (or $VICTORIAMETRICS_BIN), failing the test when it is missing.
func VictoriaMetricsBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("VICTORIAMETRICS_BIN")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "victoria-metrics")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("victoria-metrics binary not found at %s (run `make test`, or `make $PWD/bin/victoria-metrics`, or set VICTORIAMETRICS_BIN): %v", p, err)
	}
	return p
}

// TestbenchBinary returns $TESTBENCH_BIN, or bin/scadaotel-testbench under
// the repository root (make test builds it).
func TestbenchBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TESTBENCH_BIN")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "scadaotel-testbench")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("scadaotel-testbench binary not found at %s (run `make build`, or set TESTBENCH_BIN): %v", p, err)
	}
	return p
}

// TelemetrygenBinary returns the OpenTelemetry project's telemetrygen (an
// OTLP client this project did not write): $TELEMETRYGEN_BIN, else
// <root>/bin/telemetrygen, which `make test-deps` installs at the version
// pinned in scripts/test-tools.sh. It fails (never skips) when missing.
func TelemetrygenBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TELEMETRYGEN_BIN")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "telemetrygen")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("telemetrygen not found at %s (run `make test-deps`, which installs the version pinned in scripts/test-tools.sh, or set TELEMETRYGEN_BIN): %v", p, err)
	}
	return p
}

// Program is a program a test runs and the Debian package that has it.
type Program struct{ Name, Package string }

// BrowserTools returns node and the ui/web directory for a browser test
// (Debian's /usr/bin/chromium driven by ui/web's playwright-core), failing
// (never skipping) with what to install when any of them, or of more, is
// missing.
func BrowserTools(t testing.TB, more ...Program) (node, web string) {
	t.Helper()
	web = filepath.Join(RepoRoot(t), "ui", "web")
	var missing []string
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium is missing: apt-get install -y chromium (or make test-deps)")
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "ui/web/node_modules/playwright-core is missing: run `npm ci` in ui/web (or make test-deps)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node is not on PATH: install Node.js >= 20 (Debian package nodejs, or make test-deps)")
	}
	for _, p := range more {
		if _, err := exec.LookPath(p.Name); err != nil {
			missing = append(missing, fmt.Sprintf("%s is not on PATH: apt-get install -y %s (or make test-deps)", p.Name, p.Package))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("browser tests cannot run:\n  %s", strings.Join(missing, "\n  "))
	}
	return node, web
}

// FreeAddr returns a free "127.0.0.1:port". The port is released before
// returning, so a process started right after can bind it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Process is a started child process with captured output.
type Process struct {
	Name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error // set when done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs bin with args and extra environment ("K=V"). The process is
// killed when the test ends if it is still running; its output is printed
// when the test failed.
func Start(t testing.TB, name, bin string, args []string, env ...string) *Process {
	t.Helper()
	p := &Process{Name: name, log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	// Test machines run as root; the appliance refuses root otherwise.
	p.cmd.Env = append(append(os.Environ(), "SCADAOTEL_ALLOW_ROOT=1"), env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, p.Output())
		}
	})
	return p
}

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.log.String() }

// Pid is the process id (to read its /proc entries).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// RSS is the process's resident set size from /proc (0 once it exited).
func (p *Process) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit code.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.Name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.Name, p.err)
	}
	return 0
}

// Stop sends SIGTERM and waits up to 15 s; it returns the exit code and how
// long the shutdown took.
func (p *Process) Stop(t testing.TB) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		t.Fatalf("SIGTERM %s: %v", p.Name, err)
	}
	code := p.Wait(t, 15*time.Second)
	return code, time.Since(start)
}

// Kill sends SIGKILL (a crash) and waits for the process to end.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.Wait(t, 10*time.Second)
}

// WaitHTTP polls url until it answers 200 or timeout passes; p, when not
// nil, must stay alive meanwhile.
func WaitHTTP(t testing.TB, p *Process, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			t.Fatalf("%s exited before %s answered:\n%s", p.Name, url, p.Output())
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s (last: %s)", url, timeout, last)
}

// Collector is a running scadaotel process.
type Collector struct {
	*Process
	ConfigPath string
	DataDir    string
	HealthURL  string
}

// StartCollector writes configYAML to a temp file and runs
// `scadaotel --config FILE --data-dir DIR`, then waits until the
// healthcheckv2 endpoint named in the config answers (when there is one).
// env entries ("K=V") are added to the environment; SCADAOTEL_DATA_DIR in
// env selects the data directory (default: a fresh temp dir).
func StartCollector(t testing.TB, configYAML string, env ...string) *Collector {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SCADAOTEL_DATA_DIR="); ok {
			dataDir = v
		}
	}
	return StartCollectorArgs(t, []string{"--config", cfgPath, "--data-dir", dataDir}, healthEndpoint(configYAML), env...)
}

// StartCollectorArgs runs scadaotel with explicit args and waits for
// healthAddr ("host:port" of healthcheckv2, "" for no wait).
func StartCollectorArgs(t testing.TB, args []string, healthAddr string, env ...string) *Collector {
	t.Helper()
	c := &Collector{}
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			c.ConfigPath = args[i+1]
		}
		if a == "--data-dir" && i+1 < len(args) {
			c.DataDir = args[i+1]
		}
	}
	c.Process = Start(t, "scadaotel", Binary(t), args, env...)
	if healthAddr != "" {
		c.HealthURL = "http://" + healthAddr + "/status"
		WaitHTTP(t, c.Process, c.HealthURL, 30*time.Second)
	}
	return c
}

// Restart starts the same collector again (same config and data dir),
// after the previous process has ended.
func (c *Collector) Restart(t testing.TB, env ...string) *Collector {
	t.Helper()
	if !c.Exited() {
		t.Fatal("Restart: previous process still running")
	}
	var args []string
	if c.ConfigPath != "" {
		args = append(args, "--config", c.ConfigPath)
	}
	if c.DataDir != "" {
		args = append(args, "--data-dir", c.DataDir)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(c.HealthURL, "http://"), "/status")
	return StartCollectorArgs(t, args, addr, env...)
}

func healthEndpoint(configYAML string) string {
	var cfg struct {
		Extensions map[string]struct {
			HTTP struct {
				Endpoint string `yaml:"endpoint"`
			} `yaml:"http"`
		} `yaml:"extensions"`
	}
	if err := yaml.Unmarshal([]byte(configYAML), &cfg); err != nil {
		return ""
	}
	for name, ext := range cfg.Extensions {
		if name == "healthcheckv2" || strings.HasPrefix(name, "healthcheckv2/") {
			return ext.HTTP.Endpoint
		}
	}
	return ""
}

// Jaeger is a running Jaeger (the trace store) on free loopback ports.
type Jaeger struct {
	*Process
	OTLPGRPC string // host:port
	OTLPHTTP string // host:port
	QueryURL string // http://host:port
	Health   string // host:port
	DataDir  string
	// OTLPAuthorization is the Authorization header Jaeger's OTLP
	// receiver requires (StartJaegerWithOTLPAuth), else "".
	OTLPAuthorization string
	env               []string
	configs           []string // overlays after tools/jaeger/config.yaml
}

// StartJaeger runs bin/jaeger with the repository's tools/jaeger/config.yaml
// (badger storage under a temp data dir) on free ports and waits for health.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	return StartJaegerIn(t, t.TempDir())
}

// StartJaegerIn is StartJaeger with a given data directory, so a test can
// stop Jaeger and start it again on the same storage.
func StartJaegerIn(t testing.TB, dataDir string) *Jaeger {
	t.Helper()
	j := &Jaeger{
		OTLPGRPC: FreeAddr(t), OTLPHTTP: FreeAddr(t), Health: FreeAddr(t), DataDir: dataDir,
	}
	query, queryGRPC := FreeAddr(t), FreeAddr(t)
	j.QueryURL = "http://" + query
	j.env = []string{
		"SCADAOTEL_DATA_DIR=" + dataDir,
		"JAEGER_OTLP_GRPC_ENDPOINT=" + j.OTLPGRPC,
		"JAEGER_OTLP_HTTP_ENDPOINT=" + j.OTLPHTTP,
		"JAEGER_QUERY_HTTP_ENDPOINT=" + query,
		"JAEGER_QUERY_GRPC_ENDPOINT=" + queryGRPC,
		"JAEGER_HEALTH_ENDPOINT=" + j.Health,
	}
	j.start(t)
	return j
}

// StartJaegerWithOTLPAuth is StartJaeger with tools/jaeger/otlp-auth.yaml,
// as `make run` starts it: the OTLP receiver requires HTTP Basic
// credentials, whose header is j.OTLPAuthorization.
func StartJaegerWithOTLPAuth(t testing.TB) *Jaeger {
	t.Helper()
	dir := t.TempDir()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	secret := hex.EncodeToString(b[:])
	htpasswd := filepath.Join(dir, "jaeger-otlp.htpasswd")
	if err := os.WriteFile(htpasswd, []byte("scadaotel:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := &Jaeger{
		OTLPGRPC: FreeAddr(t), OTLPHTTP: FreeAddr(t), Health: FreeAddr(t), DataDir: dir,
		OTLPAuthorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("scadaotel:"+secret)),
		configs:           []string{filepath.Join(RepoRoot(t), "tools", "jaeger", "otlp-auth.yaml")},
	}
	query, queryGRPC := FreeAddr(t), FreeAddr(t)
	j.QueryURL = "http://" + query
	j.env = []string{
		"SCADAOTEL_DATA_DIR=" + dir,
		"JAEGER_OTLP_GRPC_ENDPOINT=" + j.OTLPGRPC,
		"JAEGER_OTLP_HTTP_ENDPOINT=" + j.OTLPHTTP,
		"JAEGER_QUERY_HTTP_ENDPOINT=" + query,
		"JAEGER_QUERY_GRPC_ENDPOINT=" + queryGRPC,
		"JAEGER_HEALTH_ENDPOINT=" + j.Health,
		"JAEGER_OTLP_HTPASSWD_FILE=" + htpasswd,
	}
	j.start(t)
	return j
}

// StartJaegerWithTLS is StartJaeger with TLS on its OTLP gRPC receiver
// (certFile and keyFile), as a Jaeger on another machine would run.
func StartJaegerWithTLS(t testing.TB, certFile, keyFile string) *Jaeger {
	t.Helper()
	dir := t.TempDir()
	overlay := filepath.Join(dir, "otlp-tls.yaml")
	body := "receivers:\n  otlp:\n    protocols:\n      grpc:\n        tls:\n" +
		"          cert_file: " + certFile + "\n          key_file: " + keyFile + "\n"
	if err := os.WriteFile(overlay, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	j := &Jaeger{
		OTLPGRPC: FreeAddr(t), OTLPHTTP: FreeAddr(t), Health: FreeAddr(t), DataDir: dir,
		configs: []string{overlay},
	}
	query, queryGRPC := FreeAddr(t), FreeAddr(t)
	j.QueryURL = "http://" + query
	j.env = []string{
		"SCADAOTEL_DATA_DIR=" + dir,
		"JAEGER_OTLP_GRPC_ENDPOINT=" + j.OTLPGRPC,
		"JAEGER_OTLP_HTTP_ENDPOINT=" + j.OTLPHTTP,
		"JAEGER_QUERY_HTTP_ENDPOINT=" + query,
		"JAEGER_QUERY_GRPC_ENDPOINT=" + queryGRPC,
		"JAEGER_HEALTH_ENDPOINT=" + j.Health,
	}
	j.start(t)
	return j
}

func (j *Jaeger) start(t testing.TB) {
	t.Helper()
	args := []string{"--config", filepath.Join(RepoRoot(t), "tools", "jaeger", "config.yaml")}
	for _, c := range j.configs {
		args = append(args, "--config", c)
	}
	j.Process = Start(t, "jaeger", JaegerBinary(t), args, j.env...)
	WaitHTTP(t, j.Process, "http://"+j.Health+"/status", 30*time.Second)
}

// Restart starts Jaeger again on the same ports and storage after Stop.
func (j *Jaeger) Restart(t testing.TB) {
	t.Helper()
	if !j.Exited() {
		t.Fatal("Jaeger Restart: previous process still running")
	}
	j.start(t)
}

// Eventually retries f every 100 ms until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	EventuallyEvery(t, timeout, 100*time.Millisecond, f)
}

// EventuallyEvery is Eventually polling every interval.
func EventuallyEvery(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not true within %s: %v", timeout, err)
		case <-time.After(interval):
		}
	}
}
