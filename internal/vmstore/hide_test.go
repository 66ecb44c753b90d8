package vmstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scadaotel/scadaotel/tenants"
)

// writeDemoMemory writes demo_memory_usage_bytes for tenant: 2 instances x
// 3 types, value instance*100 + type index, every second for 60 s.
func writeDemoMemory(t *testing.T, tenant string, end time.Time, offset float64) {
	for i, inst := range []string{"i1", "i2"} {
		for j, typ := range []string{"buffers", "cached", "free"} {
			writeSeries(t, lbl("__name__", "demo_memory_usage_bytes", "instance", inst, "job", "demo", "type", typ,
				tenants.MetricLabel, tenant), end, 60, offset+float64((i+1)*100+j))
		}
	}
}

// The two vector-matching queries of issue 23 return what Prometheus
// returns: the tenant label is gone before the engine matches series.
func TestVectorMatchingSeesNoTenantLabel(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-4 * time.Minute)
	writeDemoMemory(t, "vm-match", end, 0)
	writeDemoMemory(t, "vm-other", end, 1000)
	testStore.Flush()
	p := promClient(t, apiServer(t).URL, "vm-match")
	ctx := context.Background()
	for _, c := range []struct {
		q    string
		want func(inst, typ int) float64
	}{
		{`demo_memory_usage_bytes / sum by (instance, job, type) (demo_memory_usage_bytes)`, func(int, int) float64 { return 1 }},
		{`demo_memory_usage_bytes / ignoring(type) group_left sum by (instance, job) (demo_memory_usage_bytes)`, func(i, j int) float64 {
			v := float64((i+1)*100+j) + 59
			sum := 3*float64((i+1)*100) + 3 + 3*59
			return v / sum
		}},
	} {
		for _, api := range []string{"query", "query_range"} {
			var vec model.Vector
			if api == "query" {
				v, _, err := p.Query(ctx, c.q, end)
				require.NoError(t, err, c.q)
				vec = v.(model.Vector)
			} else {
				m, _, err := p.QueryRange(ctx, c.q, promv1.Range{Start: end.Add(-10 * time.Second), End: end, Step: 5 * time.Second})
				require.NoError(t, err, c.q)
				for _, s := range m.(model.Matrix) {
					require.Len(t, s.Values, 3, c.q)
					vec = append(vec, &model.Sample{Metric: s.Metric, Value: s.Values[2].Value})
				}
			}
			require.Len(t, vec, 6, "%s %s", api, c.q)
			for _, s := range vec {
				assert.Equal(t, model.Metric{"instance": s.Metric["instance"], "job": "demo", "type": s.Metric["type"]}, s.Metric, c.q)
				i := map[model.LabelValue]int{"i1": 0, "i2": 1}[s.Metric["instance"]]
				j := map[model.LabelValue]int{"buffers": 0, "cached": 1, "free": 2}[s.Metric["type"]]
				assert.InDelta(t, c.want(i, j), float64(s.Value), 1e-9, "%s %s %v", api, c.q, s.Metric)
			}
		}
	}
	// The Go API (the UI's) answers the same.
	res, err := testStore.QueryInstant("vm-match", `demo_memory_usage_bytes / sum by (instance, job, type) (demo_memory_usage_bytes)`, end)
	require.NoError(t, err)
	require.Len(t, res, 6)
	for _, s := range res {
		assert.NotContains(t, s.Labels, tenants.MetricLabel)
	}
}

func get(t *testing.T, base, tenant, path string, q url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path+"?"+q.Encode(), nil)
	req.Header.Set("X-Test-Tenant", tenant)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// No answer of any read endpoint names the tenant label or the tenant,
// while the enforced filter still keeps the other tenant out.
func TestNoAnswerContainsTheTenantLabel(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-5 * time.Minute)
	const tenant, other = "hid-acme", "hid-rival"
	writeDemoMemory(t, tenant, end, 0)
	writeDemoMemory(t, other, end, 1000)
	writeSeries(t, lbl("__name__", "rival_only", "job", "demo", tenants.MetricLabel, other), end, 60, 5000)
	testStore.Flush()
	require.True(t, testStore.SetMetadata(tenant, "demo_memory_usage_bytes", MetricMetadata{Type: "gauge", Help: "Memory."}))
	base := apiServer(t).URL
	at := fmt.Sprint(end.Unix())
	rng := url.Values{"start": {fmt.Sprint(end.Add(-30 * time.Second).Unix())}, "end": {at}, "step": {"10"}}
	clean := func(what string, code int, body string) {
		t.Helper()
		assert.NotContains(t, body, tenants.MetricLabel, what)
		assert.NotContains(t, body, tenant, what)
		assert.NotContains(t, body, other, what)
		assert.NotContains(t, body, "rival_only", what)
	}
	queries := []string{
		`demo_memory_usage_bytes`,
		`{__name__=~".+"}`,
		`demo_memory_usage_bytes offset 10s`,
		`rate(demo_memory_usage_bytes[30s])`,
		`sum without (type) (demo_memory_usage_bytes)`,
		`sum by (scada_tenant) (demo_memory_usage_bytes)`,
		`count by (scada_tenant, job) (demo_memory_usage_bytes)`,
		`topk(2, demo_memory_usage_bytes) by (job)`,
		`max_over_time(demo_memory_usage_bytes[30s:5s])`,
		`max_over_time(rate(demo_memory_usage_bytes[20s])[30s:5s])`,
		`label_replace(demo_memory_usage_bytes, "t", "$1", "scada_tenant", "(.*)")`,
		`count_values("v", demo_memory_usage_bytes)`,
		`demo_memory_usage_bytes * on(instance, type) group_left demo_memory_usage_bytes`,
		`absent(nonexistent_metric{job="x"})`,
		`{scada_tenant="hid-rival"}`,
		`demo_memory_usage_bytes or rival_only`,
		`histogram_quantile(0.5, sum by (le) (rate(demo_memory_usage_bytes[30s])))`,
		`timestamp(demo_memory_usage_bytes)`,
	}
	for _, q := range queries {
		code, body := get(t, base, tenant, "/api/v1/query", url.Values{"query": {q}, "time": {at}})
		assert.Equal(t, 200, code, "%s: %s", q, body)
		clean("query "+q, code, body)
		r := url.Values{"query": {q}}
		for k, v := range rng {
			r[k] = v
		}
		code, body = get(t, base, tenant, "/api/v1/query_range", r)
		assert.Equal(t, 200, code, "%s: %s", q, body)
		clean("query_range "+q, code, body)
	}
	// A subquery at the top (evaluated as a range query of its body).
	code, body := get(t, base, tenant, "/api/v1/query", url.Values{"query": {`demo_memory_usage_bytes{type="free"}[30s:10s]`}, "time": {at}})
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, `"metric":{"__name__":"demo_memory_usage_bytes","instance":"i1","job":"demo","type":"free"}`)
	clean("top subquery", code, body)
	// A bare range selector is answered with raw samples.
	code, body = get(t, base, tenant, "/api/v1/query", url.Values{"query": {`demo_memory_usage_bytes{instance="i1",type="free"}[5s]`}, "time": {at}})
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, `"metric":{"__name__":"demo_memory_usage_bytes","instance":"i1","job":"demo","type":"free"}`)
	assert.Contains(t, body, `"resultType":"matrix"`)
	clean("raw range", code, body)
	// The label is gone from the series, but the label APIs still answer
	// the tenant's own labels (Grafana's label browser).
	for _, c := range []struct {
		path string
		q    url.Values
		want string
	}{
		{"/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}, `"instance":"i2"`},
		{"/api/v1/series", url.Values{"match[]": {`demo_memory_usage_bytes{scada_tenant!=""}`}}, `"type":"free"`},
		{"/api/v1/labels", nil, `"instance"`},
		{"/api/v1/labels", url.Values{"match[]": {`demo_memory_usage_bytes`}}, `"type"`},
		{"/api/v1/label/job/values", nil, `"demo"`},
		{"/api/v1/label/__name__/values", nil, `"demo_memory_usage_bytes"`},
		{"/api/v1/metadata", nil, `"Memory."`},
	} {
		q := url.Values{"start": {fmt.Sprint(end.Add(-time.Hour).Unix())}, "end": {fmt.Sprint(end.Add(time.Hour).Unix())}}
		for k, v := range c.q {
			q[k] = v
		}
		code, body := get(t, base, tenant, c.path, q)
		assert.Equal(t, 200, code, "%s %v: %s", c.path, c.q, body)
		assert.Contains(t, body, c.want, "%s %v", c.path, c.q)
		clean(c.path, code, body)
	}
	code, body = get(t, base, tenant, "/api/v1/label/"+tenants.MetricLabel+"/values", nil)
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"status":"success","data":[]}`, trimStats(body))

	// Errors name what the caller wrote only.
	for _, q := range []string{
		`demo_memory_usage_bytes / on(job) demo_memory_usage_bytes`,
		`sum(rate(demo_memory_usage_bytes[30s])) by (job) / on() group_left demo_memory_usage_bytes`,
		`demo_memory_usage_bytes{`,
		`rate(demo_memory_usage_bytes)[`,
	} {
		code, body := get(t, base, tenant, "/api/v1/query", url.Values{"query": {q}, "time": {at}})
		assert.NotEqual(t, 200, code, "%s: %s", q, body)
		assert.Contains(t, body, `"status":"error"`, q)
		clean("error of "+q, code, body)
		t.Logf("%s -> %d %s", q, code, body)
	}
	code, body = get(t, base, tenant, "/api/v1/series", url.Values{"match[]": {`{`}})
	assert.Equal(t, 400, code, body)
	clean("series error", code, body)
}

func trimStats(body string) string {
	if i := strings.Index(body, `,"stats"`); i >= 0 {
		return body[:i] + "}"
	}
	return body
}

// query_exemplars answers 400 bad_data for a query that does not parse,
// as Prometheus does, and an empty list otherwise.
func TestQueryExemplarsChecksTheQuery(t *testing.T) {
	base := apiServer(t).URL
	code, body := get(t, base, "ex-tenant", "/api/v1/query_exemplars", url.Values{"query": {`up{`}})
	assert.Equal(t, 400, code, body)
	assert.Contains(t, body, `"errorType":"bad_data"`)
	code, _ = get(t, base, "ex-tenant", "/api/v1/query_exemplars", nil)
	assert.Equal(t, 400, code)
	code, _ = get(t, base, "ex-tenant", "/api/v1/query_exemplars", url.Values{"query": {`{__name__=~".*"}`}})
	assert.Equal(t, 400, code)
	code, body = get(t, base, "ex-tenant", "/api/v1/query_exemplars", url.Values{"query": {`rate(up[5m])`}})
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"status":"success","data":[]}`, body)
}

// The rewritten expression keeps each leaf as the engine optimises it.
func TestHideTenantRewrite(t *testing.T) {
	for q, want := range map[string]string{
		`x`:                                      `label_del(x, "scada_tenant")`,
		`x[5m]`:                                  `x[5m]`,
		`rate(x[5m])`:                            `label_del(rate(x[5m]), "scada_tenant")`,
		`sum(rate(x[5m])) by (a)`:                `label_del(sum(rate(x[5m])) by(a), "scada_tenant")`,
		`x / on(a) group_left sum(y)`:            `label_del(x, "scada_tenant") / on(a) group_left() label_del(sum(y), "scada_tenant")`,
		`max_over_time(x[10m:1m])`:               `label_del(max_over_time(label_del(x, "scada_tenant")[10m:1m]), "__name__")`,
		`absent(x{a="b"})`:                       `absent(x{a="b"})`,
		`histogram_quantile(0.9, x)`:             `histogram_quantile(0.9, label_del(x, "scada_tenant"))`,
		`x offset 5m`:                            `label_del(x offset 5m, "scada_tenant")`,
		`quantile_over_time(0.5, x[1m])`:         `label_del(quantile_over_time(0.5, x[1m]), "scada_tenant", "__name__")`,
		`max_over_time(x[1m]) keep_metric_names`: `label_del(max_over_time(x[1m]) keep_metric_names, "scada_tenant")`,
		`last_over_time(x[1m])`:                  `label_del(last_over_time(x[1m]), "scada_tenant")`,
		`topk(1, min_over_time(x[1m]))`:          `label_del(topk(1, min_over_time(x[1m])), "scada_tenant", "__name__")`,
		`max_over_time(rate(x[1m])[5m:1m])`:      `label_del(max_over_time(label_del(rate(x[1m]), "scada_tenant")[5m:1m]), "__name__")`,
		`x{`:                                     `x{`,
		`x{scada_tenant="a"}`:                    `label_del(x{scada_tenant!~".*"}, "scada_tenant")`,
		`x{scada_tenant!="a",b="c"}`:             `label_del(x{b="c"}, "scada_tenant")`,
		`rate(x{scada_tenant=~".*"}[5m]) / y{scada_tenant="a" or b="c"}`: `label_del(rate(x{b="c"}[5m]), "scada_tenant") / label_del(y{b="c"}, "scada_tenant")`,
	} {
		assert.Equal(t, want, hideTenant(q).text, q)
	}
	assert.True(t, hideTenant(`x[5m] offset 1h`).rawRange)
	assert.Equal(t, hiddenQuery{text: `x[5m]`, rawRange: true}, hideTenant(`x{scada_tenant=""}[5m]`))
	assert.False(t, hideTenant(`x[5m:1m]`).rawRange)
}

// A histogram's or summary's series recorded without metadata (a
// remote-written series is a gauge with no help) are not listed as
// families, as in Prometheus; nor do they replace the family's metadata.
func TestMetadataListsFamiliesNotTheirSeries(t *testing.T) {
	const tn = "meta-hist"
	bare := MetricMetadata{Type: "gauge"}
	for _, f := range []string{"req_seconds_bucket", "req_seconds_sum", "req_seconds_count", "rpc_seconds_sum", "rpc_seconds_count", "rpc_seconds", "plain_count", "up", "scrape_duration_seconds"} {
		require.True(t, testStore.SetMetadata(tn, f, bare))
	}
	require.True(t, testStore.SetMetadata(tn, "req_seconds", MetricMetadata{Type: "histogram", Help: "Request time."}))
	require.True(t, testStore.SetMetadata(tn, "rpc_seconds", MetricMetadata{Type: "summary", Help: "RPC time."}))
	require.True(t, testStore.SetMetadata(tn, "rpc_seconds", bare)) // does not replace it
	names, md := testStore.Metadata(tn, "", 0)
	sort.Strings(names)
	assert.Equal(t, []string{"plain_count", "req_seconds", "rpc_seconds"}, names)
	assert.Equal(t, "summary", md["rpc_seconds"].Type)
	names, _ = testStore.Metadata(tn, "req_seconds_bucket", 0)
	assert.Empty(t, names)
}

// Queries MetricsQL accepts but PromQL rejects are rejected with
// Prometheus' status and errorType.
func TestPromQLInvalidQueriesAreRejected(t *testing.T) {
	base := apiServer(t).URL
	for q, want := range map[string]string{
		`{__name__=~".*"}`:         `400 bad_data`,
		`{job=~".*", instance=""}`: `400 bad_data`,
		`up or {a!~".+"}`:          `400 bad_data`,
		`label_replace(up, "invalid-name", "x", "job", "(.*)")`: `422 execution`,
		`label_join(up, "x", "-", "job", "in-valid")`:           `422 execution`,
		`label_join(up, "1x", "-", "job")`:                      `422 execution`,
	} {
		for _, api := range []string{"/api/v1/query", "/api/v1/query_range"} {
			code, body := get(t, base, "inv-tenant", api, url.Values{"query": {q}, "start": {"0"}, "end": {"60"}, "step": {"15"}})
			assert.Equal(t, want, fmt.Sprintf("%d %s", code, errType(body)), "%s %s: %s", api, q, body)
		}
	}
	for _, q := range []string{`{__name__=~".+"}`, `up{job=""}`, `{job!=""}`, `label_replace(up, "a_b", "x", "in-valid", "(.*)")`, `label_join(up, "x", "-", "job")`} {
		code, body := get(t, base, "inv-tenant", "/api/v1/query", url.Values{"query": {q}})
		assert.Equal(t, 200, code, "%s: %s", q, body)
	}
}

func errType(body string) string {
	var r struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	return r.ErrorType
}

// BenchmarkHideTenant is the fixed cost the rewrite adds to one query
// (parse, optimise, rewrite, print); the engine parses the result once
// more (cached by query text).
func BenchmarkHideTenant(b *testing.B) {
	const q = `histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket{job=~"api|web"}[5m]))) / on(job) group_left max_over_time(up[10m:1m])`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if prepare(q).text == q {
			b.Fatal("not rewritten")
		}
	}
}

// BenchmarkHideTenantCached is the same query again (the common case: a
// dashboard refreshing).
func BenchmarkHideTenantCached(b *testing.B) {
	const q = `histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket{job=~"api|web"}[5m]))) / on(job) group_left max_over_time(up[10m:1m])`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if hideTenant(q).text == q {
			b.Fatal("not rewritten")
		}
	}
}

// A filter on the tenant label means what it means in Prometheus for a
// label no series has; the enforced filter still bounds every read.
func TestTenantLabelFiltersMeanAbsentLabel(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-6 * time.Minute)
	writeDemoMemory(t, "flt-acme", end, 0)
	writeDemoMemory(t, "flt-rival", end, 1000)
	testStore.Flush()
	p := promClient(t, apiServer(t).URL, "flt-acme")
	for q, want := range map[string]int{
		`demo_memory_usage_bytes{scada_tenant=""}`:                                 6,
		`demo_memory_usage_bytes{scada_tenant!="flt-rival"}`:                       6,
		`demo_memory_usage_bytes{scada_tenant="flt-acme"}`:                         0,
		`demo_memory_usage_bytes{scada_tenant="flt-rival"}`:                        0,
		`demo_memory_usage_bytes{scada_tenant=~"flt.*"}`:                           0,
		`demo_memory_usage_bytes{scada_tenant=~".*"}`:                              6,
		`max_over_time(demo_memory_usage_bytes{scada_tenant=~"flt.*"}[1m])`:        0,
		`demo_memory_usage_bytes{scada_tenant="flt-rival" or type="free"}`:         2,
		`sum(demo_memory_usage_bytes{scada_tenant!=""}) or vector(0)`:              1,
		`count(demo_memory_usage_bytes{type="free", scada_tenant!~"flt-acme"})`:    1,
		`demo_memory_usage_bytes{scada_tenant=""} unless on(type) {type="cached"}`: 4,
	} {
		v, _, err := p.Query(context.Background(), q, end)
		require.NoError(t, err, q)
		vec := v.(model.Vector)
		assert.Len(t, vec, want, "%s: %v", q, vec)
		for _, s := range vec {
			assert.Less(t, float64(s.Value), 1000.0, "%s: the rival's value %v", q, s)
		}
	}
}
