package alarm

import (
	"math"
	"time"
)

// Level is an absolute limit of a limit alarm.
type Level string

// Levels.
const (
	LevelHH Level = "HH"
	LevelH  Level = "H"
	LevelL  Level = "L"
	LevelLL Level = "LL"
)

// High says whether the level alarms on values above it.
func (l Level) High() bool { return l == LevelHH || l == LevelH }

// LimitRaw is the raw condition of a limit with hysteresis: a high limit
// becomes active at value >= limit and stays active until the value falls
// below limit - deadband (a low limit mirrors it). prev is the previous raw
// condition.
func LimitRaw(prev bool, high bool, value, limit, deadband float64) bool {
	if high {
		if prev {
			return value >= limit-deadband
		}
		return value >= limit
	}
	if prev {
		return value <= limit+deadband
	}
	return value <= limit
}

// Direction of a rate-of-change alarm.
type Direction string

// Directions.
const (
	Rising  Direction = "rising"
	Falling Direction = "falling"
	Both    Direction = "both"
)

// rateSlots bounds the samples a rate window keeps: at most one per
// window/rateSlots, so memory per alarm is fixed whatever the poll rate.
const rateSlots = 32

type ratePoint struct {
	t time.Time
	v float64
}

// Rate keeps the samples of one rate-of-change window.
type Rate struct {
	Window time.Duration
	pts    []ratePoint // oldest first, at most rateSlots+1
}

// Add records a sample and returns the rate of change per minute over the
// window (from the oldest sample still in it to this one) and whether it is
// known: a rate needs samples spanning at least half the window.
func (r *Rate) Add(t time.Time, v float64) (perMinute float64, ok bool) {
	cut := t.Add(-r.Window)
	i := 0
	for i < len(r.pts) && r.pts[i].t.Before(cut) {
		i++
	}
	if i > 0 {
		r.pts = append(r.pts[:0], r.pts[i:]...)
	}
	if len(r.pts) == 0 || t.Sub(r.pts[len(r.pts)-1].t) >= r.Window/rateSlots {
		if len(r.pts) > rateSlots {
			r.pts = append(r.pts[:0], r.pts[1:]...)
		}
		r.pts = append(r.pts, ratePoint{t, v})
	}
	first := r.pts[0]
	span := t.Sub(first.t)
	if span < r.Window/2 || span <= 0 {
		return 0, false
	}
	return (v - first.v) / span.Minutes(), true
}

// RateRaw is the raw condition of a rate-of-change alarm with hysteresis
// (deadband in the same unit per minute).
func RateRaw(prev bool, dir Direction, rate, limit, deadband float64) bool {
	switch dir {
	case Rising:
	case Falling:
		rate = -rate
	default:
		rate = math.Abs(rate)
	}
	if prev {
		return rate >= limit-deadband
	}
	return rate >= limit
}

// Value is one observed value of a series: a number, or a status name for
// a state set (scada_valve_state: the status whose point is 1).
type Value struct {
	Num    float64
	Status string
}

// Differ says whether a command and a feedback value disagree: status
// names when both have one, else numbers beyond the tolerance.
func Differ(cmd, fb Value, tolerance float64) bool {
	if cmd.Status != "" || fb.Status != "" {
		return cmd.Status != fb.Status
	}
	return math.Abs(cmd.Num-fb.Num) > tolerance
}
