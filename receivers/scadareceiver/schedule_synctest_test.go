package scadareceiver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type execLog struct {
	mu      sync.Mutex
	starts  map[string][]time.Time // job -> actual start times
	ticks   map[string][]time.Time // job -> scheduled ticks
	skips   map[string]int
	reasons map[string]int
	running int
	maxRun  int
}

func newExecLog() *execLog {
	return &execLog{starts: map[string][]time.Time{}, ticks: map[string][]time.Time{}, skips: map[string]int{}, reasons: map[string]int{}}
}

func jobName(j *pollJob) string { return j.rtu.name + "/" + j.group }

// testScheduler builds a scheduler with the given lanes of jobs; cost
// returns how long a poll of the job takes (virtual time).
func testScheduler(log *execLog, groups map[string]time.Duration, lanes [][]string, maxConc int,
	cost func(name string, n int) time.Duration,
) *scheduler {
	var ls []*lane
	for _, names := range lanes {
		l := &lane{}
		for _, n := range names {
			// n is "rtu/group"
			var rtuName, g string
			for i := range n {
				if n[i] == '/' {
					rtuName, g = n[:i], n[i+1:]
				}
			}
			l.jobs = append(l.jobs, &pollJob{rtu: &rtu{name: rtuName}, group: g, interval: groups[g]})
		}
		ls = append(ls, l)
	}
	exec := func(_ context.Context, j *pollJob, tick time.Time) {
		name := jobName(j)
		log.mu.Lock()
		log.starts[name] = append(log.starts[name], time.Now())
		log.ticks[name] = append(log.ticks[name], tick)
		n := len(log.starts[name])
		log.running++
		log.maxRun = max(log.maxRun, log.running)
		log.mu.Unlock()
		time.Sleep(cost(name, n))
		log.mu.Lock()
		log.running--
		log.mu.Unlock()
	}
	skip := func(j *pollJob, reason string) {
		log.mu.Lock()
		log.skips[jobName(j)]++
		log.reasons[reason]++
		log.mu.Unlock()
	}
	return newScheduler(groups, ls, maxConc, perSlotForTest, exec, skip)
}

var perSlotForTest = 100

var testGroups = map[string]time.Duration{"pressure": 500 * time.Millisecond, "valve": 2 * time.Second}

func TestSchedulerTicksDoNotDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newExecLog()
		s := testScheduler(log, testGroups,
			[][]string{{"a/pressure", "a/valve"}, {"b/pressure"}, {"c/valve"}}, 16,
			func(string, int) time.Duration { return 7 * time.Millisecond }) // each poll costs 7ms
		start := time.Now()
		s.start()
		time.Sleep(60*time.Second + 100*time.Millisecond)
		s.stop()

		if n := len(log.starts["b/pressure"]); n != 120 {
			t.Errorf("b/pressure polled %d times in 60s at 500ms, want 120", n)
		}
		if n := len(log.starts["c/valve"]); n != 30 {
			t.Errorf("c/valve polled %d times in 60s at 2s, want 30", n)
		}
		for name, ticks := range log.ticks {
			for i, tick := range ticks {
				iv := testGroups[name[2:]]
				want := start.Truncate(iv).Add(time.Duration(i+1) * iv)
				if !tick.Equal(want) {
					t.Fatalf("%s tick %d at %v, want %v (drift)", name, i, tick.Sub(start), want.Sub(start))
				}
			}
		}
		// a/pressure and a/valve share a link: at the common ticks one
		// waits for the other (7ms), never more.
		for name, starts := range log.starts {
			for i, st := range starts {
				if lag := st.Sub(log.ticks[name][i]); lag > 7*time.Millisecond {
					t.Fatalf("%s poll %d started %v after its tick", name, i, lag)
				}
			}
		}
		if len(log.skips) != 0 {
			t.Errorf("skips %v, want none", log.skips)
		}
	})
}

func TestSchedulerSkipsOverrunsAndIsolatesHungRTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newExecLog()
		// RTU "hung" takes 10s (10x a 1s timeout) on every poll; the
		// others take 2ms.
		s := testScheduler(log, testGroups,
			[][]string{{"hung/pressure"}, {"x/pressure"}, {"y/pressure", "y/valve"}}, 16,
			func(name string, _ int) time.Duration {
				if name == "hung/pressure" {
					return 10 * time.Second
				}
				return 2 * time.Millisecond
			})
		s.start()
		time.Sleep(30*time.Second + 100*time.Millisecond)
		s.stop()

		// hung: polls at ticks 1, 21, 41 (each blocks 10s = 20 ticks); the
		// ticks in between are skipped, not queued.
		if n := len(log.starts["hung/pressure"]); n != 3 {
			t.Errorf("hung RTU polled %d times, want 3", n)
		}
		if got := log.skips["hung/pressure"]; got != 57 {
			t.Errorf("hung RTU skipped %d polls, want 57 (60 ticks - 3 polls)", got)
		}
		if log.reasons[skipOverrun] != 57 {
			t.Errorf("skip reasons %v", log.reasons)
		}
		// The others: every tick, started exactly on time (zero jitter).
		if n := len(log.starts["x/pressure"]); n != 60 {
			t.Errorf("x polled %d times, want 60", n)
		}
		for _, name := range []string{"x/pressure", "y/valve"} {
			for i, st := range log.starts[name] {
				if lag := st.Sub(log.ticks[name][i]); lag > 2*time.Millisecond {
					t.Fatalf("%s poll %d delayed %v by the hung RTU", name, i, lag)
				}
			}
		}
	})
}

func TestSchedulerStaleOnSharedGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newExecLog()
		// Two RTUs behind one gateway (one lane). u1 takes 1.2s once
		// (its 3rd poll); u2 queued behind it goes stale and is skipped.
		s := testScheduler(log, testGroups, [][]string{{"u1/pressure", "u2/pressure"}}, 16,
			func(name string, n int) time.Duration {
				if name == "u1/pressure" && n == 3 {
					return 1200 * time.Millisecond
				}
				return time.Millisecond
			})
		s.start()
		time.Sleep(5*time.Second + 100*time.Millisecond)
		s.stop()
		if log.reasons[skipStale] == 0 {
			t.Errorf("no stale skip for the RTU queued behind a slow one on its gateway: %v", log.reasons)
		}
		total := len(log.starts["u2/pressure"]) + log.skips["u2/pressure"]
		if total != 10 {
			t.Errorf("u2: %d polls + %d skips, want 10 ticks", len(log.starts["u2/pressure"]), log.skips["u2/pressure"])
		}
	})
}

func TestSchedulerBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newExecLog()
		var lanes [][]string
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			lanes = append(lanes, []string{n + "/pressure"})
		}
		s := testScheduler(log, testGroups, lanes, 2,
			func(string, int) time.Duration { return 100 * time.Millisecond })
		s.start()
		time.Sleep(2*time.Second + 400*time.Millisecond)
		s.stop()
		if log.maxRun != 2 {
			t.Errorf("max concurrent polls = %d, want 2", log.maxRun)
		}
		// 6 polls of 100ms with 2 slots fit in 300ms < 500ms: no skips.
		for _, n := range []string{"a", "f"} {
			if got := len(log.starts[n+"/pressure"]); got != 4 {
				t.Errorf("%s polled %d times, want 4", n, got)
			}
		}
	})
}

func TestSchedulerSpreadsLargeGroupsOverSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newExecLog()
		var lanes [][]string
		for i := range 250 {
			lanes = append(lanes, []string{fmt.Sprintf("r%03d/pressure", i)})
		}
		s := testScheduler(log, testGroups, lanes, 1000, func(string, int) time.Duration { return time.Millisecond })
		s.start()
		time.Sleep(5*time.Second + 400*time.Millisecond)
		s.stop()
		// 250 polls, at most 100 per slot: 3 slots at +0, +166ms, +333ms.
		offsets := map[time.Duration]int{}
		for name, ticks := range log.ticks {
			if len(ticks) != 10 {
				t.Fatalf("%s polled %d times in 5s, want 10", name, len(ticks))
			}
			off := ticks[0].Sub(ticks[0].Truncate(500 * time.Millisecond))
			for i, tick := range ticks {
				// Each RTU keeps its own slot: exactly one interval apart.
				if want := ticks[0].Add(time.Duration(i) * 500 * time.Millisecond); !tick.Equal(want) {
					t.Fatalf("%s tick %d drifted: %v", name, i, tick.Sub(want))
				}
			}
			offsets[off]++
		}
		if len(offsets) != 3 {
			t.Fatalf("slot offsets %v, want 3 slots", offsets)
		}
		for off, n := range offsets {
			if n > 100 {
				t.Errorf("slot at +%v fires %d polls, want <= 100", off, n)
			}
		}
	})
}
