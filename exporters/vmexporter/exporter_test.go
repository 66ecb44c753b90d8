package vmexporter

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

func testConfig(t *testing.T, dir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.MemoryLimitMiB = 256
	cfg.WAL.CheckpointInterval = time.Hour // tests checkpoint explicitly
	require.NoError(t, cfg.Validate())
	return cfg
}

var (
	t0 = time.Now().Truncate(time.Second).Add(-5 * time.Minute)
)

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

// fixture builds one resource per tenant with a gauge, a counter, a
// histogram, an exponential histogram and a no-recorded-value point.
func fixture(tenant string, base float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if tenant != "" {
		tenants.SetOnResource(rm.Resource(), tenant)
	}
	rm.Resource().Attributes().PutStr("scada.site", "north")
	rm.Resource().Attributes().PutStr("service.name", "plc-gw")
	sm := rm.ScopeMetrics().AppendEmpty()

	g := sm.Metrics().AppendEmpty()
	g.SetName("pipeline.pressure")
	g.SetUnit("bar")
	gd := g.SetEmptyGauge().DataPoints()
	for i := 0; i < 3; i++ {
		dp := gd.AppendEmpty()
		dp.SetTimestamp(ts(time.Duration(i) * time.Second))
		dp.SetDoubleValue(base + float64(i) + 0.5)
		dp.Attributes().PutStr("station", "s1")
		dp.Attributes().PutStr(tenants.MetricLabel, "forged") // must be overwritten
	}
	stale := gd.AppendEmpty()
	stale.SetTimestamp(ts(3 * time.Second))
	stale.Attributes().PutStr("station", "s1")
	stale.Attributes().PutStr(tenants.MetricLabel, "forged")
	stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	s := sm.Metrics().AppendEmpty()
	s.SetName("valve.operations")
	s.SetUnit("1")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := sum.DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts(0))
	sdp.SetIntValue(int64(base) * 10)

	h := sm.Metrics().AppendEmpty()
	h.SetName("poll.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts(0))
	hdp.SetCount(6)
	hdp.SetSum(1.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{1, 4, 1})

	eh := sm.Metrics().AppendEmpty()
	eh.SetName("flow.rate")
	ehist := eh.SetEmptyExponentialHistogram()
	ehist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := ehist.DataPoints().AppendEmpty()
	edp.SetTimestamp(ts(0))
	edp.SetScale(0) // buckets (2^(i), 2^(i+1)] for offset i
	edp.SetCount(5)
	edp.SetSum(20)
	edp.Positive().SetOffset(1) // (2,4], (4,8]
	edp.Positive().BucketCounts().FromRaw([]uint64{2, 3})
	return md
}

func TestConvertFollowsPrometheusRulesAndForcesTenant(t *testing.T) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	var b batch
	require.NoError(t, conv.convert(fixture("acme", 1), &b))
	require.NoError(t, b.dropped)

	got := map[string][]float64{}
	for _, r := range b.rows {
		key, err := vmstore.NameString(r.MetricNameRaw)
		require.NoError(t, err)
		got[key] = append(got[key], r.Value)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	const common = `,job="plc-gw",scada_site="north",scada_tenant="acme"`
	want := map[string][]float64{
		`pipeline_pressure_bar{` + common[1:] + `,station="s1"}`:                                      {1.5, 2.5, 3.5, vmstore.StaleNaN},
		`valve_operations_total{` + common[1:] + `}`:                                                  {10},
		`poll_duration_seconds_bucket{job="plc-gw",le="0.1",scada_site="north",scada_tenant="acme"}`:  {1},
		`poll_duration_seconds_bucket{job="plc-gw",le="1",scada_site="north",scada_tenant="acme"}`:    {5},
		`poll_duration_seconds_bucket{job="plc-gw",le="+Inf",scada_site="north",scada_tenant="acme"}`: {6},
		`poll_duration_seconds_sum{` + common[1:] + `}`:                                               {1.5},
		`poll_duration_seconds_count{` + common[1:] + `}`:                                             {6},
		`flow_rate_count{` + common[1:] + `}`:                                                         {5},
		`flow_rate_sum{` + common[1:] + `}`:                                                           {20},
		`flow_rate_bucket{` + common[1:] + `,vmrange="2.000e+00...4.000e+00"}`:                        {2},
		`flow_rate_bucket{` + common[1:] + `,vmrange="4.000e+00...8.000e+00"}`:                        {3},
	}
	for k, v := range want {
		g, ok := got[k]
		if !assert.True(t, ok, "missing series %s; have %v", k, keys) {
			continue
		}
		require.Len(t, g, len(v), k)
		for i := range v {
			if vmstore.IsStaleNaN(v[i]) {
				assert.True(t, vmstore.IsStaleNaN(g[i]), "%s[%d] must be a staleness marker", k, i)
			} else {
				assert.Equal(t, v[i], g[i], k)
			}
		}
	}
	for k := range got {
		assert.NotContains(t, k, "forged")
	}
	// target_info carries the resource, with the tenant forced too.
	assert.Contains(t, keys, `target_info{`+`job="plc-gw",scada_site="north",scada_tenant="acme"}`)

	// WAL record round trip gives the same rows.
	rows, err := decodeRecord(b.payload, nil)
	require.NoError(t, err)
	require.Len(t, rows, len(b.rows))
	for i := range rows {
		assert.Equal(t, string(b.rows[i].MetricNameRaw), string(rows[i].MetricNameRaw))
		assert.Equal(t, b.rows[i].Timestamp, rows[i].Timestamp)
		assert.Equal(t, math.Float64bits(b.rows[i].Value), math.Float64bits(rows[i].Value))
	}
}

func TestRefusesDataWithoutTenant(t *testing.T) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	md := fixture("acme", 1)
	fixture("", 1).ResourceMetrics().At(0).CopyTo(md.ResourceMetrics().AppendEmpty())
	var b batch
	err = conv.convert(md, &b)
	require.ErrorIs(t, err, errNoTenant)
	assert.Contains(t, err.Error(), "resource 1")
	assert.Empty(t, b.rows, "nothing of a refused batch is written")
}

func TestExporterRoundTripShutdownFlushesAndRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 1)))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("beta", 100)))
	err = exp.ConsumeMetrics(context.Background(), fixture("", 1))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	require.NoError(t, exp.Shutdown(context.Background()))

	// Shutdown persisted everything and emptied the WAL.
	assert.Zero(t, walDataBytes(t, filepath.Join(dir, "wal")))

	exp, err = NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	st := vmstore.Current()
	res, err := st.QueryRange("acme", `pipeline_pressure_bar`, t0, t0.Add(2*time.Second), time.Second)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, []float64{1.5, 2.5, 3.5}, res[0].Values)
	// The series is acme's (read with acme's enforced filter); answers
	// carry no tenant label, and the forged label stored nothing.
	assert.NotContains(t, res[0].Labels, tenants.MetricLabel)
	forged, err := st.QueryInstant("forged", `{__name__=~".+"}`, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Empty(t, forged)
	res, err = st.QueryInstant("beta", `{__name__=~".+"}`, t0.Add(time.Second))
	require.NoError(t, err)
	require.NotEmpty(t, res)
	for _, s := range res {
		assert.NotContains(t, s.Labels, tenants.MetricLabel)
	}
	res, err = st.QueryInstant("acme", `histogram_quantile(0.5, rate(flow_rate_bucket[5m]) or flow_rate_bucket)`, t0.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.InDelta(t, 4.0, res[0].Values[0], 1.5, "median of the exponential histogram")

	// Metric metadata was recorded per tenant and survived the restart.
	_, meta := st.Metadata("acme", "", 0)
	assert.Equal(t, map[string]vmstore.MetricMetadata{
		"pipeline_pressure_bar":  {Type: "gauge", Unit: "bar"},
		"valve_operations_total": {Type: "counter"},
		"poll_duration_seconds":  {Type: "histogram", Unit: "seconds"},
		"flow_rate":              {Type: "histogram"},
	}, meta)
	_, none := st.Metadata("nobody", "", 0)
	assert.Empty(t, none)
}

// walDataBytes sums the record bytes of the WAL segments in dir (not their
// file headers).
func walDataBytes(t *testing.T, dir string) int64 {
	seqs, err := listSegments(dir)
	require.NoError(t, err)
	var n int64
	for _, s := range seqs {
		st, err := os.Stat(filepath.Join(dir, segmentName(s)))
		require.NoError(t, err)
		n += max(0, st.Size()-int64(len(segmentHeader)))
	}
	return n
}

func TestReplayRestoresUnpersistedRowsWithoutDuplicates(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	conv, err := newConverter(cfg)
	require.NoError(t, err)

	// A previous run acknowledged two batches (fsynced in the WAL) and died
	// before its storage wrote them; the second record is torn.
	w, _, err := openWAL(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	var b batch
	require.NoError(t, conv.convert(fixture("acme", 1), &b))
	require.NoError(t, w.Append(b.payload))
	require.NoError(t, w.Append(b.payload)) // the same batch twice (client retry)
	require.NoError(t, w.Close())
	f, err := os.OpenFile(filepath.Join(dir, "wal", segmentName(w.seq)), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(appendRecord(nil, b.payload)[:recordHeaderSize+3]) // torn tail: a crash mid-write
	require.NoError(t, err)
	require.NoError(t, f.Close())

	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	st := vmstore.Current()
	res, err := st.QueryInstant("acme", `count_over_time(pipeline_pressure_bar[1m])`, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, 3.0, res[0].Values[0], "3 samples, no duplicates (the stale marker is not counted)")
	// The replayed segments are gone; only the new, empty one is left.
	assert.Zero(t, walDataBytes(t, filepath.Join(dir, "wal")))

	// A push after replay lands in the log and is visible after a checkpoint.
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 1)))
	assert.Positive(t, walDataBytes(t, filepath.Join(dir, "wal")))
}

func TestWALGroupCommitBatchesConcurrentAppends(t *testing.T) {
	w, _, err := openWAL(t.TempDir())
	require.NoError(t, err)
	commits := 0
	w.onCommit = func(int) { commits++ } // called under w.mu
	var wg sync.WaitGroup
	const n = 64
	for i := 0; i < n; i++ {
		wg.Go(func() { assert.NoError(t, w.Append([]byte{byte(i), 1, 2, 3})) })
	}
	wg.Wait()
	require.NoError(t, w.Close())
	got := 0
	res, err := readSegment(filepath.Join(w.dir, segmentName(w.seq)), func([]byte) error { got++; return nil })
	require.NoError(t, err)
	assert.Nil(t, res.Torn)
	assert.Empty(t, res.Damaged)
	assert.Equal(t, n, res.Records)
	assert.Equal(t, n, got)
	assert.LessOrEqual(t, commits, n)
	t.Logf("%d appends, %d fsyncs", n, commits)
}

func TestConfigValidateNamesKeys(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = ""
	cfg.Retention = time.Hour
	cfg.WAL.CheckpointInterval = 0
	cfg.ResourceToLabels = []string{""}
	err := cfg.Validate()
	require.Error(t, err)
	for _, k := range []string{"directory", "retention", "wal.checkpoint_interval", "resource_to_labels[0]"} {
		assert.Contains(t, err.Error(), k)
	}
}

func TestTwoExportersCannotShareOneDirectory(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	first, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background(), componenttest.NewNopHost()))
	second, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	err = second.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "already used by another victoriametrics exporter")
	require.NoError(t, first.Shutdown(context.Background()))
	// Released on shutdown: a restart in the same process works.
	third, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, third.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, third.Shutdown(context.Background()))
}
