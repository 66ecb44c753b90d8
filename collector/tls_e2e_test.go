//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// certsInit runs `scadaotel certs init` of the real binary and returns
// what it printed.
func certsInit(t *testing.T, dir string, hosts ...string) string {
	t.Helper()
	args := []string{"certs", "init", "--dir", dir}
	for _, h := range hosts {
		args = append(args, "--host", h)
	}
	out, err := exec.Command(e2e.Binary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("certs init: %v\n%s", err, out)
	}
	return string(out)
}

func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("ca.pem holds no certificate")
	}
	return p
}

// tlsClient trusts pool (nil: the system's CAs) and shows certs when
// asked; it speaks HTTP/2 where the server offers it, as browsers do.
func tlsClient(t *testing.T, pool *x509.CertPool, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

func get(c *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// waitHTTPS waits until url answers 200 to c while p runs.
func waitHTTPS(t *testing.T, p *e2e.Process, c *http.Client, url string) {
	t.Helper()
	e2e.Eventually(t, 60*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("the appliance exited:\n%s", p.Output())
		}
		code, body, err := get(c, url, "")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%s: %d %s", url, code, body)
		}
		return nil
	})
}

// replaceFile puts src's content at dst as a site rotates a certificate:
// a new file renamed over the old one.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".new", dst); err != nil {
		t.Fatal(err)
	}
}

// httpsListener is one HTTPS listener of the appliance and a GET that
// answers 200 to a tenant.
type httpsListener struct{ name, url string }

func (a applianceEnv) httpsListeners() []httpsListener {
	return []httpsListener{
		{"health", "https://" + a.health + "/status"},
		{"prometheus_query", "https://" + a.query + "/api/v1/query?query=up"},
		{"tenant_trace_query", "https://" + a.traceQuery + "/api/services"},
		{"alert history", "https://" + a.alerts + "/api/v1/alerts"},
		{"alarm operator API", "https://" + a.alarms + "/api/v1/alarms"},
		{"scada_ui", "https://" + a.ui + "/"},
	}
}

// tlsAppliance starts the default config with listener_tls from
// certs init in dir; trace query and UI bind every interface (with TLS
// that is allowed), the clients dial them on loopback.
func tlsAppliance(t *testing.T, dir string, extra ...string) (applianceEnv, *e2e.Collector) {
	t.Helper()
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	env := newApplianceEnv(t)
	env.dataDir = t.TempDir()
	vars := env.vars(jaeger, env.dataDir, kafka.ListenAddrs()[0])
	_, uiPort, _ := net.SplitHostPort(env.ui)
	_, tqPort, _ := net.SplitHostPort(env.traceQuery)
	vars = append(vars,
		"SCADAOTEL_UI_ENDPOINT=0.0.0.0:"+uiPort,
		"SCADAOTEL_TRACE_QUERY_ENDPOINT=0.0.0.0:"+tqPort,
		"SCADAOTEL_TLS_CERT_FILE="+filepath.Join(dir, "server.pem"),
		"SCADAOTEL_TLS_KEY_FILE="+filepath.Join(dir, "server-key.pem"),
		"SCADAOTEL_TLS_RELOAD_INTERVAL=1s")
	app := e2e.StartCollectorArgs(t, nil, "", append(vars, extra...)...)
	return env, app
}

// uiLoginAndRead logs in to the UI over c and reads the alert history and
// the trace services through it (the UI calls the alert and trace APIs,
// which serve TLS too). It returns the session cookie.
func uiLoginAndRead(c *http.Client, ui string) (*http.Cookie, error) {
	b, _ := json.Marshal(map[string]string{"token": westToken})
	resp, err := c.Post("https://"+ui+"/ui/api/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) == 0 {
		return nil, fmt.Errorf("login: %s", resp.Status)
	}
	cookie := resp.Cookies()[0]
	for _, path := range []string{"/ui/api/alerts", "/ui/api/traces/services", "/ui/api/alarms"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+ui+path, nil)
		req.AddCookie(cookie)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("UI %s: %s %s", path, resp.Status, body)
		}
	}
	return cookie, nil
}

func spanExportGRPC(t *testing.T, endpoint string, opts ...otlptracegrpc.Option) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp, err := otlptracegrpc.New(ctx, append([]otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint),
		otlptracegrpc.WithHeaders(map[string]string{"Authorization": "Bearer " + westToken}),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}, opts...)...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	spans, _ := makeSpans(resource.NewSchemaless(attribute.String("service.name", "rtu-gateway")), "tls-grpc")
	return exp.ExportSpans(ctx, spans)
}

func spanExportHTTP(t *testing.T, endpoint string, opts ...otlptracehttp.Option) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp, err := otlptracehttp.New(ctx, append([]otlptracehttp.Option{otlptracehttp.WithEndpoint(endpoint),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + westToken}),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}, opts...)...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(context.Background())
	spans, _ := makeSpans(resource.NewSchemaless(attribute.String("service.name", "rtu-gateway")), "tls-http")
	return exp.ExportSpans(ctx, spans)
}

func remoteWriteTLS(c *http.Client, addr string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/api/v1/write", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+westToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// refusedPlaintext: a plaintext HTTP request to a TLS listener gets no
// answer of the API (Go's TLS server answers 400 to it, or the
// connection fails).
func refusedPlaintext(url string) error {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	code, body, err := get(c, strings.Replace(url, "https://", "http://", 1), westToken)
	if err != nil {
		return nil
	}
	if code == http.StatusBadRequest && strings.Contains(body, "HTTPS server") {
		return nil
	}
	return fmt.Errorf("plaintext %s answered %d %q", url, code, body)
}

// TestTLSOnEveryListener (issue 22): with the certificate `scadaotel certs
// init` made (listener_tls through SCADAOTEL_TLS_*), every listener that
// can leave the box (OTLP gRPC and HTTP, remote write, the query, trace
// and alert history APIs, the UI, health) accepts a client that trusts
// the CA: Go clients (over HTTP/2), the OTel SDK, curl, promtool,
// telemetrygen (traces and metrics over gRPC and HTTP) and Chromium (the
// CA in its NSS database; the UI by the certificate's host name, logged
// in). A plaintext client and a client trusting another CA (Chromium: not
// trusting the CA) are refused. The trace API and the UI
// bind every interface (allowed with TLS); the UI reads the trace and
// alert APIs over TLS. A certificate replaced on disk is served within the
// reload interval (1 s here), the UI's own calls follow it.
func TestTLSOnEveryListener(t *testing.T) {
	base := t.TempDir()
	dir, otherDir := filepath.Join(base, "tls"), filepath.Join(base, "other")
	out := certsInit(t, dir, "scada-e2e.plant")
	for _, want := range []string{"SCADAOTEL_TLS_CERT_FILE=" + filepath.Join(dir, "server.pem"),
		"SCADAOTEL_TLS_KEY_FILE=" + filepath.Join(dir, "server-key.pem"), "SCADAOTEL_TLS_CLIENT_CA_FILE=",
		"update-ca-certificates", "scada-e2e.plant, localhost, 127.0.0.1, ::1"} {
		if !strings.Contains(out, want) {
			t.Errorf("certs init output lacks %q:\n%s", want, out)
		}
	}
	if b, err := exec.Command(e2e.Binary(t), "certs", "init", "--dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(b), "exists") {
		t.Errorf("certs init over existing files: %v %s", err, b)
	}
	certsInit(t, otherDir, "scada-e2e.plant")

	env, app := tlsAppliance(t, dir, "SCADAOTEL_DEFAULT_TENANT=west-pipeline-01") // promtool 2.42 sends no token
	trusted := tlsClient(t, caPool(t, dir))
	stranger := tlsClient(t, caPool(t, otherDir))
	waitHTTPS(t, app.Process, trusted, "https://"+env.health+"/status")

	for _, l := range env.httpsListeners() {
		req, _ := http.NewRequest(http.MethodGet, l.url, nil)
		req.Header.Set("Authorization", "Bearer "+westToken)
		resp, err := trusted.Do(req)
		if err != nil {
			t.Errorf("%s, client trusting the CA: %v", l.name, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Errorf("%s, client trusting the CA: %s %s %s", l.name, resp.Proto, resp.Status, body)
			}
			if l.name == "scada_ui" && resp.Header.Get("Strict-Transport-Security") == "" {
				t.Error("the UI over TLS sends no Strict-Transport-Security")
			}
		}
		if err := refusedPlaintext(l.url); err != nil {
			t.Errorf("%s: %v", l.name, err)
		}
		if _, _, err := get(stranger, l.url, westToken); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("%s, client trusting another CA: %v, want an unknown authority error", l.name, err)
		}
	}
	// Remote write, then the sample read back through the query API.
	if code, err := remoteWriteTLS(trusted, env.remoteWrite, sampleWrite(t, "tls_e2e_pressure", 7.5)); err != nil || code != http.StatusNoContent {
		t.Fatalf("remote write over TLS: %d %v", code, err)
	}
	if _, err := remoteWriteTLS(stranger, env.remoteWrite, sampleWrite(t, "tls_e2e_pressure", 1)); err == nil {
		t.Error("remote write trusting another CA: accepted")
	}
	if err := refusedPlaintext("https://" + env.remoteWrite + "/api/v1/write"); err != nil {
		t.Error(err)
	}
	e2e.Eventually(t, 20*time.Second, func() error {
		_, body, err := get(trusted, "https://"+env.query+"/api/v1/query?query=tls_e2e_pressure", westToken)
		if err != nil || !strings.Contains(body, `"7.5"`) {
			return fmt.Errorf("query: %v %s", err, body)
		}
		return nil
	})
	// OTLP gRPC and HTTP with the OpenTelemetry SDK.
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithTLSCredentials(credentials.NewClientTLSFromCert(caPool(t, dir), ""))); err != nil {
		t.Errorf("OTLP gRPC trusting the CA: %v", err)
	}
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithInsecure()); err == nil {
		t.Error("OTLP gRPC in plaintext: accepted")
	}
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithTLSCredentials(credentials.NewClientTLSFromCert(caPool(t, otherDir), ""))); err == nil {
		t.Error("OTLP gRPC trusting another CA: accepted")
	}
	if err := spanExportHTTP(t, env.http, otlptracehttp.WithTLSClientConfig(&tls.Config{RootCAs: caPool(t, dir)})); err != nil {
		t.Errorf("OTLP HTTP trusting the CA: %v", err)
	}
	if err := spanExportHTTP(t, env.http, otlptracehttp.WithInsecure()); err == nil {
		t.Error("OTLP HTTP in plaintext: accepted")
	}
	if err := spanExportHTTP(t, env.http, otlptracehttp.WithTLSClientConfig(&tls.Config{RootCAs: caPool(t, otherDir)})); err == nil {
		t.Error("OTLP HTTP trusting another CA: accepted")
	}
	// The UI over TLS: a Secure session cookie, and its calls to the trace
	// and alert APIs (bound to 0.0.0.0, over TLS) answer.
	cookie, err := uiLoginAndRead(trusted, env.ui)
	if err != nil {
		t.Fatal(err)
	}
	if !cookie.Secure {
		t.Error("the session cookie over TLS is not Secure")
	}
	// curl and promtool, as a site's scripts and Prometheus would connect.
	query := "https://" + env.query + "/api/v1/query?query=tls_e2e_pressure"
	if b, err := exec.Command("curl", "-fsS", "--max-time", "10", "--cacert", filepath.Join(dir, "ca.pem"),
		"-H", "Authorization: Bearer "+westToken, query).CombinedOutput(); err != nil || !strings.Contains(string(b), `"7.5"`) {
		t.Errorf("curl --cacert: %v %s", err, b)
	}
	if b, err := exec.Command("curl", "-fsS", "--max-time", "10", "--cacert", filepath.Join(otherDir, "ca.pem"), query).CombinedOutput(); err == nil {
		t.Errorf("curl trusting another CA: accepted: %s", b)
	}
	promtool := func(caDir string) ([]byte, error) {
		cmd := exec.Command("promtool", "query", "instant", "https://"+env.query, "tls_e2e_pressure")
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(caDir, "ca.pem"))
		return cmd.CombinedOutput()
	}
	if b, err := promtool(dir); err != nil || !strings.Contains(string(b), "7.5") {
		t.Errorf("promtool trusting the CA: %v %s", err, b)
	}
	if b, err := promtool(otherDir); err == nil {
		t.Errorf("promtool trusting another CA: accepted: %s", b)
	}
	// telemetrygen, the OpenTelemetry project's own OTLP client, and
	// Chromium, each trusting the CA as its users would configure it.
	t.Run("telemetrygen", func(t *testing.T) { telemetrygenOverTLS(t, env, dir, otherDir) })
	t.Run("chromium", func(t *testing.T) { chromiumOverTLS(t, env, dir, "scada-e2e.plant") })

	// A new certificate (from the other CA) replaces the old one on disk:
	// served within the reload interval, without a restart.
	replaceFile(t, filepath.Join(otherDir, "server.pem"), filepath.Join(dir, "server.pem"))
	replaceFile(t, filepath.Join(otherDir, "server-key.pem"), filepath.Join(dir, "server-key.pem"))
	swapped := time.Now()
	fresh := tlsClient(t, caPool(t, otherDir)) // no connection kept from before
	for _, l := range env.httpsListeners() {
		e2e.EventuallyEvery(t, 5*time.Second, 100*time.Millisecond, func() error {
			code, body, err := get(fresh, l.url, westToken)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%s after the swap: %d %s %v", l.name, code, body, err)
			}
			return nil
		})
	}
	t.Logf("the new certificate was served on every listener %s after the swap (reload_interval 1s)", time.Since(swapped).Round(10*time.Millisecond))
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithTLSCredentials(credentials.NewClientTLSFromCert(caPool(t, otherDir), ""))); err != nil {
		t.Errorf("OTLP gRPC after the swap: %v", err)
	}
	if _, err := uiLoginAndRead(fresh, env.ui); err != nil {
		t.Errorf("UI after the swap (its calls to the trace and alert APIs trust the new certificate): %v", err)
	}
	if _, _, err := get(tlsClient(t, caPool(t, dir)), "https://"+env.query+"/api/v1/query?query=up", westToken); err == nil {
		t.Error("after the swap, a client trusting only the old CA still connects")
	}
	// The audit trail has the change of the certificate and of the key.
	e2e.Eventually(t, 10*time.Second, func() error {
		files, _ := filepath.Glob(filepath.Join(env.dataDir, "audit", "*"))
		var all []byte
		for _, f := range files {
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		for _, f := range []string{"server.pem", "server-key.pem"} {
			if !bytes.Contains(all, []byte(`"action":"certificate_reload","object":"`+filepath.Join(dir, f)+`","outcome":"success"`)) {
				return fmt.Errorf("no certificate_reload of %s in the audit trail", f)
			}
		}
		return nil
	})
	if code, _ := app.Stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestMutualTLS (issue 22): with SCADAOTEL_TLS_CLIENT_CA_FILE a client
// without a certificate, or with one from another CA, is refused on every
// listener; a client with a certificate from `scadaotel certs client` is
// accepted, and the UI's own calls to the trace and alert APIs (which
// present the appliance's certificate) still work.
func TestMutualTLS(t *testing.T) {
	base := t.TempDir()
	dir, otherDir := filepath.Join(base, "tls"), filepath.Join(base, "other")
	certsInit(t, dir, "scada-e2e.plant")
	certsInit(t, otherDir, "scada-e2e.plant")
	clientCert := func(d, name string) tls.Certificate {
		out, err := exec.Command(e2e.Binary(t), "certs", "client", "--dir", d, "--name", name).CombinedOutput()
		if err != nil {
			t.Fatalf("certs client: %v\n%s", err, out)
		}
		kp, err := tls.LoadX509KeyPair(filepath.Join(d, name+".pem"), filepath.Join(d, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	grafana, stranger := clientCert(dir, "grafana"), clientCert(otherDir, "stranger")
	env, app := tlsAppliance(t, dir, "SCADAOTEL_TLS_CLIENT_CA_FILE="+filepath.Join(dir, "ca.pem"))
	withCert := tlsClient(t, caPool(t, dir), grafana)
	waitHTTPS(t, app.Process, withCert, "https://"+env.health+"/status")

	noCert := tlsClient(t, caPool(t, dir))
	otherCert := tlsClient(t, caPool(t, dir), stranger)
	for _, l := range append(env.httpsListeners(), httpsListener{"remote write", "https://" + env.remoteWrite + "/api/v1/write"}) {
		if _, _, err := get(noCert, l.url, westToken); err == nil {
			t.Errorf("%s: a client without a certificate was answered", l.name)
		}
		if _, _, err := get(otherCert, l.url, westToken); err == nil {
			t.Errorf("%s: a client certificate from another CA was answered", l.name)
		}
	}
	for _, l := range env.httpsListeners() {
		if code, body, err := get(withCert, l.url, westToken); err != nil || code != http.StatusOK {
			t.Errorf("%s with a client certificate: %d %s %v", l.name, code, body, err)
		}
	}
	if code, err := remoteWriteTLS(withCert, env.remoteWrite, sampleWrite(t, "mtls_e2e_pressure", 3)); err != nil || code != http.StatusNoContent {
		t.Errorf("remote write with a client certificate: %d %v", code, err)
	}
	pool := caPool(t, dir)
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))); err == nil {
		t.Error("OTLP gRPC without a client certificate: accepted")
	}
	if err := spanExportGRPC(t, env.grpc, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{grafana}}))); err != nil {
		t.Errorf("OTLP gRPC with a client certificate: %v", err)
	}
	if err := spanExportHTTP(t, env.http, otlptracehttp.WithTLSClientConfig(&tls.Config{RootCAs: pool})); err == nil {
		t.Error("OTLP HTTP without a client certificate: accepted")
	}
	if err := spanExportHTTP(t, env.http, otlptracehttp.WithTLSClientConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{grafana}})); err != nil {
		t.Errorf("OTLP HTTP with a client certificate: %v", err)
	}
	if _, err := uiLoginAndRead(withCert, env.ui); err != nil {
		t.Errorf("UI under mTLS: %v", err)
	}
}

// TestNonLoopbackWithoutTLSRefusesToStart (issue 22): a listener moved to
// a routable address without TLS stops the start (and `validate`) with a
// message naming the listener and the fix; saying insecure explicitly
// starts it in plaintext.
func TestNonLoopbackWithoutTLSRefusesToStart(t *testing.T) {
	env := newApplianceEnv(t)
	_, port, _ := net.SplitHostPort(env.query)
	vars := []string{"SCADAOTEL_OTLP_GRPC_ENDPOINT=" + env.grpc, "SCADAOTEL_OTLP_HTTP_ENDPOINT=" + env.http,
		"SCADAOTEL_HEALTH_ENDPOINT=" + env.health, "SCADAOTEL_QUERY_ENDPOINT=0.0.0.0:" + port,
		"SCADAOTEL_TRACE_QUERY_ENDPOINT=" + env.traceQuery, "SCADAOTEL_UI_ENDPOINT=" + env.ui,
		"SCADAOTEL_ALERTS_ENDPOINT=" + env.alerts, "SCADAOTEL_REMOTE_WRITE_ENDPOINT=" + env.remoteWrite,
		"SCADAOTEL_TENANTS_FILE=" + env.tenantsFile}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	vars = append(vars, "SCADAOTEL_KAFKA_BROKERS="+kafka.ListenAddrs()[0])
	_, metricsPort, _ := net.SplitHostPort(env.metrics)
	vars = append(vars, "SCADAOTEL_METRICS_PORT="+metricsPort)
	wants := []string{"extensions::prometheus_query::endpoint 0.0.0.0:" + port, "not on loopback and without TLS",
		"SCADAOTEL_TLS_CERT_FILE", "scadaotel certs init", "SCADAOTEL_TLS_INSECURE=true"}

	p := e2e.Start(t, "scadaotel", e2e.Binary(t), []string{"--data-dir", t.TempDir()}, vars...)
	if code := p.Wait(t, 30*time.Second); code == 0 {
		t.Fatal("started with a plaintext listener on 0.0.0.0")
	}
	for _, w := range wants {
		if !strings.Contains(p.Output(), w) {
			t.Errorf("start: output lacks %q:\n%s", w, p.Output())
		}
	}
	cmd := exec.Command(e2e.Binary(t), "validate", "--data-dir", t.TempDir())
	cmd.Env = append(append(os.Environ(), "SCADAOTEL_ALLOW_ROOT=1"), vars...)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), wants[0]) {
		t.Errorf("validate: %v\n%s", err, b)
	}

	// Said explicitly: plaintext on every interface.
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", t.TempDir()}, env.health, append(vars, "SCADAOTEL_TLS_INSECURE=true")...)
	if code, body, err := get(&http.Client{Timeout: 5 * time.Second}, "http://127.0.0.1:"+port+"/api/v1/query?query=up", westToken); err != nil || code != http.StatusOK {
		t.Errorf("query API in plaintext on 0.0.0.0 with SCADAOTEL_TLS_INSECURE=true: %d %s %v", code, body, err)
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestJaegerExporterTLS (issue 22): with a Jaeger that takes OTLP only
// over TLS (on another machine in a site), SCADAOTEL_JAEGER_OTLP_CA_FILE
// alone makes the durable_otlp exporter connect with TLS trusting that
// CA: spans sent to the appliance are stored in Jaeger.
func TestJaegerExporterTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jaeger-tls")
	certsInit(t, dir, "jaeger.plant")
	jaeger := e2e.StartJaegerWithTLS(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	vars := append(env.vars(jaeger, t.TempDir(), kafka.ListenAddrs()[0]), "SCADAOTEL_JAEGER_OTLP_CA_FILE="+filepath.Join(dir, "ca.pem"))
	e2e.StartCollectorArgs(t, nil, env.health, vars...)
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + westToken}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	spans, id := makeSpans(resource.NewSchemaless(attribute.String("service.name", "rtu-gateway")), "to-jaeger-over-tls")
	if err := exp.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 30*time.Second, func() error {
		var body jaegerTraces
		if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id, &body, ""); err != nil {
			return err
		}
		if len(body.Data) != 1 || len(body.Data[0].Spans) != 1 || body.Data[0].Spans[0].OperationName != "to-jaeger-over-tls" {
			return fmt.Errorf("trace %s in Jaeger: %+v", id, body)
		}
		return nil
	})
}
