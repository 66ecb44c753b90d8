//go:build e2e

package tenants_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

const (
	westID    = "west-pipeline-01"
	eastID    = "east-pipeline-02"
	westToken = "w3st-t0ken-8f1c2a"
	eastToken = "e4st-t0ken-77d0b3"
)

// appliance is the real scadaotel binary with tenantauth, tenantstamp and
// tenant_trace_query, exporting traces to a real Jaeger (when jaeger != nil)
// or to the debug exporter.
type appliance struct {
	*e2e.Collector
	grpcAddr, httpAddr, queryAddr string
	promAddr                      string // tenant-scoped Prometheus API (with Jaeger only)
	tenantsFile                   string
	conn                          *grpc.ClientConn
}

func writeTenants(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func tenantsYAML(westLimits string, eastTokens ...string) string {
	var hashes []string
	for _, tok := range eastTokens {
		hashes = append(hashes, tenants.HashToken(tok))
	}
	return fmt.Sprintf(`tenants:
  - id: %s
    token_sha256: [%s]
    limits: {%s}
  - id: %s
    token_sha256: [%s]
`, westID, tenants.HashToken(westToken), westLimits, eastID, strings.Join(hashes, ", "))
}

func startAppliance(t *testing.T, jaeger *e2e.Jaeger, tenantsFileContent string) *appliance {
	t.Helper()
	a := &appliance{grpcAddr: e2e.FreeAddr(t), httpAddr: e2e.FreeAddr(t), queryAddr: e2e.FreeAddr(t), promAddr: e2e.FreeAddr(t)}
	a.tenantsFile = filepath.Join(t.TempDir(), "tenants.yaml")
	writeTenants(t, a.tenantsFile, tenantsFileContent)
	health := e2e.FreeAddr(t)
	exporter := "debug: {verbosity: basic}"
	exporterName := "debug"
	queryExt := ""
	extensions := "[healthcheckv2, tenantauth]"
	metricsPipeline := ""
	if jaeger != nil {
		// The full read side: traces through Jaeger, metrics in the
		// embedded store behind the tenant-scoped Prometheus API.
		exporter = "otlp_grpc/jaeger: {endpoint: " + jaeger.OTLPGRPC + ", tls: {insecure: true}}\n" +
			"  victoriametrics: {directory: \"${env:SCADAOTEL_DATA_DIR}/metrics\", memory_limit_mib: 128}"
		exporterName = "otlp_grpc/jaeger"
		queryExt = `
  tenant_trace_query:
    endpoint: ` + a.queryAddr + `
    jaeger_endpoint: ` + jaeger.QueryURL + `
  prometheus_query:
    endpoint: ` + a.promAddr + `
    auth: {authenticator: tenantauth}`
		extensions = "[healthcheckv2, tenantauth, tenant_trace_query, prometheus_query]"
		metricsPipeline = `
    metrics: {receivers: [otlp], processors: [memory_limiter, tenantstamp], exporters: [victoriametrics]}`
	}
	cfg := `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: ` + health + `}}
  tenantauth:
    tenants_file: ` + a.tenantsFile + `
    reload_interval: 1s` + queryExt + `
receivers:
  otlp:
    protocols:
      grpc: {endpoint: ` + a.grpcAddr + `, auth: {authenticator: tenantauth}, middlewares: [{id: tenantauth}]}
      http: {endpoint: ` + a.httpAddr + `, auth: {authenticator: tenantauth}, middlewares: [{id: tenantauth}]}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  tenantstamp: {}
exporters:
  ` + exporter + `
service:
  extensions: ` + extensions + `
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, tenantstamp], exporters: [` + exporterName + `]}` + metricsPipeline + `
`
	a.Collector = e2e.StartCollector(t, cfg)
	var err error
	a.conn, err = grpc.NewClient(a.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.conn.Close() })
	return a
}

func newTraceID(t testing.TB) pcommon.TraceID {
	var id pcommon.TraceID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func hexID(id pcommon.TraceID) string { return hex.EncodeToString(id[:]) }

// traces builds one resource with service and the given spans of traceID;
// resAttrs and spanAttrs are extra string attributes (e.g. a spoofed tenant).
func traces(t testing.TB, service, op string, traceID pcommon.TraceID, spans int, resAttrs, spanAttrs map[string]string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	for k, v := range resAttrs {
		rs.Resource().Attributes().PutStr(k, v)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < spans; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName(op)
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(traceID)
		var sid pcommon.SpanID
		_, _ = rand.Read(sid[:])
		s.SetSpanID(sid)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		for k, v := range spanAttrs {
			s.Attributes().PutStr(k, v)
		}
	}
	return td
}

type httpResult struct {
	code       int
	body       string
	retryAfter string
	latency    time.Duration
}

// postHTTP sends OTLP/HTTP protobuf traces; header keys are used verbatim.
func (a *appliance) postHTTP(t testing.TB, td ptrace.Traces, headers ...string) httpResult {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return a.postOTLP(t, "/v1/traces", body, headers...)
}

// postOTLP posts an OTLP protobuf body to path of the OTLP/HTTP receiver.
func (a *appliance) postOTLP(t testing.TB, path string, body []byte, headers ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+a.httpAddr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return httpResult{code: resp.StatusCode, body: string(msg), retryAfter: resp.Header.Get("Retry-After"), latency: time.Since(start)}
}

func (a *appliance) exportGRPC(td ptrace.Traces, kv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	_, err := ptraceotlp.NewGRPCClient(a.conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// query calls the tenant-scoped read API (or any base URL) with a GET.
func query(t testing.TB, base, path string, q url.Values, headers ...string) (int, string) {
	t.Helper()
	u := base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
