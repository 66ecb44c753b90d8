package tracequeryextension

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/internal/traceindex"
	"github.com/scadaotel/scadaotel/tenants"
)

// fakeJaeger counts calls per path and answers with handle.
type fakeJaeger struct {
	*httptest.Server
	calls  atomic.Int64
	handle func(w http.ResponseWriter, r *http.Request)
}

func newFakeJaeger(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *fakeJaeger {
	f := &fakeJaeger{handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.handle(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func spansOf(service, op string, kind ptrace.SpanKind, id [16]byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName(op)
	s.SetKind(kind)
	s.SetTraceID(pcommon.TraceID(id))
	return td
}

func call(t *testing.T, p *proxy, tenant, target string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req = req.WithContext(tenants.NewContext(req.Context(), tenant))
	rec := httptest.NewRecorder()
	p.routes().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestIndexAnswersWithoutJaeger: services, operations, and a service or
// trace id the caller never sent (missing, or another tenant's) are
// answered from the index without a call to Jaeger; only the caller's own
// ids reach Jaeger.
func TestIndexAnswersWithoutJaeger(t *testing.T) {
	jaeger := newFakeJaeger(t, func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) })
	cfg := createDefaultConfig().(*Config)
	p := newProxy(mustURL(t, jaeger.URL), cfg, zap.NewNop())
	p.ix.Store(traceindex.New(cfg.indexConfig(), nil))
	westID := [16]byte{1, 2, 3}
	p.ix.Load().RecordTraces("west", spansOf("plc", "read", ptrace.SpanKindServer, westID))
	p.ix.Load().RecordTraces("east", spansOf("hmi", "poll", ptrace.SpanKindClient, [16]byte{9}))

	for _, c := range []struct{ tenant, target, want string }{
		{"west", "/api/services", `"data":["plc"]`},
		{"east", "/api/services", `"data":["hmi"]`},
		{"north", "/api/services", `"data":[]`},
		{"west", "/api/v3/services", `{"services":["plc"]}`},
		{"west", "/api/services/plc/operations", `"data":["read"]`},
		{"east", "/api/services/plc/operations", `"data":[]`},
		{"west", "/api/operations?service=plc&spanKind=server", `"data":[{"name":"read","spanKind":"server"}]`},
		{"west", "/api/v3/operations?service=plc&span_kind=client", `{"operations":[]}`},
		{"east", "/api/traces?service=plc&limit=20", `"data":[]`},
		{"east", "/api/traces?traceID=" + fmt.Sprintf("%x", westID), `"data":[]`},
	} {
		code, body := call(t, p, c.tenant, c.target)
		if code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s, want %s", c.tenant, c.target, code, body, c.want)
		}
	}
	for _, target := range []string{"/api/traces/" + fmt.Sprintf("%x", westID), "/api/traces/00ff", "/api/v3/traces/" + fmt.Sprintf("%x", westID),
		"/api/v3/traces?query.service_name=plc"} {
		if code, body := call(t, p, "east", target); code != 404 {
			t.Errorf("east %s: %d %s", target, code, body)
		}
	}
	if n := jaeger.calls.Load(); n != 0 {
		t.Fatalf("%d calls to Jaeger, want none", n)
	}
	// The caller's own id is fetched (the fake answers 404).
	if code, _ := call(t, p, "west", "/api/traces/"+fmt.Sprintf("%x", westID)); code != 404 || jaeger.calls.Load() != 1 {
		t.Errorf("own id: %d, %d calls", code, jaeger.calls.Load())
	}
	// Until the index covers the store, Jaeger answers (as before it).
	p.legacy.Store(true)
	call(t, p, "east", "/api/traces/00ff")
	if jaeger.calls.Load() != 2 {
		t.Errorf("legacy mode did not ask Jaeger")
	}
}

// TestSearchPagesPastForeignSpans: Jaeger's tag filter matches span
// attributes, so full pages of another tenant's traces could fill the
// limit; the search goes on before the oldest trace of each page, asking
// for twice as many each time, at most maxSearchRounds calls.
func TestSearchPagesPastForeignSpans(t *testing.T) {
	const limit, foreign = 5, 30 // 5 + 10 + 20 > 30: found in round 3
	trace := func(id string, start int64, tenant string) string {
		return `{"traceID":"` + id + `","spans":[{"spanID":"1","operationName":"op","startTime":` + strconv.FormatInt(start, 10) +
			`,"processID":"p1","tags":[]}],"processes":{"p1":{"serviceName":"shared2","tags":[{"key":"scada.tenant","type":"string","value":"` + tenant + `"}]}}}`
	}
	// Newest first: the foreign traces start at 2000+i, the caller's at 500.
	var asked []string
	jaeger := newFakeJaeger(t, func(w http.ResponseWriter, r *http.Request) {
		end, _ := strconv.ParseInt(r.URL.Query().Get("end"), 10, 64)
		n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		asked = append(asked, r.URL.Query().Get("limit"))
		var data []string
		for i := foreign - 1; i >= 0 && len(data) < n; i-- {
			if start := 2000 + int64(i); start <= end {
				data = append(data, trace(fmt.Sprintf("a%d", i), start, "tenant-a"))
			}
		}
		if len(data) < n && end >= 500 {
			data = append(data, trace("b1", 500, "tenant-b"))
		}
		_, _ = fmt.Fprintf(w, `{"data":[%s]}`, strings.Join(data, ","))
	})
	cfg := createDefaultConfig().(*Config)
	p := newProxy(mustURL(t, jaeger.URL), cfg, zap.NewNop())
	q := url.Values{"service": {"shared2"}, "limit": {strconv.Itoa(limit)}, "start": {"1"}, "end": {"5000"}}
	code, body := call(t, p, "tenant-b", "/api/traces?"+q.Encode())
	if code != 200 || !strings.Contains(body, `"traceID":"b1"`) || strings.Contains(body, `"a0"`) {
		t.Errorf("%d %s", code, body)
	}
	if !slices.Equal(asked, []string{"5", "10", "20"}) {
		t.Errorf("asked Jaeger for %v traces, want [5 10 20]", asked)
	}
	// Bounded: with far more foreign traces, at most maxSearchRounds calls.
	asked = nil
	code, body = call(t, p, "tenant-c", "/api/traces?"+q.Encode())
	if code != 200 || len(asked) > maxSearchRounds {
		t.Errorf("%d %s after %d calls", code, body, len(asked))
	}
}

func authHost(t *testing.T) map[component.ID]component.Component {
	t.Helper()
	af := tenantauthextension.NewFactory()
	ext, err := af.Create(context.Background(), extensiontest.NewNopSettings(af.Type()), af.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return map[component.ID]component.Component{component.MustNewID("tenantauth"): ext}
}

type mapHost map[component.ID]component.Component

func (h mapHost) GetExtensions() map[component.ID]component.Component { return h }

// TestIndexSavedAndRebuilt: a first start over a Jaeger that already holds
// traces builds the index from it (and asks Jaeger for unknown ids for one
// lookback); the index is saved at shutdown and loaded at the next start.
func TestIndexSavedAndRebuilt(t *testing.T) {
	stored := `{"data":[{"traceID":"0a","spans":[{"spanID":"1","operationName":"read","processID":"p1","tags":[{"key":"span.kind","type":"string","value":"server"}]}],
 "processes":{"p1":{"serviceName":"plc","tags":[{"key":"scada.tenant","type":"string","value":"west"}]}}}]}`
	jaeger := newFakeJaeger(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/services":
			_, _ = w.Write([]byte(`{"data":["plc"]}`))
		case "/api/traces":
			_, _ = w.Write([]byte(stored))
		default:
			http.NotFound(w, r)
		}
	})
	dir := t.TempDir()
	start := func() *queryExtension {
		cfg := createDefaultConfig().(*Config)
		cfg.Endpoint = "127.0.0.1:0"
		cfg.JaegerEndpoint = jaeger.URL
		cfg.Index.Directory = dir
		e, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background(), mapHost(authHost(t))); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	deadline := time.Now().Add(10 * time.Second)
	for e.proxy.legacy.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.proxy.legacy.Load() {
		t.Fatal("index not built from Jaeger")
	}
	if got := e.proxy.ix.Load().Services("west"); !slices.Equal(got, []string{"plc"}) {
		t.Errorf("rebuilt services %v", got)
	}
	if !e.proxy.ix.Load().MayHaveTrace("west", [16]byte{0x0a}) && !e.proxy.ix.Load().MayHaveTrace("west", [16]byte{15: 0x0a}) {
		t.Error("rebuilt trace id missing")
	}
	e.RecordTraces("east", spansOf("hmi", "poll", ptrace.SpanKindClient, [16]byte{7}))
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := traceindex.Load(filepath.Join(dir, indexFile), e.cfg.indexConfig(), nil); err != nil {
		t.Fatalf("saved index: %v", err)
	}
	calls := jaeger.calls.Load()
	e2 := start()
	defer func() { _ = e2.Shutdown(context.Background()) }()
	if e2.proxy.legacy.Load() {
		t.Error("a loaded index is not used")
	}
	if got := e2.proxy.ix.Load().Services("east"); !slices.Equal(got, []string{"hmi"}) {
		t.Errorf("loaded services %v", got)
	}
	if jaeger.calls.Load() != calls {
		t.Error("a loaded index was rebuilt from Jaeger")
	}
}

// TestSearchV3PagesPastOtherTenants: Jaeger's v3 search cannot be
// narrowed to a tenant, so with a colliding service name other tenants'
// newer traces fill query.num_traces; the search goes on before the
// oldest span of each full answer, asking for twice as many.
func TestSearchV3PagesPastOtherTenants(t *testing.T) {
	const limit, foreign = 5, 30
	base := time.Unix(1_800_000_000, 0)
	rs := func(id string, start time.Time, tenant string) string {
		return `{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shared2"}},{"key":"scada.tenant","value":{"stringValue":"` + tenant +
			`"}}]},"scopeSpans":[{"scope":{},"spans":[{"traceId":"` + id + `","spanId":"01","name":"op-` + tenant + `","startTimeUnixNano":"` +
			strconv.FormatInt(start.UnixNano(), 10) + `","attributes":[]}]}]}`
	}
	var asked []string
	jaeger := newFakeJaeger(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		end := base.Add(time.Hour)
		if v := q.Get("query.start_time_max"); v != "" {
			end, _ = time.Parse(time.RFC3339Nano, v)
		}
		n, _ := strconv.Atoi(q.Get("query.num_traces"))
		asked = append(asked, q.Get("query.num_traces"))
		var out []string
		for i := foreign - 1; i >= 0 && len(out) < n; i-- {
			if st := base.Add(time.Duration(100+i) * time.Second); !st.After(end) {
				out = append(out, rs(fmt.Sprintf("%032x", 100+i), st, "tenant-a"))
			}
		}
		if st := base.Add(10 * time.Second); len(out) < n && !st.After(end) {
			out = append(out, rs(fmt.Sprintf("%032x", 1), st, "tenant-b"))
		}
		if len(out) == 0 {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprintf(w, `{"result":{"resourceSpans":[%s]}}`, strings.Join(out, ","))
	})
	cfg := createDefaultConfig().(*Config)
	p := newProxy(mustURL(t, jaeger.URL), cfg, zap.NewNop())
	q := url.Values{"query.service_name": {"shared2"}, "query.num_traces": {strconv.Itoa(limit)},
		"query.start_time_min": {base.Format(time.RFC3339Nano)}, "query.start_time_max": {base.Add(time.Hour).Format(time.RFC3339Nano)}}
	code, body := call(t, p, "tenant-b", "/api/v3/traces?"+q.Encode())
	if code != 200 || !strings.Contains(body, "op-tenant-b") || strings.Contains(body, "op-tenant-a") {
		t.Errorf("%d %s", code, body)
	}
	if !slices.Equal(asked, []string{"5", "10", "20"}) {
		t.Errorf("asked Jaeger for %v traces, want [5 10 20]", asked)
	}
	// The tenant with many traces gets exactly num_traces of its own.
	asked = nil
	code, body = call(t, p, "tenant-a", "/api/v3/traces?"+q.Encode())
	if code != 200 || strings.Count(body, "op-tenant-a") != limit || len(asked) != 1 {
		t.Errorf("tenant-a: %d, %d traces after %d calls", code, strings.Count(body, "op-tenant-a"), len(asked))
	}
}
