package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

// twoTenants returns the first two traffic tenants with tokens.
func twoTenants(s *Scenario) (a, b traffic.TenantConfig, ok bool) {
	var ts []traffic.TenantConfig
	for _, t := range s.Traffic.Tenants {
		if t.Token != "" {
			ts = append(ts, t)
		}
	}
	if len(ts) < 2 {
		return a, b, false
	}
	return ts[0], ts[1], true
}

type httpResult struct {
	code int
	body string
}

func doHTTP(ctx context.Context, method, url, token, tenantHeader string, body []byte, contentType string) (httpResult, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return httpResult{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if tenantHeader != "" {
		req.Header.Set(tenants.Header, tenantHeader)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return httpResult{resp.StatusCode, string(b)}, nil
}

// traceIsolationCheck reads traces through tenant_trace_query: tenant A
// reads its own sampled trace ids (positive control), then tenant B asks
// for the same ids (alone, and with A's id in X-SCADA-Tenant) and no token
// asks at all. B must get a 404 whose body equals a missing trace's.
func traceIsolationCheck(ctx context.Context, s *Scenario, d TemplateData, cfg string, tres *traffic.Result) Check {
	const name = "tenant_isolation_traces"
	if !d.Has("tenant_trace_query") {
		return Check{Name: name, Status: StatusNotBuilt, Detail: "appliance lacks the tenant_trace_query extension"}
	}
	if !strings.Contains(cfg, "tenant_trace_query") || !strings.Contains(cfg, d.TraceQueryAddr) {
		return Check{Name: name, Status: StatusNotRun, Detail: "the scenario's appliance config does not serve tenant_trace_query on .TraceQueryAddr"}
	}
	a, b, ok := twoTenants(s)
	if !ok {
		return Check{Name: name, Status: StatusNotRun, Detail: "needs two traffic tenants with tokens"}
	}
	var ids []string
	for _, r := range tres.Requests {
		if r.Tenant == a.ID && len(ids) < 10 {
			ids = append(ids, r.Original)
		}
	}
	if len(ids) == 0 {
		return Check{Name: name, Status: StatusFail, Detail: "no request of " + a.ID + " in the ground truth"}
	}
	base := "http://" + d.TraceQueryAddr + "/api/traces/"
	var missing [16]byte
	_, _ = rand.Read(missing[:])
	miss, err := doHTTP(ctx, http.MethodGet, base+hex.EncodeToString(missing[:]), b.Token, "", nil, "")
	if err != nil || miss.code != 404 {
		return Check{Name: name, Status: StatusFail, Detail: fmt.Sprintf("a missing trace id did not answer 404 (%d %v)", miss.code, err)}
	}
	var leaks []string
	own, probes := 0, 0
	for _, id := range ids {
		// Positive control, waiting for the trace to be stored.
		deadline := time.Now().Add(s.Checks.TraceWait)
		for {
			r, err := doHTTP(ctx, http.MethodGet, base+id, a.Token, "", nil, "")
			if err == nil && r.code == 200 && strings.Contains(r.body, id) {
				own++
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		for _, p := range []struct {
			what, token, header string
		}{{"other tenant", b.Token, ""}, {"other tenant + owner's header", b.Token, a.ID}, {"no token", "", ""}, {"no token + owner's header", "", a.ID}} {
			probes++
			r, err := doHTTP(ctx, http.MethodGet, base+id, p.token, p.header, nil, "")
			switch {
			case err != nil:
				leaks = append(leaks, p.what+": "+err.Error())
			case p.token == "" && (r.code == 401 || r.code == 403):
			case p.token != "" && r.code == 404 && r.body == miss.body:
			case p.token != "" && (r.code == 401 || r.code == 403):
			default:
				leaks = append(leaks, fmt.Sprintf("%s read %s: %d %.120s", p.what, id, r.code, r.body))
			}
		}
	}
	metrics := map[string]any{"trace_ids": len(ids), "owner_readable": own, "probes": probes, "leaks": len(leaks)}
	if own != len(ids) {
		return Check{Name: name, Status: StatusFail, Metrics: metrics, Detail: fmt.Sprintf("positive control: %s read only %d of %d of its own traces", a.ID, own, len(ids))}
	}
	if len(leaks) > 0 {
		return Check{Name: name, Status: StatusFail, Metrics: metrics, Detail: "trace reads crossed tenants: " + strings.Join(leaks, "; ")}
	}
	return Check{Name: name, Status: StatusPass, Metrics: metrics, Detail: fmt.Sprintf(
		"%s read %d/%d of its traces through tenant_trace_query; %d probes (%s's token, with and without X-SCADA-Tenant: %s; no token) got a 404 identical to a missing trace's, or 401",
		a.ID, own, len(ids), probes, b.ID, a.ID)}
}

// writeIsolationCheck writes one span per probe over OTLP/HTTP, each with
// a fresh trace id and scada.tenant = A on the resource: with a wrong
// token (must be refused), with B's token and X-SCADA-Tenant: A (refused,
// or stored as B: Jaeger must never show it as A's and A must not read it
// through tenant_trace_query), with no token (refused), and with B's token
// and only the resource attribute claiming A (stored as B).
func writeIsolationCheck(ctx context.Context, s *Scenario, d TemplateData, cfg string) Check {
	const name = "tenant_isolation_writes"
	if !d.Has("tenantauth") || !d.Has("tenantstamp") {
		return Check{Name: name, Status: StatusNotBuilt, Detail: "appliance lacks tenantauth or tenantstamp"}
	}
	if !strings.Contains(cfg, "authenticator: tenantauth") || !strings.Contains(cfg, "tenantstamp") {
		return Check{Name: name, Status: StatusNotRun, Detail: "the scenario's OTLP receiver is not behind tenantauth + tenantstamp"}
	}
	a, b, ok := twoTenants(s)
	if !ok {
		return Check{Name: name, Status: StatusNotRun, Detail: "needs two traffic tenants with tokens"}
	}
	endpoint := "http://" + d.OTLPHTTP + "/v1/traces"
	type probe struct {
		what, token, header string
		mayStore            bool
	}
	probes := []probe{
		{"wrong token", "not-a-token-" + randomToken(), a.ID, false},
		{b.ID + "'s token + X-SCADA-Tenant: " + a.ID, b.Token, a.ID, true},
		{"no token + X-SCADA-Tenant: " + a.ID, "", a.ID, false},
		{b.ID + "'s token, no header (only the resource attribute claims " + a.ID + ")", b.Token, "", true},
	}
	var problems, results []string
	metrics := map[string]any{}
	for i, p := range probes {
		var tid [16]byte
		_, _ = rand.Read(tid[:])
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "isolation-probe")
		tenants.SetOnResource(rs.Resource(), a.ID)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(tid))
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		sp.SetName("write probe")
		now := time.Now()
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return Check{Name: name, Status: StatusFail, Detail: err.Error()}
		}
		r, err := doHTTP(ctx, http.MethodPost, endpoint, p.token, p.header, body, "application/x-protobuf")
		if err != nil {
			problems = append(problems, p.what+": "+err.Error())
			continue
		}
		id := hex.EncodeToString(tid[:])
		metrics[fmt.Sprintf("probe_%d_status", i+1)] = r.code
		refused := r.code == 401 || r.code == 403
		if !refused && !(p.mayStore && r.code >= 200 && r.code < 300) {
			problems = append(problems, fmt.Sprintf("%s: answered %d, want 401/403", p.what, r.code))
			continue
		}
		// Whatever the answer, the span must not be stored as A's.
		deadline := time.Now().Add(5 * time.Second)
		if refused {
			deadline = time.Now().Add(2 * time.Second)
		}
		var stored string
		for {
			tenant, found := storedTenant(ctx, d.JaegerQuery, id)
			if found {
				stored = tenant
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		switch {
		case refused && stored != "":
			problems = append(problems, fmt.Sprintf("%s: refused with %d but stored as %q", p.what, r.code, stored))
		case !refused && stored == a.ID:
			problems = append(problems, fmt.Sprintf("%s: accepted and stored as %s", p.what, a.ID))
		case !refused && stored != "" && stored != b.ID:
			problems = append(problems, fmt.Sprintf("%s: accepted and stored as %q, want the caller %s", p.what, stored, b.ID))
		case !refused && stored == "":
			problems = append(problems, fmt.Sprintf("%s: accepted (%d) but not found in Jaeger within 5 s", p.what, r.code))
		case refused:
			results = append(results, fmt.Sprintf("%s: %d, nothing stored", p.what, r.code))
		default:
			results = append(results, fmt.Sprintf("%s: accepted, stored as %s", p.what, stored))
			if d.TraceQueryAddr != "" && strings.Contains(cfg, d.TraceQueryAddr) {
				rr, err := doHTTP(ctx, http.MethodGet, "http://"+d.TraceQueryAddr+"/api/traces/"+id, a.Token, "", nil, "")
				if err != nil || rr.code != 404 {
					problems = append(problems, fmt.Sprintf("%s: %s reads the probe through tenant_trace_query (%d %v)", p.what, a.ID, rr.code, err))
				}
			}
		}
	}
	if len(problems) > 0 {
		return Check{Name: name, Status: StatusFail, Metrics: metrics, Detail: strings.Join(append(problems, results...), "; ")}
	}
	return Check{Name: name, Status: StatusPass, Metrics: metrics, Detail: fmt.Sprintf("%d OTLP/HTTP write probes claiming %s (scada.tenant on the resource): %s", len(probes), a.ID, strings.Join(results, "; "))}
}

// storedTenant looks a trace up directly in Jaeger and returns the
// scada.tenant of its first process.
func storedTenant(ctx context.Context, query, id string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+query+"/api/traces/"+id, nil)
	if err != nil {
		return "", false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", false
	}
	var t struct {
		Data []struct {
			Processes map[string]struct {
				Tags []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || len(t.Data) == 0 {
		return "", false
	}
	for _, p := range t.Data[0].Processes {
		for _, tag := range p.Tags {
			if tag.Key == tenants.ResourceAttribute {
				return fmt.Sprint(tag.Value), true
			}
		}
	}
	return "(none)", true
}
