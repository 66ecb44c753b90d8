//go:build e2e

// The tests of scripts/run.sh (make run) run it as a user would: with every
// port moved, with the default ports held by other programs, with a tenants
// file that another command created empty, and with a port taken.

package scripts_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// endpointVars are the host:port variables of the configs; portVars hold a
// bare port.
var (
	endpointVars = []string{
		"SCADAOTEL_OTLP_GRPC_ENDPOINT", "SCADAOTEL_OTLP_HTTP_ENDPOINT", "SCADAOTEL_HEALTH_ENDPOINT",
		"SCADAOTEL_REMOTE_WRITE_ENDPOINT", "SCADAOTEL_QUERY_ENDPOINT", "SCADAOTEL_TRACE_QUERY_ENDPOINT",
		"SCADAOTEL_ALERTS_ENDPOINT", "SCADAOTEL_ALARMS_ENDPOINT", "SCADAOTEL_UI_ENDPOINT",
		"JAEGER_OTLP_GRPC_ENDPOINT", "JAEGER_OTLP_HTTP_ENDPOINT", "JAEGER_QUERY_HTTP_ENDPOINT",
		"JAEGER_QUERY_GRPC_ENDPOINT", "JAEGER_HEALTH_ENDPOINT",
	}
	portVars = []string{"SCADAOTEL_METRICS_PORT", "SCADAOTEL_LOCAL_KAFKA_PORT"}
)

// movedPorts puts every address on a random free port.
func movedPorts(t *testing.T) map[string]string {
	env := map[string]string{}
	for _, v := range endpointVars {
		env[v] = e2e.FreeAddr(t)
	}
	for _, v := range portVars {
		_, p, _ := net.SplitHostPort(e2e.FreeAddr(t))
		env[v] = p
	}
	return env
}

func port(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

// hold listens on addr for the test's duration, as another program
// would; a port some other program already holds is held all the same.
func hold(t *testing.T, addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Logf("%s already held by another program: %v", addr, err)
		return
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
}

var (
	tbOnce sync.Once
	tbPath string
	tbErr  error
)

func testbenchBinary(t *testing.T) string {
	if p := os.Getenv("TESTBENCH_BIN"); p != "" {
		return p
	}
	tbOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scadaotel-testbench-bin-")
		if err != nil {
			tbErr = err
			return
		}
		tbPath = filepath.Join(dir, "scadaotel-testbench")
		cmd := exec.Command("go", "build", "-o", tbPath, "./testbench/cmd/scadaotel-testbench")
		cmd.Dir = e2e.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			tbErr = fmt.Errorf("go build testbench: %v\n%s", err, out)
		}
	})
	if tbErr != nil {
		t.Fatal(tbErr)
	}
	return tbPath
}

// binDir is a BIN directory for run.sh with the binaries under test.
func binDir(t *testing.T) string {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"scadaotel": e2e.Binary(t), "jaeger": e2e.JaegerBinary(t), "scadaotel-testbench": testbenchBinary(t),
	} {
		if err := os.Symlink(src, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// environ is the test's environment without the variables run.sh reads,
// plus env.
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SCADAOTEL_") || strings.HasPrefix(kv, "JAEGER_") ||
			strings.HasPrefix(kv, "BIN=") || strings.HasPrefix(kv, "DATA_DIR=") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type script struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startScript runs scripts/run.sh in its own process group, as a shell
// runs a foreground job: Ctrl-C is SIGINT to that whole group.
func startScript(t *testing.T, env map[string]string) *script {
	s := &script{out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("bash", "scripts/run.sh")
	s.cmd.Dir = e2e.RepoRoot(t)
	s.cmd.Env = environ(env)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(90 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("run.sh output:\n%s", s.out.String())
		}
	})
	return s
}

func (s *script) waitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.out.String(), want) {
		select {
		case <-s.done:
			t.Fatalf("run.sh exited (%v) before printing %q; output:\n%s", s.err, want, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("run.sh did not print %q within %v; output:\n%s", want, timeout, s.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *script) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("run.sh still runs after %v; output:\n%s", timeout, s.out.String())
	}
	return s.cmd.ProcessState.ExitCode()
}

// children returns the pids whose parent is pid.
func children(t *testing.T, pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, n)
		}
	}
	return out
}

func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// banner returns the "label  value" lines of the running banner.
func banner(t *testing.T, out string) map[string]string {
	t.Helper()
	i := strings.Index(out, "scadaotel is running")
	if i < 0 {
		t.Fatalf("no banner in:\n%s", out)
	}
	lines := strings.Split(out[i:], "\n")[1:]
	re := regexp.MustCompile(`^  (.{20}) (\S+)`) // a 20-column label, then the value
	got := map[string]string{}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			break
		}
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("banner line %q has no value", l)
		}
		got[strings.TrimSpace(m[1])] = m[2]
	}
	return got
}

func get(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Close = true // no idle connection (and its goroutines) left behind
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRunScriptMovedPorts: every port moved to a random free port while
// 13133, 13134 and 9092 are held by another program, and a tenants file
// that `scadaotel validate` created empty. make run comes up, prints the
// moved URLs (each answers, each once) and a token; Ctrl-C stops the
// appliance, then Jaeger, then the broker. A second start prints how to get
// a token, and the command it prints gives one the running appliance takes.
func TestRunScriptMovedPorts(t *testing.T) {
	for _, a := range []string{"127.0.0.1:13133", "127.0.0.1:13134", "127.0.0.1:9092"} {
		hold(t, a)
	}
	env := movedPorts(t)
	data := t.TempDir()
	env["BIN"] = binDir(t)
	env["DATA_DIR"] = data

	// `scadaotel validate` on a new data directory writes `tenants: []`.
	validate := exec.Command(filepath.Join(env["BIN"], "scadaotel"), "validate", "--data-dir", data)
	validate.Env = environ(env)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	tenantsFile := filepath.Join(data, "tenants.yaml")
	if b, err := os.ReadFile(tenantsFile); err != nil || !strings.Contains(string(b), "tenants: []") {
		t.Fatalf("validate did not create an empty tenants file: %v %q", err, b)
	}

	s := startScript(t, env)
	s.waitOutput(t, "Ctrl-C stops everything", 4*time.Minute)
	out := s.out.String()
	b := banner(t, out)
	want := map[string]string{
		"OTLP gRPC":            env["SCADAOTEL_OTLP_GRPC_ENDPOINT"],
		"OTLP HTTP":            "http://" + env["SCADAOTEL_OTLP_HTTP_ENDPOINT"],
		"health":               "http://" + env["SCADAOTEL_HEALTH_ENDPOINT"] + "/status",
		"self-metrics":         "http://127.0.0.1:" + env["SCADAOTEL_METRICS_PORT"] + "/metrics",
		"Prometheus query API": "http://" + env["SCADAOTEL_QUERY_ENDPOINT"] + "/api/v1/query",
		"remote write in":      "http://" + env["SCADAOTEL_REMOTE_WRITE_ENDPOINT"] + "/api/v1/write",
		"traces (tenant API)":  "http://" + env["SCADAOTEL_TRACE_QUERY_ENDPOINT"] + "/api/traces",
		"alert history API":    "http://" + env["SCADAOTEL_ALERTS_ENDPOINT"] + "/api/v1/alerts",
		"alarm operator API":   "http://" + env["SCADAOTEL_ALARMS_ENDPOINT"] + "/api/v1/alarms",
		"operator UI":          "http://" + env["SCADAOTEL_UI_ENDPOINT"] + "/",
		"Jaeger (all tenants)": "http://" + env["JAEGER_QUERY_HTTP_ENDPOINT"] + "/api/services",
		"Kafka alerts":         "127.0.0.1:" + env["SCADAOTEL_LOCAL_KAFKA_PORT"],
		"tenants file":         tenantsFile,
	}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("banner %q = %q, want %q", k, b[k], v)
		}
	}
	bannerText := out[strings.Index(out, "scadaotel is running"):]
	for _, v := range b {
		if strings.HasPrefix(v, "http://") {
			if n := strings.Count(bannerText, v+" ") + strings.Count(bannerText, v+"\n"); n != 1 {
				t.Errorf("URL %s printed %d times, want once", v, n)
			}
			code, _, _ := get(t, v, "") // any HTTP answer: the port is served
			t.Logf("%s answers %d", v, code)
		}
	}
	for _, p := range []string{"13133", "13134", "9092", "8080", "16686"} {
		if strings.Contains(bannerText, ":"+p+"/") || strings.Contains(bannerText, ":"+p+" ") {
			t.Errorf("the banner names default port %s although every port was moved", p)
		}
	}

	// The demo tenant's token: printed once, works on the printed APIs.
	m := regexp.MustCompile(`Demo tenant west-pipeline-01 created\. .*\n  (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo token after an empty tenants file:\n%s", out)
	}
	token := m[1]
	if tf, _ := os.ReadFile(tenantsFile); strings.Contains(string(tf), token) || !strings.Contains(string(tf), tenants.HashToken(token)) {
		t.Errorf("the tenants file must hold the token's hash only:\n%s", tf)
	}
	if code, hdr, body := get(t, want["Prometheus query API"]+"?query=1", ""); code != 401 || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("query API without a token: %d %q %s, want 401 with WWW-Authenticate", code, hdr.Get("WWW-Authenticate"), body)
	}
	if code, _, body := get(t, want["Prometheus query API"]+"?query=1", token); code != 200 {
		t.Errorf("query API with the demo token: %d %s", code, body)
	}
	if code, _, body := get(t, want["alert history API"], token); code != 200 || !strings.Contains(body, `"tenant":"west-pipeline-01"`) {
		t.Errorf("alert history API: %d %s", code, body)
	}
	if code, _, body := get(t, "http://"+env["SCADAOTEL_TRACE_QUERY_ENDPOINT"]+"/api/services", token); code != 200 {
		t.Errorf("trace API: %d %s", code, body)
	}

	// Jaeger's OTLP port takes only the appliance's spans (the secret run.sh
	// made): a span through the appliance is stored, one sent straight to
	// Jaeger without the secret is refused.
	const traceID = "5ca1ab1e0000000000000000000000a1"
	span := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"run-sh"}}]},` +
		`"scopeSpans":[{"spans":[{"traceId":"` + traceID + `","spanId":"00000000000000a1","name":"op","startTimeUnixNano":"` +
		strconv.FormatInt(time.Now().UnixNano(), 10) + `","endTimeUnixNano":"` + strconv.FormatInt(time.Now().UnixNano()+1000, 10) + `"}]}]}]}`
	post := func(url, auth string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(span))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Close = true
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("http://"+env["JAEGER_OTLP_HTTP_ENDPOINT"]+"/v1/traces", ""); code != http.StatusUnauthorized {
		t.Errorf("a span sent straight to Jaeger without the secret: %d, want 401", code)
	}
	if code := post("http://"+env["SCADAOTEL_OTLP_HTTP_ENDPOINT"]+"/v1/traces", "Bearer "+token); code != 200 {
		t.Errorf("a span through the appliance: %d", code)
	}
	e2e.Eventually(t, 30*time.Second, func() error {
		if code, _, body := get(t, "http://"+env["SCADAOTEL_TRACE_QUERY_ENDPOINT"]+"/api/traces/"+traceID, token); code != 200 {
			return fmt.Errorf("the appliance's span is not readable: %d %.200s", code, body)
		}
		return nil
	})
	for _, f := range []string{"jaeger-otlp.secret", "jaeger-otlp.htpasswd"} {
		if st, err := os.Stat(filepath.Join(data, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, err, st)
		}
	}

	// Each child in its own process group, alive after the banner.
	kids := children(t, s.cmd.Process.Pid)
	if len(kids) != 3 {
		t.Fatalf("run.sh has %d children %v, want broker, Jaeger and appliance", len(kids), kids)
	}
	for _, k := range kids {
		pg, err := syscall.Getpgid(k)
		if err != nil || pg == s.cmd.Process.Pid {
			t.Errorf("child %d in process group %d (err %v): Ctrl-C would reach it directly", k, pg, err)
		}
	}
	time.Sleep(2 * time.Second)
	for _, k := range kids {
		if !running(k) {
			t.Errorf("child %d died after the banner", k)
		}
	}

	stopAndCheckOrder(t, s, kids)

	// Second start: tenants exist and no token is shown, so the banner
	// says how to get one; that command works against the running stack.
	s2 := startScript(t, env)
	s2.waitOutput(t, "Ctrl-C stops everything", 4*time.Minute)
	out2 := s2.out.String()
	if strings.Contains(out2, "Demo tenant") {
		t.Errorf("second start created a demo tenant again:\n%s", out2)
	}
	m = regexp.MustCompile(`No token to show[^\n]*\n[^\n]*\n  (\S*scadaotel tenants rotate-token west-pipeline-01 --file \S+)\n`).FindStringSubmatch(out2)
	if m == nil {
		t.Fatalf("second start: no `tenants rotate-token` hint:\n%s", out2)
	}
	args := strings.Fields(m[1])
	rot := exec.Command(args[0], args[1:]...)
	rot.Dir = e2e.RepoRoot(t)
	rot.Env = environ(env)
	var rotOut, rotErr bytes.Buffer
	rot.Stdout, rot.Stderr = &rotOut, &rotErr
	if err := rot.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, rotErr.String())
	}
	newToken := strings.TrimSpace(rotOut.String())
	rotated := time.Now()
	var okAfter, refusedAfter time.Duration
	for time.Since(rotated) < 5*time.Second && (okAfter == 0 || refusedAfter == 0) {
		if code, _, _ := get(t, want["Prometheus query API"]+"?query=1", newToken); okAfter == 0 && code == 200 {
			okAfter = time.Since(rotated)
		}
		if code, _, _ := get(t, want["Prometheus query API"]+"?query=1", token); refusedAfter == 0 && code == 401 {
			refusedAfter = time.Since(rotated)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if okAfter == 0 || refusedAfter == 0 {
		t.Errorf("5 s after rotate-token: new token accepted after %v, old refused after %v (0: never)", okAfter, refusedAfter)
	}
	t.Logf("rotation: new token accepted after %v, old token refused after %v", okAfter, refusedAfter)
	stopAndCheckOrder(t, s2, children(t, s2.cmd.Process.Pid))
}

// stopAndCheckOrder sends Ctrl-C (SIGINT to the process group) and checks
// the appliance, Jaeger and the broker stopped in that order, cleanly.
func stopAndCheckOrder(t *testing.T, s *script, kids []int) {
	t.Helper()
	before := len(s.out.String())
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t, 2*time.Minute); code != 0 {
		t.Errorf("run.sh exit status %d after Ctrl-C, want 0", code)
	}
	out := s.out.String()[before:]
	last := -1
	for _, step := range []string{
		"stopping scadaotel", "scadaotel stopped (status 0)",
		"stopping jaeger", "jaeger stopped (status 0)",
		"stopping the local Kafka broker", "the local Kafka broker stopped (status 0)",
		"\nstopped.\n",
	} {
		i := strings.Index(out, step)
		if i < 0 || i < last {
			t.Errorf("stop output lacks %q after the previous step:\n%s", step, out)
			break
		}
		last = i
	}
	if strings.Contains(out, "connection refused") {
		t.Errorf("something lost its peer while stopping (wrong order?):\n%s", out)
	}
	for _, k := range kids {
		if running(k) {
			t.Errorf("process %d still runs after run.sh stopped", k)
		}
	}
}

// TestRunScriptBusyPort: with the broker's and the UI's ports taken,
// run.sh starts nothing, exits non-zero naming each port and the variable
// that moves it, and prints no "running" banner (nor creates a tenant whose
// token would be lost).
func TestRunScriptBusyPort(t *testing.T) {
	env := movedPorts(t)
	env["BIN"] = binDir(t)
	env["DATA_DIR"] = filepath.Join(t.TempDir(), "data")
	kafka := "127.0.0.1:" + env["SCADAOTEL_LOCAL_KAFKA_PORT"]
	hold(t, kafka)
	hold(t, env["SCADAOTEL_UI_ENDPOINT"])
	s := startScript(t, env)
	code := s.wait(t, time.Minute)
	out := s.out.String()
	if code == 0 {
		t.Errorf("exit status 0 with busy ports:\n%s", out)
	}
	for _, w := range []string{
		"port " + env["SCADAOTEL_LOCAL_KAFKA_PORT"] + " ", "SCADAOTEL_LOCAL_KAFKA_PORT",
		"port " + port(env["SCADAOTEL_UI_ENDPOINT"]) + " ", "SCADAOTEL_UI_ENDPOINT", "nothing was started",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "is running") {
		t.Errorf("a running banner with busy ports:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(env["DATA_DIR"], "tenants.yaml")); err == nil {
		t.Error("a tenants file (and a token nobody saw) was created although nothing started")
	}
}

// TestRunScriptFailedStart: Jaeger fails at start. run.sh exits non-zero
// naming it with the end of its log, prints no banner, stops the broker it
// had started, and still shows the demo tenant's token it created (which
// stays valid), so that the token is not lost.
func TestRunScriptFailedStart(t *testing.T) {
	env := movedPorts(t)
	env["BIN"] = binDir(t)
	env["DATA_DIR"] = t.TempDir()
	fake := filepath.Join(env["BIN"], "jaeger")
	if err := os.Remove(fake); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'jaeger: cannot open badger store: disk on fire' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startScript(t, env)
	code := s.wait(t, 2*time.Minute)
	out := s.out.String()
	if code == 0 {
		t.Errorf("exit status 0:\n%s", out)
	}
	for _, w := range []string{"error: jaeger exited during startup", "disk on fire", "stopping the local Kafka broker", "the local Kafka broker stopped"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "is running") {
		t.Errorf("a running banner although Jaeger failed:\n%s", out)
	}
	m := regexp.MustCompile(`The demo tenant west-pipeline-01 was created in .*\n  (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the token created before the failed start is not shown:\n%s", out)
	}
	tf, err := os.ReadFile(filepath.Join(env["DATA_DIR"], "tenants.yaml"))
	if err != nil || !strings.Contains(string(tf), tenants.HashToken(m[1])) {
		t.Errorf("the shown token is not the stored one: %v\n%s", err, tf)
	}
}

// TestRunScriptChildDies: a process that dies after the banner ends make
// run with an error naming it, and the others are stopped.
func TestRunScriptChildDies(t *testing.T) {
	env := movedPorts(t)
	env["BIN"] = binDir(t)
	env["DATA_DIR"] = t.TempDir()
	s := startScript(t, env)
	s.waitOutput(t, "Ctrl-C stops everything", 4*time.Minute)
	kids := children(t, s.cmd.Process.Pid)
	broker := -1
	for _, k := range kids {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); strings.Contains(string(b), "scadaotel-testbench") {
			broker = k
		}
	}
	if broker < 0 {
		t.Fatalf("no broker among run.sh's children %v", kids)
	}
	if err := syscall.Kill(broker, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	code := s.wait(t, 2*time.Minute)
	out := s.out.String()
	if code == 0 {
		t.Errorf("exit status 0 after the broker died")
	}
	if !strings.Contains(out, fmt.Sprintf("error: the local Kafka broker (pid %d) exited", broker)) {
		t.Errorf("the dead broker is not named:\n%s", out)
	}
	for _, w := range []string{"scadaotel stopped", "jaeger stopped"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	for _, k := range kids {
		if running(k) {
			t.Errorf("process %d still runs", k)
		}
	}
}
