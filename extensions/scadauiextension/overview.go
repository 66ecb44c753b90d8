package scadauiextension

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/vmstore"
)

// Queries of the overview. They are constants: nothing from the request
// goes into query text; the tenant is forced by the store's enforced filter.
const (
	qRTUUpLast       = `last_over_time(scada_rtu_up[1h])`
	qRTUUpAt         = `tlast_over_time(scada_rtu_up[1h])`
	qPressureLast    = `last_over_time({__name__=~"scada_pressure_gauge.*",quality="good"}[1h])`
	qPressureAt      = `tlast_over_time({__name__=~"scada_pressure_gauge.*",quality="good"}[1h])`
	qPressureLastNow = `last_over_time({__name__=~"scada_pressure_gauge.*",quality="good"}[1m])`
	qPressureAtNow   = `tlast_over_time({__name__=~"scada_pressure_gauge.*",quality="good"}[1m])`
	// fullEvery: the 1 h pressure lookback (last good values of points
	// that stopped more than a minute ago) is read at most this often per
	// tenant; the 1 m lookback on every refresh covers the rest (it must
	// stay longer than fullEvery).
	fullEvery         = 30 * time.Second
	stateUp           = "up"
	stateStale        = "stale"
	stateCommLost     = "comm_lost"
	errStoreNotOpened = "the metrics store is not open: add the victoriametrics exporter to a metrics pipeline"
)

type rtuView struct {
	RTU        string  `json:"rtu"`
	State      string  `json:"state"`
	LastPollMs int64   `json:"last_poll_ms"`
	AgeS       float64 `json:"age_s"`
}

type pressureView struct {
	Point string  `json:"point"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	AtMs  int64   `json:"at_ms"`
	AgeS  float64 `json:"age_s"`
}

type stationView struct {
	Station  string         `json:"station"`
	State    string         `json:"state"`
	Firing   int            `json:"firing"`
	RTUs     []rtuView      `json:"rtus"`
	Pressure []pressureView `json:"pressure"`
}

type overviewView struct {
	Tenant      string        `json:"tenant"`
	NowMs       int64         `json:"now_ms"`
	StaleAfterS float64       `json:"stale_after_s"`
	Stations    []stationView `json:"stations"`
	Firing      []episode     `json:"firing"`
	AlertsError string        `json:"alerts_error,omitempty"`
}

// labelKey identifies a series by its labels other than the metric name.
func labelKey(l map[string]string, names ...string) string {
	k := ""
	for _, n := range names {
		k += l[n] + "\x00"
	}
	return k
}

func lastValue(s vmstore.Series) (float64, bool) {
	for i := len(s.Values) - 1; i >= 0; i-- {
		if !math.IsNaN(s.Values[i]) {
			return s.Values[i], true
		}
	}
	return 0, false
}

func stateRank(s string) int {
	switch s {
	case stateCommLost:
		return 0
	case stateStale:
		return 1
	}
	return 2
}

func (e *uiExtension) overview(w http.ResponseWriter, r *http.Request, id identity) {
	st := vmstore.Current()
	if st == nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"error": errStoreNotOpened})
		return
	}
	now := e.now()
	var res [4][]vmstore.Series
	for i, q := range []string{qRTUUpLast, qRTUUpAt, qPressureLastNow, qPressureAtNow} {
		s, err := st.QueryInstant(id.tenant, q, now)
		if err != nil {
			e.set.Logger.Warn("scada_ui: overview query failed")
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "metrics query failed: " + err.Error()})
			return
		}
		res[i] = s
	}
	stations := map[string]*stationView{}
	get := func(name string) *stationView {
		sv := stations[name]
		if sv == nil {
			sv = &stationView{Station: name, State: stateUp, RTUs: []rtuView{}, Pressure: []pressureView{}}
			stations[name] = sv
		}
		return sv
	}
	at := map[string]float64{}
	for _, s := range res[1] {
		if v, ok := lastValue(s); ok {
			at[labelKey(s.Labels, "station", "rtu")] = v
		}
	}
	for _, s := range res[0] {
		v, ok := lastValue(s)
		if !ok {
			continue
		}
		ts, ok := at[labelKey(s.Labels, "station", "rtu")]
		if !ok {
			continue
		}
		rv := rtuView{RTU: s.Labels["rtu"], LastPollMs: int64(ts * 1000)}
		rv.AgeS = math.Max(0, float64(now.UnixMilli()-rv.LastPollMs)/1000)
		switch {
		case v == 0:
			rv.State = stateCommLost
		case time.Duration(rv.AgeS*float64(time.Second)) > e.cfg.StaleAfter:
			rv.State = stateStale
		default:
			rv.State = stateUp
		}
		sv := get(s.Labels["station"])
		sv.RTUs = append(sv.RTUs, rv)
		if stateRank(rv.State) < stateRank(sv.State) {
			sv.State = rv.State
		}
	}
	full, err := e.fullPressure(st, id.tenant, now)
	if err != nil {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "metrics query failed: " + err.Error()})
		return
	}
	latest := map[string]latestPoint{}
	for _, pair := range [][2][]vmstore.Series{{full[0], full[1]}, {res[2], res[3]}} {
		pat := map[string]float64{}
		for _, s := range pair[1] {
			if v, ok := lastValue(s); ok {
				pat[labelKey(s.Labels, "station", "point", "unit")] = v
			}
		}
		for _, s := range pair[0] {
			v, ok := lastValue(s)
			k := labelKey(s.Labels, "station", "point", "unit")
			ts, tok := pat[k]
			if !ok || !tok || s.Labels["station"] == "" {
				continue
			}
			if old, seen := latest[k]; !seen || ts >= old.at {
				latest[k] = latestPoint{labels: s.Labels, value: v, at: ts}
			}
		}
	}
	for _, lp := range latest {
		pv := pressureView{Point: lp.labels["point"], Unit: lp.labels["unit"], Value: lp.value, AtMs: int64(lp.at * 1000)}
		pv.AgeS = math.Max(0, float64(now.UnixMilli()-pv.AtMs)/1000)
		sv := get(lp.labels["station"])
		sv.Pressure = append(sv.Pressure, pv)
	}

	out := overviewView{Tenant: id.tenant, NowMs: now.UnixMilli(), StaleAfterS: e.cfg.StaleAfter.Seconds(), Stations: []stationView{}, Firing: []episode{}}
	if e.cfg.AlertsEndpoint != "" {
		hist, err := e.fetchAlerts(r, id, "")
		if err != nil {
			out.AlertsError = err.Error()
		} else {
			for _, ep := range hist.Episodes {
				if ep.State == "firing" {
					out.Firing = append(out.Firing, ep)
					if ep.Station != "" {
						get(ep.Station).Firing++
					}
				}
			}
		}
	}
	for _, sv := range stations {
		if len(sv.RTUs) == 0 {
			sv.State = "unknown"
		}
		slices.SortFunc(sv.RTUs, func(a, b rtuView) int { return cmp.Compare(a.RTU, b.RTU) })
		slices.SortFunc(sv.Pressure, func(a, b pressureView) int { return cmp.Compare(a.Point, b.Point) })
		out.Stations = append(out.Stations, *sv)
	}
	// Firing alerts first, then the worst state, then the name.
	slices.SortFunc(out.Stations, func(a, b stationView) int {
		if c := cmp.Compare(b.Firing, a.Firing); c != 0 {
			return c
		}
		if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
			return c
		}
		return cmp.Compare(a.Station, b.Station)
	})
	httpjson.Write(w, http.StatusOK, out)
}

type latestPoint struct {
	labels map[string]string
	value  float64
	at     float64 // seconds
}

// fullCache keeps each tenant's last 1 h pressure lookback for fullEvery,
// shared by that tenant's sessions only (keyed by the tenant).
type fullCache struct {
	mu sync.Mutex
	m  map[string]fullEntry
}

type fullEntry struct {
	at  time.Time
	res [2][]vmstore.Series
}

// fullPressure returns the tenant's 1 h pressure lookback (last value,
// its time), read again when older than fullEvery.
func (e *uiExtension) fullPressure(st *vmstore.Store, tenant string, now time.Time) ([2][]vmstore.Series, error) {
	c := &e.full
	c.mu.Lock()
	ent, ok := c.m[tenant]
	c.mu.Unlock()
	if ok && now.Sub(ent.at) < fullEvery && !now.Before(ent.at) {
		return ent.res, nil
	}
	var res [2][]vmstore.Series
	for i, q := range []string{qPressureLast, qPressureAt} {
		s, err := st.QueryInstant(tenant, q, now)
		if err != nil {
			return res, err
		}
		res[i] = s
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]fullEntry{}
	}
	c.m[tenant] = fullEntry{at: now, res: res}
	c.mu.Unlock()
	return res, nil
}
