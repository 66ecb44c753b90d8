//go:build e2e

package promremotewritereceiver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

const (
	eastToken = "east-remote-write-token"
	westToken = "west-remote-write-token"
)

// TestPrometheusServerRemoteWritesIntoTheAppliance: an unchanged Prometheus
// server (Debian's, as operators run it) scrapes an exporter built with
// client_golang and remote-writes to the real appliance binary with the
// tenant's bearer token (authorization.credentials). Its samples are then
// readable by that tenant only, with the tenant label forced; the other
// tenant's token with this tenant's header is refused.
func TestPrometheusServerRemoteWritesIntoTheAppliance(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus (Debian package prometheus) not installed: run scripts/install-test-deps.sh: %v", err)
	}

	// The scraped exporter: a real client_golang registry.
	reg := prometheus.NewRegistry()
	rpm := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compressor_rpm", Help: "Compressor shaft speed."}, []string{"unit"})
	reg.MustRegister(rpm)
	rpm.WithLabelValues("c1").Set(4200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	rw, query, health := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	e2e.StartCollector(t, fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %s}}
  tenantauth:
    tenants:
      - {id: east-pipeline-02, token_sha256: [%s]}
      - {id: west-pipeline-01, token_sha256: [%s]}
    reload_interval: 1s
  prometheus_query:
    endpoint: %s
    auth: {authenticator: tenantauth}
receivers:
  prometheus_remote_write:
    endpoint: %s
    auth: {authenticator: tenantauth}
processors:
  tenantstamp: {}
exporters:
  victoriametrics:
    directory: ${env:SCADAOTEL_DATA_DIR}/metrics
    memory_limit_mib: 128
service:
  extensions: [healthcheckv2, tenantauth, prometheus_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [prometheus_remote_write], processors: [tenantstamp], exporters: [victoriametrics]}
`, health, tenants.HashToken(eastToken), tenants.HashToken(westToken), query, rw))

	// Another tenant's token with this tenant's header is refused.
	req, _ := http.NewRequest(http.MethodPost, "http://"+rw+"/api/v1/write", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+westToken)
	req.Header.Set("X-SCADA-Tenant", "east-pipeline-02")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("west token with east's header: %d %s, want 403", resp.StatusCode, body)
	}

	dir := t.TempDir()
	promCfg := fmt.Sprintf(`
global:
  scrape_interval: 1s
  external_labels: {site: compressor-station-7}
scrape_configs:
  - job_name: compressors
    static_configs: [{targets: [%q]}]
remote_write:
  - name: east
    url: http://%s/api/v1/write
    authorization: {credentials: %s}
    queue_config: {batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 500ms}
`, ln.Addr().String(), rw, eastToken)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(promCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e2e.Start(t, "prometheus", promBin, []string{
		"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + e2e.FreeAddr(t),
	})

	get := func(token, path string, q url.Values) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+query+path+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type result struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	var got result
	e2e.Eventually(t, 30*time.Second, func() error {
		code, body := get(eastToken, "/api/v1/query", url.Values{"query": {`compressor_rpm`}})
		got = result{}
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		if len(got.Data.Result) != 1 || got.Data.Result[0].Value[1] != "4200" {
			return fmt.Errorf("east sees %s", body)
		}
		return nil
	})
	m := got.Data.Result[0].Metric
	if m["unit"] != "c1" || m["job"] != "compressors" || m["site"] != "compressor-station-7" || m[tenants.MetricLabel] != "" {
		t.Errorf("labels = %v, want unit, job and external label (the tenant is implicit)", m)
	}
	// Prometheus' own series (up, scrape_*) came along too.
	if code, body := get(eastToken, "/api/v1/query", url.Values{"query": {`up{job="compressors"}`}}); code != 200 || !strings.Contains(body, `"1"`) {
		t.Errorf("up: %d %s", code, body)
	}
	if code, body := get(westToken, "/api/v1/query", url.Values{"query": {`{__name__=~".+"}`}}); code != 200 || strings.Contains(body, "compressor") {
		t.Errorf("west: %d %s", code, body)
	}
}
