package errorfanoutconnector

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
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

// slot is the hot state of one key. It holds no pointers, so the garbage
// collector never scans the slots (nor the index, buckets and samples
// arenas): with 10,000 keys that was a visible share of the connector's
// cost. Keys form an LRU list by slot index (head = most recently seen) so
// eviction at the key cap is O(1).
type slot struct {
	hash         uint64
	prev, next   int32 // LRU neighbours, -1 for none
	tprev, tnext int32 // neighbours in the tenant's own LRU list, -1 for none
	lastSeen     int64 // unix ns
	linkedAt     int64 // unix ns of the last move to the LRU front
	startedAt    int64 // unix ns; episode start while firing
	belowSince   int64 // unix ns; 0 while the ratio is not below the resolve level
	lim          limits
	firing       bool
	sampleN      int32 // sample trace ids held (ring in the samples arena)
	sampleAt     int32
}

// tenantKeys is one tenant's share of the keys: its own LRU list (by slot
// index), so the key bound is applied per tenant and an eviction for one
// tenant never takes another tenant's key unless that tenant holds more.
type tenantKeys struct {
	head, tail int32
	n          int
}

// lruGranularity bounds how stale a key's LRU position may be.
const lruGranularity = time.Second

// slotNames is the cold, pointer-holding part of a key, parallel to slots.
type slotNames struct {
	id      keyID
	station string
	alertID string
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
	ResolvedAt time.Time `json:"resolved_at,omitzero"` // absent until resolved (never 0001-01-01)
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
	seed  maphash.Seed
	// hashFn replaces the key hash in tests (to force collisions).
	hashFn func(keyID) uint64
	nb     int // buckets per key
	ns     int // sample trace ids per key

	index    map[uint64]int32 // hash of keyID -> slot
	overflow map[keyID]int32  // keys whose hash collides with an indexed one
	slots    []slot
	names    []slotNames
	buckets  []bucket          // nb per slot
	samples  []pcommon.TraceID // ns per slot
	free     []int32
	head     int32
	tail     int32
	n        int
	perT     map[string]*tenantKeys // tenants with keys
	maxPerT  int
	// refusedBy counts refused keys per tenant (the self-metric's tenant).
	refusedBy map[string]uint64

	evicted uint64 // keys dropped at the cap
	refused uint64 // new keys not tracked (see get)
	expired uint64 // idle keys forgotten
}

func newTracker(cfg *Config) *tracker {
	maxPerT := cfg.MaxKeysPerTenant
	if maxPerT <= 0 || maxPerT > cfg.MaxKeys {
		maxPerT = cfg.MaxKeys
	}
	return &tracker{cfg: cfg, width: cfg.bucketWidth(), seed: maphash.MakeSeed(), nb: cfg.Buckets, ns: cfg.MaxTraceIDs,
		index: make(map[uint64]int32), head: -1, tail: -1, perT: map[string]*tenantKeys{}, maxPerT: maxPerT, refusedBy: map[string]uint64{}}
}

func (t *tracker) win(i int32) window {
	return window{buckets: t.buckets[int(i)*t.nb : int(i+1)*t.nb : int(i+1)*t.nb]}
}

func (t *tracker) hashOf(id keyID) uint64 {
	if t.hashFn != nil {
		return t.hashFn(id)
	}
	return maphash.Comparable(t.seed, id)
}

// find returns the slot of id, or -1.
func (t *tracker) find(id keyID, h uint64) int32 {
	if i, ok := t.index[h]; ok && t.names[i].id == id {
		return i
	}
	if len(t.overflow) > 0 {
		if i, ok := t.overflow[id]; ok {
			return i
		}
	}
	return -1
}

// len is the number of tracked keys.
func (t *tracker) len() int { return t.n }

// lookup returns the slot of id, or nil (valid until the next change).
func (t *tracker) lookup(id keyID) *slot {
	if i := t.find(id, t.hashOf(id)); i >= 0 {
		return &t.slots[i]
	}
	return nil
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

func (t *tracker) unlink(i int32) {
	k := &t.slots[i]
	if k.prev >= 0 {
		t.slots[k.prev].next = k.next
	} else {
		t.head = k.next
	}
	if k.next >= 0 {
		t.slots[k.next].prev = k.prev
	} else {
		t.tail = k.prev
	}
	k.prev, k.next = -1, -1
	tk := t.perT[t.names[i].id.tenant]
	if k.tprev >= 0 {
		t.slots[k.tprev].tnext = k.tnext
	} else {
		tk.head = k.tnext
	}
	if k.tnext >= 0 {
		t.slots[k.tnext].tprev = k.tprev
	} else {
		tk.tail = k.tprev
	}
	k.tprev, k.tnext = -1, -1
}

func (t *tracker) pushFront(i int32) {
	k := &t.slots[i]
	k.prev = -1
	k.next = t.head
	if t.head >= 0 {
		t.slots[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
	tk := t.perT[t.names[i].id.tenant]
	k.tprev = -1
	k.tnext = tk.head
	if tk.head >= 0 {
		t.slots[tk.head].tprev = i
	}
	tk.head = i
	if tk.tail < 0 {
		tk.tail = i
	}
}

// tenantOf returns the tenant's share, creating it.
func (t *tracker) tenantOf(tenant string) *tenantKeys {
	tk := t.perT[tenant]
	if tk == nil {
		tk = &tenantKeys{head: -1, tail: -1}
		t.perT[tenant] = tk
	}
	return tk
}

// oldestIdle is the least recently seen non-firing key of tk, or -1.
func (t *tracker) oldestIdle(tk *tenantKeys) int32 {
	v := tk.tail
	for v >= 0 && t.slots[v].firing {
		v = t.slots[v].tprev
	}
	return v
}

// victim chooses the key a new key of tenant tk replaces, or -1 to track
// it without one, or -2 to refuse it:
//   - at its own bound (max_keys_per_tenant) a tenant replaces its own
//     least recently seen non-firing key, or is refused when all its keys
//     fire: one tenant at its bound never touches another's keys;
//   - at max_keys the key is taken from the tenant holding the most keys
//     (more than tk), its least recently seen non-firing one; when none can
//     be taken (all firing), a tenant still under its fair share
//     (max_keys / tenants with keys) is tracked anyway, up to twice
//     max_keys in all, so a tenant whose keys all fire cannot lock the
//     others out; anyone else is refused.
func (t *tracker) victim(tk *tenantKeys) int32 {
	if tk.n >= t.maxPerT {
		if v := t.oldestIdle(tk); v >= 0 {
			return v
		}
		return -2
	}
	if t.n < t.cfg.MaxKeys {
		return -1
	}
	for tried := map[*tenantKeys]bool{}; ; {
		var big *tenantKeys
		for _, o := range t.perT {
			if o.n > tk.n && !tried[o] && (big == nil || o.n > big.n) {
				big = o
			}
		}
		if big == nil {
			break
		}
		if v := t.oldestIdle(big); v >= 0 {
			return v
		}
		tried[big] = true
	}
	if v := t.oldestIdle(tk); v >= 0 {
		return v
	}
	holders := len(t.perT) // tk is in it
	if tk.n < t.cfg.MaxKeys/holders && t.n < 2*t.cfg.MaxKeys {
		return -1
	}
	return -2
}

func (t *tracker) remove(i int32) {
	t.unlink(i)
	k := &t.slots[i]
	if j, ok := t.index[k.hash]; ok && j == i {
		delete(t.index, k.hash)
	} else {
		delete(t.overflow, t.names[i].id)
	}
	if tk := t.perT[t.names[i].id.tenant]; tk != nil {
		tk.n--
		if tk.n == 0 {
			delete(t.perT, t.names[i].id.tenant)
		}
	}
	t.names[i] = slotNames{}
	t.slots[i] = slot{prev: -1, next: -1, tprev: -1, tnext: -1}
	t.free = append(t.free, i)
	t.n--
}

// get returns the slot of id, creating it (and evicting a non-firing key at
// a bound, see victim). It returns -1 when the key cannot be tracked.
func (t *tracker) get(id keyID, now time.Time) int32 {
	h := t.hashOf(id)
	if i := t.find(id, h); i >= 0 {
		// Move to the front at most once per lruGranularity: the LRU order is
		// exact to within that much, and a busy key does not rewrite three
		// slots (cache lines) on every request.
		if k := &t.slots[i]; t.head != i && now.UnixNano()-k.linkedAt >= int64(lruGranularity) {
			t.unlink(i)
			t.pushFront(i)
			k.linkedAt = now.UnixNano()
		}
		return i
	}
	tk := t.tenantOf(id.tenant)
	switch v := t.victim(tk); {
	case v == -2:
		t.refused++
		t.refusedBy[id.tenant]++
		if tk.n == 0 {
			delete(t.perT, id.tenant)
		}
		return -1
	case v >= 0:
		t.remove(v)
		t.evicted++
		tk = t.tenantOf(id.tenant) // remove may have dropped an emptied share
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		clear(t.buckets[int(i)*t.nb : int(i+1)*t.nb])
	} else {
		i = int32(len(t.slots))
		t.slots = append(t.slots, slot{})
		t.names = append(t.names, slotNames{})
		t.buckets = append(t.buckets, make([]bucket, t.nb)...)
		t.samples = append(t.samples, make([]pcommon.TraceID, t.ns)...)
	}
	t.slots[i] = slot{hash: h, prev: -1, next: -1, tprev: -1, tnext: -1, lim: t.limitsFor(id), lastSeen: now.UnixNano(), linkedAt: now.UnixNano()}
	t.names[i] = slotNames{id: id}
	if _, taken := t.index[h]; taken {
		if t.overflow == nil {
			t.overflow = map[keyID]int32{}
		}
		t.overflow[id] = i
	} else {
		t.index[h] = i
	}
	t.pushFront(i)
	t.n++
	tk.n++
	return i
}

// observe counts spans and errors of one key at now. It returns whether
// the key is firing (false if it could not be tracked) and an event when it
// starts firing.
func (t *tracker) observe(now time.Time, id keyID, station string, spans, errs uint64, errTraceIDs []pcommon.TraceID) (bool, *Event) {
	i := t.get(id, now)
	if i < 0 {
		return false, nil
	}
	k := &t.slots[i]
	k.lastSeen = now.UnixNano()
	if station != "" && t.names[i].station != station {
		t.names[i].station = station
	}
	w := t.win(i)
	w.add(epochOf(now, t.width), spans, errs)
	for _, tid := range errTraceIDs {
		t.addSample(i, tid)
	}
	if k.firing {
		return true, nil
	}
	ev := t.maybeFire(i, now)
	return ev != nil, ev
}

func (t *tracker) addSample(i int32, tid pcommon.TraceID) {
	n := t.ns
	if n == 0 {
		return
	}
	k := &t.slots[i]
	ring := t.samples[int(i)*n : int(i+1)*n]
	for _, s := range ring[:k.sampleN] {
		if s == tid {
			return
		}
	}
	if int(k.sampleN) < n {
		ring[k.sampleN] = tid
		k.sampleN++
		return
	}
	ring[k.sampleAt] = tid
	k.sampleAt = (k.sampleAt + 1) % int32(n)
}

// sampleIDs returns the sample trace ids of slot i, oldest first.
func (t *tracker) sampleIDs(i int32) []string {
	k := &t.slots[i]
	ring := t.samples[int(i)*t.ns : int(i)*t.ns+int(k.sampleN)]
	out := make([]string, 0, len(ring))
	for j := range ring {
		tid := ring[(int(k.sampleAt)+j)%len(ring)]
		out = append(out, hex.EncodeToString(tid[:]))
	}
	return out
}

func (t *tracker) maybeFire(i int32, now time.Time) *Event {
	k := &t.slots[i]
	spans, errs := t.win(i).sum(epochOf(now, t.width))
	r := ratio(spans, errs)
	if spans < k.lim.minSpans || r <= k.lim.threshold {
		return nil
	}
	k.firing = true
	k.startedAt = now.UnixNano()
	k.belowSince = 0
	t.names[i].alertID = newAlertID(t.names[i].id, now)
	return t.event(i, StateFiring, r, spans, errs, time.Time{})
}

func (t *tracker) event(i int32, state string, r float64, spans, errs uint64, resolvedAt time.Time) *Event {
	k, nm := &t.slots[i], &t.names[i]
	return &Event{
		AlertID: nm.alertID, Tenant: nm.id.tenant, Service: nm.id.service, Station: nm.station,
		State: state, ErrorRate: r, Threshold: k.lim.threshold, WindowS: t.cfg.Window.Seconds(),
		Spans: spans, Errors: errs, StartedAt: time.Unix(0, k.startedAt).UTC(), ResolvedAt: resolvedAt,
		TraceIDs: t.sampleIDs(i),
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
	nowNS := now.UnixNano()
	for i := t.tail; i >= 0; {
		k := &t.slots[i]
		prev := k.prev
		spans, errs := t.win(i).sum(epoch)
		r := ratio(spans, errs)
		switch {
		case k.firing:
			if r < t.cfg.ResolveRatio*k.lim.threshold {
				if k.belowSince == 0 {
					k.belowSince = nowNS
				}
				if time.Duration(nowNS-k.belowSince) >= t.cfg.Window {
					k.firing = false
					evs = append(evs, t.event(i, StateResolved, r, spans, errs, now))
					t.names[i].alertID = ""
					k.startedAt, k.belowSince = 0, 0
					k.sampleN, k.sampleAt = 0, 0
				}
			} else {
				k.belowSince = 0
			}
		default:
			if ev := t.maybeFire(i, now); ev != nil {
				evs = append(evs, ev)
			}
		}
		if !k.firing && time.Duration(nowNS-k.lastSeen) >= t.cfg.IdleTimeout {
			t.remove(i)
			t.expired++
		} else if samples != nil {
			*samples = append(*samples, keySample{id: t.names[i].id, ratio: r, threshold: k.lim.threshold, spans: spans, errors: errs, firing: k.firing})
		}
		i = prev
	}
	return evs
}

// firingKeys counts the keys currently firing.
func (t *tracker) firingKeys() int {
	n := 0
	for i := t.head; i >= 0; i = t.slots[i].next {
		if t.slots[i].firing {
			n++
		}
	}
	return n
}

// restore re-creates a firing key from the history after a restart, so the
// episode keeps its alert_id and resolves normally.
func (t *tracker) restore(ev Event, now time.Time) {
	id := keyID{tenant: ev.Tenant, service: ev.Service}
	i := t.get(id, now)
	if i < 0 {
		return
	}
	k := &t.slots[i]
	k.firing = true
	k.startedAt = ev.StartedAt.UnixNano()
	k.lastSeen = now.UnixNano()
	t.names[i].alertID = ev.AlertID
	t.names[i].station = ev.Station
	for _, s := range ev.TraceIDs {
		var tid pcommon.TraceID
		if b, err := hex.DecodeString(s); err == nil && len(b) == len(tid) {
			copy(tid[:], b)
			t.addSample(i, tid)
		}
	}
}
