package errorfanoutconnector

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Alert states carried by events and records.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// keyID is one sliding window: the same service in two tenants is two keys.
type keyID struct {
	tenant  string
	service string
}

type limits struct {
	threshold float64
	minSpans  uint64
}

// keyState is the window and alert state of one key. Keys form an LRU list
// (head = most recently seen) so eviction at the key cap is O(1).
type keyState struct {
	id       keyID
	win      window
	lim      limits
	station  string
	lastSeen time.Time

	firing     bool
	alertID    string
	startedAt  time.Time
	belowSince time.Time // zero while the ratio is not below the resolve level

	samples  []pcommon.TraceID // ring of recent error trace ids
	sampleAt int

	prev, next *keyState
}

// Event is one alert state change.
type Event struct {
	AlertID    string    `json:"alert_id"`
	Tenant     string    `json:"tenant"`
	Service    string    `json:"service"`
	Station    string    `json:"station,omitempty"`
	State      string    `json:"state"`
	ErrorRate  float64   `json:"error_rate"`
	Threshold  float64   `json:"threshold"`
	WindowS    float64   `json:"window_s"`
	Spans      uint64    `json:"spans"`
	Errors     uint64    `json:"errors"`
	StartedAt  time.Time `json:"started_at"`
	ResolvedAt time.Time `json:"resolved_at"`
	TraceIDs   []string  `json:"trace_ids"`
}

// keySample is one key's windowed figures, for the ratio metrics.
type keySample struct {
	id        keyID
	ratio     float64
	threshold float64
	spans     uint64
	errors    uint64
	firing    bool
}

// tracker holds every key. It is not safe for concurrent use: the connector
// guards it with a mutex. Time is passed in, so tests drive it directly.
type tracker struct {
	cfg   *Config
	width time.Duration

	keys       map[keyID]*keyState
	head, tail *keyState

	evicted uint64 // keys dropped at the cap
	refused uint64 // new keys not tracked because every key was firing
	expired uint64 // idle keys forgotten
}

func newTracker(cfg *Config) *tracker {
	return &tracker{cfg: cfg, width: cfg.bucketWidth(), keys: make(map[keyID]*keyState)}
}

func (t *tracker) limitsFor(id keyID) limits {
	l := limits{threshold: t.cfg.Threshold, minSpans: t.cfg.MinSpans}
	// Apply the least specific first so the most specific wins.
	for pass := 0; pass < 3; pass++ {
		for _, o := range t.cfg.Overrides {
			match := false
			switch pass {
			case 0:
				match = o.Tenant == "" && o.Service == id.service
			case 1:
				match = o.Service == "" && o.Tenant == id.tenant
			case 2:
				match = o.Tenant == id.tenant && o.Service == id.service
			}
			if !match {
				continue
			}
			if o.Threshold > 0 {
				l.threshold = o.Threshold
			}
			if o.MinSpans > 0 {
				l.minSpans = o.MinSpans
			}
		}
	}
	return l
}

func (t *tracker) unlink(k *keyState) {
	if k.prev != nil {
		k.prev.next = k.next
	} else {
		t.head = k.next
	}
	if k.next != nil {
		k.next.prev = k.prev
	} else {
		t.tail = k.prev
	}
	k.prev, k.next = nil, nil
}

func (t *tracker) pushFront(k *keyState) {
	k.next = t.head
	if t.head != nil {
		t.head.prev = k
	}
	t.head = k
	if t.tail == nil {
		t.tail = k
	}
}

func (t *tracker) remove(k *keyState) {
	t.unlink(k)
	delete(t.keys, k.id)
}

// get returns the key, creating it (and evicting the least recently seen
// non-firing key at the cap). It returns nil when the cap is reached and
// every key is firing.
func (t *tracker) get(id keyID, now time.Time) *keyState {
	if k, ok := t.keys[id]; ok {
		if t.head != k {
			t.unlink(k)
			t.pushFront(k)
		}
		return k
	}
	if len(t.keys) >= t.cfg.MaxKeys {
		victim := t.tail
		for victim != nil && victim.firing {
			victim = victim.prev
		}
		if victim == nil {
			t.refused++
			return nil
		}
		t.remove(victim)
		t.evicted++
	}
	k := &keyState{id: id, win: newWindow(t.cfg.Buckets), lim: t.limitsFor(id), lastSeen: now}
	t.keys[id] = k
	t.pushFront(k)
	return k
}

// observe counts spans and errors of one key at now. It returns the key
// (nil if it could not be tracked) and an event when the key starts firing.
func (t *tracker) observe(now time.Time, id keyID, station string, spans, errs uint64, errTraceIDs []pcommon.TraceID) (*keyState, *Event) {
	k := t.get(id, now)
	if k == nil {
		return nil, nil
	}
	k.lastSeen = now
	if station != "" {
		k.station = station
	}
	k.win.add(epochOf(now, t.width), spans, errs)
	for _, tid := range errTraceIDs {
		t.addSample(k, tid)
	}
	if k.firing {
		return k, nil
	}
	return k, t.maybeFire(k, now)
}

func (t *tracker) addSample(k *keyState, tid pcommon.TraceID) {
	n := t.cfg.MaxTraceIDs
	if n == 0 {
		return
	}
	for _, s := range k.samples {
		if s == tid {
			return
		}
	}
	if len(k.samples) < n {
		k.samples = append(k.samples, tid)
		return
	}
	k.samples[k.sampleAt] = tid
	k.sampleAt = (k.sampleAt + 1) % n
}

// sampleIDs returns the sample trace ids, oldest first.
func (k *keyState) sampleIDs() []string {
	out := make([]string, 0, len(k.samples))
	for i := range k.samples {
		tid := k.samples[(k.sampleAt+i)%len(k.samples)]
		out = append(out, hex.EncodeToString(tid[:]))
	}
	return out
}

func (t *tracker) maybeFire(k *keyState, now time.Time) *Event {
	spans, errs := k.win.sum(epochOf(now, t.width))
	r := ratio(spans, errs)
	if spans < k.lim.minSpans || r <= k.lim.threshold {
		return nil
	}
	k.firing = true
	k.startedAt = now
	k.belowSince = time.Time{}
	k.alertID = newAlertID(k.id, now)
	return t.event(k, StateFiring, r, spans, errs, time.Time{})
}

func (t *tracker) event(k *keyState, state string, r float64, spans, errs uint64, resolvedAt time.Time) *Event {
	return &Event{
		AlertID: k.alertID, Tenant: k.id.tenant, Service: k.id.service, Station: k.station,
		State: state, ErrorRate: r, Threshold: k.lim.threshold, WindowS: t.cfg.Window.Seconds(),
		Spans: spans, Errors: errs, StartedAt: k.startedAt, ResolvedAt: resolvedAt,
		TraceIDs: k.sampleIDs(),
	}
}

// newAlertID is stable for one episode: derived from the key and the
// firing instant, so a replayed event carries the same id.
func newAlertID(id keyID, started time.Time) string {
	h := sha256.New()
	h.Write([]byte(id.tenant))
	h.Write([]byte{0})
	h.Write([]byte(id.service))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(started.UnixNano(), 10)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// evaluate fires, resolves (hysteresis) and expires keys at now. It
// appends the events to evs and, when samples is not nil, one keySample per
// remaining key.
func (t *tracker) evaluate(now time.Time, evs []*Event, samples *[]keySample) []*Event {
	epoch := epochOf(now, t.width)
	for k := t.tail; k != nil; {
		prev := k.prev
		spans, errs := k.win.sum(epoch)
		r := ratio(spans, errs)
		switch {
		case k.firing:
			if r < t.cfg.ResolveRatio*k.lim.threshold {
				if k.belowSince.IsZero() {
					k.belowSince = now
				}
				if now.Sub(k.belowSince) >= t.cfg.Window {
					k.firing = false
					evs = append(evs, t.event(k, StateResolved, r, spans, errs, now))
					k.alertID, k.startedAt, k.belowSince = "", time.Time{}, time.Time{}
					k.samples, k.sampleAt = k.samples[:0], 0
				}
			} else {
				k.belowSince = time.Time{}
			}
		default:
			if ev := t.maybeFire(k, now); ev != nil {
				evs = append(evs, ev)
			}
		}
		if !k.firing && now.Sub(k.lastSeen) >= t.cfg.IdleTimeout {
			t.remove(k)
			t.expired++
		} else if samples != nil {
			*samples = append(*samples, keySample{id: k.id, ratio: r, threshold: k.lim.threshold, spans: spans, errors: errs, firing: k.firing})
		}
		k = prev
	}
	return evs
}

// restore re-creates a firing key from the history after a restart, so the
// episode keeps its alert_id and resolves normally.
func (t *tracker) restore(ev Event, now time.Time) {
	id := keyID{tenant: ev.Tenant, service: ev.Service}
	k := t.get(id, now)
	if k == nil {
		return
	}
	k.firing = true
	k.alertID = ev.AlertID
	k.startedAt = ev.StartedAt
	k.station = ev.Station
	k.lastSeen = now
	for _, s := range ev.TraceIDs {
		var tid pcommon.TraceID
		if b, err := hex.DecodeString(s); err == nil && len(b) == len(tid) {
			copy(tid[:], b)
			t.addSample(k, tid)
		}
	}
}
