//go:build e2e

package scadauiextension

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestBrowserRoles (issue 22) runs the real binary (a simulated RTU above
// an alarm limit, the alarm connector, tenantauth with a tenants file of
// named tokens and administrators, scada_ui) and drives Chromium
// (ui/web/test/roles.mjs): the header names the logged-in token, its
// tenant and roles; a viewer token sees the standing alarm but no
// Acknowledge / Shelve buttons (and the API still refuses it, 403), an
// operator token sees them; a session whose token is revoked goes back to
// the login form with a message; only an administrator with the audit role
// sees the audit view, which lists the trail as text.
func TestBrowserRoles(t *testing.T) {
	node, web := e2e.BrowserTools(t)
	const (
		tenant      = "west-pipeline-01"
		viewerTok   = "viewer-token-4c7e19"
		operatorTok = "operator-token-91aa02"
		auditTok    = "auditor-token-0b55d3"
		systemTok   = "system-token-6f1e70"
		alarmID     = "C7-discharge:H"
	)
	r := startRTU(t, 1234, 1) // 123.4 bar: above the H limit of 100
	health, uiAddr, alarmsAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	dataDir := t.TempDir()
	defsFile := filepath.Join(dataDir, "alarms.yaml")
	if err := os.WriteFile(defsFile, []byte(`tenants:
  west-pipeline-01:
    alarms:
      - id: C7-discharge
        series: 'scada_pressure_gauge{station="compressor-7", point="discharge"}'
        limits: {h: 100}
        priority: high
        message: {en: "Compressor-7 discharge high", zh-CN: "7号压缩机出口压力高"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tenantsFile := filepath.Join(dataDir, "tenants.yaml")
	operatorLine := "      - {name: li.operator, sha256: " + tenants.HashToken(operatorTok) + ", roles: [operator]}\n"
	tenantsBody := "tenants:\n" +
		"  - id: " + tenant + "\n" +
		"    tokens:\n" +
		"      - {name: zhang.viewer, sha256: " + tenants.HashToken(viewerTok) + ", roles: [viewer]}\n" +
		operatorLine +
		"administrators:\n" +
		"  - {name: auditor-1, role: audit, token_sha256: [" + tenants.HashToken(auditTok) + "]}\n" +
		"  - {name: ops-1, role: system, token_sha256: [" + tenants.HashToken(systemTok) + "]}\n"
	if err := os.WriteFile(tenantsFile, []byte(tenantsBody), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
  tenantauth:
    tenants_file: %[2]s
    reload_interval: 500ms
    audit: {directory: %[3]s/audit}
  scada_ui:
    endpoint: %[4]s
    trace_query_endpoint: ""
    alerts_endpoint: ""
    alarms_endpoint: http://%[5]s
    telemetry_endpoint: ""
receivers:
  scada:
    poll_groups: {pressure: 500ms, valve: 1s}
    rtus:
      - {name: rtu-a1, endpoint: tcp://%[6]s, unit_id: 1, tenant: %[7]s, station: compressor-7, timeout: 300ms, point_sets: [ps]}
    point_sets:
      ps:
        - {name: discharge, kind: pressure, register: holding, address: 0, type: int16, scale: 0.1, unit: bar}
        - {name: inlet_valve, kind: valve, register: holding, address: 10, type: uint16, states: {"0": closed, "1": open}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
connectors:
  alarm:
    definitions_file: %[8]s
    state: {directory: %[3]s/alarms}
    tick_interval: 100ms
    http: {endpoint: %[5]s, auth: {authenticator: tenantauth}}
exporters:
  victoriametrics: {}
  debug: {verbosity: basic}
service:
  extensions: [healthcheckv2, tenantauth, scada_ui]
  pipelines:
    metrics: {receivers: [scada], processors: [memory_limiter], exporters: [victoriametrics, alarm]}
    logs/alarms: {receivers: [alarm], exporters: [debug]}
`, health, tenantsFile, dataDir, uiAddr, alarmsAddr, r.addr, tenant, defsFile)
	col := e2e.StartCollector(t, cfg)
	base := "http://" + uiAddr

	call := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte("{}")))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The alarm stands (active, unacknowledged) before the browser looks.
	e2e.Eventually(t, 30*time.Second, func() error {
		code, b := call(http.MethodGet, "/ui/api/alarms?active=true", viewerTok)
		if code != http.StatusOK || !strings.Contains(b, `"state":"active_unacked"`) {
			return fmt.Errorf("alarm list: %d %s", code, b)
		}
		return nil
	})
	// Hidden is not allowed: the API refuses a viewer's action with the reason.
	if code, b := call(http.MethodPost, "/ui/api/alarms/"+url.PathEscape(alarmID)+"/ack", viewerTok); code != http.StatusForbidden || !strings.Contains(b, "needs operator") {
		t.Errorf("a viewer's acknowledge: %d %s, want 403 naming the operator role", code, b)
	}

	// An administrator's browser session opens its role's API only.
	cookieOf := func(token string) *http.Cookie {
		b, _ := json.Marshal(map[string]string{"token": token})
		resp, err := http.Post(base+"/ui/api/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
			t.Fatalf("login: %d %v", resp.StatusCode, resp.Cookies())
		}
		return resp.Cookies()[0]
	}
	withCookie := func(c *http.Cookie, path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	auditor := cookieOf(auditTok)
	for path, want := range map[string]int{"/ui/api/audit": http.StatusOK, "/ui/api/overview": http.StatusForbidden,
		"/ui/api/alarms": http.StatusForbidden, "/ui/api/tokens": http.StatusForbidden, "/ui/api/appliance": http.StatusForbidden} {
		if code, b := withCookie(auditor, path); code != want {
			t.Errorf("the audit administrator's session, GET %s: %d %s, want %d", path, code, b, want)
		}
	}
	if code, b := withCookie(auditor, "/ui/api/me"); code != http.StatusOK || !strings.Contains(b, `"administrator":"auditor-1"`) || !strings.Contains(b, `"role":"audit"`) {
		t.Errorf("/ui/api/me of the audit administrator: %d %s", code, b)
	}
	if code, b := call(http.MethodGet, "/ui/api/tokens", viewerTok); code != http.StatusForbidden || !strings.Contains(b, "needs tenant-admin") {
		t.Errorf("a viewer lists the tokens: %d %s", code, b)
	}

	art := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	// /revoke takes the operator's token out of the tenants file: its open
	// session ends at the next reload.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/revoke" {
			http.NotFound(w, r)
			return
		}
		body := strings.Replace(tenantsBody, operatorLine, "", 1)
		if err := tenants.WriteFileAtomic(tenantsFile, []byte(body), 0o600); err != nil {
			httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]string{})
	}))
	defer control.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(web, "test", "roles.mjs"))
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"UI_URL="+base, "TENANT="+tenant, "ALARM="+alarmID, "CONTROL_URL="+control.URL, "ARTIFACTS="+art,
		"VIEWER_TOKEN="+viewerTok, "VIEWER_NAME=zhang.viewer",
		"OPERATOR_TOKEN="+operatorTok, "OPERATOR_NAME=li.operator",
		"AUDIT_TOKEN="+auditTok, "AUDIT_NAME=auditor-1",
		"SYSTEM_TOKEN="+systemTok,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("roles.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("roles.mjs failed: %v", err)
	}
	if os.Getenv("UI_DOCS_SCREENSHOTS") == "1" {
		for _, n := range []string{"roles-viewer-en.png", "audit-zh-CN.png"} {
			b, err := os.ReadFile(filepath.Join(art, n))
			if err == nil {
				err = os.WriteFile(filepath.Join(e2e.RepoRoot(t), "extensions", "scadauiextension", "docs", n), b, 0o644)
			}
			if err != nil {
				t.Errorf("copy %s to extensions/scadauiextension/docs: %v", n, err)
			}
		}
	}
	// The trail names each login by its token (or administrator) name.
	recs := auditRecords(t, filepath.Join(dataDir, "audit"))
	for _, want := range []string{"zhang.viewer login success", "li.operator login success", "admin:auditor-1 login success", "zhang.viewer logout success"} {
		if !slices.Contains(recs, want) {
			t.Errorf("audit trail has no %q: %v", want, recs)
		}
	}
	if code, _ := col.Stop(t); code != 0 {
		t.Errorf("collector exit code %d", code)
	}
}

// auditRecords reads the audit files as "actor action outcome" lines.
func auditRecords(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r struct{ Actor, Action, Outcome string }
			if json.Unmarshal([]byte(line), &r) == nil {
				out = append(out, r.Actor+" "+r.Action+" "+r.Outcome)
			}
		}
	}
	return out
}
