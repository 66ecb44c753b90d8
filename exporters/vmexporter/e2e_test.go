//go:build e2e

package vmexporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

const (
	westToken = "west-metrics-token-5a1f"
	eastToken = "east-metrics-token-93c2"
)

type appliance struct {
	*e2e.Collector
	otlp, query, rw string
}

// startAppliance runs the real binary: OTLP/HTTP authenticated by
// tenantauth, tenantstamp, the victoriametrics exporter and the query API.
func startAppliance(t *testing.T, checkpoint time.Duration) *appliance {
	t.Helper()
	a := &appliance{otlp: e2e.FreeAddr(t), query: e2e.FreeAddr(t), rw: e2e.FreeAddr(t)}
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %s}}
  tenantauth:
    tenants:
      - {id: west, token_sha256: [%s]}
      - {id: east, token_sha256: [%s]}
    reload_interval: 1s
  prometheus_query:
    endpoint: %s
    auth: {authenticator: tenantauth}
receivers:
  otlp:
    protocols:
      http: {endpoint: %s, auth: {authenticator: tenantauth}}
  prometheus_remote_write:
    endpoint: %s
    auth: {authenticator: tenantauth}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 1024}
  tenantstamp: {}
exporters:
  victoriametrics:
    directory: ${env:SCADAOTEL_DATA_DIR}/metrics
    memory_limit_mib: 256
    wal: {checkpoint_interval: %s}
service:
  extensions: [healthcheckv2, tenantauth, prometheus_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp, prometheus_remote_write], processors: [memory_limiter, tenantstamp], exporters: [victoriametrics]}
`, e2e.FreeAddr(t), tenants.HashToken(westToken), tenants.HashToken(eastToken), a.query, a.otlp, a.rw, checkpoint)
	a.Collector = e2e.StartCollector(t, cfg)
	return a
}

func (a *appliance) send(md pmetric.Metrics, token string) (int, error) {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+a.otlp+"/v1/metrics", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func (a *appliance) prom(t *testing.T, token string) promv1.API {
	c, err := api.NewClient(api.Config{Address: "http://" + a.query, RoundTripper: bearer(token)})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// payload is what a SCADA gateway sends: a pressure gauge with a final
// no-recorded-value point, a valve counter and a poll-duration histogram.
// forged is written into the tenant attribute and label, and must be ignored.
func payload(t0 time.Time, base float64, forged string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "plc-gw")
	rm.Resource().Attributes().PutStr("scada.station", "s7")
	rm.Resource().Attributes().PutStr(tenants.ResourceAttribute, forged)
	sm := rm.ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty()
	g.SetName("pipeline.pressure")
	g.SetUnit("bar")
	gd := g.SetEmptyGauge().DataPoints()
	for i := 0; i < 4; i++ {
		dp := gd.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
		dp.Attributes().PutStr("sensor", "p1")
		dp.Attributes().PutStr(tenants.MetricLabel, forged)
		if i == 3 {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		} else {
			dp.SetDoubleValue(base + float64(i) + 0.5)
		}
	}
	s := sm.Metrics().AppendEmpty()
	s.SetName("valve.operations")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := sum.DataPoints().AppendEmpty()
	sdp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	sdp.SetIntValue(int64(base) + 10)
	h := sm.Metrics().AppendEmpty()
	h.SetName("poll.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	hdp.SetCount(6)
	hdp.SetSum(base + 1.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{1, 4, 1})
	return md
}

// promtool runs `promtool query <args>` against target as tenant token.
// Debian's promtool (2.42) cannot send a bearer token, so it talks to a
// loopback proxy that adds the header, as Grafana's data source would.
func promtool(t *testing.T, target, token string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found in PATH: install the Debian package `prometheus` (apt-get install -y prometheus); .ci/run installs it")
	}
	u, err := url.Parse("http://" + target)
	require.NoError(t, err)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Header.Set("Authorization", "Bearer "+token)
	}}
	srv := httptest.NewServer(rp)
	defer srv.Close()
	full := append([]string{"query", args[0], srv.URL}, args[1:]...)
	out, err := exec.Command(bin, full...).CombinedOutput()
	require.NoError(t, err, "promtool %v: %s", full, out)
	return string(out)
}

func TestE2ERoundTripAndIsolation(t *testing.T) {
	a := startAppliance(t, 2*time.Second)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	code, err := a.send(payload(t0, 1, "east"), westToken)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	code, err = a.send(payload(t0, 100, "west"), eastToken)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	code, err = a.send(payload(t0, 1, "west"), "wrong-token")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, code)

	ctx := context.Background()
	west := a.prom(t, westToken)
	var mat model.Matrix
	var lastErr error
	require.Eventually(t, func() bool {
		v, _, err := west.QueryRange(ctx, `pipeline_pressure_bar`, promv1.Range{Start: t0, End: t0.Add(2 * time.Second), Step: time.Second})
		if err != nil {
			lastErr = err
			return false
		}
		mat = v.(model.Matrix)
		return len(mat) == 1 && len(mat[0].Values) == 3
	}, 10*time.Second, 100*time.Millisecond, "pressure series not readable: %v %v", mat, lastErr)
	assert.Equal(t, model.Metric{"__name__": "pipeline_pressure_bar", "job": "plc-gw", "scada_station": "s7", "sensor": "p1"}, mat[0].Metric)
	for i, sp := range mat[0].Values {
		assert.Equal(t, model.SampleValue(1.5+float64(i)), sp.Value)
		assert.Equal(t, model.TimeFromUnixNano(t0.Add(time.Duration(i)*time.Second).UnixNano()), sp.Timestamp)
	}
	// The no-recorded-value point at t0+3s ended the series.
	v, _, err := west.Query(ctx, `pipeline_pressure_bar`, t0.Add(4*time.Second))
	require.NoError(t, err)
	assert.Empty(t, v.(model.Vector), "staleness marker must end the series")
	v, _, err = west.Query(ctx, `valve_operations_total`, t0)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	assert.Equal(t, model.SampleValue(11), v.(model.Vector)[0].Value)
	v, _, err = west.Query(ctx, `poll_duration_seconds_bucket{le="1"}`, t0)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	assert.Equal(t, model.SampleValue(5), v.(model.Vector)[0].Value)
	v, _, err = west.Query(ctx, `poll_duration_seconds_sum / poll_duration_seconds_count`, t0)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	assert.Equal(t, model.SampleValue(2.5/6), v.(model.Vector)[0].Value)

	// promtool, the Prometheus CLI, reads the same values and timestamps.
	ts := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).Unix(), 10) }
	out := promtool(t, a.query, westToken, "instant", `pipeline_pressure_bar`, "--time="+t0.Add(time.Second).Format(time.RFC3339))
	assert.Contains(t, out, `=> 2.5 @[`+ts(time.Second)+`]`)
	assert.NotContains(t, out, `scada_tenant`)
	out = promtool(t, a.query, westToken, "range", `pipeline_pressure_bar`,
		"--start="+t0.Format(time.RFC3339), "--end="+t0.Add(2*time.Second).Format(time.RFC3339), "--step=1s")
	for i, want := range []string{"1.5", "2.5", "3.5"} {
		assert.Contains(t, out, want+" @["+ts(time.Duration(i)*time.Second)+"]")
	}
	assert.NotContains(t, out, "east")
	out = promtool(t, a.query, eastToken, "instant", `pipeline_pressure_bar`, "--time="+t0.Format(time.RFC3339))
	assert.Contains(t, out, `=> 100.5 @[`+ts(0)+`]`)
	assert.NotContains(t, out, `"west"`)

	// Metric metadata from the OTLP metrics, through the Prometheus client.
	meta, err := west.Metadata(ctx, "", "")
	require.NoError(t, err)
	assert.Equal(t, []promv1.Metadata{{Type: "gauge", Unit: "bar"}}, meta["pipeline_pressure_bar"])
	assert.Equal(t, []promv1.Metadata{{Type: "counter"}}, meta["valve_operations_total"])
	assert.Equal(t, []promv1.Metadata{{Type: "histogram", Unit: "seconds"}}, meta["poll_duration_seconds"])

	// Isolation: nothing of east is visible to west, whatever the query.
	for _, q := range []string{
		`{__name__=~".+"}`,
		`{scada_tenant=~".+"}`,
		`{scada_tenant="east"}`,
		`{__name__=~".+", scada_tenant!="west"}`,
		`pipeline_pressure_bar or {scada_tenant="east"}`,
		`{scada_tenant="east"} unless pipeline_pressure_bar`,
		`max_over_time({scada_tenant=~"e.*"}[1m:1s])`,
		`sum(pipeline_pressure_bar) by (scada_tenant)`,
	} {
		v, _, err := west.Query(ctx, q, t0.Add(time.Second))
		require.NoError(t, err, q)
		for _, s := range v.(model.Vector) {
			if tl, ok := s.Metric[tenants.MetricLabel]; ok {
				assert.Equal(t, model.LabelValue("west"), tl, q)
			}
			assert.Less(t, float64(s.Value), 100.0, "%s returned east's value %v", q, s)
		}
	}
	vals, _, err := west.LabelValues(ctx, tenants.MetricLabel, nil, t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, vals) // the tenant label is in no answer
	vals, _, err = west.LabelValues(ctx, "__name__", nil, t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Contains(t, vals, model.LabelValue("pipeline_pressure_bar"))
	series, _, err := west.Series(ctx, []string{`{__name__=~".+"}`}, t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, series)
	for _, s := range series {
		assert.NotContains(t, s, model.LabelName(tenants.MetricLabel))
	}
	for _, q := range []string{
		"/api/v1/query?query=pipeline_pressure_bar&extra_label=" + url.QueryEscape("scada_tenant=east"),
		"/api/v1/series?match[]=pipeline_pressure_bar&extra_filters[]=" + url.QueryEscape(`{scada_tenant="east"}`),
		"/api/v1/export?match[]=" + url.QueryEscape(`{__name__=~".+"}`),
		"/api/v1/admin/tsdb/delete_series?match[]=pipeline_pressure_bar",
		"/api/v1/import",
		"/snapshot/create",
		"/internal/force_flush",
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.query+q, nil)
		req.Header.Set("Authorization", "Bearer "+westToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, resp.StatusCode, "%s: %s", q, body)
		assert.NotContains(t, string(body), "100.5")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.query+"/api/v1/query?query=up", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	code, _ = a.Stop(t)
	assert.Equal(t, 0, code)
}

// TestE2EKill9LosesNothingAcknowledged kills the appliance 10 times while a
// writer sends batches, and checks that every acknowledged sample is
// queryable afterwards, exactly once.
func TestE2EKill9LosesNothingAcknowledged(t *testing.T) {
	a := startAppliance(t, time.Second)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const perBatch = 50

	var mu sync.Mutex
	acked := map[int64]float64{} // timestamp ms -> value
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "crash-writer")
			gd := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			gd.SetName("crash.probe")
			dps := gd.SetEmptyGauge().DataPoints()
			batch := map[int64]float64{}
			for j := 0; j < perBatch; j++ {
				ts := base.Add(time.Duration(n*perBatch+j) * time.Millisecond)
				dp := dps.AppendEmpty()
				dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				dp.SetDoubleValue(float64(n*perBatch + j))
				batch[ts.UnixMilli()] = float64(n*perBatch + j)
			}
			code, err := a.send(md, westToken)
			if err == nil && code == http.StatusOK {
				mu.Lock()
				for k, v := range batch {
					acked[k] = v
				}
				mu.Unlock()
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	for i := 0; i < 10; i++ {
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		a.Kill(t)
		a.Collector = a.Restart(t)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, acked)
	west := a.prom(t, westToken)
	var got model.Matrix
	seen := map[int64]int{}
	missing := -1
	deadline := time.Now().Add(15 * time.Second)
	for missing != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		v, _, err := west.Query(context.Background(), `crash_probe[2h]`, time.Now())
		if err != nil {
			t.Logf("query: %v", err)
			continue
		}
		got = v.(model.Matrix)
		if len(got) != 1 {
			t.Logf("want 1 series, got %d", len(got))
			continue
		}
		seen = map[int64]int{}
		for _, sp := range got[0].Values {
			seen[int64(sp.Timestamp)]++
		}
		missing = 0
		for ts := range acked {
			if seen[ts] == 0 {
				missing++
			}
		}
	}
	require.Len(t, got, 1)
	assert.Zero(t, missing, "acknowledged samples lost after 10 kill -9 (of %d)", len(acked))
	for ts, n := range seen {
		assert.Equal(t, 1, n, "sample at %d duplicated", ts)
	}
	for _, sp := range got[0].Values {
		if want, ok := acked[int64(sp.Timestamp)]; ok {
			assert.Equal(t, want, float64(sp.Value))
		}
	}
	t.Logf("%d samples acknowledged across 10 kill -9; %d stored, none lost, none duplicated", len(acked), len(got[0].Values))
}

// TestE2ERemoteWriteIntoTheStore pushes Prometheus remote write (snappy
// protobuf, as a Prometheus agent sends it) into the real binary and reads
// the samples back through the query API under the sender's tenant only.
func TestE2ERemoteWriteIntoTheStore(t *testing.T) {
	a := startAppliance(t, 2*time.Second)
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw_tank_level"}, {Name: "tank", Value: "t4"}, {Name: tenants.MetricLabel, Value: "west"}},
		Samples: []prompb.Sample{{Timestamp: t0.UnixMilli(), Value: 12.5}, {Timestamp: t0.Add(time.Second).UnixMilli(), Value: 13.5}},
	}, {
		// A native histogram: buckets (2,4] = 2 and (4,8] = 3.
		Labels: []prompb.Label{{Name: "__name__", Value: "rw_flow"}, {Name: "pump", Value: "p2"}},
		Histograms: []prompb.Histogram{{
			Count: &prompb.Histogram_CountInt{CountInt: 5}, Sum: 21, Schema: 0,
			PositiveSpans: []prompb.BucketSpan{{Offset: 2, Length: 2}}, PositiveDeltas: []int64{2, 1},
			Timestamp: t0.UnixMilli(),
		}},
	}}}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+a.rw+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+eastToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	var mat model.Matrix
	require.Eventually(t, func() bool {
		v, _, err := a.prom(t, eastToken).QueryRange(context.Background(), `rw_tank_level`, promv1.Range{Start: t0, End: t0.Add(time.Second), Step: time.Second})
		if err != nil {
			return false
		}
		mat = v.(model.Matrix)
		return len(mat) == 1 && len(mat[0].Values) == 2
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, model.Metric{"__name__": "rw_tank_level", "tank": "t4"}, mat[0].Metric)
	assert.Equal(t, model.SampleValue(12.5), mat[0].Values[0].Value)
	assert.Equal(t, model.TimeFromUnixNano(t0.UnixNano()), mat[0].Values[0].Timestamp)
	assert.Equal(t, model.SampleValue(13.5), mat[0].Values[1].Value)
	v, _, err := a.prom(t, westToken).Query(context.Background(), `rw_tank_level`, t0)
	require.NoError(t, err)
	assert.Empty(t, v.(model.Vector), "the forged west label must not put east's data into west")

	// The native histogram arrives as VictoriaMetrics histogram series.
	v, _, err = a.prom(t, eastToken).Query(context.Background(), `rw_flow_bucket`, t0)
	require.NoError(t, err)
	buckets := map[model.LabelValue]model.SampleValue{}
	for _, s := range v.(model.Vector) {
		buckets[s.Metric["vmrange"]] = s.Value
	}
	assert.Equal(t, map[model.LabelValue]model.SampleValue{"2.000e+00...4.000e+00": 2, "4.000e+00...8.000e+00": 3}, buckets)
	v, _, err = a.prom(t, eastToken).Query(context.Background(), `rw_flow_count + rw_flow_sum`, t0)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	assert.Equal(t, model.SampleValue(26), v.(model.Vector)[0].Value)
}
