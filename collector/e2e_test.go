package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
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
	"go.opentelemetry.io/otel/trace"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// applianceEnv runs the embedded default config on free ports.
type applianceEnv struct {
	grpc, http, health, metrics string
}

func newApplianceEnv(t *testing.T) applianceEnv {
	return applianceEnv{grpc: e2e.FreeAddr(t), http: e2e.FreeAddr(t), health: e2e.FreeAddr(t), metrics: e2e.FreeAddr(t)}
}

func (a applianceEnv) vars(j *e2e.Jaeger, dataDir string) []string {
	_, metricsPort, _ := net.SplitHostPort(a.metrics)
	return []string{
		"SCADAOTEL_OTLP_GRPC_ENDPOINT=" + a.grpc,
		"SCADAOTEL_OTLP_HTTP_ENDPOINT=" + a.http,
		"SCADAOTEL_HEALTH_ENDPOINT=" + a.health,
		"SCADAOTEL_METRICS_PORT=" + metricsPort,
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT=" + j.OTLPGRPC,
		"SCADAOTEL_DATA_DIR=" + dataDir,
	}
}

// TestDefaultApplianceEndToEnd starts Jaeger and the binary with its
// embedded default config (no --config), sends traces and metrics with the
// OpenTelemetry Go SDK over gRPC and HTTP, reads the traces back from
// Jaeger, and checks a clean SIGTERM shutdown.
func TestDefaultApplianceEndToEnd(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	env := newApplianceEnv(t)
	app := e2e.StartCollectorArgs(t, nil, env.health, env.vars(jaeger, t.TempDir())...)

	// Health is green.
	var health struct {
		Healthy bool   `json:"healthy"`
		Status  string `json:"status"`
	}
	getJSON(t, app.HealthURL, &health)
	if !health.Healthy {
		t.Fatalf("health = %+v, want healthy", health)
	}

	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "rtu-gateway"), attribute.String("scada.station", "PS-07"))

	// Traces over gRPC and HTTP.
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(env.grpc), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(env.http), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, exp := range []sdktrace.SpanExporter{grpcExp, httpExp} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
		tr := tp.Tracer("e2e")
		_, span := tr.Start(ctx, fmt.Sprintf("read-holding-registers-%d", i), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.Int("modbus.unit", 1)))
		ids = append(ids, span.SpanContext().TraceID().String())
		span.End()
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("trace export %d: %v", i, err)
		}
	}

	// Metrics over gRPC and HTTP.
	mg, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(env.grpc), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mh, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(env.http), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	for _, exp := range []sdkmetric.Exporter{mg, mh} {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		g, err := mp.Meter("e2e").Float64Gauge("scada.pressure")
		if err != nil {
			t.Fatal(err)
		}
		g.Record(ctx, 42.5)
		if err := mp.Shutdown(ctx); err != nil { // flushes: fails if the appliance refused
			t.Fatalf("metric export: %v", err)
		}
	}

	// Both traces are readable from Jaeger's HTTP API.
	for i, id := range ids {
		e2e.Eventually(t, 20*time.Second, func() error {
			var body struct {
				Data []struct {
					TraceID string `json:"traceID"`
					Spans   []struct {
						OperationName string `json:"operationName"`
					} `json:"spans"`
				} `json:"data"`
			}
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id, &body); err != nil {
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
	for _, addr := range []string{env.grpc, env.http, env.health, env.metrics} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after exit", addr)
		}
	}
	if strings.Contains(app.Output(), "panic") {
		t.Errorf("output mentions a panic:\n%s", app.Output())
	}
}

func tryGetJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := tryGetJSON(url, v); err != nil {
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
				cmd.Env = append(cmd.Environ(), "SCADAOTEL_DATA_DIR="+t.TempDir())
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
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }
