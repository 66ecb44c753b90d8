// Package alarm is the ISA-18.2 / IEC 62682 alarm state machine of the
// alarm connector: the states of one alarm, the transitions between them
// (process condition, acknowledge, shelve, suppression by design, out of
// service), on-delay and off-delay, and chattering detection. It knows
// nothing of samples or pipelines: a caller feeds it the raw condition
// (computed by one of the condition evaluators of this package) and
// operator actions, with the time, and gets back the transitions.
package alarm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// State is an ISA-18.2 alarm state.
type State string

// The states of ISA-18.2 (figure 5: A normal, B unacknowledged, C
// acknowledged, D returned to normal unacknowledged, E shelved, F
// suppressed by design, G out of service).
const (
	Normal        State = "normal"
	ActiveUnacked State = "active_unacked"
	ActiveAcked   State = "active_acked"
	RTNUnacked    State = "rtn_unacked"
	Shelved       State = "shelved"
	Suppressed    State = "suppressed"
	OutOfService  State = "out_of_service"
)

// Mode takes an alarm out of the operator's view; "" is in service.
type Mode string

// Modes.
const (
	ModeNone         Mode = ""
	ModeShelved      Mode = "shelved"
	ModeSuppressed   Mode = "suppressed"
	ModeOutOfService Mode = "out_of_service"
)

// Transition names one change of an alarm (the record's "transition").
type Transition string

// Transitions.
const (
	Raise         Transition = "raise"          // normal → active unacked (new episode)
	Realarm       Transition = "realarm"        // rtn unacked → active unacked (same episode)
	ReturnUnacked Transition = "rtn"            // active unacked → rtn unacked
	Clear         Transition = "clear"          // active acked → normal (episode ends)
	Ack           Transition = "ack"            // active unacked → active acked, or rtn unacked → normal
	Shelve        Transition = "shelve"         // → shelved (operator, with expiry and reason)
	Unshelve      Transition = "unshelve"       // shelved → normal / active unacked (operator)
	ShelveExpired Transition = "shelve_expired" // shelved → normal / active unacked (expiry)
	Suppress      Transition = "suppress"       // → suppressed by design (e.g. its RTU's link is down)
	Unsuppress    Transition = "unsuppress"     // suppressed → normal / active unacked
	RemoveService Transition = "out_of_service" // → out of service (definitions file)
	ReturnService Transition = "in_service"     // out of service → normal / active unacked
)

// Priority of an alarm.
type Priority string

// Priorities, highest first.
const (
	Critical Priority = "critical"
	High     Priority = "high"
	Medium   Priority = "medium"
	Low      Priority = "low"
)

// ParsePriority checks a priority name.
func ParsePriority(s string) (Priority, error) {
	switch p := Priority(s); p {
	case Critical, High, Medium, Low:
		return p, nil
	}
	return "", fmt.Errorf("want critical, high, medium or low, got %q", s)
}

// Chattering: an alarm whose condition changed ChatterCount or more times
// within ChatterWindow (EEMUA 191, ISA-18.2 "chattering alarm").
const (
	ChatterCount  = 3
	ChatterWindow = time.Minute
)

// Operator action errors.
var (
	ErrNotAckable   = errors.New("the alarm has nothing to acknowledge")
	ErrNotShelvable = errors.New("the alarm cannot be shelved in its state")
	ErrNotShelved   = errors.New("the alarm is not shelved")
	ErrBadExpiry    = errors.New("the shelve expiry must be in the future")
)

// Change is one transition of an alarm.
type Change struct {
	Transition Transition
	From, To   State
	Episode    string // the episode the change belongs to ("" outside one)
	Seq        uint64 // the alarm's record counter after this change (quiet changes do not count)
	At         time.Time
	// Quiet: a change of the alarm's mode that the operator does not see as
	// an alarm (suppression of an alarm in the normal state, and its end
	// while the condition is clear). It is kept in the state, not sent.
	Quiet bool
}

// Alarm is the state of one alarm. The exported fields are what survives a
// restart; the delay clocks restart with the next sample.
type Alarm struct {
	// Configuration (set by the owner, not persisted).
	OnDelay  time.Duration `json:"-"`
	OffDelay time.Duration `json:"-"`

	Cond         bool      `json:"cond"`  // the alarm condition after the delays
	Acked        bool      `json:"acked"` // true in normal and active acked
	Mode         Mode      `json:"mode,omitempty"`
	ShelvedUntil time.Time `json:"shelved_until,omitzero"`
	ShelveReason string    `json:"shelve_reason,omitempty"`
	Episode      string    `json:"episode,omitempty"`
	Seq          uint64    `json:"seq"`
	Since        time.Time `json:"since,omitzero"` // when the current state began
	Chattering   bool      `json:"chattering,omitempty"`

	// raw is the last raw condition and pendingSince when it first
	// disagreed with Cond (zero: none pending).
	raw          bool
	pendingSince time.Time
	changes      [ChatterCount]time.Time // the last condition changes, ring
	nChanges     int
}

// New returns an alarm in the normal state.
func New(onDelay, offDelay time.Duration) *Alarm {
	return &Alarm{OnDelay: onDelay, OffDelay: offDelay, Acked: true}
}

// State is the alarm's ISA-18.2 state.
func (a *Alarm) State() State {
	switch a.Mode {
	case ModeShelved:
		return Shelved
	case ModeSuppressed:
		return Suppressed
	case ModeOutOfService:
		return OutOfService
	}
	switch {
	case a.Cond && !a.Acked:
		return ActiveUnacked
	case a.Cond:
		return ActiveAcked
	case !a.Acked:
		return RTNUnacked
	}
	return Normal
}

// Raw is the last raw condition observed.
func (a *Alarm) Raw() bool { return a.raw }

// Pending says whether a delay clock runs (Tick must be called).
func (a *Alarm) Pending() bool { return !a.pendingSince.IsZero() }

// Deadline is when the next Tick can change the alarm (a delay or the
// shelve expiry), or zero.
func (a *Alarm) Deadline() time.Time {
	var d time.Time
	if !a.pendingSince.IsZero() {
		d = a.pendingSince.Add(a.delayFor(a.raw))
	}
	if a.Mode == ModeShelved && (d.IsZero() || a.ShelvedUntil.Before(d)) {
		d = a.ShelvedUntil
	}
	if a.Chattering {
		if e := a.chatterEnds(); d.IsZero() || e.Before(d) {
			d = e
		}
	}
	return d
}

func (a *Alarm) delayFor(raw bool) time.Duration {
	if raw {
		return a.OnDelay
	}
	return a.OffDelay
}

// Observe feeds the raw condition at now. It returns the change, if any.
func (a *Alarm) Observe(now time.Time, raw bool) []Change {
	a.raw = raw
	if raw == a.Cond {
		a.pendingSince = time.Time{}
		return a.tickChatter(now, nil)
	}
	if a.pendingSince.IsZero() {
		a.pendingSince = now
	}
	return a.Tick(now)
}

// Tick applies the delays and the shelve expiry at now.
func (a *Alarm) Tick(now time.Time) []Change {
	var out []Change
	if !a.pendingSince.IsZero() && a.raw != a.Cond && !now.Before(a.pendingSince.Add(a.delayFor(a.raw))) {
		a.pendingSince = time.Time{}
		out = append(out, a.setCond(now, a.raw)...)
	}
	if a.Mode == ModeShelved && !now.Before(a.ShelvedUntil) {
		out = append(out, a.leaveMode(now, ShelveExpired))
	}
	return a.tickChatter(now, out)
}

func (a *Alarm) tickChatter(now time.Time, out []Change) []Change {
	if a.Chattering && !now.Before(a.chatterEnds()) {
		a.Chattering = false
	}
	return out
}

// chatterEnds is when the oldest of the last ChatterCount changes leaves
// the window.
func (a *Alarm) chatterEnds() time.Time {
	if a.nChanges < ChatterCount {
		return time.Time{}
	}
	oldest := a.changes[a.nChanges%ChatterCount]
	return oldest.Add(ChatterWindow)
}

func (a *Alarm) noteChange(now time.Time) {
	a.changes[a.nChanges%ChatterCount] = now
	a.nChanges++
	if a.nChanges >= ChatterCount && now.Sub(a.changes[a.nChanges%ChatterCount]) < ChatterWindow {
		a.Chattering = true
	}
}

func (a *Alarm) change(now time.Time, t Transition, from State) Change {
	return a.changeQuiet(now, t, from, false)
}

// changeQuiet makes a change; a quiet one is not counted in Seq, so the
// records of an alarm have no gaps in their sequence numbers.
func (a *Alarm) changeQuiet(now time.Time, t Transition, from State, quiet bool) Change {
	if !quiet {
		a.Seq++
	}
	to := a.State()
	if to != from {
		a.Since = now
	}
	return Change{Transition: t, From: from, To: to, Episode: a.Episode, Seq: a.Seq, At: now, Quiet: quiet}
}

// setCond changes the condition after its delay.
func (a *Alarm) setCond(now time.Time, cond bool) []Change {
	from := a.State()
	a.Cond = cond
	a.noteChange(now)
	if a.Mode != ModeNone {
		// The condition is tracked out of view; the mode's end decides.
		return nil
	}
	var t Transition
	switch {
	case cond && from == Normal:
		a.Episode, a.Acked = newID(), false
		t = Raise
	case cond && from == RTNUnacked:
		t = Realarm
	case cond: // active acked cannot be here
		return nil
	case from == ActiveUnacked:
		t = ReturnUnacked
	case from == ActiveAcked:
		t = Clear
	default:
		return nil
	}
	c := a.change(now, t, from)
	if a.State() == Normal {
		a.Episode = ""
	}
	return []Change{c}
}

// Acknowledge is the operator's acknowledgement.
func (a *Alarm) Acknowledge(now time.Time) (Change, error) {
	from := a.State()
	if from != ActiveUnacked && from != RTNUnacked {
		return Change{}, ErrNotAckable
	}
	a.Acked = true
	c := a.change(now, Ack, from)
	if a.State() == Normal {
		a.Episode = ""
	}
	return c, nil
}

// Shelve takes the alarm out of view until until (an operator's action).
// Shelving a shelved alarm changes its expiry and reason.
func (a *Alarm) Shelve(now, until time.Time, reason string) (Change, error) {
	if !until.After(now) {
		return Change{}, ErrBadExpiry
	}
	if a.Mode != ModeNone && a.Mode != ModeShelved {
		return Change{}, ErrNotShelvable
	}
	from := a.State()
	a.Mode, a.ShelvedUntil, a.ShelveReason = ModeShelved, until, reason
	a.Acked = true // a shelved alarm comes back fresh
	c := a.change(now, Shelve, from)
	a.Episode = ""
	return c, nil
}

// Unshelve is the operator's early end of a shelve.
func (a *Alarm) Unshelve(now time.Time) (Change, error) {
	if a.Mode != ModeShelved {
		return Change{}, ErrNotShelved
	}
	return a.leaveMode(now, Unshelve), nil
}

// SetSuppressed starts or ends suppression by design. It does nothing to an
// alarm that is shelved or out of service (their own end decides), and it
// returns no change when nothing changed.
func (a *Alarm) SetSuppressed(now time.Time, on bool) []Change {
	switch {
	case on && a.Mode == ModeNone:
		return []Change{a.enterMode(now, ModeSuppressed, Suppress)}
	case !on && a.Mode == ModeSuppressed:
		return []Change{a.leaveMode(now, Unsuppress)}
	}
	return nil
}

// SetOutOfService takes the alarm out of service or back (definitions).
// A shelved or suppressed alarm is taken out of service too.
func (a *Alarm) SetOutOfService(now time.Time, on bool) []Change {
	switch {
	case on && a.Mode != ModeOutOfService:
		return []Change{a.enterMode(now, ModeOutOfService, RemoveService)}
	case !on && a.Mode == ModeOutOfService:
		return []Change{a.leaveMode(now, ReturnService)}
	}
	return nil
}

func (a *Alarm) enterMode(now time.Time, m Mode, t Transition) Change {
	from := a.State()
	a.Mode, a.ShelvedUntil, a.ShelveReason = m, time.Time{}, ""
	a.Acked = true
	c := a.changeQuiet(now, t, from, t == Suppress && from == Normal)
	a.Episode = ""
	return c
}

// leaveMode returns the alarm to view: active unacknowledged (a new
// episode) when its condition holds, else normal.
func (a *Alarm) leaveMode(now time.Time, t Transition) Change {
	from := a.State()
	a.Mode, a.ShelvedUntil, a.ShelveReason = ModeNone, time.Time{}, ""
	a.Acked = true
	if a.Cond {
		a.Episode, a.Acked = newID(), false
	}
	return a.changeQuiet(now, t, from, t == Unsuppress && !a.Cond)
}

// newID is a random 128-bit id in hex (episodes, records).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewID returns a random 128-bit id in hex.
func NewID() string { return newID() }

// Restored prepares an alarm read back from its saved state: the last raw
// condition is taken to be its condition, so a value inside the deadband
// keeps an active alarm active after a restart.
func (a *Alarm) Restored() { a.raw = a.Cond; a.pendingSince = time.Time{} }
