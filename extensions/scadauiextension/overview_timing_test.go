package scadauiextension

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

var fleetOnce sync.Once

// fleetStore adds to the bench store a fleet tenant: 100 RTUs (one
// station each) x 20 pressure points at 500 ms for the last hour, and
// scada_rtu_up (14.4 M + 0.72 M samples): the overview's 1 h lookback full.
func fleetStore(b *testing.B, rtus int) {
	benchStore(b)
	fleetOnce.Do(func() {
		st := vmstore.Current()
		mk := func(l ...string) []byte {
			ls := []vmstore.Label{{Name: tenants.MetricLabel, Value: "fleet"}}
			for i := 0; i+1 < len(l); i += 2 {
				ls = append(ls, vmstore.Label{Name: l[i], Value: l[i+1]})
			}
			raw, err := vmstore.MarshalName(nil, ls)
			if err != nil {
				b.Fatal(err)
			}
			return raw
		}
		var names, ups [][]byte
		for r := range rtus {
			stn := fmt.Sprintf("st-%03d", r)
			for p := range 20 {
				names = append(names, mk("__name__", "scada_pressure_gauge", "station", stn, "point", fmt.Sprintf("p%02d", p), "unit", "bar", "quality", "good"))
			}
			ups = append(ups, mk("__name__", "scada_rtu_up", "station", stn, "rtu", fmt.Sprintf("rtu-%03d", r), "quality", "good"))
		}
		rows := make([]vmstore.Row, 0, 100_000)
		for ts := benchEnd.Add(-time.Hour); !ts.After(benchEnd); ts = ts.Add(500 * time.Millisecond) {
			ms := ts.UnixMilli()
			for i, n := range names {
				rows = append(rows, vmstore.Row{MetricNameRaw: n, Timestamp: ms, Value: 40 + float64(i%20)})
			}
			for _, n := range ups {
				rows = append(rows, vmstore.Row{MetricNameRaw: n, Timestamp: ms, Value: 1})
			}
			if len(rows) >= 99_000 {
				if err := st.Add(rows); err != nil {
					b.Fatal(err)
				}
				rows = rows[:0]
			}
		}
		if err := st.Add(rows); err != nil {
			b.Fatal(err)
		}
		st.Flush()
	})
}

func benchOverview(b *testing.B, tenant string) {
	fleetStore(b, 100)
	cfg := createDefaultConfig().(*Config)
	cfg.AlertsEndpoint = ""
	e, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
	if err != nil {
		b.Fatal(err)
	}
	e.now = func() time.Time { return benchEnd }
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.overview(w, httptest.NewRequest(http.MethodGet, "/ui/api/overview", nil), identity{tenant: tenant})
		if w.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/answer")
}

// BenchmarkOverviewAPI1Station is the baseline: one station (the bench
// tenant: 20 points, 24 h history).
func BenchmarkOverviewAPI1Station(b *testing.B) { benchOverview(b, "bench") }

// BenchmarkOverviewAPI100Stations: 100 RTUs x 20 points at 500 ms, 1 h.
func BenchmarkOverviewAPI100Stations(b *testing.B) { benchOverview(b, "fleet") }
