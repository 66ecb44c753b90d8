package vmexporter

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/thirdparty"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// Benchmarks (go test -run '^$' -bench . -benchtime 20x ./exporters/vmexporter/).
// BenchmarkRawAddRows is the baseline: rows straight into the embedded
// storage, no conversion and no WAL. The figures are in the README.

const (
	benchSeries    = 100
	benchPerSeries = 100 // samples per series per batch: 10,000 per batch
)

func benchMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), "bench")
	rm.Resource().Attributes().PutStr("service.name", "plc-gw")
	sm := rm.ScopeMetrics().AppendEmpty()
	base := time.Now().Add(-time.Hour).UnixMilli() + int64(n)*benchPerSeries*500
	for s := 0; s < benchSeries; s++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName("bench.pressure")
		m.SetUnit("bar")
		dps := m.SetEmptyGauge().DataPoints()
		for i := 0; i < benchPerSeries; i++ {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("sensor", "p"+strconv.Itoa(s))
			dp.SetTimestamp(pcommon.Timestamp((base + int64(i)*500) * 1e6))
			dp.SetDoubleValue(float64(i%97) + 0.25)
		}
	}
	return md
}

func openBenchStore(b *testing.B) *vmstore.Store {
	st, err := vmstore.Open(vmstore.Config{Path: filepath.Join(b.TempDir(), "data"), Retention: 31 * 24 * time.Hour, MemoryAllowedBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	return st
}

func BenchmarkRawAddRows(b *testing.B) {
	st := openBenchStore(b)
	conv, err := newConverter(createDefaultConfig().(*Config))
	if err != nil {
		b.Fatal(err)
	}
	var batches [][]vmstore.Row
	for i := 0; i < 64; i++ {
		var bt batch
		if err := conv.convert(benchMetrics(i), &bt); err != nil {
			b.Fatal(err)
		}
		batches = append(batches, bt.rows)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := st.Add(batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchSeries*benchPerSeries)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkExporterPush: conversion + WAL group commit + AddRows, 4
// concurrent senders. BenchmarkExporterPushTranslatorOnly is the same
// without the series cache (the exporter before it).
func BenchmarkExporterPush(b *testing.B)               { benchPush(b, false) }
func BenchmarkExporterPushTranslatorOnly(b *testing.B) { benchPush(b, true) }

func benchPush(b *testing.B, translatorOnly bool) {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = b.TempDir()
	cfg.MemoryLimitMiB = 1024
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	e, err := newExporter(cfg, set)
	if err != nil {
		b.Fatal(err)
	}
	e.conv.translatorOnly = translatorOnly
	exp, err := exporterhelper.NewMetrics(context.Background(), set, cfg, e.push,
		exporterhelper.WithStart(e.start), exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}))
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	var mds []pmetric.Metrics
	for i := 0; i < 64; i++ {
		mds = append(mds, benchMetrics(i))
	}
	b.ReportAllocs()
	b.SetParallelism(4) // concurrent senders share WAL fsyncs (group commit)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := exp.ConsumeMetrics(context.Background(), mds[i%len(mds)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N*benchSeries*benchPerSeries)/time.Since(start).Seconds(), "samples/s")
}

// batadalPressure reads the 12 junction-pressure columns (P_J*) of the
// BATADAL dataset (not in the repository: internal/thirdparty says where
// to get it; without it the benchmark is skipped with that message).
func batadalPressure(b *testing.B) [][]float64 {
	path := thirdparty.Batadal(b)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	head := strings.Split(sc.Text(), ",")
	var cols []int
	for i, h := range head {
		if strings.HasPrefix(h, "P_J") {
			cols = append(cols, i)
		}
	}
	out := make([][]float64, len(cols))
	for sc.Scan() {
		rec := strings.Split(sc.Text(), ",")
		for k, c := range cols {
			v, err := strconv.ParseFloat(rec[c], 64)
			if err != nil {
				b.Fatalf("%s: column %s: %v", path, head[c], err)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

func p99(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[(len(d)*99+99)/100-1]
}

// BenchmarkBATADALDay stores one station's 20 pressure series replayed at
// 500 ms for 24 h (3,456,000 samples, BATADAL values), then reports disk
// bytes per sample and the p99 of a 24 h query_range with a 60 s step.
func BenchmarkBATADALDay(b *testing.B) {
	st := openBenchStore(b)
	cols := batadalPressure(b)
	end := time.Now().Add(-time.Hour).Truncate(time.Second)
	start := end.Add(-24 * time.Hour)
	const perSeries = 24 * 3600 * 2
	total := 0
	rows := make([]vmstore.Row, 0, 20_000)
	for s := 0; s < 20; s++ {
		name, err := vmstore.MarshalName(nil, []vmstore.Label{
			{Name: "__name__", Value: "junction_pressure_m"}, {Name: "station", Value: "s1"},
			{Name: "junction", Value: fmt.Sprintf("J%02d", s)}, {Name: tenants.MetricLabel, Value: "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		col := cols[s%len(cols)]
		for i := 0; i < perSeries; i++ {
			rows = append(rows, vmstore.Row{MetricNameRaw: name, Timestamp: start.UnixMilli() + int64(i)*500, Value: col[(i+s*97)%len(col)]})
			if len(rows) == cap(rows) {
				if err := st.Add(rows); err != nil {
					b.Fatal(err)
				}
				total += len(rows)
				rows = rows[:0]
			}
		}
	}
	if err := st.Add(rows); err != nil {
		b.Fatal(err)
	}
	total += len(rows)
	if err := st.Persist(); err != nil {
		b.Fatal(err)
	}
	var bytes int64
	_ = filepath.Walk(st.Path(), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			bytes += fi.Size()
		}
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	durs := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		res, err := st.QueryRange("bench", `junction_pressure_m{station="s1"}`, start, end, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t))
		if len(res) != 20 || len(res[0].Values) != 24*60+1 {
			b.Fatalf("got %d series", len(res))
		}
	}
	b.ReportMetric(float64(bytes)/float64(total), "disk-bytes/sample")
	b.ReportMetric(float64(p99(durs).Microseconds())/1000, "p99-ms")
}

// BenchmarkInstantQuery10kSeries: an instant query returning 10,000 series
// through the HTTP API (JSON included).
func BenchmarkInstantQuery10kSeries(b *testing.B) {
	st := openBenchStore(b)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	rows := make([]vmstore.Row, 0, 10_000)
	for s := 0; s < 10_000; s++ {
		name, err := vmstore.MarshalName(nil, []vmstore.Label{
			{Name: "__name__", Value: "valve_position_ratio"}, {Name: "valve", Value: "v" + strconv.Itoa(s)}, {Name: tenants.MetricLabel, Value: "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, vmstore.Row{MetricNameRaw: name, Timestamp: at.UnixMilli(), Value: float64(s % 100)})
	}
	if err := st.Add(rows); err != nil {
		b.Fatal(err)
	}
	st.Flush()
	url := fmt.Sprintf("/api/v1/query?query=valve_position_ratio&time=%d", at.Unix())
	b.ReportAllocs()
	b.ResetTimer()
	durs := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		w := httptest.NewRecorder()
		st.ServeAPI(w, httptest.NewRequest(http.MethodGet, url, nil), "bench")
		durs = append(durs, time.Since(t))
		if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"valve":`) != 10_000 {
			b.Fatalf("code %d, %d series", w.Code, strings.Count(w.Body.String(), `"valve":`))
		}
	}
	b.ReportMetric(float64(p99(durs).Microseconds())/1000, "p99-ms")
}

// BenchmarkConvert is the conversion alone (cached translator labels,
// tenant label, series names, WAL record): 10,000 samples per op.
// BenchmarkConvertTranslatorOnly is its baseline: the contrib translator
// for every data point (the exporter before the series cache).
func BenchmarkConvert(b *testing.B)               { benchConvert(b, false, benchMetrics) }
func BenchmarkConvertTranslatorOnly(b *testing.B) { benchConvert(b, true, benchMetrics) }

// The SCADA shape: one poll tick, 10,000 series with one sample each.
func BenchmarkConvertPollTick(b *testing.B)               { benchConvert(b, false, pollTick) }
func BenchmarkConvertPollTickTranslatorOnly(b *testing.B) { benchConvert(b, true, pollTick) }

func pollTick(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), "bench")
	rm.Resource().Attributes().PutStr("service.name", "plc-gw")
	rm.Resource().Attributes().PutStr("scada.station", "s1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("scada.pressure")
	m.SetUnit("bar")
	dps := m.SetEmptyGauge().DataPoints()
	ts := pcommon.Timestamp((time.Now().Add(-time.Hour).UnixMilli() + int64(n)*500) * 1e6)
	for s := 0; s < benchSeries*benchPerSeries; s++ {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("rtu", "rtu-"+strconv.Itoa(s/20))
		dp.Attributes().PutStr("register", strconv.Itoa(s%20))
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(float64(s%97) + 0.25)
	}
	return md
}

func benchConvert(b *testing.B, translatorOnly bool, gen func(int) pmetric.Metrics) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	if err != nil {
		b.Fatal(err)
	}
	conv.translatorOnly = translatorOnly
	var mds []pmetric.Metrics
	for i := 0; i < 16; i++ {
		mds = append(mds, gen(i))
	}
	var bt batch
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		bt.rows, bt.payload, bt.series = bt.rows[:0], bt.payload[:0], 0
		if err := conv.convert(mds[i%len(mds)], &bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchSeries*benchPerSeries)/time.Since(start).Seconds(), "samples/s")
}

// BenchmarkQueryShapes10kSeries: instant queries of the shapes dashboards
// use (incremental aggregation of a rollup, grouping, vector matching)
// over 10,000 series of 60 samples each, through the HTTP API; the tenant
// label is removed from every series before evaluation (issue 23), so
// these show what that costs.
func BenchmarkQueryShapes10kSeries(b *testing.B) {
	st := openBenchStore(b)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	rows := make([]vmstore.Row, 0, 60_000)
	for s := 0; s < 10_000; s++ {
		name, err := vmstore.MarshalName(nil, []vmstore.Label{
			{Name: "__name__", Value: "valve_position_ratio"}, {Name: "valve", Value: "v" + strconv.Itoa(s)},
			{Name: "station", Value: "s" + strconv.Itoa(s%50)}, {Name: tenants.MetricLabel, Value: "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			rows = append(rows, vmstore.Row{MetricNameRaw: name, Timestamp: at.Add(-time.Duration(59-i) * 10 * time.Second).UnixMilli(), Value: float64((s + i) % 100)})
		}
		if len(rows) == cap(rows) {
			if err := st.Add(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	st.Flush()
	for _, c := range []struct {
		name, query string
		series      int
	}{
		{"sum_rate", `sum(rate(valve_position_ratio[5m]))`, 1},
		{"sum_by_station", `sum by (station) (valve_position_ratio)`, 50},
		{"ratio_to_group", `valve_position_ratio / on(station) group_left sum by (station) (valve_position_ratio)`, 10_000},
		{"max_over_time", `max_over_time(valve_position_ratio[5m])`, 10_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := fmt.Sprintf("/api/v1/query?query=%s&time=%d&nocache=1", url.QueryEscape(c.query), at.Unix())
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := httptest.NewRecorder()
				st.ServeAPI(w, httptest.NewRequest(http.MethodGet, u, nil), "bench")
				if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"metric":`) != c.series {
					b.Fatalf("code %d, %d series: %.300s", w.Code, strings.Count(w.Body.String(), `"metric":`), w.Body.String())
				}
			}
		})
	}
}
