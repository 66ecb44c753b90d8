package audit

import (
	"sync"
	"time"
)

// Failures aggregates authentication failures per source address, so a
// client trying tokens in a loop cannot flood the audit trail (or its
// fsyncs): the first failure of a source in a window is written at once,
// the rest of the window as one record with their count.
type Failures struct {
	log    *Log
	window time.Duration
	max    int

	mu      sync.Mutex
	sources map[string]*pending
	timer   *time.Timer
	stopped bool
}

type pending struct {
	first Record
	count int // failures after the first, in this window
}

// overflowSource stands for every source beyond the bound in one window.
const overflowSource = "(other sources)"

// NewFailures aggregates over window, keeping at most maxSources sources
// apart per window.
func NewFailures(log *Log, window time.Duration, maxSources int) *Failures {
	return &Failures{log: log, window: window, max: maxSources, sources: map[string]*pending{}}
}

// Record notes one failure of r.Source (counted apart per actor and object:
// a role refusal of one token is not counted as another's).
func (f *Failures) Record(r Record) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	// One count per source and what was refused to whom (an auth failure
	// has no actor or object: per source).
	key := r.Source + "\x00" + r.Actor + "\x00" + r.Object
	if _, ok := f.sources[key]; !ok && len(f.sources) >= f.max {
		key = overflowSource
		r.Source = overflowSource
	}
	if p, ok := f.sources[key]; ok {
		p.count++
		f.mu.Unlock()
		return
	}
	f.sources[key] = &pending{first: r}
	if f.timer == nil {
		f.timer = time.AfterFunc(f.window, f.flush)
	}
	f.mu.Unlock()
	_, _ = f.log.Append(r) // an audit write failure is logged by the caller's log, not retried
}

// flush writes each source's count of further failures and starts a new window.
func (f *Failures) flush() {
	f.mu.Lock()
	sources := f.sources
	f.sources = map[string]*pending{}
	f.timer = nil
	f.mu.Unlock()
	for _, p := range sources {
		if p.count == 0 {
			continue
		}
		r := p.first
		r.Count = p.count
		r.Detail = "further failures of this source within " + f.window.String()
		_, _ = f.log.Append(r)
	}
}

// Stop writes what is pending and stops the window timer.
func (f *Failures) Stop() {
	f.mu.Lock()
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
	f.flush()
}
