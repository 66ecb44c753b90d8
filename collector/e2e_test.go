//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// applianceEnv runs the embedded default config on free ports, with a
// tenants file holding two tenants.
type applianceEnv struct {
	grpc, http, health, metrics, query, traceQuery, ui, alerts, remoteWrite, alarms string
	tenantsFile                                                                     string
	dataDir                                                                         string // set by startDefaultAppliance
}

// tenantLabel is how the self-metrics endpoint names tenant id: by its
// pseudonym under the key in the appliance's data directory.
func (a applianceEnv) tenantLabel(t *testing.T, id string) string {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(a.dataDir, tenants.SelfMetricKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return `tenant="` + tenants.PseudonymWithKey(key, id) + `"`
}

const (
	westToken = "west-token-3f9a1c"
	eastToken = "east-token-77b2d0"
)

func newApplianceEnv(t *testing.T) applianceEnv {
	a := applianceEnv{grpc: e2e.FreeAddr(t), http: e2e.FreeAddr(t), health: e2e.FreeAddr(t), metrics: e2e.FreeAddr(t),
		query: e2e.FreeAddr(t), traceQuery: e2e.FreeAddr(t), ui: e2e.FreeAddr(t), alerts: e2e.FreeAddr(t),
		remoteWrite: e2e.FreeAddr(t), alarms: e2e.FreeAddr(t)}
	a.tenantsFile = filepath.Join(t.TempDir(), "tenants.yaml")
	body := "tenants:\n" +
		"  - id: west-pipeline-01\n    token_sha256: [" + tenants.HashToken(westToken) + "]\n" +
		"  - id: east-pipeline-02\n    token_sha256: [" + tenants.HashToken(eastToken) + "]\n"
	if err := os.WriteFile(a.tenantsFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a applianceEnv) vars(j *e2e.Jaeger, dataDir string, kafka string) []string {
	_, metricsPort, _ := net.SplitHostPort(a.metrics)
	return []string{
		"SCADAOTEL_OTLP_GRPC_ENDPOINT=" + a.grpc,
		"SCADAOTEL_OTLP_HTTP_ENDPOINT=" + a.http,
		"SCADAOTEL_HEALTH_ENDPOINT=" + a.health,
		"SCADAOTEL_METRICS_PORT=" + metricsPort,
		"SCADAOTEL_QUERY_ENDPOINT=" + a.query,
		"SCADAOTEL_TRACE_QUERY_ENDPOINT=" + a.traceQuery,
		"SCADAOTEL_UI_ENDPOINT=" + a.ui,
		"SCADAOTEL_ALERTS_ENDPOINT=" + a.alerts,
		"SCADAOTEL_ALARMS_ENDPOINT=" + a.alarms,
		"SCADAOTEL_REMOTE_WRITE_ENDPOINT=" + a.remoteWrite,
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT=" + j.OTLPGRPC,
		"SCADAOTEL_JAEGER_QUERY_URL=" + j.QueryURL,
		"SCADAOTEL_KAFKA_BROKERS=" + kafka,
		"SCADAOTEL_TENANTS_FILE=" + a.tenantsFile,
		"SCADAOTEL_DATA_DIR=" + dataDir,
	}
}

func (a applianceEnv) listeners() []string {
	return []string{a.grpc, a.http, a.health, a.metrics, a.query, a.traceQuery, a.ui, a.alerts, a.remoteWrite, a.alarms}
}

// TestDefaultApplianceEndToEnd starts Jaeger, a Kafka-protocol broker and
// the binary with its embedded default config (no --config), sends traces
// and metrics with the OpenTelemetry Go SDK over gRPC and HTTP as two
// tenants, reads them back from Jaeger and through the tenant-scoped APIs,
// and checks a clean SIGTERM shutdown.
func TestDefaultApplianceEndToEnd(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	app := e2e.StartCollectorArgs(t, nil, env.health, env.vars(jaeger, t.TempDir(), kafka.ListenAddrs()[0])...)

	// Health is green.
	var health struct {
		Healthy bool   `json:"healthy"`
		Status  string `json:"status"`
	}
	getJSON(t, app.HealthURL, &health, "")
	if !health.Healthy {
		t.Fatalf("health = %+v, want healthy", health)
	}

	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "rtu-gateway"), attribute.String("scada.station", "PS-07"),
		attribute.String("scada.tenant", "east-pipeline-02")) // spoofed: the token decides
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// Traces: west over gRPC, east over HTTP.
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(env.grpc), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(bearer(westToken)))
	if err != nil {
		t.Fatal(err)
	}
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(bearer(eastToken)))
	if err != nil {
		t.Fatal(err)
	}
	for _, exp := range []sdktrace.SpanExporter{grpcExp, httpExp} {
		t.Cleanup(func() { _ = exp.Shutdown(context.Background()) }) // no client connection left (goleak)
	}
	var ids []string
	for i, exp := range []sdktrace.SpanExporter{grpcExp, httpExp} {
		spans, id := makeSpans(res, fmt.Sprintf("read-holding-registers-%d", i))
		ids = append(ids, id)
		if err := exp.ExportSpans(ctx, spans); err != nil { // returns once the appliance acknowledged
			t.Fatalf("trace export %d: %v", i, err)
		}
	}

	// Without a token the appliance refuses.
	anon, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure(),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anon.Shutdown(context.Background()) })
	spans, _ := makeSpans(res, "anonymous")
	if err := anon.ExportSpans(ctx, spans); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("export without a token: err = %v, want a 401 refusal", err)
	}

	// Metrics: west over gRPC and HTTP.
	mg, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(env.grpc), otlpmetricgrpc.WithInsecure(),
		otlpmetricgrpc.WithHeaders(bearer(westToken)))
	if err != nil {
		t.Fatal(err)
	}
	mh, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(env.http), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithHeaders(bearer(westToken)))
	if err != nil {
		t.Fatal(err)
	}
	for i, exp := range []sdkmetric.Exporter{mg, mh} {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		g, err := mp.Meter("e2e").Float64Gauge(fmt.Sprintf("scada.e2e.pressure.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		g.Record(ctx, 42.5)
		if err := mp.Shutdown(ctx); err != nil { // flushes: fails if the appliance refused
			t.Fatalf("metric export: %v", err)
		}
	}

	// Both traces are in Jaeger, under the tenant the token selected.
	for i, id := range ids {
		e2e.Eventually(t, 20*time.Second, func() error {
			var body jaegerTraces
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id, &body, ""); err != nil {
				return err
			}
			if len(body.Data) != 1 || len(body.Data[0].Spans) != 1 {
				return fmt.Errorf("trace %s: %+v", id, body)
			}
			if want := fmt.Sprintf("read-holding-registers-%d", i); body.Data[0].Spans[0].OperationName != want {
				return fmt.Errorf("operation %q, want %q", body.Data[0].Spans[0].OperationName, want)
			}
			return nil
		})
	}
	// Through the tenant-scoped trace API: west sees its trace, and the east
	// trace answers 404 exactly like a missing one.
	var west jaegerTraces
	getJSON(t, "http://"+env.traceQuery+"/api/traces/"+ids[0], &west, westToken)
	if len(west.Data) != 1 {
		t.Fatalf("west trace through tenant API: %+v", west)
	}
	if code := status(t, "http://"+env.traceQuery+"/api/traces/"+ids[1], westToken); code != http.StatusNotFound {
		t.Fatalf("east trace for the west token: HTTP %d, want 404", code)
	}

	// Metrics through the tenant-scoped Prometheus API.
	for i := range 2 {
		q := url.Values{"query": {fmt.Sprintf("scada_e2e_pressure_%d", i)}}
		e2e.Eventually(t, 20*time.Second, func() error {
			var body promResult
			if err := tryGetJSON("http://"+env.query+"/api/v1/query?"+q.Encode(), &body, westToken); err != nil {
				return err
			}
			if len(body.Data.Result) != 1 || body.Data.Result[0].Value[1] != "42.5" ||
				body.Data.Result[0].Metric["scada_tenant"] != "" {
				return fmt.Errorf("query %s: %+v", q.Get("query"), body)
			}
			return nil
		})
		var east promResult
		getJSON(t, "http://"+env.query+"/api/v1/query?"+q.Encode(), &east, eastToken)
		if len(east.Data.Result) != 0 {
			t.Fatalf("east token sees west series: %+v", east)
		}
	}

	// Self-metrics are served.
	e2e.WaitHTTP(t, app.Process, "http://"+env.metrics+"/metrics", 10*time.Second)

	// SIGTERM: clean exit within 5 s and nothing left listening.
	code, took := app.Stop(t)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, app.Output())
	}
	if took > 5*time.Second {
		t.Fatalf("shutdown took %s, want < 5s", took)
	}
	for _, addr := range env.listeners() {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after exit", addr)
		}
	}
	if strings.Contains(app.Output(), "panic") {
		t.Errorf("output mentions a panic:\n%s", app.Output())
	}
}

// makeSpans records one ended server span and returns it with its trace id.
func makeSpans(res *resource.Resource, name string) ([]sdktrace.ReadOnlySpan, string) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	_, span := tp.Tracer("e2e").Start(context.Background(), name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.Int("modbus.unit", 1)))
	span.End()
	return rec.Ended(), span.SpanContext().TraceID().String()
}

type jaegerTraces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			OperationName string `json:"operationName"`
		} `json:"spans"`
	} `json:"data"`
}

type promResult struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func tryGetJSON(url string, v any, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getJSON(t *testing.T, url string, v any, token string) {
	t.Helper()
	if err := tryGetJSON(url, v, token); err != nil {
		t.Fatal(err)
	}
}

// TestBadConfigFailsWithOneLine checks that validate and startup reject bad
// configs with a clear line naming the problem, not a stack trace.
func TestBadConfigFailsWithOneLine(t *testing.T) {
	bin := e2e.Binary(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:0}
exporters:
  debug: {}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`
	cases := []struct {
		name, config, want string
	}{
		{"unknown key", strings.Replace(good, "debug: {}", "debug: {verbosty: basic}", 1), "verbosty"},
		{"bad endpoint", strings.Replace(good, "127.0.0.1:0", "127.0.0.1:notaport", 1), "notaport"},
		{"bare port", strings.Replace(good, "127.0.0.1:0", "31428", 1), "want host:port"},
		{"unknown component", strings.Replace(good, "exporters: [debug]", "exporters: [kafkaa]", 1), "kafkaa"},
		{"missing file", "", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := dir + "/missing.yaml"
			if tc.config != "" {
				path = write(strings.ReplaceAll(tc.name, " ", "_")+".yaml", tc.config)
			}
			for _, args := range [][]string{{"validate", "--config", path}, {"--config", path}} {
				cmd := exec.Command(bin, args...)
				cmd.Env = append(cmd.Environ(), "SCADAOTEL_DATA_DIR="+t.TempDir(), "SCADAOTEL_ALLOW_ROOT=1")
				done := make(chan struct{})
				var out []byte
				var err error
				go func() { out, err = cmd.CombinedOutput(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("%v did not fail within 20s", args)
				}
				if err == nil {
					t.Fatalf("%v succeeded, want failure:\n%s", args, out)
				}
				text := string(out)
				if !strings.Contains(text, tc.want) {
					t.Errorf("%v output does not name %q:\n%s", args, tc.want, text)
				}
				if strings.Contains(text, "goroutine ") || strings.Contains(text, "panic") {
					t.Errorf("%v printed a stack trace:\n%s", args, text)
				}
				errLines := 0
				for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
					if strings.HasPrefix(l, "Error:") {
						errLines++
					}
				}
				if errLines != 1 {
					t.Errorf("%v: want exactly one Error: line, got %d:\n%s", args, errLines, text)
				}
			}
		})
	}
}

// TestValidateEmbeddedDefault checks `scadaotel validate` with no flags
// accepts the embedded default config, and `components` lists the
// distribution.
func TestValidateEmbeddedDefault(t *testing.T) {
	bin := e2e.Binary(t)
	cmd := exec.Command(bin, "validate")
	cmd.Env = append(cmd.Environ(), "SCADAOTEL_DATA_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "components").CombinedOutput()
	if err != nil {
		t.Fatalf("components: %v\n%s", err, out)
	}
	for _, name := range []string{"otlp", "memory_limiter", "otlp_grpc", "file_storage", "healthcheckv2"} {
		if !strings.Contains(string(out), "name: "+name) {
			t.Errorf("components output lacks %s", name)
		}
	}
	if strings.Contains(string(out), `module: ""`) {
		t.Errorf("components shows an empty module:\n%s", out)
	}

	// A bare port in an endpoint variable expands to a number: validate
	// refuses it, naming the key, instead of the start failing later.
	cmd = exec.Command(bin, "validate")
	cmd.Env = append(cmd.Environ(), "SCADAOTEL_DATA_DIR="+t.TempDir(), "SCADAOTEL_QUERY_ENDPOINT=31428")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "extensions::prometheus_query::endpoint") {
		t.Errorf("validate with SCADAOTEL_QUERY_ENDPOINT=31428: %v\n%s", err, out)
	}
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }
