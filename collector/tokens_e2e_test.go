//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestTokenLifecycleThroughTheAPIAndTheCommand (issue 22): through the
// binary, a tenant-admin token creates a named token on the UI's token
// API, which works at once (after the tenants-file reload) for what its
// roles allow and gets 403 for the rest; it is rotated (the old value
// refused) and removed; another tenant's tenant-admin gets 404 for its
// name like a missing one and never sees it; an operator, a system and an
// audit administrator are refused (403, audited); the security
// administrator manages any tenant's. `scadaotel tokens` does the same
// from the command line. Each change is in the audit trail exactly once
// with its actor, the file keeps its comments, and `audit verify` passes.
func TestTokenLifecycleThroughTheAPIAndTheCommand(t *testing.T) {
	const (
		westAdmin   = "west-admin-token-51c0"
		eastAdmin   = "east-admin-token-a3d9"
		westOp      = "west-operator-token-7e21"
		secToken    = "security-admin-token-90af"
		systemToken = "system-admin-token-c44e"
		auditToken  = "audit-admin-token-1b6d"
	)
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	body, _ := os.ReadFile(env.tenantsFile)
	body = bytes.Replace(body, []byte("  - id: east-pipeline-02\n"), []byte(
		"    tokens:\n"+
			"      - {name: west-admin, sha256: "+tenants.HashToken(westAdmin)+", roles: [tenant-admin]}\n"+
			"      - {name: li.operator, sha256: "+tenants.HashToken(westOp)+", roles: [operator]}\n"+
			"  - id: east-pipeline-02\n"+
			"    tokens:\n"+
			"      - {name: east-admin, sha256: "+tenants.HashToken(eastAdmin)+", roles: [tenant-admin]}\n"), 1)
	body = append([]byte("# site tenants, kept by hand\n"), body...)
	body = append(body, []byte("administrators:\n"+
		"  - {name: sec-1, role: security, token_sha256: ["+tenants.HashToken(secToken)+"]}\n"+
		"  - {name: ops-1, role: system, token_sha256: ["+tenants.HashToken(systemToken)+"]}\n"+
		"  - {name: auditor-1, role: audit, token_sha256: ["+tenants.HashToken(auditToken)+"]}\n")...)
	if err := os.WriteFile(env.tenantsFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	e2e.StartCollectorArgs(t, nil, env.health, env.vars(jaeger, data, kafka.ListenAddrs()[0])...)
	ui := "http://" + env.ui
	plain := &http.Client{Timeout: 10 * time.Second}
	defer plain.CloseIdleConnections()

	do := func(method, path, tok string, in any) (int, map[string]any, string) {
		t.Helper()
		var rd io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ui+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m, string(b)
	}
	export := func(tok string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
			otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + tok}),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		if err != nil {
			return err
		}
		defer exp.Shutdown(context.Background())
		spans, _ := makeSpans(resource.NewSchemaless(attribute.String("service.name", "rtu-gateway")), "tokens")
		return exp.ExportSpans(ctx, spans)
	}
	query := func(tok string) int {
		code, _, err := get(plain, "http://"+env.query+"/api/v1/query?query=up", tok)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	hex64 := regexp.MustCompile(`[0-9a-f]{64}`)

	// Nobody but a tenant-admin or the security administrator.
	for tok, want := range map[string]string{westOp: "needs tenant-admin", systemToken: "needs the security role", auditToken: "needs the security role"} {
		if code, _, b := do(http.MethodPost, "/ui/api/tokens", tok, map[string]any{"name": "x", "roles": []string{"viewer"}}); code != http.StatusForbidden || !strings.Contains(b, want) {
			t.Errorf("create by %s: %d %s, want 403 %q", tok, code, b, want)
		}
	}

	// The tenant-admin creates an ingest token; it works at once for ingest.
	code, m, b := do(http.MethodPost, "/ui/api/tokens", westAdmin, map[string]any{"name": "rtu-gw-9", "roles": []string{"ingest"}})
	if code != http.StatusCreated || m["tenant"] != "west-pipeline-01" || hex64.MatchString(b) {
		t.Fatalf("create: %d %s", code, b)
	}
	tok1, _ := m["token"].(string)
	if code, _, b := do(http.MethodPost, "/ui/api/tokens", westAdmin, map[string]any{"name": "rtu-gw-9", "roles": []string{"viewer"}}); code != http.StatusConflict {
		t.Errorf("duplicate name: %d %s, want 409", code, b)
	}
	e2e.Eventually(t, 15*time.Second, func() error { return export(tok1) })
	if code := query(tok1); code != http.StatusForbidden {
		t.Errorf("an ingest token reads the query API: %d", code)
	}

	// Listed for its tenant (names and roles, never a hash); invisible and
	// 404 like a missing name to the other tenant's tenant-admin, whatever
	// tenant it names.
	code, _, b = do(http.MethodGet, "/ui/api/tokens?tenant=east-pipeline-02", westAdmin, nil)
	if code != http.StatusOK || !strings.Contains(b, `{"name":"rtu-gw-9","roles":["ingest"]}`) || !strings.Contains(b, `"tenant":"west-pipeline-01"`) ||
		strings.Contains(b, "east-admin") || hex64.MatchString(b) {
		t.Errorf("west list: %d %s", code, b)
	}
	code, _, b = do(http.MethodGet, "/ui/api/tokens?tenant=west-pipeline-01", eastAdmin, nil)
	if code != http.StatusOK || strings.Contains(b, "rtu-gw-9") || strings.Contains(b, "west-admin") || !strings.Contains(b, "east-admin") {
		t.Errorf("east list: %d %s", code, b)
	}
	for _, probe := range []struct{ method, suffix string }{{http.MethodPost, "/rotate"}, {http.MethodDelete, ""}} {
		c1, _, foreign := do(probe.method, "/ui/api/tokens/rtu-gw-9"+probe.suffix, eastAdmin, nil)
		c2, _, missing := do(probe.method, "/ui/api/tokens/no-such-token"+probe.suffix, eastAdmin, nil)
		if c1 != http.StatusNotFound || c1 != c2 || strings.ReplaceAll(foreign, "rtu-gw-9", "N") != strings.ReplaceAll(missing, "no-such-token", "N") {
			t.Errorf("%s another tenant's token: %d %s; a missing one: %d %s", probe.method, c1, foreign, c2, missing)
		}
	}

	// Rotation: the old value is refused, the new one works.
	code, m, b = do(http.MethodPost, "/ui/api/tokens/rtu-gw-9/rotate", westAdmin, nil)
	tok2, _ := m["token"].(string)
	if code != http.StatusOK || tok2 == "" || tok2 == tok1 {
		t.Fatalf("rotate: %d %s", code, b)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if err := export(tok1); err == nil || !strings.Contains(err.Error(), "401") {
			return fmt.Errorf("the rotated token: %v, want 401", err)
		}
		return export(tok2)
	})

	// The security administrator, for any tenant.
	code, _, b = do(http.MethodGet, "/ui/api/tokens?tenant=west-pipeline-01", secToken, nil)
	if code != http.StatusOK || !strings.Contains(b, "rtu-gw-9") {
		t.Errorf("security administrator's list: %d %s", code, b)
	}
	code, m, b = do(http.MethodPost, "/ui/api/tokens?tenant=east-pipeline-02", secToken, map[string]any{"name": "east-viewer", "roles": []string{"viewer"}})
	tok3, _ := m["token"].(string)
	if code != http.StatusCreated || m["tenant"] != "east-pipeline-02" {
		t.Fatalf("security administrator's create: %d %s", code, b)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if c := query(tok3); c != http.StatusOK {
			return fmt.Errorf("the new viewer token reads the query API: %d", c)
		}
		return nil
	})
	if err := export(tok3); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a viewer token writes: %v, want 403", err)
	}

	// Removal.
	if code, _, b := do(http.MethodDelete, "/ui/api/tokens/rtu-gw-9", westAdmin, nil); code != http.StatusOK {
		t.Fatalf("remove: %d %s", code, b)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if err := export(tok2); err == nil || !strings.Contains(err.Error(), "401") {
			return fmt.Errorf("the removed token: %v, want 401", err)
		}
		return nil
	})

	// The command line, on the same file and the same audit trail.
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(e2e.Binary(t), append([]string{"tokens"}, append(args, "--tenants-file", env.tenantsFile, "--tenant", "east-pipeline-02")...)...)
		cmd.Env = append(os.Environ(), "SCADAOTEL_DATA_DIR="+data)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errOut.String())
		}
		return strings.TrimSpace(out.String()), err
	}
	tok4, err := cli("add", "--name", "cli-reader", "--roles", "viewer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli("add", "--name", "cli-reader", "--roles", "viewer"); err == nil || !strings.Contains(err.Error(), "already has a token named") {
		t.Errorf("duplicate name on the command line: %v", err)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if c := query(tok4); c != http.StatusOK {
			return fmt.Errorf("the command's token reads the query API: %d", c)
		}
		return nil
	})
	tok5, err := cli("rotate", "--name", "cli-reader")
	if err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if c1, c2 := query(tok4), query(tok5); c1 != http.StatusUnauthorized || c2 != http.StatusOK {
			return fmt.Errorf("after rotation: old %d (want 401), new %d (want 200)", c1, c2)
		}
		return nil
	})
	if out, err := cli("list"); err != nil || !strings.Contains(out, "cli-reader") || !strings.Contains(out, "east-viewer") || hex64.MatchString(out) {
		t.Errorf("tokens list: %v\n%s", err, out)
	}
	if _, err := cli("remove", "--name", "cli-reader"); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if c := query(tok5); c != http.StatusUnauthorized {
			return fmt.Errorf("the removed token: %d, want 401", c)
		}
		return nil
	})

	// The file keeps its comments; only hashes are in it.
	content, _ := os.ReadFile(env.tenantsFile)
	for _, s := range []string{"# site tenants, kept by hand", tenants.HashToken(tok3)} {
		if !strings.Contains(string(content), s) {
			t.Errorf("tenants file lost %q:\n%s", s, content)
		}
	}
	for _, tok := range []string{tok1, tok2, tok3, tok4, tok5} {
		if strings.Contains(string(content), tok) {
			t.Error("a token itself is in the tenants file")
		}
	}

	// Each change exactly once, with its actor; the refusals recorded.
	recs := readAudit(t, filepath.Join(data, "audit"))
	count := func(actor, action, object string) int {
		n := 0
		for _, r := range recs {
			if (r.Actor == actor || (actor == "cli:*" && strings.HasPrefix(r.Actor, "cli:"))) && r.Action == action && r.Object == object {
				n++
			}
		}
		return n
	}
	for _, c := range []struct{ actor, action, object string }{
		{"west-admin", "token_created", "rtu-gw-9"}, {"west-admin", "token_rotated", "rtu-gw-9"}, {"west-admin", "token_removed", "rtu-gw-9"},
		{"admin:sec-1", "token_created", "east-viewer"},
		{"cli:*", "token_created", "cli-reader"}, {"cli:*", "token_rotated", "cli-reader"}, {"cli:*", "token_removed", "cli-reader"},
	} {
		if n := count(c.actor, c.action, c.object); n != 1 {
			t.Errorf("audit trail: %d records of %s %s %s, want 1", n, c.actor, c.action, c.object)
		}
	}
	for _, c := range []struct{ actor, action, object string }{
		{"li.operator", "role_refused", "tenant-admin"}, {"admin:ops-1", "role_refused", "/ui/api/tokens"}, {"admin:auditor-1", "role_refused", "/ui/api/tokens"},
	} {
		if n := count(c.actor, c.action, c.object); n < 1 {
			t.Errorf("audit trail: no %s %s %s", c.actor, c.action, c.object)
		}
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "token_") && r.Action != "token_rotate" && r.Tenant == "" {
			t.Errorf("a token change without its tenant: %+v", r)
		}
	}
	out, err := exec.Command(e2e.Binary(t), "audit", "verify", "--dir", filepath.Join(data, "audit")).CombinedOutput()
	if err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}

// readAudit parses every record of the audit directory.
func readAudit(t *testing.T, dir string) []auditRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	var recs []auditRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r auditRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Errorf("audit record %q: %v", line, err)
				continue
			}
			recs = append(recs, r)
		}
	}
	return recs
}
