package alarm

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

// step is one input to an alarm in a table test.
type step struct {
	name string
	do   func(a *Alarm, now time.Time) ([]Change, error)
}

func observe(raw bool) step {
	return step{"observe", func(a *Alarm, now time.Time) ([]Change, error) { return a.Observe(now, raw), nil }}
}

func ack() step {
	return step{"ack", func(a *Alarm, now time.Time) ([]Change, error) {
		c, err := a.Acknowledge(now)
		if err != nil {
			return nil, err
		}
		return []Change{c}, nil
	}}
}

func shelve(d time.Duration) step {
	return step{"shelve", func(a *Alarm, now time.Time) ([]Change, error) {
		c, err := a.Shelve(now, now.Add(d), "maintenance")
		if err != nil {
			return nil, err
		}
		return []Change{c}, nil
	}}
}

func unshelve() step {
	return step{"unshelve", func(a *Alarm, now time.Time) ([]Change, error) {
		c, err := a.Unshelve(now)
		if err != nil {
			return nil, err
		}
		return []Change{c}, nil
	}}
}

func suppress(on bool) step {
	return step{"suppress", func(a *Alarm, now time.Time) ([]Change, error) { return a.SetSuppressed(now, on), nil }}
}

func oos(on bool) step {
	return step{"oos", func(a *Alarm, now time.Time) ([]Change, error) { return a.SetOutOfService(now, on), nil }}
}

// TestTransitions: every ISA-18.2 transition that applies, from each
// state, with the record it gives (or the refusal).
func TestTransitions(t *testing.T) {
	active := []step{observe(true)}                     // → active unacked
	acked := []step{observe(true), ack()}               // → active acked
	rtnUnacked := []step{observe(true), observe(false)} // → rtn unacked
	cases := []struct {
		name    string
		setup   []step
		input   step
		want    Transition // "" = no change
		from    State
		to      State
		quiet   bool
		wantErr error
	}{
		{"A→B raise", nil, observe(true), Raise, Normal, ActiveUnacked, false, nil},
		{"A stays normal", nil, observe(false), "", "", "", false, nil},
		{"A ack refused", nil, ack(), "", "", "", false, ErrNotAckable},
		{"B→C ack", active, ack(), Ack, ActiveUnacked, ActiveAcked, false, nil},
		{"B→D return unacked", active, observe(false), ReturnUnacked, ActiveUnacked, RTNUnacked, false, nil},
		{"B stays active", active, observe(true), "", "", "", false, nil},
		{"C→A clear", acked, observe(false), Clear, ActiveAcked, Normal, false, nil},
		{"C ack refused", acked, ack(), "", "", "", false, ErrNotAckable},
		{"D→A ack", rtnUnacked, ack(), Ack, RTNUnacked, Normal, false, nil},
		{"D→B realarm", rtnUnacked, observe(true), Realarm, RTNUnacked, ActiveUnacked, false, nil},
		{"A→E shelve", nil, shelve(time.Hour), Shelve, Normal, Shelved, false, nil},
		{"B→E shelve", active, shelve(time.Hour), Shelve, ActiveUnacked, Shelved, false, nil},
		{"C→E shelve", acked, shelve(time.Hour), Shelve, ActiveAcked, Shelved, false, nil},
		{"D→E shelve", rtnUnacked, shelve(time.Hour), Shelve, RTNUnacked, Shelved, false, nil},
		{"E→E shelve again (new expiry)", []step{shelve(time.Hour)}, shelve(2 * time.Hour), Shelve, Shelved, Shelved, false, nil},
		{"E condition is tracked silently", []step{shelve(time.Hour)}, observe(true), "", "", "", false, nil},
		{"E→A unshelve, condition clear", []step{shelve(time.Hour)}, unshelve(), Unshelve, Shelved, Normal, false, nil},
		{"E→B unshelve, condition active", []step{observe(true), shelve(time.Hour)}, unshelve(), Unshelve, Shelved, ActiveUnacked, false, nil},
		{"E ack refused", []step{observe(true), shelve(time.Hour)}, ack(), "", "", "", false, ErrNotAckable},
		{"A unshelve refused", nil, unshelve(), "", "", "", false, ErrNotShelved},
		{"A→F suppress is quiet", nil, suppress(true), Suppress, Normal, Suppressed, true, nil},
		{"B→F suppress", active, suppress(true), Suppress, ActiveUnacked, Suppressed, false, nil},
		{"F→A unsuppress, condition clear, quiet", []step{suppress(true)}, suppress(false), Unsuppress, Suppressed, Normal, true, nil},
		{"F→B unsuppress, condition active", []step{suppress(true), observe(true)}, suppress(false), Unsuppress, Suppressed, ActiveUnacked, false, nil},
		{"F shelve refused", []step{suppress(true)}, shelve(time.Hour), "", "", "", false, ErrNotShelvable},
		{"E suppress does nothing", []step{shelve(time.Hour)}, suppress(true), "", "", "", false, nil},
		{"A→G out of service", nil, oos(true), RemoveService, Normal, OutOfService, false, nil},
		{"B→G out of service", active, oos(true), RemoveService, ActiveUnacked, OutOfService, false, nil},
		{"E→G out of service", []step{shelve(time.Hour)}, oos(true), RemoveService, Shelved, OutOfService, false, nil},
		{"F→G out of service", []step{suppress(true)}, oos(true), RemoveService, Suppressed, OutOfService, false, nil},
		{"G→A in service", []step{oos(true)}, oos(false), ReturnService, OutOfService, Normal, false, nil},
		{"G→B in service, condition active", []step{oos(true), observe(true)}, oos(false), ReturnService, OutOfService, ActiveUnacked, false, nil},
		{"G shelve refused", []step{oos(true)}, shelve(time.Hour), "", "", "", false, ErrNotShelvable},
		{"G suppress does nothing", []step{oos(true)}, suppress(true), "", "", "", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New(0, 0)
			now := t0
			for _, s := range tc.setup {
				now = now.Add(time.Second)
				if _, err := s.do(a, now); err != nil {
					t.Fatalf("setup %s: %v", s.name, err)
				}
			}
			seq := a.Seq
			now = now.Add(time.Second)
			got, err := tc.input.do(a, now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if a.Seq != seq {
					t.Fatal("a refused action changed the alarm")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no change, got %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one change, got %+v", got)
			}
			c := got[0]
			if c.Transition != tc.want || c.From != tc.from || c.To != tc.to || c.Quiet != tc.quiet {
				t.Fatalf("got %s %s→%s quiet=%v, want %s %s→%s quiet=%v", c.Transition, c.From, c.To, c.Quiet, tc.want, tc.from, tc.to, tc.quiet)
			}
			wantSeq := seq + 1
			if tc.quiet {
				wantSeq = seq // quiet changes are not records: no gap in the records' seq
			}
			if c.To != a.State() || c.Seq != wantSeq || a.Seq != wantSeq || !c.At.Equal(now) {
				t.Fatalf("change %+v does not match the alarm (state %s, seq %d)", c, a.State(), a.Seq)
			}
		})
	}
}

// TestEpisodes: one episode from raise to normal; a realarm keeps it; a new
// raise after normal starts another; shelving ends it.
func TestEpisodes(t *testing.T) {
	a := New(0, 0)
	now := t0
	next := func() time.Time { now = now.Add(time.Second); return now }
	r := a.Observe(next(), true)
	ep := r[0].Episode
	if ep == "" || a.Episode != ep {
		t.Fatal("raise has no episode")
	}
	if c := a.Observe(next(), false); c[0].Episode != ep {
		t.Fatal("rtn changed the episode")
	}
	if c := a.Observe(next(), true); c[0].Transition != Realarm || c[0].Episode != ep {
		t.Fatalf("realarm: %+v", c)
	}
	a.Observe(next(), false)
	c, _ := a.Acknowledge(next())
	if c.Episode != ep || a.Episode != "" || a.State() != Normal {
		t.Fatalf("ack of rtn: %+v, alarm episode %q", c, a.Episode)
	}
	if c := a.Observe(next(), true); c[0].Episode == ep || c[0].Episode == "" {
		t.Fatal("a new raise must start a new episode")
	}
}

// TestLimitDeadband: the limit is entered at the limit and left only below
// limit - deadband (high), above limit + deadband (low).
func TestLimitDeadband(t *testing.T) {
	cases := []struct {
		high         bool
		prev         bool
		v, limit, db float64
		want         bool
	}{
		{true, false, 79.9, 80, 2, false},
		{true, false, 80, 80, 2, true},
		{true, true, 79, 80, 2, true},
		{true, true, 78, 80, 2, true},
		{true, true, 77.99, 80, 2, false},
		{false, false, 10.1, 10, 1, false},
		{false, false, 10, 10, 1, true},
		{false, true, 10.9, 10, 1, true},
		{false, true, 11.01, 10, 1, false},
		{true, true, 79.999, 80, 0, false},
	}
	for _, c := range cases {
		if got := LimitRaw(c.prev, c.high, c.v, c.limit, c.db); got != c.want {
			t.Errorf("LimitRaw(prev=%v, high=%v, %v, limit %v, deadband %v) = %v, want %v", c.prev, c.high, c.v, c.limit, c.db, got, c.want)
		}
	}
}

// TestDeadbandOnAlarm: a value oscillating inside the deadband raises once
// and never returns.
func TestDeadbandOnAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(0, 0)
		raw := false
		var changes []Change
		for _, v := range []float64{79, 80.5, 79.5, 80.2, 78.5, 79.9, 77.9, 79.5} {
			raw = LimitRaw(raw, true, v, 80, 2)
			changes = append(changes, a.Observe(time.Now(), raw)...)
			time.Sleep(time.Second)
		}
		if len(changes) != 2 || changes[0].Transition != Raise || changes[1].Transition != ReturnUnacked {
			t.Fatalf("want raise then rtn (at 77.9), got %+v", changes)
		}
	})
}

// TestOnDelay: the condition must hold for the whole on-delay; a dip
// restarts the clock.
func TestOnDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(5*time.Second, 0)
		start := time.Now()
		if c := a.Observe(time.Now(), true); len(c) != 0 {
			t.Fatal("raised before the on-delay")
		}
		time.Sleep(3 * time.Second)
		a.Observe(time.Now(), false) // dip: the clock restarts
		a.Observe(time.Now(), true)
		time.Sleep(4 * time.Second)
		if c := a.Tick(time.Now()); len(c) != 0 {
			t.Fatal("raised 4 s after the dip, on-delay 5 s")
		}
		if !a.Pending() || !a.Deadline().Equal(start.Add(8*time.Second)) {
			t.Fatalf("deadline %v, want start+8s", a.Deadline().Sub(start))
		}
		time.Sleep(time.Second)
		c := a.Tick(time.Now())
		if len(c) != 1 || c[0].Transition != Raise || time.Since(start) != 8*time.Second {
			t.Fatalf("want a raise 8 s after start, got %+v at %v", c, time.Since(start))
		}
	})
}

// TestOffDelay: the condition must be clear for the whole off-delay.
func TestOffDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(0, 10*time.Second)
		a.Observe(time.Now(), true)
		if _, err := a.Acknowledge(time.Now()); err != nil {
			t.Fatal(err)
		}
		a.Observe(time.Now(), false)
		time.Sleep(9 * time.Second)
		if c := a.Observe(time.Now(), false); len(c) != 0 {
			t.Fatal("cleared before the off-delay")
		}
		time.Sleep(time.Second)
		c := a.Observe(time.Now(), false)
		if len(c) != 1 || c[0].Transition != Clear || a.State() != Normal {
			t.Fatalf("want clear after 10 s, got %+v", c)
		}
	})
}

// TestShelveExpiry: a shelved alarm comes back by itself at its expiry:
// to active unacknowledged when its condition holds, else normal.
func TestShelveExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(0, 0)
		a.Observe(time.Now(), true)
		if _, err := a.Shelve(time.Now(), time.Now().Add(30*time.Minute), "sensor replaced"); err != nil {
			t.Fatal(err)
		}
		if a.ShelveReason != "sensor replaced" || a.Episode != "" {
			t.Fatalf("shelve kept reason %q episode %q", a.ShelveReason, a.Episode)
		}
		time.Sleep(29 * time.Minute)
		if c := a.Tick(time.Now()); len(c) != 0 || a.State() != Shelved {
			t.Fatal("expired early")
		}
		time.Sleep(time.Minute)
		c := a.Tick(time.Now())
		if len(c) != 1 || c[0].Transition != ShelveExpired || c[0].To != ActiveUnacked || c[0].Episode == "" {
			t.Fatalf("want shelve_expired → active_unacked with a new episode, got %+v", c)
		}
		// A shelved alarm whose condition cleared meanwhile comes back normal.
		b := New(0, 0)
		b.Observe(time.Now(), true)
		if _, err := b.Shelve(time.Now(), time.Now().Add(time.Minute), "x"); err != nil {
			t.Fatal(err)
		}
		b.Observe(time.Now(), false)
		time.Sleep(time.Minute)
		c = b.Tick(time.Now())
		if len(c) != 1 || c[0].To != Normal {
			t.Fatalf("want shelve_expired → normal, got %+v", c)
		}
		if _, err := b.Shelve(time.Now(), time.Now(), "x"); !errors.Is(err, ErrBadExpiry) {
			t.Fatalf("expiry now: %v", err)
		}
	})
}

// TestChattering: 3 condition changes within a minute mark the alarm as
// chattering; the mark ends once fewer than 3 are within the last minute.
func TestChattering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(0, 0)
		a.Observe(time.Now(), true)
		time.Sleep(20 * time.Second)
		a.Observe(time.Now(), false)
		if a.Chattering {
			t.Fatal("chattering after 2 changes")
		}
		time.Sleep(20 * time.Second)
		a.Observe(time.Now(), true)
		if !a.Chattering {
			t.Fatal("3 changes in 40 s: want chattering")
		}
		first := time.Now().Add(-40 * time.Second)
		if !a.Deadline().Equal(first.Add(ChatterWindow)) {
			t.Fatalf("chatter deadline %v", a.Deadline())
		}
		time.Sleep(19 * time.Second)
		a.Tick(time.Now())
		if !a.Chattering {
			t.Fatal("ended early")
		}
		time.Sleep(time.Second)
		a.Tick(time.Now())
		if a.Chattering {
			t.Fatal("the first change left the minute: want not chattering")
		}
		// Slow changes never chatter.
		b := New(0, 0)
		for i := 0; i < 6; i++ {
			b.Observe(time.Now(), i%2 == 0)
			if b.Chattering {
				t.Fatalf("change %d, 31 s apart: chattering", i)
			}
			time.Sleep(31 * time.Second)
		}
	})
}

// TestRate: the rate over the window, per minute, known once the samples
// span half the window; memory bounded.
func TestRate(t *testing.T) {
	r := Rate{Window: time.Minute}
	now := t0
	var rate float64
	var ok bool
	for i := 0; i <= 120; i++ { // 0.5 s polls, +0.1 per poll = 12/min
		rate, ok = r.Add(now, float64(i)*0.1)
		if i < 60 && ok {
			t.Fatalf("rate known after %d samples (under half the window)", i)
		}
		now = now.Add(500 * time.Millisecond)
	}
	if !ok || rate < 11.9 || rate > 12.1 {
		t.Fatalf("rate %v ok %v, want 12/min", rate, ok)
	}
	if len(r.pts) > rateSlots+1 {
		t.Fatalf("%d points kept", len(r.pts))
	}
	cases := []struct {
		prev      bool
		dir       Direction
		rate, lim float64
		want      bool
	}{
		{false, Rising, 5, 5, true},
		{false, Rising, -6, 5, false},
		{false, Falling, -6, 5, true},
		{false, Both, -6, 5, true},
		{true, Both, 4.5, 5, true}, // deadband 1
		{true, Both, 3.9, 5, false},
	}
	for _, c := range cases {
		if got := RateRaw(c.prev, c.dir, c.rate, c.lim, 1); got != c.want {
			t.Errorf("RateRaw(%+v) = %v", c, got)
		}
	}
}

func TestDiffer(t *testing.T) {
	if Differ(Value{Status: "open"}, Value{Status: "open"}, 0) {
		t.Error("same status differs")
	}
	if !Differ(Value{Status: "open"}, Value{Status: "travel"}, 0) {
		t.Error("open vs travel")
	}
	if Differ(Value{Num: 50}, Value{Num: 51}, 2) || !Differ(Value{Num: 50}, Value{Num: 53}, 2) {
		t.Error("tolerance")
	}
}
