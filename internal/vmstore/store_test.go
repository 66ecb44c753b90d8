package vmstore

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scadaotel/scadaotel/tenants"
)

// The storage is a process-wide singleton: every test shares one store.
var testStore *Store

func TestMain(m *testing.M) {
	// Open parses flag.CommandLine when nobody has (VictoriaMetrics needs
	// it parsed); parse the test flags first so -v and -bench still work.
	flag.Parse()
	dir, err := os.MkdirTemp("", "vmstore-test-")
	if err != nil {
		panic(err)
	}
	testStore, err = Open(Config{Path: filepath.Join(dir, "data"), Retention: 30 * 24 * time.Hour, MemoryAllowedBytes: 256 << 20, LatencyOffset: time.Second})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	testStore.Close()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// writeSeries writes n samples 1 s apart ending at end, value base+i.
func writeSeries(t *testing.T, labels []Label, end time.Time, n int, base float64) {
	t.Helper()
	name, err := MarshalName(nil, labels)
	require.NoError(t, err)
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{MetricNameRaw: name, Timestamp: end.Add(-time.Duration(n-1-i) * time.Second).UnixMilli(), Value: base + float64(i)}
	}
	require.NoError(t, testStore.Add(rows))
}

func lbl(kv ...string) []Label {
	var out []Label
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Label{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestOpenSamePathSharesStoreOtherPathFails(t *testing.T) {
	s, err := Open(Config{Path: testStore.Path(), Retention: 48 * time.Hour})
	require.NoError(t, err)
	assert.Same(t, testStore, s)
	s.Close() // drops the extra reference only
	assert.Same(t, testStore, Current())

	_, err = Open(Config{Path: t.TempDir(), Retention: 48 * time.Hour})
	require.ErrorContains(t, err, "process-wide singleton")
	_, err = Open(Config{Path: t.TempDir(), Retention: time.Hour})
	require.ErrorContains(t, err, "24h minimum")
}

func TestWriteAndReadBackExact(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-time.Minute)
	writeSeries(t, lbl("__name__", "rt_pressure_bar", "station", "s1", tenants.MetricLabel, "acme"), end, 60, 1.25)
	testStore.Flush()

	res, err := testStore.QueryRange("acme", `rt_pressure_bar`, end.Add(-59*time.Second), end, time.Second)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, map[string]string{"__name__": "rt_pressure_bar", "station": "s1"}, res[0].Labels)
	require.Len(t, res[0].Values, 60)
	for i, v := range res[0].Values {
		assert.Equal(t, 1.25+float64(i), v)
		assert.Equal(t, end.Add(-time.Duration(59-i)*time.Second).UnixMilli(), res[0].Timestamps[i])
	}
}

func TestTenantIsEnforcedOnEveryRead(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-time.Minute)
	writeSeries(t, lbl("__name__", "iso_valve", "v", "1", tenants.MetricLabel, "alpha"), end, 5, 10)
	writeSeries(t, lbl("__name__", "iso_valve", "v", "1", tenants.MetricLabel, "beta"), end, 5, 20)
	testStore.Flush()

	queries := []string{
		`{__name__=~".+"}`,
		`iso_valve`,
		`{` + tenants.MetricLabel + `=~".*"}`,
		`{` + tenants.MetricLabel + `="beta"}`,
		`iso_valve{` + tenants.MetricLabel + `!="alpha"}`,
		`iso_valve or {` + tenants.MetricLabel + `="beta"}`,
		`iso_valve unless {` + tenants.MetricLabel + `="alpha"}`,
		`max_over_time({__name__=~"iso.*"}[10s:1s])`,
		`label_replace({` + tenants.MetricLabel + `="beta"}, "x", "y", "", "")`,
	}
	for _, q := range queries {
		res, err := testStore.QueryInstant("alpha", q, end)
		require.NoError(t, err, q)
		for _, s := range res {
			assert.NotEqual(t, "beta", s.Labels[tenants.MetricLabel], "query %s leaked: %v", q, s.Labels)
			for _, v := range s.Values {
				assert.Less(t, v, 20.0, "query %s returned beta's value", q)
			}
		}
	}
	_, err := testStore.QueryInstant("", `iso_valve`, end)
	require.ErrorContains(t, err, "without a valid tenant")
}

func TestReplayedRowsAreDeduplicated(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-time.Minute)
	labels := lbl("__name__", "dup_counter_total", tenants.MetricLabel, "acme")
	writeSeries(t, labels, end, 30, 0)
	require.NoError(t, testStore.Persist())
	writeSeries(t, labels, end, 30, 0) // a WAL replay of the same rows
	testStore.Flush()
	res, err := testStore.QueryInstant("acme", `count_over_time(dup_counter_total[1m])`, end)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, 30.0, res[0].Values[0])
}

func TestPersistLeavesNoSnapshot(t *testing.T) {
	writeSeries(t, lbl("__name__", "persist_probe", tenants.MetricLabel, "acme"), time.Now(), 3, 1)
	require.NoError(t, testStore.Persist())
	entries, err := os.ReadDir(filepath.Join(testStore.Path(), "snapshots"))
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestStaleNaNEndsSeries(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-time.Minute)
	name, err := MarshalName(nil, lbl("__name__", "stale_probe", tenants.MetricLabel, "acme"))
	require.NoError(t, err)
	require.NoError(t, testStore.Add([]Row{
		{MetricNameRaw: name, Timestamp: end.Add(-10 * time.Second).UnixMilli(), Value: 7},
		{MetricNameRaw: name, Timestamp: end.Add(-5 * time.Second).UnixMilli(), Value: StaleNaN},
	}))
	testStore.Flush()
	res, err := testStore.QueryInstant("acme", `stale_probe`, end.Add(-7*time.Second))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, 7.0, res[0].Values[0])
	res, err = testStore.QueryInstant("acme", `stale_probe`, end)
	require.NoError(t, err)
	assert.Empty(t, res, "a staleness marker ends the series")
	assert.True(t, IsStaleNaN(StaleNaN) && math.IsNaN(StaleNaN))
}

// apiServer serves ServeAPI with the tenant taken from a test header (a
// stand-in for the authenticator).
func apiServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		testStore.ServeAPI(w, r, r.Header.Get("X-Test-Tenant"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type tenantRT string

func (rt tenantRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Tenant", string(rt))
	return http.DefaultTransport.RoundTrip(r)
}

func promClient(t *testing.T, url, tenant string) promv1.API {
	c, err := api.NewClient(api.Config{Address: url, RoundTripper: tenantRT(tenant)})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

func TestPrometheusAPIThroughClient(t *testing.T) {
	end := time.Now().Truncate(time.Second).Add(-2 * time.Minute)
	writeSeries(t, lbl("__name__", "api_level_m", "tank", "t1", tenants.MetricLabel, "gamma"), end, 10, 100)
	writeSeries(t, lbl("__name__", "api_level_m", "tank", "t9", tenants.MetricLabel, "delta"), end, 10, 900)
	testStore.Flush()
	srv := apiServer(t)
	ctx := context.Background()
	p := promClient(t, srv.URL, "gamma")

	v, _, err := p.Query(ctx, `api_level_m`, end)
	require.NoError(t, err)
	vec := v.(model.Vector)
	require.Len(t, vec, 1)
	assert.Equal(t, model.SampleValue(109), vec[0].Value)
	assert.Equal(t, model.LabelValue("t1"), vec[0].Metric["tank"])
	assert.Equal(t, model.TimeFromUnixNano(end.UnixNano()), vec[0].Timestamp)

	m, _, err := p.QueryRange(ctx, `api_level_m`, promv1.Range{Start: end.Add(-9 * time.Second), End: end, Step: time.Second})
	require.NoError(t, err)
	mat := m.(model.Matrix)
	require.Len(t, mat, 1)
	require.Len(t, mat[0].Values, 10)
	for i, sp := range mat[0].Values {
		assert.Equal(t, model.SampleValue(100+i), sp.Value)
		assert.Equal(t, model.TimeFromUnixNano(end.Add(-time.Duration(9-i)*time.Second).UnixNano()), sp.Timestamp)
	}

	// Matcher-less and regex reads see only gamma.
	vals, _, err := p.LabelValues(ctx, "tank", nil, end.Add(-time.Hour), end.Add(time.Hour))
	require.NoError(t, err)
	assert.NotContains(t, vals, model.LabelValue("t9"))
	assert.Contains(t, vals, model.LabelValue("t1"))
	tv, _, err := p.LabelValues(ctx, tenants.MetricLabel, nil, end.Add(-time.Hour), end.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, tv) // the tenant label is not a label of any answer
	series, _, err := p.Series(ctx, []string{`{__name__=~".+"}`, `{` + tenants.MetricLabel + `=~"d.*"}`}, end.Add(-time.Hour), end.Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, series)
	for _, s := range series {
		assert.NotContains(t, s, model.LabelName(tenants.MetricLabel))
		assert.NotEqual(t, model.LabelValue("t9"), s["tank"])
	}
	names, _, err := p.LabelNames(ctx, nil, end.Add(-time.Hour), end.Add(time.Hour))
	require.NoError(t, err)
	assert.Contains(t, names, model.LabelName("tank"))
	assert.NotContains(t, names, model.LabelName(tenants.MetricLabel))
	bi, err := p.Buildinfo(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, bi.Version)
	_, err = p.Metadata(ctx, "", "")
	require.NoError(t, err)
}

func TestPrometheusAPIRefusesScopeOverrideAndAdminPaths(t *testing.T) {
	srv := apiServer(t)
	get := func(path, tenant string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("X-Test-Tenant", tenant)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	for _, q := range []string{
		"/api/v1/query?query=up&extra_label=" + url.QueryEscape(tenants.MetricLabel+"=delta"),
		"/api/v1/series?match[]=up&extra_filters=" + url.QueryEscape(`{scada_tenant="delta"}`),
		"/api/v1/labels?extra_filters[]=" + url.QueryEscape(`{scada_tenant="delta"}`),
	} {
		code, body := get(q, "gamma")
		assert.Equal(t, http.StatusBadRequest, code, q)
		assert.Contains(t, body, "not allowed", q)
	}
	for _, p := range []string{"/api/v1/import", "/api/v1/export", "/api/v1/admin/tsdb/delete_series", "/api/v1/admin/tsdb/snapshot",
		"/snapshot/create", "/internal/force_flush", "/debug/pprof/", "/api/v1/status/tsdb", "/metrics", "/vmui/"} {
		code, _ := get(p, "gamma")
		assert.Equal(t, http.StatusNotFound, code, p)
	}
	code, _ := get("/api/v1/query?query=up", "")
	assert.Equal(t, http.StatusUnauthorized, code)

	// POST form bodies work like Prometheus (Grafana's default), and a
	// POSTed extra_label is refused as well.
	end := time.Now().Truncate(time.Second).Add(-3 * time.Minute)
	writeSeries(t, lbl("__name__", "post_probe", tenants.MetricLabel, "gamma"), end, 1, 5)
	testStore.Flush()
	post := func(form url.Values) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/query", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Test-Tenant", "gamma")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	code, body := post(url.Values{"query": {"post_probe"}, "time": {fmt.Sprint(end.Unix())}})
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"5"`)
	code, _ = post(url.Values{"query": {"post_probe"}, "extra_label": {"scada_tenant=delta"}})
	assert.Equal(t, http.StatusBadRequest, code)
}
