//go:build e2e

package errorfanoutconnector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// The alert history API as the appliance serves it (confighttp with the
// tenantauth authenticator, as in collector/config/default.yaml), through
// the real binary: tenants write with their tokens, the tenantstamp
// processor sets the tenant, and each tenant reads back only its own alert
// episodes, whatever it puts in headers or parameters.
func TestHistoryAPIThroughBinaryTenantScoped(t *testing.T) {
	const (
		tenantA, tokenA = "west-pipeline-01", "token-west-3f9a"
		tenantB, tokenB = "east-pipeline-02", "token-east-81cc"
	)
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	require.NoError(t, os.WriteFile(tenantsFile, []byte(fmt.Sprintf(`tenants:
  - id: %s
    token_sha256: [%s]
  - id: %s
    token_sha256: [%s]
`, tenantA, tenants.HashToken(tokenA), tenantB, tenants.HashToken(tokenB))), 0o600))
	health, otlpHTTP, alertsAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	cfg := `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: ` + health + `}}
  tenantauth: {tenants_file: ` + tenantsFile + `}
receivers:
  otlp:
    protocols:
      http: {endpoint: ` + otlpHTTP + `, auth: {authenticator: tenantauth}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  tenantstamp: {}
connectors:
  errorfanout:
    store: [traces/store]
    alert: [traces/alert]
    window: 5s
    buckets: 5
    min_spans: 20
    history:
      directory: ${env:SCADAOTEL_DATA_DIR}/errorfanout
    http:
      endpoint: ` + alertsAddr + `
      auth: {authenticator: tenantauth}
exporters:
  debug: {verbosity: basic}
service:
  extensions: [healthcheckv2, tenantauth]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, tenantstamp]
      exporters: [errorfanout]
    traces/store: {receivers: [errorfanout], exporters: [debug]}
    traces/alert: {receivers: [errorfanout], exporters: [debug]}
    logs/alerts: {receivers: [errorfanout], exporters: [debug]}
`
	e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+filepath.Join(dir, "data"))

	// 100 spans, half of them errors: the key fires on this request.
	// claimed is the resource tenant the client writes (tenantstamp
	// overwrites it with the token's tenant).
	send := func(token, claimed, service string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		tenants.SetOnResource(rs.Resource(), claimed)
		rs.Resource().Attributes().PutStr("service.name", service)
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		now := time.Now()
		for i := 0; i < 100; i++ {
			s := ss.AppendEmpty()
			s.SetTraceID(pcommon.TraceID{byte(len(service)), byte(i + 1), 1})
			s.SetSpanID(pcommon.SpanID{byte(i + 1), 1})
			s.SetName("modbus-read")
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			if i%2 == 0 {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, "http://"+otlpHTTP+"/v1/traces", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "write as %s/%s", claimed, service)
	}
	send(tokenA, tenantA, "svc-a")
	send(tokenB, tenantB, "svc-b")
	send(tokenA, tenantB, "svc-spoof") // A claims to write as B: counted as A

	get := func(path string, hdr map[string]string) (int, string, []string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+alertsAddr+path, nil)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var body struct {
			Tenant   string `json:"tenant"`
			Episodes []struct {
				Tenant  string `json:"tenant"`
				Service string `json:"service"`
				State   string `json:"state"`
			} `json:"episodes"`
		}
		var keys []string
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(b, &body), "%s", b)
			for _, ep := range body.Episodes {
				keys = append(keys, ep.Tenant+"/"+ep.Service+"/"+ep.State)
			}
			sort.Strings(keys)
		}
		return resp.StatusCode, body.Tenant + string(b), keys
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	wantA := []string{tenantA + "/svc-a/firing", tenantA + "/svc-spoof/firing"}
	wantB := []string{tenantB + "/svc-b/firing"}
	e2e.Eventually(t, 10*time.Second, func() error {
		if _, _, got := get("/api/v1/alerts", bearer(tokenA)); len(got) != len(wantA) {
			return fmt.Errorf("tenant A sees %v", got)
		}
		if _, _, got := get("/api/v1/alerts", bearer(tokenB)); len(got) != len(wantB) {
			return fmt.Errorf("tenant B sees %v", got)
		}
		return nil
	})

	code, _, got := get("/api/v1/alerts", bearer(tokenA))
	t.Logf("tenant A sees %v", got)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, wantA, got, "A sees its own episodes, including the one it tried to file under B")
	code, _, got = get("/api/v1/alerts", bearer(tokenB))
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, wantB, got, "B never sees A's episodes, nor the one A claimed was B's")

	// Other tenants' ids in parameters select nothing else.
	for _, path := range []string{
		"/api/v1/alerts?tenant=" + tenantB,
		"/api/v1/alerts?service=svc-b",
		"/api/v1/alerts?tenant=" + tenantB + "&service=svc-b",
	} {
		code, body, got := get(path, bearer(tokenA))
		assert.Equal(t, http.StatusOK, code, path)
		assert.NotContains(t, body, "svc-b", path)
		for _, k := range got {
			assert.Contains(t, k, tenantA+"/", path)
		}
	}
	// Refusals.
	for name, tc := range map[string]struct {
		hdr  map[string]string
		code int
	}{
		"no token":              {nil, http.StatusUnauthorized},
		"unknown token":         {bearer("token-nobody"), http.StatusUnauthorized},
		"not a bearer token":    {map[string]string{"Authorization": "Basic " + tokenA}, http.StatusUnauthorized},
		"tenant header only":    {map[string]string{tenants.Header: tenantB}, http.StatusUnauthorized},
		"foreign tenant header": {map[string]string{"Authorization": "Bearer " + tokenA, tenants.Header: tenantB}, http.StatusForbidden},
	} {
		code, body, got := get("/api/v1/alerts", tc.hdr)
		assert.Equal(t, tc.code, code, "%s: %s", name, body)
		assert.Empty(t, got, name)
		assert.NotContains(t, body, "svc-", name)
	}
}
