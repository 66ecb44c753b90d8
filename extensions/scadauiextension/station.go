package scadauiextension

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/vmstore"
)

const (
	minRange = 5 * time.Minute
	maxRange = 7 * 24 * time.Hour
	// maxPoints bounds the points per series a chart gets (the store
	// downsamples by the step).
	maxPoints = 1500
)

type seriesView struct {
	Point  string     `json:"point"`
	Unit   string     `json:"unit"`
	Values []*float64 `json:"values"` // null: no good sample in the step (gap or bad quality)
}

type spanView struct {
	FromMs int64  `json:"from_ms"`
	ToMs   int64  `json:"to_ms"`
	Status string `json:"status,omitempty"`
}

type valveView struct {
	ValveID  string     `json:"valve_id"`
	Segments []spanView `json:"segments"`
}

type stationDetail struct {
	Station    string       `json:"station"`
	StartMs    int64        `json:"start_ms"`
	EndMs      int64        `json:"end_ms"`
	StepMs     int64        `json:"step_ms"`
	Timestamps []int64      `json:"timestamps"`
	Pressure   []seriesView `json:"pressure"`
	CommLost   []spanView   `json:"comm_lost"`
	Valves     []valveView  `json:"valves"`
}

// stepFor picks the downsampling step of a range: whole seconds, at most
// maxPoints points.
func stepFor(rng time.Duration) time.Duration {
	step := time.Duration(math.Ceil(float64(rng)/float64(maxPoints)/float64(time.Second))) * time.Second
	return max(step, time.Second)
}

// window is the time range of a chart answer: the step, the first and last
// step-aligned timestamps (ms) and every timestamp between them.
type window struct {
	step           time.Duration
	stepMs         int64
	startMs, endMs int64
	timestamps     []int64
}

// parseWindow reads the `range` parameter of the station and services APIs
// (seconds, minRange to maxRange; empty: minRange) and aligns the window
// ending at now to its step.
func parseWindow(v string, now time.Time) (window, error) {
	rng := minRange
	if v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || time.Duration(secs)*time.Second < minRange || time.Duration(secs)*time.Second > maxRange {
			return window{}, fmt.Errorf("range: seconds between %d and %d", int(minRange/time.Second), int(maxRange/time.Second))
		}
		rng = time.Duration(secs) * time.Second
	}
	w := window{step: stepFor(rng)}
	w.stepMs = w.step.Milliseconds()
	w.endMs = now.UnixMilli()
	w.endMs -= w.endMs % w.stepMs
	w.startMs = w.endMs - rng.Milliseconds()
	n := int((w.endMs-w.startMs)/w.stepMs) + 1
	w.timestamps = make([]int64, n)
	for i := range n {
		w.timestamps[i] = w.startMs + int64(i)*w.stepMs
	}
	return w, nil
}

func (e *uiExtension) station(w http.ResponseWriter, r *http.Request, id identity) {
	st := vmstore.Current()
	if st == nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"error": errStoreNotOpened})
		return
	}
	q := r.URL.Query()
	name := q.Get("station")
	if name == "" || len(name) > 1024 {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "station: required (at most 1024 bytes)"})
		return
	}
	win, err := parseWindow(q.Get("range"), e.now())
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	step, stepMs, startMs, endMs := win.step, win.stepMs, win.startMs, win.endMs
	n := len(win.timestamps)
	out := stationDetail{Station: name, StartMs: startMs, EndMs: endMs, StepMs: stepMs,
		Timestamps: win.timestamps, Pressure: []seriesView{}, CommLost: []spanView{}, Valves: []valveView{}}
	// Only the step (an integer chosen here) is formatted into the query;
	// the station is matched on the results, never put into query text.
	secs := int64(step / time.Second)
	queries := []string{
		fmt.Sprintf(`last_over_time({__name__=~"scada_pressure_gauge.*",quality="good"}[%ds])`, secs),
		fmt.Sprintf(`min_over_time(scada_rtu_up[%ds])`, secs),
		fmt.Sprintf(`last_over_time(scada_valve_state{quality="good"}[%ds])`, secs),
	}
	var res [3][]vmstore.Series
	for i, qs := range queries {
		s, err := st.QueryRange(id.tenant, qs, time.UnixMilli(startMs), time.UnixMilli(endMs), step)
		if err != nil {
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "metrics query failed: " + err.Error()})
			return
		}
		res[i] = s
	}
	index := func(ts int64) (int, bool) {
		i := int(math.Round(float64(ts-startMs) / float64(stepMs)))
		return i, i >= 0 && i < n
	}
	for _, s := range res[0] {
		if s.Labels["station"] != name {
			continue
		}
		sv := seriesView{Point: s.Labels["point"], Unit: s.Labels["unit"], Values: make([]*float64, n)}
		for j, ts := range s.Timestamps {
			if i, ok := index(ts); ok && !math.IsNaN(s.Values[j]) {
				v := s.Values[j]
				sv.Values[i] = &v
			}
		}
		out.Pressure = append(out.Pressure, sv)
	}
	slices.SortFunc(out.Pressure, func(a, b seriesView) int { return cmp.Compare(a.Point+"\x00"+a.Unit, b.Point+"\x00"+b.Unit) })

	// Comm lost: steps in which any RTU of the station reported up == 0.
	lost := make([]bool, n)
	for _, s := range res[1] {
		if s.Labels["station"] != name {
			continue
		}
		for j, ts := range s.Timestamps {
			if i, ok := index(ts); ok && s.Values[j] == 0 {
				lost[i] = true
			}
		}
	}
	for i := 0; i < n; {
		if !lost[i] {
			i++
			continue
		}
		j := i
		for j < n && lost[j] {
			j++
		}
		out.CommLost = append(out.CommLost, spanView{FromMs: out.Timestamps[i], ToMs: out.Timestamps[j-1] + stepMs})
		i = j
	}

	// Valve timelines: per valve, the status whose set member is 1.
	status := map[string][]string{}
	for _, s := range res[2] {
		if s.Labels["station"] != name {
			continue
		}
		vid := s.Labels["valve_id"]
		if status[vid] == nil {
			status[vid] = make([]string, n)
		}
		for j, ts := range s.Timestamps {
			if i, ok := index(ts); ok && s.Values[j] == 1 {
				status[vid][i] = s.Labels["status"]
			}
		}
	}
	for vid, sts := range status {
		vv := valveView{ValveID: vid, Segments: []spanView{}}
		for i := 0; i < n; {
			j := i
			for j < n && sts[j] == sts[i] {
				j++
			}
			if sts[i] != "" {
				vv.Segments = append(vv.Segments, spanView{FromMs: out.Timestamps[i], ToMs: out.Timestamps[j-1] + stepMs, Status: sts[i]})
			}
			i = j
		}
		out.Valves = append(out.Valves, vv)
	}
	slices.SortFunc(out.Valves, func(a, b valveView) int { return cmp.Compare(a.ValveID, b.ValveID) })
	httpjson.Write(w, http.StatusOK, out)
}
