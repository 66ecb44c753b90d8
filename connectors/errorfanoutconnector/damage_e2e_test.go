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
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/recordio"
	"github.com/scadaotel/scadaotel/tenants"
)

// The real binary starts on a damaged alert history (the issue: it refused
// to start and then panicked): a format 1 alerts.json cut in its second
// episode, then a journal with a damaged record, then a journal of pure
// garbage. Each time the appliance becomes healthy, serves what could be
// read, keeps the damaged file aside, and stops cleanly.
func TestApplianceStartsOnDamagedHistory(t *testing.T) {
	const tenant, token = "west-pipeline-01", "token-west-3f9a"
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	require.NoError(t, os.WriteFile(tenantsFile, []byte(fmt.Sprintf("tenants:\n  - id: %s\n    token_sha256: [%s]\n", tenant, tenants.HashToken(token))), 0o600))
	dataDir := filepath.Join(dir, "data")
	histDir := filepath.Join(dataDir, "errorfanout")
	require.NoError(t, os.MkdirAll(histDir, 0o750))

	// Format 1: svc-kept (resolved), then svc-lost cut in the middle.
	ev := func(id, service, state string) errorfanoutconnector.EventRecord {
		start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		e := errorfanoutconnector.Event{AlertID: id, Tenant: tenant, Service: service, State: state, ErrorRate: 0.2,
			Threshold: 0.05, WindowS: 30, Spans: 100, Errors: 20, StartedAt: start}
		if state == errorfanoutconnector.StateResolved {
			e.ResolvedAt = start.Add(5 * time.Minute)
		}
		return errorfanoutconnector.EventRecord{Event: e, Delivery: errorfanoutconnector.DeliveryQueued}
	}
	resolved := time.Date(2026, 11, 25, 12, 5, 0, 0, time.UTC)
	v1 := map[string]any{"version": 1, "episodes": map[string]any{tenant: []errorfanoutconnector.Episode{
		{AlertID: strings.Repeat("a", 32), Tenant: tenant, Service: "svc-kept", State: "resolved", ResolvedAt: &resolved,
			Events: []errorfanoutconnector.EventRecord{ev(strings.Repeat("a", 32), "svc-kept", "firing"), ev(strings.Repeat("a", 32), "svc-kept", "resolved")}},
		{AlertID: strings.Repeat("b", 32), Tenant: tenant, Service: "svc-lost", State: "firing",
			Events: []errorfanoutconnector.EventRecord{ev(strings.Repeat("b", 32), "svc-lost", "firing")}},
	}}}
	b, err := json.Marshal(v1)
	require.NoError(t, err)
	cut := bytes.Index(b, []byte("svc-lost")) + 4
	require.NoError(t, os.WriteFile(filepath.Join(histDir, "alerts.json"), append(b[:cut:cut], "\x00\x00\x1fgarbage"...), 0o640))

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
  tenantstamp: {}
connectors:
  errorfanout:
    store: [traces/store]
    alert: [traces/alert]
    window: 5s
    buckets: 5
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
      processors: [tenantstamp]
      exporters: [errorfanout]
    traces/store: {receivers: [errorfanout], exporters: [debug]}
    traces/alert: {receivers: [errorfanout], exporters: [debug]}
    logs/alerts: {receivers: [errorfanout], exporters: [debug]}
`
	episodes := func() []string {
		req, err := http.NewRequest(http.MethodGet, "http://"+alertsAddr+"/api/v1/alerts", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		var r struct {
			Episodes []errorfanoutconnector.Episode `json:"episodes"`
		}
		require.NoError(t, json.Unmarshal(body, &r))
		var out []string
		for _, ep := range r.Episodes {
			out = append(out, ep.Service+"/"+ep.State)
		}
		sort.Strings(out)
		return out
	}
	aside := func(pattern string) []string {
		m, err := filepath.Glob(filepath.Join(histDir, pattern))
		require.NoError(t, err)
		return m
	}

	// 1. A damaged format 1 file: the episode before the damage survives.
	c := e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+dataDir)
	assert.Equal(t, []string{"svc-kept/resolved"}, episodes())
	assert.Len(t, aside("alerts.json.damaged-*"), 1)
	assert.Contains(t, c.Output(), "alert history damaged")
	sendBurst(t, otlpHTTP, token, "svc-new") // fires, and is appended to the journal
	e2e.Eventually(t, 10*time.Second, func() error {
		if got := episodes(); len(got) != 2 {
			return fmt.Errorf("episodes %v", got)
		}
		return nil
	})
	code, _ := c.Stop(t)
	require.Equal(t, 0, code)

	// 2. The journal with its first event record (svc-kept firing) damaged.
	logPath := filepath.Join(histDir, "alerts.log")
	jb, err := os.ReadFile(logPath)
	require.NoError(t, err)
	recs, dmg := recordio.ScanAll(jb)
	require.Empty(t, dmg)
	require.GreaterOrEqual(t, len(recs), 4, "header, svc-kept x2, svc-new")
	jb[recs[1].Offset+recordio.HeaderSize+3] ^= 0x10
	require.NoError(t, os.WriteFile(logPath, jb, 0o640))
	c = c.Restart(t)
	assert.Equal(t, []string{"svc-kept/resolved", "svc-new/firing"}, episodes(), "everything after the damaged record")
	assert.Len(t, aside("alerts.log.damaged-*"), 1)
	assert.Regexp(t, `"from_byte": \d+, "to_byte": \d+`, c.Output())
	code, _ = c.Stop(t)
	require.Equal(t, 0, code)

	// 3. Nothing readable at all.
	require.NoError(t, os.WriteFile(logPath, bytes.Repeat([]byte("\x00garbage\xff"), 100), 0o640))
	time.Sleep(1100 * time.Millisecond) // another <unix> second for the aside name
	c = c.Restart(t)
	assert.Empty(t, episodes())
	assert.Len(t, aside("alerts.log.damaged-*"), 2)
	assert.Contains(t, c.Output(), "moved aside")
	code, _ = c.Stop(t)
	require.Equal(t, 0, code)
	assert.NotContains(t, c.Output(), "panic")
}

// sendBurst writes 100 spans, half errors, for service: the key fires.
func sendBurst(t *testing.T, otlpHTTP, token, service string) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < 100; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{9, byte(i + 1), 1})
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
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
