//go:build e2e

package scadauiextension

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// fillStationHistory writes the benchmark load into a fresh store directory
// (in this test process, then closed): 20 pressure series of one station
// for 24 h at 500 ms (3,456,000 samples), labelled exactly as the scada
// receiver and the victoriametrics exporter label the live samples.
func fillStationHistory(t *testing.T, dataDir, tenant, station string, end time.Time) {
	t.Helper()
	st, err := vmstore.Open(vmstore.Config{Path: dataDir, Retention: 31 * 24 * time.Hour, MemoryAllowedBytes: 512 << 20})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	names := make([][]byte, 20)
	for p := range names {
		raw, err := vmstore.MarshalName(nil, []vmstore.Label{
			{Name: "__name__", Value: "scada_pressure_gauge"},
			{Name: "point", Value: fmt.Sprintf("p%02d", p)},
			{Name: "quality", Value: "good"},
			{Name: "scada_station", Value: station},
			{Name: tenants.MetricLabel, Value: tenant},
			{Name: "station", Value: station},
			{Name: "unit", Value: "bar"},
		})
		if err != nil {
			t.Fatal(err)
		}
		names[p] = raw
	}
	rows := make([]vmstore.Row, 0, 100_000)
	for ts := end.Add(-24 * time.Hour); ts.Before(end); ts = ts.Add(500 * time.Millisecond) {
		ms := ts.UnixMilli()
		for i, n := range names {
			rows = append(rows, vmstore.Row{MetricNameRaw: n, Timestamp: ms, Value: 50 + float64(i) + float64(ms%600_000)/600_000})
		}
		if len(rows) >= 99_000 {
			if err := st.Add(rows); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := st.Add(rows); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	st.Close()
}

// TestBrowserStationPerformance: the station view with 20 pressure series
// of 24 h at 500 ms (downsampled by the query API) renders in under 1 s
// and stays responsive (no long task over 200 ms) while it updates live,
// in Debian's Chromium against the real binary (ui/web/test/perf.mjs).
func TestBrowserStationPerformance(t *testing.T) {
	node, web := e2e.BrowserTools(t)
	const (
		token   = "token-perf-0123456789"
		tenant  = "perf-pipeline-01"
		station = "compressor-20"
	)
	dir := t.TempDir()
	began := time.Now()
	fillStationHistory(t, filepath.Join(dir, "metrics", "data"), tenant, station, time.Now())
	t.Logf("history written in %v", time.Since(began).Round(time.Millisecond))

	// The live RTU: the same 20 points in holding registers 0..19.
	r := startRTU(t, 0, 0)
	r.mu.Lock()
	for i := range 20 {
		r.holding[i] = uint16(505 + 10*i) // 50.5 + i bar
	}
	r.mu.Unlock()
	var points strings.Builder
	for i := range 20 {
		fmt.Fprintf(&points, "        - {name: p%02d, kind: pressure, register: holding, address: %d, type: int16, scale: 0.1, unit: bar}\n", i, i)
	}
	health, uiAddr := e2e.FreeAddr(t), e2e.FreeAddr(t)
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
  tenantauth:
    tenants:
      - {id: %[2]s, token_sha256: [%[3]s]}
  scada_ui:
    endpoint: %[4]s
    trace_query_endpoint: ""
    alerts_endpoint: ""
    alarms_endpoint: ""
    telemetry_endpoint: ""
receivers:
  scada:
    poll_groups: {pressure: 500ms}
    rtus:
      - {name: rtu-perf, endpoint: tcp://%[5]s, unit_id: 1, tenant: %[2]s, station: %[6]s, timeout: 300ms, point_sets: [ps]}
    point_sets:
      ps:
%[7]sprocessors:
  memory_limiter: {check_interval: 1s, limit_mib: 1024}
exporters:
  victoriametrics: {directory: %[8]s}
service:
  extensions: [healthcheckv2, tenantauth, scada_ui]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [scada], processors: [memory_limiter], exporters: [victoriametrics]}
`, health, tenant, sha(token), uiAddr, r.addr, station, points.String(), filepath.Join(dir, "metrics"))
	col := e2e.StartCollector(t, cfg)
	base := "http://" + uiAddr

	// The history and the live samples are the same 20 series: the 5 min
	// window holds both (20 series, the newest live), the 24 h one 1,441
	// points per series.
	get := func(rangeS int) (stationDetail, error) {
		var sd stationDetail
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/ui/api/station?station=%s&range=%d", base, station, rangeS), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return sd, err
		}
		defer resp.Body.Close()
		return sd, json.NewDecoder(resp.Body).Decode(&sd)
	}
	e2e.Eventually(t, 30*time.Second, func() error {
		sd, err := get(300)
		if err != nil {
			return err
		}
		if len(sd.Pressure) != 20 {
			return fmt.Errorf("5 min: want 20 series, got %d", len(sd.Pressure))
		}
		var last *float64
		for _, v := range sd.Pressure[19].Values {
			if v != nil {
				last = v
			}
		}
		if last == nil || math.Abs(*last-69.5) > 1e-9 {
			return fmt.Errorf("latest point of p19 = %v, want the live 69.5", last)
		}
		sd, err = get(86400)
		if err != nil {
			return err
		}
		if len(sd.Pressure) != 20 {
			return fmt.Errorf("24 h: want 20 series, got %d", len(sd.Pressure))
		}
		n := 0
		for _, v := range sd.Pressure[0].Values {
			if v != nil {
				n++
			}
		}
		if n < len(sd.Timestamps)-3 || len(sd.Timestamps) < 1441 {
			return fmt.Errorf("24 h answer: %d of %d points", n, len(sd.Timestamps))
		}
		return nil
	})

	art := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(web, "test", "perf.mjs"))
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "UI_URL="+base, "TOKEN="+token, "STATION="+station, "ARTIFACTS="+art,
		"RENDER_BUDGET_MS=1000", "LONG_TASK_BUDGET_MS=200")
	out, err := cmd.CombinedOutput()
	t.Logf("perf.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("perf.mjs failed: %v", err)
	}
	if code, _ := col.Stop(t); code != 0 {
		t.Errorf("collector exit code %d", code)
	}
}
