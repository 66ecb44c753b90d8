package scadareceiver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pollJob is the poll of one RTU's points of one poll group.
type pollJob struct {
	rtu      *rtu
	group    string
	interval time.Duration
	points   []*point
	reads    []readReq
	lane     *lane
	// busy is set from dispatch until the poll has finished; a tick that
	// finds it set skips the job instead of queueing it.
	busy atomic.Bool
}

// lane runs the polls of one link (an RTU, or a gateway and its RTUs) one
// after the other, so a hung RTU only ever holds up its own lane.
type lane struct {
	link  *link
	jobs  []*pollJob
	queue chan dispatch
}

type dispatch struct {
	job  *pollJob
	tick time.Time
}

// skipReason values, the self-metric attribute "reason".
const (
	skipOverrun = "overrun" // the previous poll of the job was still running
	skipStale   = "stale"   // queued behind another poll on its link for a whole interval
	skipLate    = "late"    // the scheduler itself woke up more than an interval late
)

// scheduler fires, for each poll group, all of the group's polls at each
// tick from one timer: timer wake-ups, not decoding, dominate the cost of
// polling many RTUs. Ticks are aligned to multiples of the interval on the
// wall clock and computed from the start, so they never drift.
type scheduler struct {
	groups map[string]time.Duration
	jobs   map[string][]*pollJob
	lanes  []*lane
	sem    chan struct{}
	// perSlot bounds the polls fired by one timer wake-up (see slotsFor).
	perSlot int
	exec    func(ctx context.Context, j *pollJob, tick time.Time)
	skip    func(j *pollJob, reason string)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newScheduler(groups map[string]time.Duration, lanes []*lane, maxConcurrency, perSlot int,
	exec func(context.Context, *pollJob, time.Time), skip func(*pollJob, string),
) *scheduler {
	s := &scheduler{groups: groups, jobs: map[string][]*pollJob{}, lanes: lanes,
		sem: make(chan struct{}, maxConcurrency), perSlot: perSlot, exec: exec, skip: skip}
	for _, l := range lanes {
		// A job is in its lane's queue at most once (busy flag), so a
		// queue as long as the lane's job list never blocks the scheduler.
		l.queue = make(chan dispatch, len(l.jobs))
		for _, j := range l.jobs {
			j.lane = l
			s.jobs[j.group] = append(s.jobs[j.group], j)
		}
	}
	return s
}

func (s *scheduler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, l := range s.lanes {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.runLane(ctx, l) }()
	}
	for g, jobs := range s.jobs {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.runGroup(ctx, s.groups[g], jobs) }()
	}
}

// stop cancels the schedule and waits for running polls to finish (each is
// bounded by its timeout).
func (s *scheduler) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// slotsFor splits a group's polls into slots spread evenly over the
// interval, at most perSlot polls each and at least 10ms apart: one timer
// still drives the group (a few wake-ups per interval instead of one per
// RTU), while a large fleet's polls no longer queue behind each other for
// CPU in one burst, which is what poll jitter is made of.
func slotsFor(jobs int, iv time.Duration, perSlot int) int {
	if perSlot <= 0 || jobs <= perSlot {
		return 1
	}
	n := (jobs + perSlot - 1) / perSlot
	return max(1, min(n, int(iv/(10*time.Millisecond))))
}

func (s *scheduler) runGroup(ctx context.Context, iv time.Duration, jobs []*pollJob) {
	n := slotsFor(len(jobs), iv, s.perSlot)
	slots := make([][]*pollJob, n)
	for i, j := range jobs {
		slots[i%n] = append(slots[i%n], j)
	}
	next := time.Now().Truncate(iv).Add(iv)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for {
		for k, slot := range slots {
			at := next.Add(time.Duration(k) * iv / time.Duration(n))
			if k > 0 {
				t.Reset(time.Until(at))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, j := range slot {
				if !j.busy.CompareAndSwap(false, true) {
					s.skip(j, skipOverrun)
					continue
				}
				j.lane.queue <- dispatch{job: j, tick: at}
			}
		}
		next = next.Add(iv)
		if now := time.Now(); !next.After(now) {
			// Whole ticks were missed (process stalled): skip them.
			missed := now.Sub(next)/iv + 1
			for range missed {
				for _, j := range jobs {
					s.skip(j, skipLate)
				}
			}
			next = next.Add(missed * iv)
		}
		t.Reset(time.Until(next))
	}
}

func (s *scheduler) runLane(ctx context.Context, l *lane) {
	for {
		var d dispatch
		select {
		case <-ctx.Done():
			return
		case d = <-l.queue:
		}
		if time.Since(d.tick) >= d.job.interval {
			s.skip(d.job, skipStale)
			d.job.busy.Store(false)
			continue
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			d.job.busy.Store(false)
			return
		}
		s.exec(ctx, d.job, d.tick)
		<-s.sem
		d.job.busy.Store(false)
	}
}
