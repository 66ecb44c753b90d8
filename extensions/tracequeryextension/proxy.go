package tracequeryextension

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/tenants"
)

// maxUpstreamBody bounds what is read from Jaeger per call.
const maxUpstreamBody = 64 << 20

var traceIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{1,32}$`)

// The bodies of a 404, identical whether the trace is missing or belongs to
// another tenant, so probing trace ids reveals nothing.
const (
	notFoundV1 = `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}`
	notFoundV3 = `{"error":{"httpCode":404,"message":"No traces found"}}`
)

// proxy answers Jaeger's query API for the tenant on the request context.
// Every answer is built from the caller's tenant's spans only: a span is
// shown when its process (resource) carries scada.tenant = tenant, which
// the tenantstamp processor set and a client cannot spoof. Searches are
// narrowed upstream by a forced tag filter and filtered again here, because
// Jaeger's tag filter also matches span attributes, which a client controls.
type proxy struct {
	base   *url.URL
	cfg    *Config
	client *http.Client
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time
}

func newProxy(base *url.URL, cfg *Config, logger *zap.Logger) *proxy {
	return &proxy{base: base, cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, logger: logger, now: time.Now}
}

func (p *proxy) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/services", p.servicesV1)
	mux.HandleFunc("GET /api/services/{service}/operations", p.serviceOperationsV1)
	mux.HandleFunc("GET /api/operations", p.operationsV1)
	mux.HandleFunc("GET /api/traces", p.findTracesV1)
	mux.HandleFunc("GET /api/traces/{id}", p.getTraceV1)
	mux.HandleFunc("GET /api/v3/services", p.servicesV3)
	mux.HandleFunc("GET /api/v3/operations", p.operationsV3)
	mux.HandleFunc("GET /api/v3/traces", p.findTracesV3)
	mux.HandleFunc("GET /api/v3/traces/{id}", p.getTraceV3)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Fail closed if mounted without the authenticator: the filter
		// would otherwise match resources without a tenant.
		tenant := tenants.FromContext(r.Context())
		if tenant == "" {
			code, reason := tenants.NoTenantStatus(r.Context())
			tenants.SetChallenge(w.Header(), code)
			http.Error(w, reason, code)
			return
		}
		start := time.Now()
		_, route := mux.Handler(r)
		if route == "" {
			route = "unknown"
		}
		rec := httpjson.NewStatusRecorder(w)
		mux.ServeHTTP(rec, r)
		p.tel.request(r.Context(), route, tenant, rec.Code, time.Since(start))
	})
}

// ---- upstream ----

type upstreamError struct {
	status int
	msg    string
}

func (e *upstreamError) Error() string { return e.msg }

// get calls Jaeger; the query is always built from url.Values.
func (p *proxy) get(ctx context.Context, path string, q url.Values) (int, []byte, error) {
	u := *p.base
	u.Path = strings.TrimSuffix(p.base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		p.tel.upstreamFailure(ctx, "unavailable")
		return 0, nil, &upstreamError{http.StatusBadGateway, "trace store unavailable"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		p.tel.upstreamFailure(ctx, "unreadable")
		return 0, nil, &upstreamError{http.StatusBadGateway, "trace store answer unreadable"}
	}
	if resp.StatusCode >= 500 {
		p.tel.upstreamFailure(ctx, "status_5xx")
	}
	return resp.StatusCode, body, nil
}

func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ue, ok := err.(*upstreamError); ok {
		http.Error(w, ue.msg, ue.status)
		return
	}
	p.logger.Warn("tenant_trace_query: request failed", zap.String("path", r.URL.Path), zap.Error(err))
	http.Error(w, "trace store answer unreadable", http.StatusBadGateway)
}

func notFound(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, body+"\n")
}

// ---- Jaeger v1 JSON (only the fields the filter needs are typed) ----

type v1KV struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type v1Process struct {
	ServiceName string `json:"serviceName"`
	Tags        []v1KV `json:"tags"`
}

type v1Trace struct {
	TraceID   string               `json:"traceID"`
	Spans     []json.RawMessage    `json:"spans"`
	Processes map[string]v1Process `json:"processes"`
	Warnings  []string             `json:"warnings"`
}

type v1SpanHead struct {
	ProcessID     string `json:"processID"`
	OperationName string `json:"operationName"`
	Tags          []v1KV `json:"tags"`
}

type v1Response struct {
	Data   []v1Trace `json:"data"`
	Total  int       `json:"total"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
	Errors any       `json:"errors"`
}

func (kv v1KV) str() (string, bool) {
	var s string
	if kv.Type != "string" || json.Unmarshal(kv.Value, &s) != nil {
		return "", false
	}
	return s, true
}

func processTenant(pr v1Process) string {
	for _, kv := range pr.Tags {
		if kv.Key == tenants.ResourceAttribute {
			if s, ok := kv.str(); ok {
				return s
			}
		}
	}
	return ""
}

// filterV1 keeps the spans of tenant's processes; false when none is left.
func filterV1(tr v1Trace, tenant string) (v1Trace, bool) {
	if tenant == "" {
		return v1Trace{}, false
	}
	out := v1Trace{TraceID: tr.TraceID, Processes: map[string]v1Process{}, Warnings: tr.Warnings}
	for id, pr := range tr.Processes {
		if processTenant(pr) == tenant {
			out.Processes[id] = pr
		}
	}
	for _, raw := range tr.Spans {
		var h v1SpanHead
		if json.Unmarshal(raw, &h) != nil {
			continue
		}
		if _, ok := out.Processes[h.ProcessID]; ok {
			out.Spans = append(out.Spans, raw)
		}
	}
	return out, len(out.Spans) > 0
}

// searchV1 runs a v1 trace search narrowed to tenant and filters the result.
func (p *proxy) searchV1(ctx context.Context, tenant string, q url.Values) ([]v1Trace, error) {
	tags := map[string]string{}
	if raw := q.Get("tags"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &tags); err != nil {
			return nil, &upstreamError{http.StatusBadRequest, "malformed parameter tags: want a JSON object of strings"}
		}
	}
	tags[tenants.ResourceAttribute] = tenant
	enc, _ := json.Marshal(tags)
	q.Set("tags", string(enc))
	code, body, err := p.get(ctx, "/api/traces", q)
	if err != nil {
		return nil, err
	}
	if code == http.StatusBadRequest {
		return nil, &upstreamError{http.StatusBadRequest, "bad search parameters"}
	}
	if code != http.StatusOK {
		return nil, &upstreamError{http.StatusBadGateway, fmt.Sprintf("trace store answered %d", code)}
	}
	var resp v1Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("cannot decode Jaeger search answer: %w", err)
	}
	kept := make([]v1Trace, 0, len(resp.Data))
	for _, tr := range resp.Data {
		if f, ok := filterV1(tr, tenant); ok {
			kept = append(kept, f)
		}
	}
	return kept, nil
}

func (p *proxy) probeQuery(service string) url.Values {
	now := p.now()
	return url.Values{
		"service": {service},
		"limit":   {strconv.Itoa(p.cfg.SearchDepth)},
		"start":   {strconv.FormatInt(now.Add(-p.cfg.ServicesLookback).UnixMicro(), 10)},
		"end":     {strconv.FormatInt(now.Add(time.Minute).UnixMicro(), 10)},
	}
}

// tenantServices lists the services with at least one span of tenant.
func (p *proxy) tenantServices(ctx context.Context, tenant string) ([]string, error) {
	code, body, err := p.get(ctx, "/api/services", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, &upstreamError{http.StatusBadGateway, fmt.Sprintf("trace store answered %d", code)}
	}
	var all struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, fmt.Errorf("cannot decode Jaeger services: %w", err)
	}
	out := []string{}
	for _, s := range all.Data {
		traces, err := p.searchV1(ctx, tenant, p.probeQuery(s))
		if err != nil {
			return nil, err
		}
		if hasService(traces, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

func hasService(traces []v1Trace, service string) bool {
	for _, tr := range traces {
		for _, pr := range tr.Processes {
			if pr.ServiceName == service {
				return true
			}
		}
	}
	return false
}

type operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

// tenantOperations lists the operations of service among tenant's spans.
func (p *proxy) tenantOperations(ctx context.Context, tenant, service, kind string) ([]operation, error) {
	if service == "" {
		return []operation{}, nil
	}
	traces, err := p.searchV1(ctx, tenant, p.probeQuery(service))
	if err != nil {
		return nil, err
	}
	seen := map[operation]bool{}
	for _, tr := range traces {
		for _, raw := range tr.Spans {
			var h v1SpanHead
			if json.Unmarshal(raw, &h) != nil || tr.Processes[h.ProcessID].ServiceName != service {
				continue
			}
			op := operation{Name: h.OperationName}
			for _, kv := range h.Tags {
				if kv.Key == "span.kind" {
					op.SpanKind, _ = kv.str()
				}
			}
			if kind == "" || kind == op.SpanKind {
				seen[op] = true
			}
		}
	}
	ops := make([]operation, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Name != ops[j].Name {
			return ops[i].Name < ops[j].Name
		}
		return ops[i].SpanKind < ops[j].SpanKind
	})
	return ops, nil
}

// ---- v1 handlers ----

func (p *proxy) servicesV1(w http.ResponseWriter, r *http.Request) {
	svcs, err := p.tenantServices(r.Context(), tenants.FromContext(r.Context()))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"data": svcs, "total": len(svcs), "limit": 0, "offset": 0, "errors": nil})
}

func (p *proxy) serviceOperationsV1(w http.ResponseWriter, r *http.Request) {
	ops, err := p.tenantOperations(r.Context(), tenants.FromContext(r.Context()), r.PathValue("service"), "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	names := []string{}
	seen := map[string]bool{}
	for _, op := range ops {
		if !seen[op.Name] {
			seen[op.Name] = true
			names = append(names, op.Name)
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"data": names, "total": len(names), "limit": 0, "offset": 0, "errors": nil})
}

func (p *proxy) operationsV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ops, err := p.tenantOperations(r.Context(), tenants.FromContext(r.Context()), q.Get("service"), q.Get("spanKind"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"data": ops, "total": len(ops), "limit": 0, "offset": 0, "errors": nil})
}

// v1SearchParams are the search parameters passed on to Jaeger; anything
// else (e.g. the `tag` form) is dropped.
var v1SearchParams = []string{"service", "operation", "start", "end", "minDuration", "maxDuration", "limit", "tags", "traceID", "spanKind"}

func (p *proxy) findTracesV1(w http.ResponseWriter, r *http.Request) {
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range v1SearchParams {
		if v, ok := in[k]; ok {
			q[k] = v
		}
	}
	for _, id := range q["traceID"] {
		if !traceIDPattern.MatchString(id) {
			http.Error(w, "malformed parameter traceID", http.StatusBadRequest)
			return
		}
	}
	traces, err := p.searchV1(r.Context(), tenants.FromContext(r.Context()), q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, v1Response{Data: traces, Total: len(traces)})
}

func (p *proxy) getTraceV1(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !traceIDPattern.MatchString(id) {
		http.Error(w, "malformed trace id", http.StatusBadRequest)
		return
	}
	q := url.Values{}
	for _, k := range []string{"start", "end", "raw"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	code, body, err := p.get(r.Context(), "/api/traces/"+strings.ToLower(id), q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if code == http.StatusNotFound {
		notFound(w, notFoundV1)
		return
	}
	if code != http.StatusOK {
		p.fail(w, r, &upstreamError{http.StatusBadGateway, fmt.Sprintf("trace store answered %d", code)})
		return
	}
	var resp v1Response
	if err := json.Unmarshal(body, &resp); err != nil {
		p.fail(w, r, fmt.Errorf("cannot decode Jaeger trace: %w", err))
		return
	}
	tenant := tenants.FromContext(r.Context())
	kept := []v1Trace{}
	for _, tr := range resp.Data {
		if f, ok := filterV1(tr, tenant); ok {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		notFound(w, notFoundV1)
		return
	}
	httpjson.Write(w, http.StatusOK, v1Response{Data: kept, Total: len(kept)})
}

// ---- v3 (OTLP JSON) ----

type v3Result struct {
	Result struct {
		ResourceSpans []json.RawMessage `json:"resourceSpans"`
	} `json:"result"`
}

type v3ResourceHead struct {
	Resource struct {
		Attributes []struct {
			Key   string `json:"key"`
			Value struct {
				StringValue *string `json:"stringValue"`
			} `json:"value"`
		} `json:"attributes"`
	} `json:"resource"`
}

func v3Tenant(raw json.RawMessage) string {
	var h v3ResourceHead
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	for _, a := range h.Resource.Attributes {
		if a.Key == tenants.ResourceAttribute && a.Value.StringValue != nil {
			return *a.Value.StringValue
		}
	}
	return ""
}

// v3Filtered calls a v3 trace endpoint and keeps tenant's resource spans.
func (p *proxy) v3Filtered(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	code, body, err := p.get(r.Context(), path, q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if code == http.StatusNotFound {
		notFound(w, notFoundV3)
		return
	}
	if code == http.StatusBadRequest {
		http.Error(w, "bad query parameters", http.StatusBadRequest)
		return
	}
	if code != http.StatusOK {
		p.fail(w, r, &upstreamError{http.StatusBadGateway, fmt.Sprintf("trace store answered %d", code)})
		return
	}
	var res v3Result
	if err := json.Unmarshal(body, &res); err != nil {
		p.fail(w, r, fmt.Errorf("cannot decode Jaeger v3 answer: %w", err))
		return
	}
	tenant := tenants.FromContext(r.Context())
	var out v3Result
	out.Result.ResourceSpans = []json.RawMessage{}
	for _, rs := range res.Result.ResourceSpans {
		if tenant != "" && v3Tenant(rs) == tenant {
			out.Result.ResourceSpans = append(out.Result.ResourceSpans, rs)
		}
	}
	if len(out.Result.ResourceSpans) == 0 {
		notFound(w, notFoundV3)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (p *proxy) getTraceV3(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !traceIDPattern.MatchString(id) {
		http.Error(w, "malformed trace id", http.StatusBadRequest)
		return
	}
	q := url.Values{}
	for _, k := range []string{"start_time", "end_time", "raw_traces"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	p.v3Filtered(w, r, "/api/v3/traces/"+strings.ToLower(id), q)
}

var v3SearchParams = []string{"query.service_name", "query.operation_name", "query.start_time_min", "query.start_time_max",
	"query.num_traces", "query.duration_min", "query.duration_max", "query.raw_traces"}

func (p *proxy) findTracesV3(w http.ResponseWriter, r *http.Request) {
	in := r.URL.Query()
	q := url.Values{}
	for _, k := range v3SearchParams {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	p.v3Filtered(w, r, "/api/v3/traces", q)
}

func (p *proxy) servicesV3(w http.ResponseWriter, r *http.Request) {
	svcs, err := p.tenantServices(r.Context(), tenants.FromContext(r.Context()))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"services": svcs})
}

func (p *proxy) operationsV3(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ops, err := p.tenantOperations(r.Context(), tenants.FromContext(r.Context()), q.Get("service"), q.Get("span_kind"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"operations": ops})
}
