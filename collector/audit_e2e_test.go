//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

type auditRecord struct {
	Seq     uint64 `json:"seq"`
	Actor   string `json:"actor"`
	Tenant  string `json:"tenant"`
	Source  string `json:"source"`
	Action  string `json:"action"`
	Object  string `json:"object"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
	Detail  string `json:"detail"`
}

// TestAuditTrailThroughTheBinary (issue 22): each audited action of an
// operator, a hostile client and an administrator appears once in the
// trail, only the audit role reads it, its copy on Kafka (kafka_alerts
// audit.topic) holds the same records in order, and after kill -9 the chain
// still verifies; an edited record makes `audit verify` name it.
func TestAuditTrailThroughTheBinary(t *testing.T) {
	const auditToken, systemToken = "auditor-token-8c1f", "system-token-2b7e"
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans", "scada.audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	body, _ := os.ReadFile(env.tenantsFile)
	body = append(body, []byte("administrators:\n"+
		"  - {name: auditor-1, role: audit, token_sha256: ["+tenants.HashToken(auditToken)+"]}\n"+
		"  - {name: ops-1, role: system, token_sha256: ["+tenants.HashToken(systemToken)+"]}\n")...)
	if err := os.WriteFile(env.tenantsFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	// The trail's copy off the box goes to Kafka too.
	args := []string{"--config", "embedded:default", "--set", "exporters::kafka_alerts::audit::topic=scada.audit",
		"--set", "exporters::kafka_alerts::audit::poll_interval=200ms"}
	app := e2e.StartCollectorArgs(t, args, env.health, append(env.vars(jaeger, data, kafka.ListenAddrs()[0]), "SCADAOTEL_AUDIT_FAILURE_WINDOW=3s")...)
	ui := "http://" + env.ui

	// A hostile client tries 50 wrong tokens on OTLP/HTTP.
	ctx := context.Background()
	bad, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer not-a-token"}),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bad.Shutdown(context.Background()) })
	spans, _ := makeSpans(resource.NewSchemaless(attribute.String("service.name", "probe")), "probe")
	for range 50 {
		if err := bad.ExportSpans(ctx, spans); err == nil {
			t.Fatal("a wrong token was accepted")
		}
	}
	// An operator logs in to the UI with a wrong token, then the right one, then out.
	post := func(path, token string, cookie *http.Cookie) *http.Response {
		b, _ := json.Marshal(map[string]string{"token": token})
		req, _ := http.NewRequest(http.MethodPost, ui+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/ui/api/login", "wrong", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d", r.StatusCode)
	}
	r := post("/ui/api/login", westToken, nil)
	if r.StatusCode != http.StatusOK || len(r.Cookies()) == 0 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	post("/ui/api/logout", "", r.Cookies()[0])
	// The tenants file changes through the CLI (the running appliance reloads it).
	cli := exec.Command(e2e.Binary(t), "tenants", "add", "north-pipeline-03", "--file", env.tenantsFile, "--audit-dir", filepath.Join(data, "audit"))
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("tenants add: %v\n%s", err, out)
	}
	// The system administrator may not read the audit trail.
	if code, b := getBody(t, ui+"/ui/api/audit", systemToken); code != http.StatusForbidden {
		t.Fatalf("audit trail for the system role: %d %s", code, b)
	}
	for _, tok := range []string{westToken, ""} {
		if code, _ := getBody(t, ui+"/ui/api/audit", tok); code == http.StatusOK {
			t.Fatalf("audit trail readable with token %q", tok)
		}
	}

	// The auditor reads every event once.
	var recs []auditRecord
	e2e.Eventually(t, 90*time.Second, func() error {
		code, b := getBody(t, ui+"/ui/api/audit?limit=1000", auditToken)
		if code != http.StatusOK {
			return fmt.Errorf("audit API: %d %s", code, b)
		}
		var v struct{ Records []auditRecord }
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return err
		}
		recs = v.Records
		n := 0
		for _, r := range recs {
			if r.Action == "auth_failure" && r.Count > 0 {
				n++
			}
			if r.Action == "tenants_reload" && strings.Contains(b, "north-pipeline-03") {
				n++
			}
		}
		if n < 2 { // the aggregated failures (after the window) and the reload
			return fmt.Errorf("waiting for the aggregated failures and the reload: %s", b)
		}
		return nil
	})
	count := map[string]int{}
	for _, r := range recs {
		count[r.Action+"/"+r.Outcome]++
		switch r.Action {
		case "login":
			if r.Outcome == "success" && (r.Tenant != "west-pipeline-01" || r.Actor != tenants.TokenActor(westToken)) {
				t.Errorf("login record %+v", r)
			}
		case "auth_failure":
			if r.Count != 0 && r.Count != 49 {
				t.Errorf("aggregated failures %+v, want the 49 after the first", r)
			}
		case "config_load":
			if !strings.HasPrefix(r.Object, "sha256:") || r.Detail != "first start with this audit trail" || r.Actor != "appliance" {
				t.Errorf("config_load record %+v", r)
			}
		case "tenant_add":
			if r.Tenant != "north-pipeline-03" || !strings.HasPrefix(r.Actor, "cli:") {
				t.Errorf("tenant_add record %+v", r)
			}
		}
	}
	for key, want := range map[string]int{"config_load/success": 1, "auth_failure/refused": 2, "login/refused": 1, "login/success": 1, "logout/success": 1,
		"tenant_add/success": 1, "tenants_reload/success": 1, "role_refused/refused": 1} {
		if count[key] != want {
			t.Errorf("%s: %d records, want %d (all: %v)", key, count[key], want, count)
		}
	}

	// The Kafka copy holds every record the auditor read, once, in chain order.
	cons, err := sarama.NewConsumer(kafka.ListenAddrs(), sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.audit", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	last := recs[len(recs)-1].Seq
	var copied []auditRecord
	for len(copied) == 0 || copied[len(copied)-1].Seq < last {
		select {
		case m := <-pc.Messages():
			var r auditRecord
			if err := json.Unmarshal(m.Value, &r); err != nil {
				t.Fatalf("audit record on Kafka: %v: %s", err, m.Value)
			}
			copied = append(copied, r)
		case <-time.After(30 * time.Second):
			t.Fatalf("the Kafka copy of the audit trail stops at %d records, the trail has %d", len(copied), len(recs))
		}
	}
	for i, r := range recs {
		if i >= len(copied) || copied[i] != r {
			t.Fatalf("Kafka copy of the audit trail differs at record %d: %+v, trail %+v", i, copied[min(i, len(copied)-1)], r)
		}
	}

	// kill -9, then the chain verifies; an edited record is named.
	_ = syscall.Kill(app.Process.Pid(), syscall.SIGKILL)
	app.Process.Wait(t, 10*time.Second)
	verify := func() (string, error) {
		out, err := exec.Command(e2e.Binary(t), "audit", "verify", "--dir", filepath.Join(data, "audit")).CombinedOutput()
		return string(out), err
	}
	out, err := verify()
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(data, "audit", "audit-*.jsonl"))
	b, _ := os.ReadFile(files[0])
	if err := os.WriteFile(files[0], bytes.Replace(b, []byte(`"action":"login","outcome":"success"`), []byte(`"action":"login","outcome":"failure"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = verify()
	if err == nil || !strings.Contains(out, "chain broken") {
		t.Fatalf("audit verify of an edited trail: %v\n%s", err, out)
	}
}
