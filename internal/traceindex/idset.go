package traceindex

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// idSet is a tenant's trace ids of the last Lookback as a ring of Bloom
// filters ("generations"): generation g covers Lookback/(gens-1) of time,
// so gens-1 full generations plus the current one cover at least the
// lookback, and the oldest is dropped only once everything in it is older
// than the lookback. Each generation is sized for MaxTraceIDs/(gens-1) ids
// at about 1.2 % false positives (9.6 bits and 7 probes per id), allocated
// when its first id arrives: at most MaxTraceIDs × 1.37 bytes per tenant.
// (Blocked: see block.)
// Inserts set bits atomically, so concurrent requests of one tenant share
// the read lock; only rotation takes the tenant's write lock.
//
// A generation that fills up before its time is rotated early; the ids it
// held may then still be in the trace store, so until they are older than
// the lookback a lookup that misses answers "maybe" (uncertainUntil).
type idSet struct {
	rot            sync.Mutex // serialises rotation
	gens           atomic.Pointer[[]*generation]
	period         time.Duration
	lookback       time.Duration
	capacity       int64 // ids per generation
	bits           uint64
	forgotten      atomic.Int64
	uncertainUntil atomic.Int64 // unix ns
}

const (
	generations    = 8
	probes         = 7
	bitsPerID      = 9.6
	minGenCapacity = 1024
)

type generation struct {
	start, last atomic.Int64 // unix ns of creation and last insert
	count       atomic.Int64
	words       []uint64 // nil until the first insert
	alloc       sync.Once
}

func (s *idSet) init(cfg Config) {
	s.lookback = cfg.Lookback
	s.period = max(cfg.Lookback/(generations-1), time.Second)
	s.capacity = max(int64(cfg.MaxTraceIDs)/(generations-1), minGenCapacity)
	s.bits = uint64(math.Ceil(float64(s.capacity)*bitsPerID/512)) * 512
	gens := []*generation{}
	s.gens.Store(&gens)
}

func newKeys() [2]uint64 {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// mix is splitmix64's finaliser: trace ids are not always random (a legacy
// bridge zero-pads them), so their halves are keyed and mixed first.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func hashes(id [16]byte, keys [2]uint64) (uint64, uint64) {
	lo := binary.LittleEndian.Uint64(id[:8])
	hi := binary.LittleEndian.Uint64(id[8:])
	h1 := mix(lo ^ keys[0] ^ mix(hi))
	h2 := mix(hi^keys[1]^h1) | 1
	return h1, h2
}

func (g *generation) bitset(n uint64) []uint64 {
	g.alloc.Do(func() { g.words = make([]uint64, n/64) })
	return g.words
}

// The filter is blocked: h1 picks one 512-bit block (a cache line; a
// multiply and shift, Lemire's fast range, instead of a division) and the
// 7 probes are 9-bit slices of h2 inside it, so a lookup or insert touches
// one cache line. It costs a little accuracy (about 1.2 % false positives
// at capacity instead of 1 %).
const blockWords = 8 // 512 bits

func block(w []uint64, h1 uint64) []uint64 {
	hi, _ := bits.Mul64(h1, uint64(len(w)/blockWords))
	return w[hi*blockWords : hi*blockWords+blockWords]
}

func insertInto(w []uint64, h1, h2 uint64) {
	b := block(w, h1)
	for i := uint64(0); i < probes; i++ {
		bit := (h2 >> (9 * i)) & 511
		atomic.OrUint64(&b[bit/64], 1<<(bit%64))
	}
}

func hasIn(w []uint64, h1, h2 uint64) bool {
	b := block(w, h1)
	for i := uint64(0); i < probes; i++ {
		bit := (h2 >> (9 * i)) & 511
		if atomic.LoadUint64(&b[bit/64])&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

func (g *generation) contains(h1, h2, n uint64) bool {
	if g.count.Load() == 0 {
		return false
	}
	return hasIn(g.bitset(n), h1, h2)
}

// rotateIfDue starts a new generation when the current one is older than
// the period or full, dropping the oldest beyond the ring.
func (s *idSet) rotateIfDue(now time.Time, cfg Config, dirty *atomic.Bool) {
	gens := *s.gens.Load()
	if n := len(gens); n > 0 {
		cur := gens[n-1]
		if now.UnixNano()-cur.start.Load() < int64(s.period) && cur.count.Load() < s.capacity {
			return
		}
	}
	s.rot.Lock()
	defer s.rot.Unlock()
	gens = *s.gens.Load()
	if n := len(gens); n > 0 {
		cur := gens[n-1]
		if now.UnixNano()-cur.start.Load() < int64(s.period) && cur.count.Load() < s.capacity {
			return
		}
	}
	next := append([]*generation(nil), gens...)
	g := &generation{}
	g.start.Store(now.UnixNano())
	next = append(next, g)
	cutoff := now.Add(-cfg.Lookback).UnixNano()
	for len(next) > generations {
		old := next[0]
		next = next[1:]
		if last := old.last.Load(); last > cutoff {
			// Dropped while some of its ids may still be stored.
			s.forgotten.Add(1)
			until := last + int64(cfg.Lookback)
			if until > s.uncertainUntil.Load() {
				s.uncertainUntil.Store(until)
			}
		}
	}
	s.gens.Store(&next)
	dirty.Store(true)
}

// add inserts ids into the current generation; it reports whether any was
// inserted.
func (s *idSet) add(ids [][16]byte, keys [2]uint64, now time.Time) bool {
	gens := *s.gens.Load()
	if len(gens) == 0 || len(ids) == 0 {
		return false
	}
	cur := gens[len(gens)-1]
	w := cur.bitset(s.bits)
	empty := cur.count.Load() == 0
	added := int64(0)
	for _, id := range ids {
		h1, h2 := hashes(id, keys)
		// A trace's later requests do not count again towards capacity.
		if !empty && hasIn(w, h1, h2) {
			continue
		}
		insertInto(w, h1, h2)
		added++
	}
	cur.last.Store(now.UnixNano())
	if added == 0 {
		return false
	}
	cur.count.Add(added)
	return true
}

func (s *idSet) mayContain(id [16]byte, keys [2]uint64, now time.Time) bool {
	if now.UnixNano() < s.uncertainUntil.Load() {
		return true
	}
	h1, h2 := hashes(id, keys)
	cutoff := now.Add(-s.lookback).UnixNano()
	for _, g := range *s.gens.Load() {
		if g.last.Load() >= cutoff && g.contains(h1, h2, s.bits) {
			return true
		}
	}
	return false
}

func atomicLoad(p *uint64) uint64 { return atomic.LoadUint64(p) }
