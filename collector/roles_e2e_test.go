//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// TestNamedTokensAndRoles (issue 22): a tenant with named tokens beside
// its old token_sha256 one. Through the binary: an ingest token writes and
// reads nothing (403 naming its roles), a viewer token reads and writes
// nothing, the old token does both; the UI refuses an ingest token with
// the reason, and the audit trail names the token that logged in and the
// tokens refused for their roles.
func TestNamedTokensAndRoles(t *testing.T) {
	const ingestTok, viewerTok = "gw-token-5d1a", "viewer-token-77c2"
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
			"      - {name: rtu-gateway-7, sha256: "+tenants.HashToken(ingestTok)+", roles: [ingest]}\n"+
			"      - {name: zhang.wei, sha256: "+tenants.HashToken(viewerTok)+", roles: [viewer]}\n"+
			"  - id: east-pipeline-02\n"), 1)
	if err := os.WriteFile(env.tenantsFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	e2e.StartCollectorArgs(t, nil, env.health, env.vars(jaeger, data, kafka.ListenAddrs()[0])...)

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
		spans, _ := makeSpans(resource.NewSchemaless(attribute.String("service.name", "rtu-gateway")), "roles")
		return exp.ExportSpans(ctx, spans)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		tok         string
		write, read bool
	}{{ingestTok, true, false}, {viewerTok, false, true}, {westToken, true, true}} {
		err := export(tc.tok)
		if tc.write && err != nil {
			t.Errorf("token %s: OTLP export refused: %v", tc.tok, err)
		}
		if !tc.write && (err == nil || !strings.Contains(err.Error(), "403")) {
			t.Errorf("token %s: OTLP export: %v, want 403", tc.tok, err)
		}
		for _, u := range []string{"http://" + env.query + "/api/v1/query?query=up", "http://" + env.traceQuery + "/api/services",
			"http://" + env.alerts + "/api/v1/alerts"} {
			code, b, err := get(plain, u, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if tc.read && code != http.StatusOK {
				t.Errorf("token %s: GET %s: %d %s", tc.tok, u, code, b)
			}
			if !tc.read && (code != http.StatusForbidden || !strings.Contains(b, "needs viewer") || !strings.Contains(b, "rtu-gateway-7")) {
				t.Errorf("token %s: GET %s: %d %s, want 403 with the reason", tc.tok, u, code, b)
			}
		}
	}
	login := func(tok string) (int, string) {
		b, _ := json.Marshal(map[string]string{"token": tok})
		resp, err := plain.Post("http://"+env.ui+"/ui/api/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		s, _ := m["error"].(string)
		return resp.StatusCode, s
	}
	if code, msg := login(ingestTok); code != http.StatusForbidden || !strings.Contains(msg, "needs viewer") {
		t.Errorf("UI login with an ingest token: %d %q", code, msg)
	}
	if code, msg := login(viewerTok); code != http.StatusOK {
		t.Errorf("UI login with a viewer token: %d %q", code, msg)
	}
	// Who is logged in, for the page.
	for tok, want := range map[string]string{viewerTok: `"roles":["viewer"],"tenant":"west-pipeline-01","token":"zhang.wei"`,
		westToken: `"roles":["ingest","operator","viewer"],"tenant":"west-pipeline-01","token":""`} {
		if code, b, err := get(plain, "http://"+env.ui+"/ui/api/me", tok); err != nil || code != http.StatusOK || !strings.Contains(b, want) {
			t.Errorf("/ui/api/me: %d %s %v, want %s", code, b, err, want)
		}
	}
	// The audit trail names the token that logged in.
	e2e.Eventually(t, 20*time.Second, func() error {
		files, _ := filepath.Glob(filepath.Join(data, "audit", "*"))
		var all []byte
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		// The login by the token's name; role refusals with the token's
		// name: a read by the ingest token, a write by the viewer token.
		var login, reads, writes bool
		for _, line := range strings.Split(string(all), "\n") {
			has := func(subs ...string) bool {
				for _, s := range subs {
					if !strings.Contains(line, s) {
						return false
					}
				}
				return true
			}
			login = login || has(`"actor":"zhang.wei","tenant":"west-pipeline-01"`, `"action":"login"`, `"outcome":"success"`)
			reads = reads || has(`"actor":"rtu-gateway-7"`, `"action":"role_refused"`, `"object":"viewer"`)
			writes = writes || has(`"actor":"zhang.wei"`, `"action":"role_refused"`, `"object":"ingest"`)
		}
		if !login || !reads || !writes {
			return errString(fmt.Sprintf("audit trail: login of zhang.wei %v, role refusals: read %v, write %v", login, reads, writes))
		}
		return nil
	})
	plain.CloseIdleConnections()
}

type errString string

func (e errString) Error() string { return string(e) }
