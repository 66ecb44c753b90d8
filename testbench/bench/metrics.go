package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/internal/thirdparty"
)

const (
	metricSeries     = 10000
	metricRounds     = 300 // samples per series: 300 x 10 s = 50 minutes of data
	metricStep       = 10 * time.Second
	seriesPerRequest = 2000
	metricSenders    = 4
)

// metricLoad is the metrics input: the BATADAL profile (43 SCADA columns:
// tank levels, pump flows and states, valve flow and state, junction
// pressures) repeated over stations until there are 10,000 series, one
// BATADAL row per 10 s step, as OTLP/HTTP protobuf request bodies.
type metricLoad struct {
	bodies  [][]byte
	samples int64
	first   time.Time
	last    time.Time
}

func metricName(col string) string {
	switch {
	case strings.HasPrefix(col, "L_"):
		return "batadal_tank_level"
	case strings.HasPrefix(col, "F_"):
		return "batadal_flow"
	case strings.HasPrefix(col, "S_"):
		return "batadal_state"
	default:
		return "batadal_pressure"
	}
}

// syntheticBatadal stands in for the BATADAL CSV where it is not available
// (it cannot be redistributed): the same 43 columns (7 tank levels, 11 pump
// flows and states, a valve flow and state, 12 junction pressures) and 2089
// hourly rows of smooth daily curves with pump switching, so the storage
// sees the same number of series and a similar compressibility.
func syntheticBatadal() (cols []string, rows [][]float64) {
	for i := 1; i <= 7; i++ {
		cols = append(cols, fmt.Sprintf("L_T%d", i))
	}
	for i := 1; i <= 11; i++ {
		cols = append(cols, fmt.Sprintf("F_PU%d", i), fmt.Sprintf("S_PU%d", i))
	}
	cols = append(cols, "F_V2", "S_V2")
	for i := 1; i <= 12; i++ {
		cols = append(cols, fmt.Sprintf("P_J%d", 200+i*10))
	}
	for h := range 2089 {
		day := 2 * math.Pi * float64(h%24) / 24
		row := make([]float64, len(cols))
		for j, c := range cols {
			phase := float64(j) * 0.37
			switch {
			case strings.HasPrefix(c, "L_"):
				row[j] = math.Round((3+1.5*math.Sin(day+phase))*100) / 100
			case strings.HasPrefix(c, "S_"):
				if math.Sin(day+phase) > 0 {
					row[j] = 1
				}
			case strings.HasPrefix(c, "F_"):
				row[j] = math.Round(math.Max(0, 90*math.Sin(day+phase))*100) / 100
			default:
				row[j] = math.Round((30+8*math.Cos(day+phase))*100) / 100
			}
		}
		rows = append(rows, row)
	}
	return cols, rows
}

func loadBatadal(path string) (cols []string, rows [][]float64, err error) {
	if path == "" {
		cols, rows = syntheticBatadal()
		return cols, rows, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("BATADAL profile: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, nil, fmt.Errorf("%s: no rows", path)
	}
	cols = recs[0][1:]
	for i, r := range recs[1:] {
		if len(r) != len(cols)+1 {
			return nil, nil, fmt.Errorf("%s: row %d has %d fields, want %d", path, i+2, len(r), len(cols)+1)
		}
		row := make([]float64, len(cols))
		for j, s := range r[1:] {
			if row[j], err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return nil, nil, fmt.Errorf("%s: row %d column %s: %w", path, i+2, cols[j], err)
			}
		}
		rows = append(rows, row)
	}
	return cols, rows, nil
}

// profileName says which profile a run used, for the results.
func profileName(batadal string) string {
	if batadal == "" {
		return "a synthetic profile shaped like BATADAL_test_dataset.csv (the CSV was not available; " + thirdparty.BatadalEnv + " names it)"
	}
	return "BATADAL_test_dataset.csv"
}

func newMetricLoad(path string, start time.Time) (*metricLoad, error) {
	cols, rows, err := loadBatadal(path)
	if err != nil {
		return nil, err
	}
	l := &metricLoad{first: start}
	for round := range metricRounds {
		ts := pcommon.NewTimestampFromTime(start.Add(time.Duration(round) * metricStep))
		row := rows[round%len(rows)]
		for s0 := 0; s0 < metricSeries; s0 += seriesPerRequest {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "batadal-rtu")
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("scadaotel/testbench/bench")
			byName := map[string]pmetric.NumberDataPointSlice{}
			for s := s0; s < min(s0+seriesPerRequest, metricSeries); s++ {
				station, c := s/len(cols), s%len(cols)
				name := metricName(cols[c])
				dps, ok := byName[name]
				if !ok {
					m := sm.Metrics().AppendEmpty()
					m.SetName(name)
					dps = m.SetEmptyGauge().DataPoints()
					byName[name] = dps
				}
				v := row[c]
				if !strings.HasPrefix(cols[c], "S_") { // states stay 0/1; other stations differ a little
					v *= 1 + 0.01*float64(station%7)
				}
				dp := dps.AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(v)
				dp.Attributes().PutStr("station", fmt.Sprintf("st-%03d", station))
				dp.Attributes().PutStr("point", cols[c])
				l.samples++
			}
			b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			if err != nil {
				return nil, err
			}
			l.bodies = append(l.bodies, b)
		}
		l.last = ts.AsTime()
	}
	return l, nil
}

// metricTarget is one side of the metrics pair.
type metricTarget struct {
	write, query string // base URLs
	token        string // bearer token (appliance only)
}

func (t metricTarget) do(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-protobuf")
	}
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// metricQueries are the 10 query_range queries both sides answer.
var metricQueries = []string{
	`batadal_pressure{station="st-007"}`,
	`avg(batadal_pressure)`,
	`sum by (point) (batadal_flow)`,
	`max_over_time(batadal_tank_level{station=~"st-01.*"}[5m])`,
	`avg_over_time(batadal_flow{point="F_PU1"}[15m])`,
	`count(batadal_state == 1)`,
	`topk(5, batadal_pressure)`,
	`quantile(0.9, batadal_tank_level)`,
	`deriv(batadal_tank_level{station="st-100"}[10m])`,
	`sum by (station) (batadal_state{point=~"S_PU.*"})`,
}

type metricRun struct {
	rate, cpuPerM, rss, bytesPerSample, p50, p99 float64
	stored                                       float64
	refused                                      int64
	lastErr                                      string
}

func failedMetricRun() metricRun {
	n := math.NaN()
	return metricRun{rate: n, cpuPerM: n, rss: n, bytesPerSample: n, p50: n, p99: n, stored: n}
}

// ingest sends every body with metricSenders closed-loop senders.
func ingest(ctx context.Context, t metricTarget, l *metricLoad) (elapsed time.Duration, refused int64, lastErr string) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range metricSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(l.bodies) {
					return
				}
				// A refused request is retried (as a client would) until accepted.
				for attempt := 0; ctx.Err() == nil; attempt++ {
					code, body, err := t.do(ctx, http.MethodPost, t.write, l.bodies[i])
					if err == nil && code/100 == 2 {
						break
					}
					mu.Lock()
					refused++
					if err != nil {
						lastErr = err.Error()
					} else {
						lastErr = fmt.Sprintf("HTTP %d: %.200s", code, body)
					}
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), refused, lastErr
}

// queryLatencies runs every query reps times (result cache off) and returns the latencies in ms.
func queryLatencies(ctx context.Context, t metricTarget, l *metricLoad, reps int) ([]float64, error) {
	var lat []float64
	for range reps {
		for _, q := range metricQueries {
			v := url.Values{"query": {q}, "start": {strconv.FormatInt(l.first.Unix(), 10)}, "end": {strconv.FormatInt(l.last.Unix(), 10)},
				"step": {"60"}, "nocache": {"1"}}
			t0 := time.Now()
			code, body, err := t.do(ctx, http.MethodGet, t.query+"/api/v1/query_range?"+v.Encode(), nil)
			d := time.Since(t0)
			if err != nil {
				return nil, err
			}
			if code != 200 || !bytes.Contains(body, []byte(`"status":"success"`)) {
				return nil, fmt.Errorf("query_range %s: HTTP %d %.300s", q, code, body)
			}
			lat = append(lat, float64(d.Microseconds())/1000)
		}
	}
	return lat, nil
}

// storedSamples asks how many BATADAL samples the side holds.
func storedSamples(ctx context.Context, t metricTarget, l *metricLoad) (float64, error) {
	v := url.Values{"query": {`sum(count_over_time({__name__=~"batadal_.*"}[1d]))`}, "time": {strconv.FormatInt(l.last.Add(time.Minute).Unix(), 10)}, "nocache": {"1"}}
	code, body, err := t.do(ctx, http.MethodGet, t.query+"/api/v1/query?"+v.Encode(), nil)
	if err != nil {
		return 0, err
	}
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &r) != nil || len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
		return 0, fmt.Errorf("stored samples: HTTP %d %.300s", code, body)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// storageBytes is the size of a VictoriaMetrics storage directory's data
// and index (caches, snapshots and lock files left out).
func storageBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "cache" || d.Name() == "snapshots" || d.Name() == "tmp") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// VMServer is a VictoriaMetrics single-node server.
type VMServer struct {
	*Proc
	Addr, Path string
}

// StartVM starts bin/victoria-metrics on a free port with its storage at path.
func StartVM(ctx context.Context, bin, path, logPath string) (*VMServer, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := StartProc("victoria-metrics", bin, []string{"-storageDataPath=" + path, "-httpListenAddr=" + addr, "-loggerLevel=ERROR"}, nil, logPath)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+addr+"/health", 60*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	return &VMServer{Proc: p, Addr: addr, Path: path}, nil
}

// ForceMerge flushes, forces a merge of every partition and waits until no
// merge is running (VictoriaMetrics runs it in the background).
func (v *VMServer) ForceMerge(ctx context.Context) error {
	for _, p := range []string{"/internal/force_flush", "/internal/force_merge"} {
		resp, err := http.Get("http://" + v.Addr + p)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: HTTP %d", p, resp.StatusCode)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("force merge still running after 3 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		resp, err := http.Get("http://" + v.Addr + "/metrics")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		busy := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "vm_active_force_merges") || strings.HasPrefix(line, "vm_active_merges") {
				if f := strings.Fields(line); len(f) == 2 && f[1] != "0" {
					busy = true
				}
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
	}
	return nil
}

// measureMetrics ingests, queries and measures one side already running as pid.
func measureMetrics(ctx context.Context, pid int, t metricTarget, l *metricLoad, flush func() error) (metricRun, error) {
	r := failedMetricRun()
	m := StartMeter(pid)
	elapsed, refused, lastErr := ingest(ctx, t, l)
	time.Sleep(2 * time.Second) // in-memory rows reach their parts
	u := m.Stop()
	r.refused, r.lastErr = refused, lastErr
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	r.rate = float64(l.samples) / elapsed.Seconds()
	r.cpuPerM = u.CPUSeconds / float64(l.samples) * 1e6
	m = StartMeter(pid)
	if err := flush(); err != nil {
		return r, err
	}
	var err error
	if r.stored, err = storedSamples(ctx, t, l); err != nil {
		return r, err
	}
	lat, err := queryLatencies(ctx, t, l, 5)
	qu := m.Stop()
	r.rss = max(u.PeakRSSMiB, qu.PeakRSSMiB)
	if err != nil {
		return r, err
	}
	r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)
	return r, nil
}

// RunMetrics is the metrics pair.
func RunMetrics(ctx context.Context, o *Options, env *Env) Pair {
	start := time.Now()
	p := Pair{
		Name:      "metrics",
		Appliance: "bin/scadaotel with its embedded default config: otlp/HTTP (tenantauth) → memory_limiter → tenantstamp → victoriametrics (write-ahead log with fsync, embedded VictoriaMetrics v1.151.0); prometheus_query for reads",
		Peer:      "VictoriaMetrics single-node v1.151.0 (bin/victoria-metrics, built from the module the appliance embeds, default flags) through /opentelemetry/v1/metrics",
		Input: fmt.Sprintf(profileName(o.Batadal)+" (43 SCADA columns) repeated over stations to %d series, one row per 10 s step, %d steps = %d samples, "+
			"as identical OTLP/HTTP protobuf bodies of %d data points", metricSeries, metricRounds, metricSeries*metricRounds, seriesPerRequest),
		Method: []string{
			fmt.Sprintf("per run, per side: a fresh process and empty storage; %d closed-loop senders post every body once (a refused body is retried); samples/s = samples / time until the last was acknowledged", metricSenders),
			"CPU per 1M samples: the process's CPU time from the first request until 2 s after the last was acknowledged",
			"then samples stored are counted (sum(count_over_time(...[1d]))), and the 10 query_range queries run 5 times each over the whole data range at step 60 s with nocache=1; p50/p99 over the 50 latencies",
			"RSS: peak over ingestion and queries",
			"the senders run in the bench process on the same cores; every body is sent once, so a fast side's ingestion window is only a few seconds",
			"disk: after the run, a forced merge (VictoriaMetrics' /internal/force_flush + /internal/force_merge, waiting until vm_active_merges is 0); the appliance exposes no merge API, so after its graceful shutdown (which persists everything and empties its WAL) the same VictoriaMetrics server binary opens the appliance's storage directory and force-merges it; bytes = data + index files (caches and snapshots left out), measured after each server's graceful stop (a running server still holds index entries that its shutdown writes), / samples sent",
		},
	}
	for i, q := range metricQueries {
		p.Method = append(p.Method, fmt.Sprintf("query %d: `%s`", i+1, q))
	}
	now := time.Now().Truncate(metricStep)
	l, err := newMetricLoad(o.Batadal, now.Add(-time.Duration(metricRounds)*metricStep-30*time.Minute))
	if err != nil {
		p.Errors = append(p.Errors, err.Error())
		p.Figures = metricFigures(nil, nil)
		return p
	}
	var aRuns, pRuns []metricRun
	for i := range o.Runs {
		for _, side := range []string{"appliance", "peer"} {
			if ctx.Err() != nil {
				p.Errors = append(p.Errors, ctx.Err().Error())
				break
			}
			o.logf("metrics run %d/%d: %s", i+1, o.Runs, side)
			dir := filepath.Join(env.Dir, fmt.Sprintf("metrics-%s-%d", side, i+1))
			r, err := metricsSide(ctx, o, env, side, dir, l)
			if err != nil {
				p.Errors = append(p.Errors, fmt.Sprintf("run %d %s: %v", i+1, side, err))
			}
			o.logf("  %s: %.0f samples/s, CPU %.2f s per 1M, RSS %.0f MiB, %.3f bytes/sample, query p50 %.1f ms p99 %.1f ms, stored %.0f of %d, %d refused",
				side, r.rate, r.cpuPerM, r.rss, r.bytesPerSample, r.p50, r.p99, r.stored, l.samples, r.refused)
			if r.refused > 0 {
				p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: %d requests refused and retried (last: %s)", i+1, side, r.refused, r.lastErr))
			}
			if !math.IsNaN(r.stored) && int64(r.stored) != l.samples {
				p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: %.0f samples stored of %d sent", i+1, side, r.stored, l.samples))
			}
			if side == "appliance" {
				aRuns = append(aRuns, r)
			} else {
				pRuns = append(pRuns, r)
			}
		}
	}
	p.Figures = metricFigures(aRuns, pRuns)
	p.Seconds = time.Since(start).Seconds()
	return p
}

func metricsSide(ctx context.Context, o *Options, env *Env, side, dir string, l *metricLoad) (metricRun, error) {
	if side == "appliance" {
		a, err := StartAppliance(ctx, o.Appliance, dir, env.Sink.Addr, env.Kafka)
		if err != nil {
			return failedMetricRun(), err
		}
		t := metricTarget{write: "http://" + a.OTLPHTTP + "/v1/metrics", query: "http://" + a.Query, token: a.Token}
		r, err := measureMetrics(ctx, a.Pid(), t, l, func() error { time.Sleep(time.Second); return nil })
		a.Stop(60 * time.Second)
		if err != nil {
			return r, err
		}
		// The appliance has no merge API: open its storage with the same
		// VictoriaMetrics version and force-merge it there.
		path := filepath.Join(dir, "metrics", "data")
		vm, err := StartVM(ctx, o.VictoriaMetrics, path, filepath.Join(dir, "merge-vm.log"))
		if err != nil {
			return r, fmt.Errorf("opening the appliance's storage for the forced merge: %w", err)
		}
		defer vm.Stop(30 * time.Second)
		if err := vm.ForceMerge(ctx); err != nil {
			return r, err
		}
		// Measured after a graceful stop on both sides: a running server
		// still holds index entries in memory that its shutdown writes.
		vm.Stop(30 * time.Second)
		n, err := storageBytes(path)
		if err != nil {
			return r, err
		}
		r.bytesPerSample = float64(n) / float64(l.samples)
		return r, nil
	}
	path := filepath.Join(dir, "vmdata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return failedMetricRun(), err
	}
	vm, err := StartVM(ctx, o.VictoriaMetrics, path, filepath.Join(dir, "victoria-metrics.log"))
	if err != nil {
		return failedMetricRun(), err
	}
	defer vm.Stop(30 * time.Second)
	t := metricTarget{write: "http://" + vm.Addr + "/opentelemetry/v1/metrics", query: "http://" + vm.Addr}
	flush := func() error {
		resp, err := http.Get("http://" + vm.Addr + "/internal/force_flush")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	r, err := measureMetrics(ctx, vm.Pid(), t, l, flush)
	if err != nil {
		return r, err
	}
	if err := vm.ForceMerge(ctx); err != nil {
		return r, err
	}
	vm.Stop(30 * time.Second)
	n, err := storageBytes(path)
	if err != nil {
		return r, err
	}
	r.bytesPerSample = float64(n) / float64(l.samples)
	return r, nil
}

func metricFigures(a, p []metricRun) []Figure {
	col := func(rs []metricRun, f func(metricRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	fig := func(name, unit string, f func(metricRun) float64, g *Goal) Figure {
		return NewFigure(name, unit, col(a, f), col(p, f), g)
	}
	return []Figure{
		fig("max sustained ingestion", "samples/s", func(r metricRun) float64 { return r.rate }, &Goal{Op: ">=", Bound: 0.8, Text: ">= 0.80"}),
		fig("CPU per 1M samples", "CPU s", func(r metricRun) float64 { return r.cpuPerM }, &Goal{Op: "<=", Bound: 1.3, Text: "<= 1.30"}),
		fig("peak RSS", "MiB", func(r metricRun) float64 { return r.rss }, nil),
		fig("disk after forced merge", "bytes/sample", func(r metricRun) float64 { return r.bytesPerSample }, &Goal{Op: "<=", Bound: 1.05, Text: "<= 1.05"}),
		fig("query_range p50", "ms", func(r metricRun) float64 { return r.p50 }, nil),
		fig("query_range p99", "ms", func(r metricRun) float64 { return r.p99 }, nil),
	}
}
