package tracequeryextension

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/traceindex"
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
	// ix is the tenants' own services, operations and trace ids (fed by
	// tenantstamp); legacy is set while it does not yet cover what Jaeger
	// holds (first start over an existing store): answers then come from
	// Jaeger as before the index.
	ix     atomic.Pointer[traceindex.Index]
	legacy atomic.Bool
}

// indexStats is the index's figures for self-metrics.
func (p *proxy) indexStats() map[string]traceindex.Stats {
	if p.ix.Load() == nil {
		return nil
	}
	return p.ix.Load().Stats()
}

// index returns the index when it can answer, else nil.
func (p *proxy) index() *traceindex.Index {
	if p.legacy.Load() {
		return nil
	}
	return p.ix.Load()
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
	StartTime     int64  `json:"startTime"` // µs
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

// processTenant is the tenant of a process: its one scada.tenant tag. Two
// tags (even equal ones) or a non-string one mean no tenant: tenantstamp
// leaves exactly one, so anything else was not written through it.
func processTenant(pr v1Process) string {
	tenant, n := "", 0
	for _, kv := range pr.Tags {
		if kv.Key == tenants.ResourceAttribute {
			n++
			tenant, _ = kv.str()
		}
	}
	if n != 1 {
		return ""
	}
	return tenant
}

// hasTenantTag reports whether a span carries scada.tenant itself, which
// tenantstamp never leaves: such a span was not written through it.
func hasTenantTag(tags []v1KV) bool {
	for _, kv := range tags {
		if kv.Key == tenants.ResourceAttribute {
			return true
		}
	}
	return false
}

// filterV1 keeps the spans of tenant's processes; false when none is left.
// It also returns the earliest start time (µs) of all the trace's spans,
// for paging a search.
func filterV1(tr v1Trace, tenant string) (v1Trace, bool, int64) {
	minStart := int64(math.MaxInt64)
	if tenant == "" {
		return v1Trace{}, false, minStart
	}
	out := v1Trace{TraceID: tr.TraceID, Processes: map[string]v1Process{}, Warnings: tr.Warnings}
	for _, raw := range tr.Spans {
		var h v1SpanHead
		if json.Unmarshal(raw, &h) != nil {
			continue
		}
		minStart = min(minStart, h.StartTime)
		if hasTenantTag(h.Tags) {
			continue
		}
		pr, ok := tr.Processes[h.ProcessID]
		if !ok || processTenant(pr) != tenant {
			continue
		}
		out.Processes[h.ProcessID] = pr
		out.Spans = append(out.Spans, raw)
	}
	return out, len(out.Spans) > 0, minStart
}

// maxSearchRounds bounds the upstream calls of one v1 search, and
// maxRoundLimit the traces asked for in one. Jaeger's tag filter also
// matches span attributes, so spans of other tenants could take the slots
// of the caller's traces in Jaeger's answer; when fewer than the asked
// limit are left after filtering and Jaeger's answer was full, the search
// goes on before the oldest trace seen, asking for twice as many each time
// (a limit of 20 looks at up to 300 traces). tenantstamp strips every
// span-level scada.tenant, so this only matters for data stored before
// that (or written to Jaeger directly).
const (
	maxSearchRounds = 4
	maxRoundLimit   = 2000
)

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
	limit, _ := strconv.Atoi(q.Get("limit"))
	start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
	seen := map[string]bool{}
	kept := []v1Trace{}
	for round, ask := 0, limit; round < maxSearchRounds; round, ask = round+1, min(2*ask, maxRoundLimit) {
		if round > 0 {
			q.Set("limit", strconv.Itoa(ask))
		}
		data, err := p.searchRound(ctx, q)
		if err != nil {
			return nil, err
		}
		oldest := int64(math.MaxInt64)
		for _, tr := range data {
			if seen[tr.TraceID] {
				continue
			}
			seen[tr.TraceID] = true
			f, ok, first := filterV1(tr, tenant)
			oldest = min(oldest, first)
			if ok {
				kept = append(kept, f)
			}
		}
		// Page on only for a full answer of a limited time-range search.
		if limit <= 0 || len(kept) >= limit || len(data) < ask || len(q["traceID"]) > 0 ||
			oldest == math.MaxInt64 || oldest-1 <= start {
			break
		}
		q.Set("end", strconv.FormatInt(oldest-1, 10))
	}
	if limit > 0 && len(kept) > limit {
		kept = kept[:limit]
	}
	return kept, nil
}

func (p *proxy) searchRound(ctx context.Context, q url.Values) ([]v1Trace, error) {
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
	return resp.Data, nil
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

// services answers from the index (time proportional to the tenant's own
// services), or from Jaeger while the index is not ready.
func (p *proxy) services(ctx context.Context, tenant string) ([]string, error) {
	if idx := p.index(); idx != nil {
		return idx.Services(tenant), nil
	}
	return p.tenantServices(ctx, tenant)
}

func (p *proxy) operations(ctx context.Context, tenant, service, kind string) ([]operation, error) {
	if idx := p.index(); idx != nil {
		ops := idx.Operations(tenant, service, kind)
		out := make([]operation, len(ops))
		for i, op := range ops {
			out[i] = operation(op)
		}
		return out, nil
	}
	return p.tenantOperations(ctx, tenant, service, kind)
}

// unknownService reports whether the tenant certainly has no span of
// service: answered without asking Jaeger, exactly like a service of
// another tenant.
func (p *proxy) unknownService(tenant, service string) bool {
	idx := p.index()
	return idx != nil && service != "" && !idx.MayHaveService(tenant, service)
}

// unknownTrace reports whether the tenant certainly has no span of trace
// id (1–32 hex digits): answered 404 without asking Jaeger, exactly like a
// trace of another tenant.
func (p *proxy) unknownTrace(tenant, id string) bool {
	idx := p.index()
	if idx == nil {
		return false
	}
	var tid [16]byte
	if _, err := hex.Decode(tid[:], []byte(strings.Repeat("0", 32-len(id))+id)); err != nil {
		return false
	}
	return !idx.MayHaveTrace(tenant, tid)
}

func (p *proxy) servicesV1(w http.ResponseWriter, r *http.Request) {
	svcs, err := p.services(r.Context(), tenants.FromContext(r.Context()))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"data": svcs, "total": len(svcs), "limit": 0, "offset": 0, "errors": nil})
}

func (p *proxy) serviceOperationsV1(w http.ResponseWriter, r *http.Request) {
	ops, err := p.operations(r.Context(), tenants.FromContext(r.Context()), r.PathValue("service"), "")
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
	ops, err := p.operations(r.Context(), tenants.FromContext(r.Context()), q.Get("service"), q.Get("spanKind"))
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
	tenant := tenants.FromContext(r.Context())
	for _, id := range q["traceID"] {
		if !traceIDPattern.MatchString(id) {
			http.Error(w, "malformed parameter traceID", http.StatusBadRequest)
			return
		}
	}
	// Malformed parameters are refused before the index answers, so the
	// answer never depends on whether Jaeger would have been asked.
	if raw := q.Get("tags"); raw != "" && json.Unmarshal([]byte(raw), &map[string]string{}) != nil {
		http.Error(w, "malformed parameter tags: want a JSON object of strings", http.StatusBadRequest)
		return
	}
	if ids, ok := q["traceID"]; ok {
		mine := []string{}
		for _, id := range ids {
			if !p.unknownTrace(tenant, id) {
				mine = append(mine, id)
			}
		}
		if len(mine) == 0 {
			httpjson.Write(w, http.StatusOK, v1Response{Data: []v1Trace{}})
			return
		}
		q["traceID"] = mine
	}
	if p.unknownService(tenant, q.Get("service")) {
		httpjson.Write(w, http.StatusOK, v1Response{Data: []v1Trace{}})
		return
	}
	traces, err := p.searchV1(r.Context(), tenant, q)
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
	if p.unknownTrace(tenants.FromContext(r.Context()), id) {
		notFound(w, notFoundV1)
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
		if f, ok, _ := filterV1(tr, tenant); ok {
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

type v3Attrs struct {
	Attributes []struct {
		Key   string `json:"key"`
		Value struct {
			StringValue *string `json:"stringValue"`
		} `json:"value"`
	} `json:"attributes"`
}

// tenant is the one scada.tenant string of a resource; "" when there is
// none, more than one, or not a string.
func (a v3Attrs) tenant() string {
	tenant, n := "", 0
	for _, kv := range a.Attributes {
		if kv.Key == tenants.ResourceAttribute {
			n++
			if kv.Value.StringValue != nil {
				tenant = *kv.Value.StringValue
			}
		}
	}
	if n != 1 {
		return ""
	}
	return tenant
}

func (a v3Attrs) hasTenant() bool {
	for _, kv := range a.Attributes {
		if kv.Key == tenants.ResourceAttribute {
			return true
		}
	}
	return false
}

// filterV3 keeps one resourceSpans when its resource has exactly one
// scada.tenant equal to tenant, without the scopes and spans that carry
// scada.tenant themselves (never written through tenantstamp). Unknown
// fields are kept as Jaeger sent them.
func filterV3(raw json.RawMessage, tenant string) (json.RawMessage, bool) {
	var rs map[string]json.RawMessage
	if tenant == "" || json.Unmarshal(raw, &rs) != nil {
		return nil, false
	}
	var res v3Attrs
	if json.Unmarshal(rs["resource"], &res) != nil || res.tenant() != tenant {
		return nil, false
	}
	var scopes []map[string]json.RawMessage
	if json.Unmarshal(rs["scopeSpans"], &scopes) != nil {
		return nil, false
	}
	keptScopes := make([]map[string]json.RawMessage, 0, len(scopes))
	changed := false
	for _, ss := range scopes {
		var scope v3Attrs
		if sc, ok := ss["scope"]; ok && (json.Unmarshal(sc, &scope) != nil || scope.hasTenant()) {
			continue
		}
		var spans []json.RawMessage
		if json.Unmarshal(ss["spans"], &spans) != nil {
			continue
		}
		kept := make([]json.RawMessage, 0, len(spans))
		for _, sp := range spans {
			var a v3Attrs
			if json.Unmarshal(sp, &a) == nil && !a.hasTenant() {
				kept = append(kept, sp)
			}
		}
		if len(kept) == 0 {
			continue
		}
		if len(kept) != len(spans) {
			ss["spans"], _ = json.Marshal(kept)
			changed = true
		}
		keptScopes = append(keptScopes, ss)
	}
	if len(keptScopes) == 0 {
		return nil, false
	}
	if !changed && len(keptScopes) == len(scopes) {
		return raw, true
	}
	rs["scopeSpans"], _ = json.Marshal(keptScopes)
	out, err := json.Marshal(rs)
	if err != nil {
		return nil, false
	}
	return out, true
}

// v3Call calls a v3 trace endpoint and returns its resourceSpans, or
// found=false when Jaeger answered 404 (no trace).
func (p *proxy) v3Call(ctx context.Context, path string, q url.Values) (rss []json.RawMessage, found bool, err error) {
	code, body, err := p.get(ctx, path, q)
	if err != nil {
		return nil, false, err
	}
	switch {
	case code == http.StatusNotFound:
		return nil, false, nil
	case code == http.StatusBadRequest:
		return nil, false, &upstreamError{http.StatusBadRequest, "bad query parameters"}
	case code != http.StatusOK:
		return nil, false, &upstreamError{http.StatusBadGateway, fmt.Sprintf("trace store answered %d", code)}
	}
	var res v3Result
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, false, fmt.Errorf("cannot decode Jaeger v3 answer: %w", err)
	}
	return res.Result.ResourceSpans, true, nil
}

func writeV3(w http.ResponseWriter, rss []json.RawMessage) {
	if len(rss) == 0 {
		notFound(w, notFoundV3)
		return
	}
	var out v3Result
	out.Result.ResourceSpans = rss
	httpjson.Write(w, http.StatusOK, out)
}

// v3Filtered calls a v3 trace endpoint and keeps tenant's resource spans.
func (p *proxy) v3Filtered(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	rss, _, err := p.v3Call(r.Context(), path, q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	tenant := tenants.FromContext(r.Context())
	kept := []json.RawMessage{}
	for _, rs := range rss {
		if f, ok := filterV3(rs, tenant); ok {
			kept = append(kept, f)
		}
	}
	writeV3(w, kept)
}

type v3SpanPage struct {
	ScopeSpans []struct {
		Spans []struct {
			TraceID string          `json:"traceId"`
			Start   json.RawMessage `json:"startTimeUnixNano"`
		} `json:"spans"`
	} `json:"scopeSpans"`
}

// v3Traces returns the trace ids of resource spans and the earliest span
// start (unix ns) among them.
func v3Traces(rss []json.RawMessage) (map[string]bool, int64) {
	ids, oldest := map[string]bool{}, int64(math.MaxInt64)
	for _, rs := range rss {
		var pg v3SpanPage
		if json.Unmarshal(rs, &pg) != nil {
			continue
		}
		for _, ss := range pg.ScopeSpans {
			for _, sp := range ss.Spans {
				ids[sp.TraceID] = true
				if ns, err := strconv.ParseInt(strings.Trim(string(sp.Start), `"`), 10, 64); err == nil {
					oldest = min(oldest, ns)
				}
			}
		}
	}
	return ids, oldest
}

// searchV3 runs a v3 search and filters it. Jaeger's v3 gateway has no
// attribute filter, so with a service name several tenants use, other
// tenants' traces take query.num_traces slots: like searchV1, a full
// answer that left fewer than asked goes on before its oldest span,
// asking for twice as many, at most maxSearchRounds calls.
func (p *proxy) searchV3(ctx context.Context, tenant string, q url.Values) ([]json.RawMessage, error) {
	limit, _ := strconv.Atoi(q.Get("query.num_traces"))
	from, fromErr := time.Parse(time.RFC3339Nano, q.Get("query.start_time_min"))
	kept := []json.RawMessage{}
	keptIDs := map[string]bool{}
	for round, ask := 0, limit; round < maxSearchRounds; round, ask = round+1, min(2*ask, maxRoundLimit) {
		if round > 0 {
			q.Set("query.num_traces", strconv.Itoa(ask))
		}
		rss, found, err := p.v3Call(ctx, "/api/v3/traces", q)
		if err != nil {
			return nil, err
		}
		if !found {
			break
		}
		for _, rs := range rss {
			if f, ok := filterV3(rs, tenant); ok {
				kept = append(kept, f)
				ids, _ := v3Traces([]json.RawMessage{f})
				for id := range ids {
					keptIDs[id] = true
				}
			}
		}
		all, oldest := v3Traces(rss)
		if limit <= 0 || len(keptIDs) >= limit || len(all) < ask || fromErr != nil ||
			oldest == math.MaxInt64 || oldest-1 <= from.UnixNano() {
			break
		}
		q.Set("query.start_time_max", time.Unix(0, oldest-1).UTC().Format(time.RFC3339Nano))
	}
	if limit <= 0 || len(keptIDs) <= limit {
		return kept, nil
	}
	// Keep the first limit traces (each resourceSpans holds one trace's).
	allowed, out := map[string]bool{}, []json.RawMessage{}
	for _, rs := range kept {
		ids, _ := v3Traces([]json.RawMessage{rs})
		ok := true
		for id := range ids {
			if !allowed[id] {
				if len(allowed) >= limit {
					ok = false
					break
				}
				allowed[id] = true
			}
		}
		if ok {
			out = append(out, rs)
		}
	}
	return out, nil
}

func (p *proxy) getTraceV3(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !traceIDPattern.MatchString(id) {
		http.Error(w, "malformed trace id", http.StatusBadRequest)
		return
	}
	if p.unknownTrace(tenants.FromContext(r.Context()), id) {
		notFound(w, notFoundV3)
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
	tenant := tenants.FromContext(r.Context())
	if p.unknownService(tenant, q.Get("query.service_name")) {
		notFound(w, notFoundV3)
		return
	}
	rss, err := p.searchV3(r.Context(), tenant, q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeV3(w, rss)
}

func (p *proxy) servicesV3(w http.ResponseWriter, r *http.Request) {
	svcs, err := p.services(r.Context(), tenants.FromContext(r.Context()))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"services": svcs})
}

func (p *proxy) operationsV3(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ops, err := p.operations(r.Context(), tenants.FromContext(r.Context()), q.Get("service"), q.Get("span_kind"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"operations": ops})
}
