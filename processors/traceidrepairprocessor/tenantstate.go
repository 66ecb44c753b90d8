package traceidrepairprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/metric"
)

// tenantState is everything the processor remembers about one tenant.
// Tenants never share state, so a fragment of one tenant can only ever match
// an original of the same tenant.
type tenantState struct {
	tenant string
	attrs  metric.MeasurementOption

	traces *traceIndex
	corrs  *corrIndex
	frags  fragmentMap

	// Held fragments, by their own id and by the clues they wait for.
	heldByID map[pcommon.TraceID]*heldFragment
	waitHalf map[uint64][]*heldFragment
	waitCorr map[uint64][]*heldFragment

	batch uint64 // last batch that touched the tenant

	// held: spans of this tenant held now; callHeld: those the current call
	// (batch callBatch) holds.
	held, callHeld int
	callBatch      uint64

	// Evictions since the last flush to the counters.
	evTraceCap, evTraceTTL, evCorrCap, evCorrTTL, evFragCap, evFragTTL int64
}

// fragTarget is where a repaired fragment went.
type fragTarget struct {
	hi, lo uint64
	parent uint64
}

// fragmentMap remembers fragment id -> original so that later batches of a
// repaired fragment follow it. FIFO by insertion, bounded, expiring.
type fragmentMap struct {
	m     map[pcommon.TraceID]fragTarget
	queue []fragQueued
	head  int
	max   int
}

type fragQueued struct {
	id   pcommon.TraceID
	seen uint32
}

func (f *fragmentMap) get(id pcommon.TraceID) (fragTarget, bool) {
	t, ok := f.m[id]
	return t, ok
}

// put returns true when an older mapping had to be evicted to make room.
func (f *fragmentMap) put(id pcommon.TraceID, t fragTarget, now uint32) (evicted bool) {
	if f.m == nil {
		f.m = map[pcommon.TraceID]fragTarget{}
	}
	if _, ok := f.m[id]; ok {
		f.m[id] = t
		return false
	}
	if len(f.m) >= f.max {
		f.pop()
		evicted = true
	}
	f.m[id] = t
	f.queue = append(f.queue, fragQueued{id: id, seen: now})
	return evicted
}

func (f *fragmentMap) pop() {
	q := f.queue[f.head]
	delete(f.m, q.id)
	f.head++
	if f.head > 1024 && f.head*2 > len(f.queue) {
		f.queue = append(f.queue[:0], f.queue[f.head:]...)
		f.head = 0
	}
}

func (f *fragmentMap) expire(cutoff uint32) int {
	n := 0
	for f.head < len(f.queue) && f.queue[f.head].seen < cutoff {
		f.pop()
		n++
	}
	return n
}

func (f *fragmentMap) len() int { return len(f.m) }
