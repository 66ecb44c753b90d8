package rtusim

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Verifier checks values read back from RTUs (directly or through the
// appliance) against the replay that drove them, using the wall times the
// player actually applied each update (so a slow machine cannot fail it).
type Verifier struct {
	rep     *Replay
	history [][]int // per point: indexes into rep.Updates

	mu  sync.Mutex
	obs []observation
}

type observation struct {
	point    int
	raw      uint16
	from, to time.Time
	seen     time.Time // when the reader had the value (latency end)
}

// applyGuard covers the moment between the player taking an update's time
// and the register holding the new value.
const applyGuard = 5 * time.Millisecond

// VerifyResult sums up the reads.
type VerifyResult struct {
	Reads         int    `json:"reads"`
	Mismatches    int    `json:"mismatches"`
	FirstMismatch string `json:"first_mismatch,omitempty"`
	Points        int    `json:"points_read"`
	Changes       int    `json:"changes"`      // applied updates after each point's first value
	ChangesSeen   int    `json:"changes_seen"` // of those, values that were read while current
	// Latencies from an update being applied to the end of the first read
	// that returned it, for the changes seen.
	Latencies []time.Duration `json:"-"`
}

// NewVerifier prepares per-point histories of rep.
func NewVerifier(rep *Replay) *Verifier {
	v := &Verifier{rep: rep, history: make([][]int, len(rep.Points))}
	for i, u := range rep.Updates {
		v.history[u.Point] = append(v.history[u.Point], i)
	}
	return v
}

// Observe records that point p read raw by a read that started at from and
// ended at to.
func (v *Verifier) Observe(p int, raw uint16, from, to time.Time) {
	v.ObserveSeen(p, raw, from, to, to)
}

// ObserveSeen is Observe for a value read at one time (seen) that stands
// for the register during [from, to]: a sample a poller took earlier and a
// query returned later. Latencies end at seen.
func (v *Verifier) ObserveSeen(p int, raw uint16, from, to, seen time.Time) {
	v.mu.Lock()
	v.obs = append(v.obs, observation{p, raw, from, to, seen})
	v.mu.Unlock()
}

// Result checks every observation against the applied times (the player's
// Applied slice, read after it has finished). A value read is correct when
// the point held it at some instant between the read's start and end. The
// first update of each point counts as applied before the run, as Sim.Start
// sets it.
func (v *Verifier) Result(applied []time.Time) VerifyResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	at := func(i int) (time.Time, bool) {
		if i >= len(applied) || applied[i].IsZero() {
			return time.Time{}, false
		}
		return applied[i], true
	}
	var r VerifyResult
	firstSeen := map[int]time.Time{} // update index -> end of first read returning it
	points := map[int]bool{}
	for _, o := range v.obs {
		h := v.history[o.point]
		points[o.point] = true
		r.Reads++
		// Last update applied at or before the read started. The player
		// takes the time just before it sets the register, so an update
		// counts as done only applyGuard after its time.
		k := sort.Search(len(h), func(k int) bool {
			if k == 0 {
				return false
			}
			t, ok := at(h[k])
			return !ok || t.Add(applyGuard).After(o.from)
		}) - 1
		ok := false
		for j := k; j < len(h); j++ {
			if j > k {
				t, applied := at(h[j])
				if !applied || t.After(o.to) {
					break
				}
			}
			if v.rep.Updates[h[j]].Raw == o.raw {
				ok = true
				if f, seen := firstSeen[h[j]]; !seen || o.seen.Before(f) {
					firstSeen[h[j]] = o.seen
				}
			}
		}
		if !ok {
			r.Mismatches++
			if r.FirstMismatch == "" {
				r.FirstMismatch = fmt.Sprintf("point %s (rtu %d unit %d %s %d) read %d at %s",
					v.rep.Points[o.point].Name, v.rep.Points[o.point].RTU, v.rep.Points[o.point].Unit,
					v.rep.Points[o.point].Table, v.rep.Points[o.point].Address, o.raw, o.from.Format(time.RFC3339Nano))
			}
		}
	}
	r.Points = len(points)
	for _, h := range v.history {
		for j := 1; j < len(h); j++ {
			t, ok := at(h[j])
			if !ok {
				continue
			}
			r.Changes++
			if f, seen := firstSeen[h[j]]; seen {
				r.ChangesSeen++
				r.Latencies = append(r.Latencies, max(0, f.Sub(t)))
			}
		}
	}
	return r
}
