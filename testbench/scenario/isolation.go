package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scadaotel/scadaotel/tenants"
)

// isolationCheck probes the query API as a tenant that owns no RTU data and
// tries to reach the RTU tenant's series: plain selectors, the reserved
// label, label-value listings, another tenant's id in the header, and no
// token at all. Every probe must come back empty or refused.
func isolationCheck(ctx context.Context, d TemplateData) Check {
	var other *string
	for _, t := range d.Tenants {
		if t.ID != d.RTUTenant && t.Token != "" {
			tok := t.Token
			other = &tok
			break
		}
	}
	if other == nil {
		return Check{Name: "tenant_isolation", Status: StatusNotRun, Detail: "needs a second tenant with a token in the scenario"}
	}
	c := &http.Client{Timeout: 5 * time.Second}
	get := func(path string, q url.Values, token, header string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.QueryAddr+path+"?"+q.Encode(), nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if header != "" {
			req.Header.Set(tenants.Header, header)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b), nil
	}
	// The RTU tenant must see its own data, or the probes prove nothing.
	code, body, err := get("/api/v1/query", url.Values{"query": {`count({quality="good"})`}}, d.QueryToken, "")
	if err != nil || code != 200 || !strings.Contains(body, `"result":[{`) {
		return Check{Name: "tenant_isolation", Status: StatusFail, Detail: fmt.Sprintf("the RTU tenant cannot see its own series (%d %v): %.200s", code, err, body)}
	}
	type probe struct {
		what   string
		path   string
		q      url.Values
		token  string
		header string
	}
	rtu := d.RTUTenant
	probes := []probe{
		{"all good series", "/api/v1/query", url.Values{"query": {`{quality="good"}`}}, *other, ""},
		{"reserved label selector", "/api/v1/query", url.Values{"query": {fmt.Sprintf(`{%s=%q}`, tenants.MetricLabel, rtu)}}, *other, ""},
		{"__name__ regex", "/api/v1/query", url.Values{"query": {`{__name__=~"scada.*"}`}}, *other, ""},
		{"series API", "/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}, *other, ""},
		{"label values", "/api/v1/label/" + tenants.MetricLabel + "/values", url.Values{}, *other, ""},
		{"label values of station", "/api/v1/label/station/values", url.Values{}, *other, ""},
		{"other tenant in header", "/api/v1/query", url.Values{"query": {`{quality="good"}`}}, *other, rtu},
		{"no token", "/api/v1/query", url.Values{"query": {`{quality="good"}`}}, "", ""},
		{"no token, tenant header", "/api/v1/query", url.Values{"query": {`{quality="good"}`}}, "", rtu},
	}
	var leaks []string
	for _, p := range probes {
		code, body, err := get(p.path, p.q, p.token, p.header)
		if err != nil {
			leaks = append(leaks, p.what+": "+err.Error())
			continue
		}
		if code == 401 || code == 403 {
			continue
		}
		if code != 200 {
			leaks = append(leaks, fmt.Sprintf("%s: unexpected %d", p.what, code))
			continue
		}
		var r struct {
			Data json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		data := string(r.Data)
		if strings.Contains(body, rtu) || (data != "[]" && data != "" && !strings.Contains(data, `"result":[]`) && data != "null") {
			leaks = append(leaks, fmt.Sprintf("%s: %.200s", p.what, body))
		}
	}
	if len(leaks) > 0 {
		return Check{Name: "tenant_isolation", Status: StatusFail, Detail: "another tenant reached the RTU tenant's data: " + strings.Join(leaks, "; ")}
	}
	return Check{Name: "tenant_isolation", Status: StatusPass, Metrics: map[string]any{"probes": len(probes)},
		Detail: fmt.Sprintf("%d query-API probes by another tenant (selectors, reserved label, __name__ regex, series, label values, foreign tenant header, no token) found none of %s's series", len(probes), rtu)}
}
