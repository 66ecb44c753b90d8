package scadauiextension

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestOverviewLatestPressure: a point that went silent 10 minutes ago
// keeps its last good value (from the 1 h lookback, cached per tenant),
// a live one shows its newest sample (1 m lookback), a newer sample
// written after the cache was filled wins, and another tenant sees none
// of it.
func TestOverviewLatestPressure(t *testing.T) {
	st, err := vmstore.Open(vmstore.Config{Path: filepath.Join(t.TempDir(), "data"), Retention: 48 * time.Hour, MemoryAllowedBytes: 256 << 20})
	require.NoError(t, err)
	defer st.Close()
	name := func(tenant string, l ...string) []byte {
		ls := []vmstore.Label{{Name: tenants.MetricLabel, Value: tenant}}
		for i := 0; i+1 < len(l); i += 2 {
			ls = append(ls, vmstore.Label{Name: l[i], Value: l[i+1]})
		}
		raw, err := vmstore.MarshalName(nil, ls)
		require.NoError(t, err)
		return raw
	}
	now := time.Now().Truncate(time.Second)
	live := name("t1", "__name__", "scada_pressure_gauge", "station", "s1", "point", "live", "unit", "bar", "quality", "good")
	silent := name("t1", "__name__", "scada_pressure_gauge", "station", "s1", "point", "silent", "unit", "bar", "quality", "good")
	up1 := name("t1", "__name__", "scada_rtu_up", "station", "s1", "rtu", "rtu-1", "quality", "good")
	other := name("t2", "__name__", "scada_pressure_gauge", "station", "s2", "point", "p", "unit", "bar", "quality", "good")
	up2 := name("t2", "__name__", "scada_rtu_up", "station", "s2", "rtu", "rtu-2", "quality", "good")
	var rows []vmstore.Row
	for ts := now.Add(-20 * time.Minute); !ts.After(now); ts = ts.Add(500 * time.Millisecond) {
		ms := ts.UnixMilli()
		rows = append(rows, vmstore.Row{MetricNameRaw: live, Timestamp: ms, Value: 10 + float64(ms%1000)/1000},
			vmstore.Row{MetricNameRaw: up1, Timestamp: ms, Value: 1},
			vmstore.Row{MetricNameRaw: other, Timestamp: ms, Value: 99},
			vmstore.Row{MetricNameRaw: up2, Timestamp: ms, Value: 1})
		if ts.Before(now.Add(-10 * time.Minute)) {
			rows = append(rows, vmstore.Row{MetricNameRaw: silent, Timestamp: ms, Value: 42})
		}
	}
	require.NoError(t, st.Add(rows))
	st.Flush()

	cfg := createDefaultConfig().(*Config)
	cfg.AlertsEndpoint = ""
	e, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
	require.NoError(t, err)
	at := now
	e.now = func() time.Time { return at }
	get := func(tenant string) map[string]pressureView {
		w := httptest.NewRecorder()
		e.overview(w, httptest.NewRequest(http.MethodGet, "/ui/api/overview", nil), identity{tenant: tenant})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var o overviewView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &o))
		out := map[string]pressureView{}
		for _, s := range o.Stations {
			for _, p := range s.Pressure {
				out[s.Station+"/"+p.Point] = p
			}
		}
		return out
	}
	p := get("t1")
	require.Len(t, p, 2)
	assert.Equal(t, 42.0, p["s1/silent"].Value)
	assert.InDelta(t, 600, p["s1/silent"].AgeS, 1)
	assert.Equal(t, now.UnixMilli(), p["s1/live"].AtMs)

	// A newer sample of the silent point, read within fullEvery: the 1 m
	// lookback finds it although the cached 1 h one still holds 42.
	require.NoError(t, st.Add([]vmstore.Row{{MetricNameRaw: silent, Timestamp: now.Add(5 * time.Second).UnixMilli(), Value: 43}}))
	st.Flush()
	at = now.Add(10 * time.Second)
	p = get("t1")
	assert.Equal(t, 43.0, p["s1/silent"].Value)
	assert.InDelta(t, 5, p["s1/silent"].AgeS, 0.01)

	// The other tenant: its own station only, nothing from t1's cache.
	p = get("t2")
	assert.Equal(t, map[string]pressureView{"s2/p": {Point: "p", Unit: "bar", Value: 99, AtMs: now.UnixMilli(), AgeS: 10}}, p)
}
