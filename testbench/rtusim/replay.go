package rtusim

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// Point is one value an RTU serves and the receiver polls.
type Point struct {
	Name    string
	RTU     int // index into the simulator's RTUs
	Unit    uint8
	Table   Table
	Address uint16
	// Receiver-side description: value = raw*Scale + Offset.
	Kind     string // pressure, valve or generic
	Type     string // uint16, int16 or bool
	Scale    float64
	Offset   float64
	EngUnit  string
	States   map[string]string // valves: raw value -> status
	Source   string            // column or series it came from
	Constant bool              // never changes during the replay
}

// Encode turns an engineering value into the raw register value the
// receiver decodes back with Scale and Offset (rounded; clamped to the type).
func (p *Point) Encode(v float64) uint16 {
	scale := p.Scale
	if scale == 0 {
		scale = 1
	}
	raw := math.Round((v - p.Offset) / scale)
	switch p.Type {
	case "int16":
		raw = math.Max(math.MinInt16, math.Min(math.MaxInt16, raw))
		return uint16(int16(raw))
	case "bool":
		if raw != 0 {
			return 1
		}
		return 0
	}
	return uint16(math.Max(0, math.Min(math.MaxUint16, raw)))
}

// Decode is what the receiver reports for raw.
func (p *Point) Decode(raw uint16) float64 {
	scale := p.Scale
	if scale == 0 {
		scale = 1
	}
	switch p.Type {
	case "int16":
		return float64(int16(raw))*scale + p.Offset
	case "bool":
		return float64(raw & 1)
	}
	return float64(raw)*scale + p.Offset
}

// Update sets one point to a raw value at a time into the source.
type Update struct {
	At    time.Duration // source time since the start of the replay
	Point int
	Raw   uint16
}

// Replay is a finite, time-ordered list of updates.
type Replay struct {
	Points  []Point
	Updates []Update
}

// Duration is the source time of the last update.
func (r *Replay) Duration() time.Duration {
	if len(r.Updates) == 0 {
		return 0
	}
	return r.Updates[len(r.Updates)-1].At
}

func (r *Replay) sort() {
	sort.SliceStable(r.Updates, func(i, j int) bool { return r.Updates[i].At < r.Updates[j].At })
}

// ValueAt returns the raw value of point p at source time at (the last
// update at or before it) and whether any update had happened.
func (r *Replay) ValueAt(p int, at time.Duration) (uint16, bool) {
	var v uint16
	ok := false
	for _, u := range r.Updates {
		if u.At > at {
			break
		}
		if u.Point == p {
			v, ok = u.Raw, true
		}
	}
	return v, ok
}

// History returns the updates of point p in order.
func (r *Replay) History(p int) []Update {
	var out []Update
	for _, u := range r.Updates {
		if u.Point == p {
			out = append(out, u)
		}
	}
	return out
}

// Player applies a replay's updates to RTU banks in compressed time.
type Player struct {
	Replay      *Replay
	RTUs        []*RTU
	Compression float64 // source seconds per wall second; <= 0 means 1
	// Applied[i] is the wall time update i was applied (zero until then).
	Applied []time.Time
	// Progress, when set, is called after each second of wall time with
	// the number of updates applied.
	Progress func(applied, total int)
}

// Validate checks that every point names an RTU the player has.
func (p *Player) Validate() error {
	for i, pt := range p.Replay.Points {
		if pt.RTU < 0 || pt.RTU >= len(p.RTUs) {
			return fmt.Errorf("point %d (%s): rtu index %d out of range (have %d RTUs)", i, pt.Name, pt.RTU, len(p.RTUs))
		}
	}
	return nil
}

// Run applies the updates until the replay ends or ctx is done. Updates due
// at the same time are applied together.
func (p *Player) Run(ctx context.Context) error {
	if err := p.Validate(); err != nil {
		return err
	}
	comp := p.Compression
	if comp <= 0 {
		comp = 1
	}
	p.Applied = make([]time.Time, len(p.Replay.Updates))
	start := time.Now()
	lastProgress := start
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; i < len(p.Replay.Updates); {
		due := start.Add(time.Duration(float64(p.Replay.Updates[i].At) / comp))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		now := time.Now()
		for ; i < len(p.Replay.Updates) && !start.Add(time.Duration(float64(p.Replay.Updates[i].At)/comp)).After(now); i++ {
			u := p.Replay.Updates[i]
			pt := &p.Replay.Points[u.Point]
			p.RTUs[pt.RTU].Bank.Set(pt.Unit, pt.Table, pt.Address, u.Raw)
			p.Applied[i] = now
		}
		if p.Progress != nil && now.Sub(lastProgress) >= time.Second {
			lastProgress = now
			p.Progress(i, len(p.Replay.Updates))
		}
	}
	return nil
}
