//go:build e2e

package promqueryextension_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// compat is how a query's answers must agree between Prometheus and the
// appliance.
type compat int

const (
	// same label sets and the same values (relative 1e-9).
	exact compat = iota
	// same label sets; the values follow MetricsQL's documented semantics
	// where they differ from PromQL (see the list below).
	labelsOnly
)

// compatQueries are shapes of the Prometheus compliance tester's queries,
// over a client_golang exporter's counters, gauges, histograms and
// summaries as a real Prometheus scraped and remote-wrote them.
var compatQueries = []struct {
	q    string
	mode compat
}{
	// Selectors.
	{`demo_memory_usage_bytes`, exact},
	{`demo_memory_usage_bytes{type="free"}`, exact},
	{`demo_memory_usage_bytes{type=~"f.*|b.*"}`, exact},
	{`demo_api_requests_total{status!="200"}`, exact},
	{`{__name__="demo_memory_usage_bytes", type!="cached"}`, exact},
	{`up`, exact},
	// The tenant label is no label: filters on it mean what they mean in
	// Prometheus, where no series has it.
	{`demo_memory_usage_bytes{scada_tenant=""}`, exact},
	{`demo_memory_usage_bytes{scada_tenant="compat-tenant"}`, exact},
	{`count by (job) (demo_memory_usage_bytes{scada_tenant!="x"})`, exact},
	// Aggregations.
	{`sum(demo_memory_usage_bytes)`, exact},
	{`sum by (instance) (demo_memory_usage_bytes)`, exact},
	{`sum without (type) (demo_memory_usage_bytes)`, exact},
	{`avg by (job) (demo_memory_usage_bytes)`, exact},
	{`count by (instance) (demo_api_requests_total)`, exact},
	{`max without (instance) (demo_memory_usage_bytes)`, exact},
	{`topk(2, demo_memory_usage_bytes)`, exact},
	{`count_values("value", demo_api_requests_total * 0)`, exact},
	{`quantile(0.5, demo_memory_usage_bytes)`, exact},
	{`stddev by (instance) (demo_memory_usage_bytes)`, exact},
	{`count(up)`, exact},
	// Counters.
	{`rate(demo_api_requests_total[20s])`, labelsOnly},
	{`irate(demo_api_requests_total[20s])`, exact},
	{`increase(demo_api_requests_total[20s])`, labelsOnly},
	{`sum by (method) (rate(demo_api_requests_total[20s]))`, labelsOnly},
	{`resets(demo_api_requests_total[20s])`, exact},
	// *_over_time.
	{`max_over_time(demo_memory_usage_bytes[20s])`, exact},
	{`min_over_time(demo_memory_usage_bytes[20s])`, exact},
	{`avg_over_time(demo_memory_usage_bytes[20s])`, exact},
	{`count_over_time(demo_memory_usage_bytes[20s])`, exact},
	{`changes(demo_memory_usage_bytes[20s])`, labelsOnly},
	{`quantile_over_time(0.5, demo_memory_usage_bytes[20s])`, exact},
	// Binary operations.
	{`demo_memory_usage_bytes / sum by (instance, job, type) (demo_memory_usage_bytes)`, exact},
	{`demo_memory_usage_bytes / ignoring(type) group_left sum by (instance, job) (demo_memory_usage_bytes)`, exact},
	{`demo_memory_usage_bytes * on(instance, job, type) demo_memory_usage_bytes`, exact},
	{`sum by (instance) (demo_memory_usage_bytes) / on(instance) group_right sum by (instance, type) (demo_memory_usage_bytes)`, exact},
	{`demo_memory_usage_bytes > 2000`, exact},
	{`demo_memory_usage_bytes > bool 2000`, exact},
	{`demo_api_requests_total and on(method) demo_api_requests_total{status="500"}`, exact},
	{`demo_memory_usage_bytes unless demo_memory_usage_bytes{type="free"}`, exact},
	{`2 * demo_memory_usage_bytes + 1`, exact},
	// Histograms and summaries.
	{`histogram_quantile(0.9, sum by (le) (rate(demo_api_request_duration_seconds_bucket[20s])))`, labelsOnly},
	{`histogram_quantile(0.5, demo_api_request_duration_seconds_bucket)`, exact},
	{`demo_api_request_duration_seconds_sum / demo_api_request_duration_seconds_count`, exact},
	{`demo_rpc_duration_seconds{quantile="0.9"}`, exact},
	// Subqueries.
	{`max_over_time(demo_memory_usage_bytes[30s:5s])`, labelsOnly},
	{`max_over_time(rate(demo_api_requests_total[10s])[30s:5s])`, labelsOnly},
	// label_replace, label_join.
	{`label_replace(demo_memory_usage_bytes, "kind", "$1", "type", "(.*)")`, exact},
	{`label_join(demo_memory_usage_bytes, "where", "-", "instance", "type")`, exact},
	// Offsets.
	{`demo_memory_usage_bytes offset 10s`, exact},
	{`sum(demo_memory_usage_bytes offset 10s)`, exact},
	{`rate(demo_api_requests_total[20s] offset 10s)`, labelsOnly},
	// Functions.
	{`absent(nonexistent_metric{job="x"})`, exact},
	{`timestamp(demo_memory_usage_bytes)`, exact},
	{`abs(demo_memory_usage_bytes - 3000)`, exact},
}

// Expected differences: MetricsQL's documented choices, which the
// appliance keeps (VictoriaMetrics' MetricsQL docs, "differences from
// PromQL"); queries of these shapes are compared on label sets only:
//   - rate, increase (and sums, histogram_quantile and subqueries built on
//     them): no extrapolation to the window's edges, and the last sample
//     before the window is part of the computation;
//   - changes: counts the change from the last sample before the window;
//   - subqueries: Prometheus 2.x range windows are closed on the left
//     ([t-30s, t]), MetricsQL's are open ((t-30s, t], as in Prometheus 3);
//     a subquery's points lie on the step grid, so the point at t-30s
//     counts in Prometheus 2.42 only (raw samples almost never sit exactly
//     on the boundary).
//
// Label sets agree everywhere. MetricsQL keeps the metric name in
// avg/min/max/quantile_over_time, holt_winters and predict_linear, where
// PromQL drops it; the appliance drops it as Prometheus does (see
// internal/vmstore/hide.go), so these compare exactly.

// A compliance test the project owns: a real Prometheus (Debian's 2.42)
// scrapes two client_golang exporters and remote-writes to the appliance;
// each query runs against both, instant and range, and must return the
// same label sets (no scada_tenant anywhere) and, where MetricsQL's
// semantics agree with PromQL's, the same values.
func TestQueryAPIMatchesPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus (Debian package prometheus) not installed: run scripts/install-test-deps.sh: %v", err)
	}
	var targets []string
	for i := range 2 {
		targets = append(targets, startDemoExporter(t, i))
	}

	const token = "compat-remote-write-token"
	rw, query, health := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	e2e.StartCollector(t, fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %s}}
  tenantauth:
    tenants:
      - {id: compat-tenant, token_sha256: [%s]}
  prometheus_query:
    endpoint: %s
    auth: {authenticator: tenantauth}
receivers:
  prometheus_remote_write:
    endpoint: %s
    auth: {authenticator: tenantauth}
processors:
  tenantstamp: {}
exporters:
  victoriametrics:
    directory: ${env:SCADAOTEL_DATA_DIR}/metrics
    memory_limit_mib: 128
service:
  extensions: [healthcheckv2, tenantauth, prometheus_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [prometheus_remote_write], processors: [tenantstamp], exporters: [victoriametrics]}
`, health, tenants.HashToken(token), query, rw))

	dir := t.TempDir()
	promAddr := e2e.FreeAddr(t)
	promCfg := fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: demo
    static_configs: [{targets: [%q, %q]}]
remote_write:
  - url: http://%s/api/v1/write
    authorization: {credentials: %s}
    queue_config: {batch_send_deadline: 200ms, min_backoff: 100ms, max_backoff: 500ms}
    metadata_config: {send_interval: 2s}
`, targets[0], targets[1], rw, token)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(promCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e2e.Start(t, "prometheus", promBin, []string{
		"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + promAddr,
	})
	prom := func(path string, q url.Values) (int, string) { return httpGet(t, "http://"+promAddr+path, q, "") }
	appl := func(path string, q url.Values) (int, string) { return httpGet(t, "http://"+query+path, q, token) }

	// 45 s of data in both (the windows below reach 40 s back).
	start := time.Now()
	e2e.Eventually(t, 30*time.Second, func() error {
		_, body := appl("/api/v1/query", url.Values{"query": {`count(demo_memory_usage_bytes)`}})
		if !strings.Contains(body, `"6"`) {
			return fmt.Errorf("appliance: %s", body)
		}
		return nil
	})
	time.Sleep(45*time.Second - time.Since(start))
	// An evaluation instant both have all samples for, on a 5 s grid.
	at := time.Now().Add(-5 * time.Second).Truncate(5 * time.Second)
	rng := url.Values{"start": {unix(at.Add(-20 * time.Second))}, "end": {unix(at)}, "step": {"5"}}

	var diffs []string
	for _, c := range compatQueries {
		for _, kind := range []string{"query", "query_range"} {
			q := url.Values{"query": {c.q}}
			if kind == "query" {
				q.Set("time", unix(at))
			} else {
				for k, v := range rng {
					q[k] = v
				}
			}
			pc, pb := prom("/api/v1/"+kind, q)
			ac, ab := appl("/api/v1/"+kind, q)
			if strings.Contains(ab, tenants.MetricLabel) || strings.Contains(ab, "compat-tenant") {
				t.Errorf("%s %s: the appliance's answer names the tenant label or the tenant: %s", kind, c.q, ab)
			}
			if pc != 200 || ac != 200 {
				t.Errorf("%s %s: prometheus %d %.300s; appliance %d %.300s", kind, c.q, pc, pb, ac, ab)
				continue
			}
			ps, as := parseResult(t, pb), parseResult(t, ab)
			if pk, ak := keys(ps), keys(as); pk != ak {
				t.Errorf("%s %s: label sets differ:\n  prometheus %s\n  appliance  %s", kind, c.q, pk, ak)
				continue
			}
			if d := valueDiff(ps, as); d != "" {
				if c.mode == exact {
					t.Errorf("%s %s: values differ: %s", kind, c.q, d)
				} else {
					diffs = append(diffs, kind+" "+c.q+": "+d)
				}
			}
		}
	}
	for _, d := range diffs {
		t.Logf("expected difference (MetricsQL semantics): %s", d)
	}
	t.Logf("%d queries, instant and range: label sets equal everywhere; %d answers differ in values as documented", len(compatQueries), len(diffs))
	if path := os.Getenv("COMPAT_REPORT"); path != "" {
		report := fmt.Sprintf("%d queries, instant and range; %d answers differ in values as documented:\n%s\n", len(compatQueries), len(diffs), strings.Join(diffs, "\n"))
		if err := os.WriteFile(path, []byte(report), 0o600); err != nil {
			t.Error(err)
		}
	}

	// The label APIs list the user's labels only, as Prometheus does.
	for _, c := range []struct {
		path string
		q    url.Values
	}{
		{"/api/v1/labels", url.Values{"match[]": {`{job="demo"}`}}},
		{"/api/v1/label/type/values", nil},
		{"/api/v1/label/" + tenants.MetricLabel + "/values", nil},
		{"/api/v1/series", url.Values{"match[]": {`demo_memory_usage_bytes`}}},
	} {
		q := url.Values{"start": {unix(at.Add(-time.Minute))}, "end": {unix(at)}}
		for k, v := range c.q {
			q[k] = v
		}
		pc, pb := prom(c.path, q)
		ac, ab := appl(c.path, q)
		if pc != 200 || ac != 200 || normData(t, pb) != normData(t, ab) {
			t.Errorf("%s %v:\n  prometheus %d %s\n  appliance  %d %s", c.path, c.q, pc, pb, ac, ab)
		}
	}

	// Metadata: the families Prometheus lists (no _bucket/_sum/_count, no
	// up or scrape_* series).
	e2e.Eventually(t, 20*time.Second, func() error {
		_, pb := prom("/api/v1/metadata", nil)
		_, ab := appl("/api/v1/metadata", nil)
		if p, a := metadataOf(t, pb, ""), metadataOf(t, ab, ""); p != a || !strings.Contains(p, "demo_api_request_duration_seconds:histogram") {
			return fmt.Errorf("metadata differs:\n  prometheus %s\n  appliance  %s", p, a)
		}
		return nil
	})
	// Queries PromQL rejects (MetricsQL would accept the first three):
	// the same status and errorType from both.
	for _, q := range []string{
		`{__name__=~".*"}`,
		`label_replace(demo_memory_usage_bytes, "invalid-name", "x", "type", "(.*)")`,
		`label_join(demo_memory_usage_bytes, "x", "-", "in-valid")`,
		`demo_memory_usage_bytes{`,
		`sum(demo_memory_usage_bytes) by (`,
	} {
		for _, kind := range []string{"query", "query_range"} {
			qv := url.Values{"query": {q}, "time": {unix(at)}}
			if kind == "query_range" {
				qv = url.Values{"query": {q}}
				for k, v := range rng {
					qv[k] = v
				}
			}
			pc, pb := prom("/api/v1/"+kind, qv)
			ac, ab := appl("/api/v1/"+kind, qv)
			if pc != ac || errorTypeOf(pb) != errorTypeOf(ab) || pc/100 != 4 {
				t.Errorf("%s %s: prometheus %d %s; appliance %d %s", kind, q, pc, pb, ac, ab)
			}
			if strings.Contains(ab, tenants.MetricLabel) {
				t.Errorf("%s %s: the error names the tenant label: %s", kind, q, ab)
			}
		}
	}
	// query_exemplars: 400 for a query that does not parse, in both.
	pc, _ := prom("/api/v1/query_exemplars", url.Values{"query": {`demo_memory_usage_bytes{`}})
	ac, ab := appl("/api/v1/query_exemplars", url.Values{"query": {`demo_memory_usage_bytes{`}})
	if pc != 400 || ac != 400 {
		t.Errorf("query_exemplars of an unparsable query: prometheus %d, appliance %d %s", pc, ac, ab)
	}
}

// startDemoExporter serves a client_golang registry with a counter, a
// gauge, a histogram and a summary, updated every 100 ms with values that
// depend on the instance, and returns its address.
func startDemoExporter(t *testing.T, inst int) string {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "demo_api_requests_total", Help: "API requests."}, []string{"method", "status"})
	mem := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "demo_memory_usage_bytes", Help: "Memory use."}, []string{"type"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "demo_api_request_duration_seconds", Help: "API request time.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1}}, []string{"method"})
	rpc := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "demo_rpc_duration_seconds", Help: "RPC time.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01}}, []string{"service"})
	reg.MustRegister(reqs, mem, dur, rpc)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			reqs.WithLabelValues("GET", "200").Add(float64(3 + inst))
			reqs.WithLabelValues("POST", "200").Add(1)
			if n%7 == 0 {
				reqs.WithLabelValues("GET", "500").Inc()
			}
			if n%11 == 0 {
				reqs.WithLabelValues("POST", "500").Inc()
			}
			for i, typ := range []string{"buffers", "cached", "free"} {
				mem.WithLabelValues(typ).Set(float64(1000*(i+1) + 100*inst + (n/10)%7*13))
			}
			v := float64((n*37+inst*11)%100) / 100
			dur.WithLabelValues("GET").Observe(v)
			dur.WithLabelValues("POST").Observe(v / 3)
			rpc.WithLabelValues("auth").Observe(v)
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(stop); _ = srv.Close() })
	return ln.Addr().String()
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func httpGet(t *testing.T, base string, q url.Values, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"?"+q.Encode(), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// series is one answer series: its labels and its points by timestamp.
type series struct {
	labels string
	points map[float64]float64
}

func parseResult(t *testing.T, body string) map[string]series {
	t.Helper()
	var r struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := map[string]series{}
	add := func(m map[string]string, pts [][2]any) {
		s := series{labels: labelString(m), points: map[float64]float64{}}
		for _, p := range pts {
			ts, _ := p[0].(float64)
			vs, _ := p[1].(string)
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				t.Fatalf("value %v: %v", p[1], err)
			}
			s.points[ts] = v
		}
		out[s.labels] = s
	}
	switch r.Data.ResultType {
	case "vector":
		var res []struct {
			Metric map[string]string
			Value  [2]any
		}
		if err := json.Unmarshal(r.Data.Result, &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res {
			add(s.Metric, [][2]any{s.Value})
		}
	case "matrix":
		var res []struct {
			Metric map[string]string
			Values [][2]any
		}
		if err := json.Unmarshal(r.Data.Result, &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res {
			add(s.Metric, s.Values)
		}
	case "scalar":
		var p [2]any
		if err := json.Unmarshal(r.Data.Result, &p); err != nil {
			t.Fatal(err)
		}
		add(nil, [][2]any{p})
	default:
		t.Fatalf("result type %q: %s", r.Data.ResultType, body)
	}
	return out
}

func labelString(m map[string]string) string {
	ks := make([]string, 0, len(m))
	for k, v := range m {
		ks = append(ks, k+"="+strconv.Quote(v))
	}
	sort.Strings(ks)
	return "{" + strings.Join(ks, ",") + "}"
}

func keys(m map[string]series) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// valueDiff describes the first points that differ (a point only one side
// has counts too), or "".
func valueDiff(p, a map[string]series) string {
	var out []string
	for k, ps := range p {
		as := a[k]
		for ts, pv := range ps.points {
			av, ok := as.points[ts]
			if !ok {
				out = append(out, fmt.Sprintf("%s@%v: prometheus %v, appliance none", k, ts, pv))
			} else if !near(pv, av) {
				out = append(out, fmt.Sprintf("%s@%v: prometheus %v, appliance %v", k, ts, pv, av))
			}
		}
		for ts, av := range as.points {
			if _, ok := ps.points[ts]; !ok {
				out = append(out, fmt.Sprintf("%s@%v: prometheus none, appliance %v", k, ts, av))
			}
		}
	}
	sort.Strings(out)
	if len(out) > 3 {
		out = append(out[:3], fmt.Sprintf("(%d more)", len(out)-3))
	}
	return strings.Join(out, "; ")
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// normData is the sorted data of a labels, label values or series answer.
func normData(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, d := range r.Data {
		var m map[string]string
		if json.Unmarshal(d, &m) == nil {
			out = append(out, labelString(m))
		} else {
			out = append(out, string(d))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// metadataOf is the families (name: type help) with prefix in an answer.
func metadataOf(t *testing.T, body, prefix string) string {
	t.Helper()
	var r struct {
		Data map[string][]struct {
			Type, Help string
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for n, md := range r.Data {
		if strings.HasPrefix(n, prefix) && len(md) > 0 {
			out = append(out, n+":"+md[0].Type+":"+md[0].Help)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func errorTypeOf(body string) string {
	var r struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	return r.ErrorType
}
