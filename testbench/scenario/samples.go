package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scadaotel/scadaotel/testbench/rtusim"
)

// Poll intervals of the scada receiver's default poll groups.
var pollInterval = map[string]time.Duration{"pressure": 500 * time.Millisecond, "valve": 2 * time.Second, "generic": time.Second}

// promSample is one series of an instant-query answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"` // range-vector (matrix) answers
}

// queryAPI talks to the appliance's Prometheus query API as one tenant.
type queryAPI struct {
	addr, token string
	client      *http.Client
}

func (q *queryAPI) instant(ctx context.Context, query string, at time.Time) ([]promSample, error) {
	v := url.Values{"query": {query}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+q.addr+"/api/v1/query?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+q.token)
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", query, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, body.Error)
	}
	return body.Data.Result, nil
}

func (s promSample) float() (float64, time.Time, bool) { return pair(s.Value) }

func pair(v [2]any) (float64, time.Time, bool) {
	ts, ok := v[0].(float64)
	if !ok {
		return 0, time.Time{}, false
	}
	str, ok := v[1].(string)
	if !ok {
		return 0, time.Time{}, false
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	return f, time.UnixMilli(int64(ts * 1000)), true
}

// pointIndex maps the receiver's series back to replay points.
type pointIndex struct {
	sim   *rtusim.Sim
	byKey map[string]int
}

func newPointIndex(sim *rtusim.Sim) *pointIndex {
	ix := &pointIndex{sim: sim, byKey: map[string]int{}}
	for i, p := range sim.Replay.Points {
		ix.byKey[sim.ReceiverName(p.RTU, p.Unit)+"/"+p.Name] = i
	}
	return ix
}

// point finds the replay point of a series: pressures by station and point,
// valves by station and valve_id, generic points by station and metric name
// (which may carry a unit suffix).
func (ix *pointIndex) point(m map[string]string) (int, bool) {
	st := m["station"]
	name := m["__name__"]
	switch {
	case strings.HasPrefix(name, "scada_pressure_gauge"):
		i, ok := ix.byKey[st+"/"+m["point"]]
		return i, ok
	case name == "scada_valve_state":
		i, ok := ix.byKey[st+"/"+m["valve_id"]]
		return i, ok
	case name == "scada_rtu_up":
		return 0, false
	}
	for n := name; n != ""; {
		if i, ok := ix.byKey[st+"/"+n]; ok {
			return i, true
		}
		k := strings.LastIndexByte(n, '_')
		if k < 0 {
			break
		}
		n = n[:k]
	}
	return 0, false
}

// raw turns a queried series value back into the register value.
func (ix *pointIndex) raw(p int, m map[string]string, v float64) (uint16, bool) {
	pt := &ix.sim.Replay.Points[p]
	if pt.Kind == "valve" {
		if v != 1 {
			return 0, false
		}
		for k, st := range pt.States {
			if st == m["status"] {
				n, err := strconv.Atoi(k)
				if err != nil {
					return 0, false
				}
				return uint16(n), true
			}
		}
		return 0, false
	}
	return pt.Encode(v), true
}

// queryLoop polls the query API during the run for the raw samples of the
// last seconds (a range selector keeps their own timestamps) and feeds each
// new one to the verifier: its value must be one the register held in the
// two seconds before its timestamp, and a change's latency ends when a query
// first returned it.
func queryLoop(ctx context.Context, q *queryAPI, ix *pointIndex, v *rtusim.Verifier, errs *[]string) {
	seenBefore := map[string]bool{}
	for ctx.Err() == nil {
		res, err := q.instant(ctx, `{quality="good"}[30s]`, time.Time{})
		seen := time.Now()
		if err != nil && ctx.Err() == nil && len(*errs) < 5 {
			*errs = append(*errs, err.Error())
		}
		for _, s := range res {
			p, ok := ix.point(s.Metric)
			if !ok {
				continue
			}
			for _, pv := range s.Values {
				f, ts, ok := pair(pv)
				if !ok {
					continue
				}
				key := fmt.Sprintf("%v/%d", s.Metric, ts.UnixMilli())
				if seenBefore[key] {
					continue
				}
				seenBefore[key] = true
				raw, ok := ix.raw(p, s.Metric, f)
				if !ok {
					continue
				}
				// The receiver stamps a poll when its reads are done; the
				// reads of one poll take well under 2 s.
				v.ObserveSeen(p, raw, ts.Add(-2*time.Second), ts.Add(50*time.Millisecond), seen)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// storedCounts returns per point the number of good samples stored in the
// window ending at end (valves: the series of one status).
func storedCounts(ctx context.Context, q *queryAPI, ix *pointIndex, window time.Duration, end time.Time) (map[int]int, error) {
	// Pressures differ by point and valves by valve_id and status once
	// count_over_time has dropped the metric name; generic points would not.
	res, err := q.instant(ctx, fmt.Sprintf(`count_over_time({__name__=~"scada_pressure_gauge.*|scada_valve_state", quality="good"}[%ds])`,
		int(window.Seconds())), end)
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, s := range res {
		// count_over_time drops the metric name: match by labels.
		m := s.Metric
		var p int
		var ok bool
		switch {
		case m["point"] != "":
			p, ok = ix.byKey[m["station"]+"/"+m["point"]]
		case m["valve_id"] != "":
			p, ok = ix.byKey[m["station"]+"/"+m["valve_id"]]
		}
		if !ok {
			continue
		}
		f, _, ok := s.float()
		if ok && int(f) > out[p] {
			out[p] = int(f)
		}
	}
	return out, nil
}

// samplesResult builds the samples_stored and latency checks.
func samplesResult(ctx context.Context, q *queryAPI, ix *pointIndex, v *rtusim.Verifier, applied []time.Time,
	start, end time.Time, minRatio float64, maxP99 time.Duration, qerrs []string) []Check {
	res := v.Result(applied)
	// Count over the run, minus the first poll interval of grace.
	window := end.Sub(start)
	counts, err := storedCounts(ctx, q, ix, window, end)
	if err != nil {
		counts = map[int]int{}
	}
	type row struct {
		name           string
		expect, stored int
	}
	var rows []row
	worst := 1.0
	metrics := map[string]any{}
	for i, p := range ix.sim.Replay.Points {
		if p.Kind != "pressure" && p.Kind != "valve" {
			continue // generic points are matched by name only in the live check
		}
		iv := pollInterval[p.Kind]
		expect := int(window / iv)
		got := counts[i]
		r := float64(got) / float64(max(1, expect))
		worst = min(worst, r)
		name := ix.sim.ReceiverName(p.RTU, p.Unit) + "/" + p.Name
		rows = append(rows, row{name, expect, got})
		metrics[name] = fmt.Sprintf("%d/%d", got, expect)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	samples := Check{Name: "samples_stored", Metrics: metrics}
	switch {
	case err != nil:
		samples.Status, samples.Detail = StatusFail, err.Error()
	case len(rows) == 0:
		samples.Status, samples.Detail = StatusNotRun, "no pressure or valve points in the scenario"
	default:
		samples.Status = statusOf(worst >= minRatio)
		samples.Detail = fmt.Sprintf("good samples stored vs expected (run %.1f s / poll interval) over %d points: worst point %.0f%% (need %.0f%%)",
			window.Seconds(), len(rows), 100*worst, 100*minRatio)
	}
	p50, p99 := percentile(res.Latencies, 50), percentile(res.Latencies, 99)
	lat := Check{Name: "change_to_query_latency", Metrics: map[string]any{"p50_ms": ms(p50), "p99_ms": ms(p99),
		"changes": res.Changes, "changes_seen": res.ChangesSeen, "values_checked": res.Reads, "mismatches": res.Mismatches}}
	ok := res.Reads > 0 && res.Mismatches == 0 && res.ChangesSeen > 0 && (maxP99 == 0 || p99 <= maxP99)
	lat.Status = statusOf(ok)
	lat.Detail = fmt.Sprintf("register change -> queryable via the query API: p50 %v, p99 %v (limit %v) over %d of %d changes; %d stored values checked, %d not held by the register at their timestamp %s",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), maxP99, res.ChangesSeen, res.Changes, res.Reads, res.Mismatches, res.FirstMismatch)
	if len(qerrs) > 0 {
		lat.Detail += "; query errors: " + strings.Join(qerrs, "; ")
	}
	return []Check{samples, lat}
}
