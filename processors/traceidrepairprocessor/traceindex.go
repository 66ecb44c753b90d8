package traceidrepairprocessor

// traceEntry is one indexed original trace: 48 bytes.
type traceEntry struct {
	hi, lo   uint64
	producer uint64 // span id of the trace's latest-starting producer span, 0 unknown
	// start of that producer span: a fragment hangs under the trace's last
	// producer (the bridge publishes after everything upstream of it).
	producerStart uint64
	lruLinks      // last time the trace was seen; LRU neighbours
	_             uint32
}

func (e *traceEntry) links() *lruLinks { return &e.lruLinks }

// traceIndex holds recent original trace ids of one tenant, findable by
// either 64-bit half. Bounded by entry count; the least recently seen
// entry goes first, and entries unseen for the window expire.
type traceIndex struct {
	lruList[traceEntry, *traceEntry]
	byHi  slotTable
	byLo  slotTable
	max   int
	keyHi func(uint32) uint64
	keyLo func(uint32) uint64
}

func newTraceIndex(max int, seed uint64) *traceIndex {
	x := &traceIndex{lruList: newLRUList[traceEntry](64), max: max,
		byHi: newSlotTable(seed), byLo: newSlotTable(seed ^ 0x9e3779b97f4a7c15)}
	x.keyHi = func(i uint32) uint64 { return x.entries[i].hi }
	x.keyLo = func(i uint32) uint64 { return x.entries[i].lo }
	return x
}

// find returns the entry of the full id, or 0.
func (x *traceIndex) find(hi, lo uint64) uint32 {
	var found uint32
	x.byHi.lookup(hi, func(i uint32) bool {
		e := &x.entries[i]
		if e.hi == hi && e.lo == lo {
			found = i
			return false
		}
		return true
	})
	return found
}

// touch records that the trace (hi, lo) was seen now and returns its entry
// and whether it is new. It evicts the least recently seen entry when full
// (evicted reports it).
func (x *traceIndex) touch(hi, lo uint64, now uint32) (idx uint32, isNew, evicted bool) {
	if i := x.find(hi, lo); i != 0 {
		x.lruList.touch(i, now)
		return i, false, false
	}
	if x.len() >= x.max {
		x.remove(x.oldest())
		evicted = true
	}
	i := x.add(traceEntry{hi: hi, lo: lo, lruLinks: lruLinks{seen: now}})
	x.byHi.insert(hi, i, x.keyHi)
	x.byLo.insert(lo, i, x.keyLo)
	return i, true, evicted
}

// setProducer records a producer span of the trace; the latest-starting one wins.
func (x *traceIndex) setProducer(i uint32, span, start uint64) (changed bool) {
	e := &x.entries[i]
	if span != 0 && span != e.producer && (e.producer == 0 || start >= e.producerStart) {
		e.producer, e.producerStart = span, start
		return true
	}
	return false
}

// expire removes entries not seen since before cutoff; it returns how many.
func (x *traceIndex) expire(cutoff uint32) int { return x.lruList.expire(cutoff, x.remove) }

// byHalf calls visit with every entry whose high or low half is h.
func (x *traceIndex) byHalf(h uint64, visit func(i uint32)) {
	x.byHi.lookup(h, func(i uint32) bool {
		if x.entries[i].hi == h {
			visit(i)
		}
		return true
	})
	x.byLo.lookup(h, func(i uint32) bool {
		if e := &x.entries[i]; e.lo == h && e.hi != h {
			visit(i)
		}
		return true
	})
}

func (x *traceIndex) remove(i uint32) {
	e := x.entries[i]
	x.byHi.remove(e.hi, i, x.keyHi)
	x.byLo.remove(e.lo, i, x.keyLo)
	x.release(i)
}

// bytes is the memory the index holds.
func (x *traceIndex) bytes() int {
	return cap(x.entries)*48 + x.byHi.bytes() + x.byLo.bytes()
}
