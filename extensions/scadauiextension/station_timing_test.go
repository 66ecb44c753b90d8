package scadauiextension

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

var (
	benchOnce sync.Once
	benchEnd  time.Time
)

// benchStore fills the embedded store once per process with the station
// view's benchmark load: 20 pressure series of one station, 24 h at 500 ms (3,456,000
// samples), plus RTU-up and one valve at 2 s.
func benchStore(b *testing.B) {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scadaui-bench-")
		if err != nil {
			b.Fatal(err)
		}
		st, err := vmstore.Open(vmstore.Config{Path: filepath.Join(dir, "data"), Retention: 48 * time.Hour, MemoryAllowedBytes: 512 << 20})
		if err != nil {
			b.Fatal(err)
		}
		benchEnd = time.Now().Truncate(time.Second)
		start := benchEnd.Add(-24 * time.Hour)
		name := func(l ...string) []byte {
			ls := []vmstore.Label{{Name: tenants.MetricLabel, Value: "bench"}, {Name: "station", Value: "st-1"}}
			for i := 0; i+1 < len(l); i += 2 {
				ls = append(ls, vmstore.Label{Name: l[i], Value: l[i+1]})
			}
			raw, err := vmstore.MarshalName(nil, ls)
			if err != nil {
				b.Fatal(err)
			}
			return raw
		}
		var names [][]byte
		for p := range 20 {
			names = append(names, name("__name__", "scada_pressure_gauge_bar", "point", fmt.Sprintf("p%02d", p), "unit", "bar", "quality", "good"))
		}
		up := name("__name__", "scada_rtu_up", "rtu", "rtu-1", "quality", "good")
		valve := name("__name__", "scada_valve_state", "valve_id", "v1", "status", "open", "quality", "good")
		rows := make([]vmstore.Row, 0, 100_000)
		flush := func() {
			if err := st.Add(rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
		for ts := start; !ts.After(benchEnd); ts = ts.Add(500 * time.Millisecond) {
			ms := ts.UnixMilli()
			for i, n := range names {
				rows = append(rows, vmstore.Row{MetricNameRaw: n, Timestamp: ms, Value: 50 + float64(i) + float64(ms%60000)/60000})
			}
			if ms%2000 == 0 {
				rows = append(rows, vmstore.Row{MetricNameRaw: up, Timestamp: ms, Value: 1}, vmstore.Row{MetricNameRaw: valve, Timestamp: ms, Value: 1})
			}
			if len(rows) >= 99_000 {
				flush()
			}
		}
		flush()
		st.Flush()
		// The store stays open for the process (one per process); the
		// directory is left for the OS temp cleaner.
	})
}

func benchStation(b *testing.B, rangeS int) {
	benchStore(b)
	cfg := createDefaultConfig().(*Config)
	e, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
	if err != nil {
		b.Fatal(err)
	}
	e.now = func() time.Time { return benchEnd }
	url := fmt.Sprintf("/ui/api/station?station=st-1&range=%d", rangeS)
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.station(w, httptest.NewRequest(http.MethodGet, url, nil), identity{tenant: "bench"})
		if w.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/answer")
}

// BenchmarkStationAPI5m is the baseline: the live 5-minute window.
func BenchmarkStationAPI5m(b *testing.B) { benchStation(b, 300) }

// BenchmarkStationAPI24h: 20 series x 24 h at 500 ms, downsampled to
// 1,440 points per series (step 60 s).
func BenchmarkStationAPI24h(b *testing.B) { benchStation(b, 86400) }
