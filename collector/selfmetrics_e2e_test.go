//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
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

type applianceAnswer struct {
	Shared        bool   `json:"shared"`
	Administrator string `json:"administrator"`
	TenantIngest  []struct {
		Signal      string  `json:"signal"`
		AcceptedTot float64 `json:"accepted_total"`
	} `json:"tenant_ingest"`
	Receivers []struct {
		Receiver    string  `json:"receiver"`
		AcceptedTot float64 `json:"accepted_total"`
	} `json:"receivers"`
	Queues []json.RawMessage `json:"queues"`
	Disk   []json.RawMessage `json:"disk"`
}

func getBody(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSelfMetricsAndApplianceViewKeepTenantsApart (issue 19, points 13
// and 14): the unauthenticated self-metrics endpoint names no tenant, a
// tenant's Appliance view holds only its own figures (nothing summed over
// other tenants), and an administrator token reads the appliance-wide
// figures but no tenant data.
func TestSelfMetricsAndApplianceViewKeepTenantsApart(t *testing.T) {
	const adminToken = "admin-token-5e1d7a"
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	body, _ := os.ReadFile(env.tenantsFile)
	body = append(body, []byte("administrators:\n  - name: ops-night\n    token_sha256: ["+tenants.HashToken(adminToken)+"]\n")...)
	if err := os.WriteFile(env.tenantsFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := env.vars(jaeger, t.TempDir(), kafka.ListenAddrs()[0])
	app := e2e.StartCollectorArgs(t, nil, env.health, vars...)

	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + westToken}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	res := resource.NewSchemaless(attribute.String("service.name", "rtu-gateway"))
	for i := range 5 {
		spans, _ := makeSpans(res, fmt.Sprintf("poll-%d", i))
		if err := exp.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}

	// The self-metrics endpoint counts west's requests per tenant, under a
	// pseudonym: no tenant id anywhere in it.
	metricsURL := "http://" + env.metrics + "/metrics"
	e2e.Eventually(t, 20*time.Second, func() error {
		_, text := getBody(t, metricsURL, "")
		if !strings.Contains(text, `scadaotel_tenantstamp_accepted_requests{`) {
			return fmt.Errorf("no per-tenant figures yet")
		}
		return nil
	})
	_, text := getBody(t, metricsURL, "")
	for _, id := range []string{"west-pipeline-01", "east-pipeline-02", "ops-night"} {
		if strings.Contains(text, id) {
			t.Errorf("the unauthenticated self-metrics endpoint names %q", id)
		}
	}
	if !strings.Contains(text, `tenant="t-`) {
		t.Errorf("per-tenant self-metrics carry no pseudonym:\n%s", text)
	}

	appliance := "http://" + env.ui + "/ui/api/appliance"
	read := func(token string) (applianceAnswer, string) {
		code, b := getBody(t, appliance, token)
		if code != http.StatusOK {
			t.Fatalf("appliance view: HTTP %d %s", code, b)
		}
		var v applianceAnswer
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Fatal(err)
		}
		return v, b
	}
	// West sees its own spans once the UI has scraped them.
	e2e.Eventually(t, 30*time.Second, func() error {
		v, _ := read(westToken)
		for _, r := range v.TenantIngest {
			if r.Signal == "traces" && r.AcceptedTot >= 5 {
				return nil
			}
		}
		return fmt.Errorf("west's ingest not shown yet: %+v", v.TenantIngest)
	})
	// East sees nothing of west: no ingest, and no appliance-wide figure
	// (receivers, queues, disk) that adds west's load in.
	east, raw := read(eastToken)
	for _, r := range east.TenantIngest {
		if r.AcceptedTot != 0 {
			t.Errorf("east's view shows accepted items: %s", raw)
		}
	}
	if east.Shared || len(east.Receivers) != 0 || len(east.Queues) != 0 || len(east.Disk) != 0 {
		t.Errorf("east's view shows appliance-wide figures by default: %s", raw)
	}
	if strings.Contains(raw, "west-pipeline-01") {
		t.Errorf("east's view names west: %s", raw)
	}
	// The administrator sees the appliance-wide figures, west's spans among them.
	e2e.Eventually(t, 20*time.Second, func() error {
		v, raw := read(adminToken)
		if v.Administrator != "ops-night" || !v.Shared || len(v.Receivers) == 0 || len(v.Disk) == 0 {
			return fmt.Errorf("administrator's view: %s", raw)
		}
		return nil
	})
	// ... and no tenant data anywhere.
	for _, u := range []string{
		"http://" + env.query + "/api/v1/query?query=up",
		"http://" + env.traceQuery + "/api/services",
		"http://" + env.ui + "/ui/api/overview",
		"http://" + env.alerts + "/api/v1/alerts",
	} {
		if code, b := getBody(t, u, adminToken); code != http.StatusUnauthorized {
			t.Errorf("%s with the administrator token: HTTP %d %s, want 401", u, code, b)
		}
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit code %d\n%s", code, app.Output())
	}
}
