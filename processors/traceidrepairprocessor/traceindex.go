package traceidrepairprocessor

// traceEntry is one indexed original trace: 48 bytes.
type traceEntry struct {
	hi, lo   uint64
	producer uint64 // span id of the trace's latest-starting producer span, 0 unknown
	// start of that producer span: a fragment hangs under the trace's last
	// producer (the bridge publishes after everything upstream of it).
	producerStart uint64
	seen          uint32 // seconds since the index base, last time the trace was seen
	prev, next    uint32 // LRU list; entry 0 is the sentinel
	_             uint32
}

// traceIndex holds recent original trace ids of one tenant, findable by
// either 64-bit half. Bounded by entry count; the least recently seen
// entry goes first, and entries unseen for the window expire.
type traceIndex struct {
	entries []traceEntry // [0] is the LRU sentinel
	free    uint32       // free list through next
	nfree   int
	byHi    slotTable
	byLo    slotTable
	max     int
	keyHi   func(uint32) uint64
	keyLo   func(uint32) uint64
}

func newTraceIndex(max int, seed uint64) *traceIndex {
	x := &traceIndex{entries: make([]traceEntry, 1, 64), max: max,
		byHi: newSlotTable(seed), byLo: newSlotTable(seed ^ 0x9e3779b97f4a7c15)}
	x.keyHi = func(i uint32) uint64 { return x.entries[i].hi }
	x.keyLo = func(i uint32) uint64 { return x.entries[i].lo }
	return x
}

func (x *traceIndex) len() int { return len(x.entries) - 1 - x.nfree }

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
		x.entries[i].seen = now
		x.unlink(i)
		x.pushBack(i)
		return i, false, false
	}
	if x.len() >= x.max {
		x.remove(x.entries[0].next)
		evicted = true
	}
	var i uint32
	if x.free != 0 {
		i = x.free
		x.free = x.entries[i].next
		x.nfree--
	} else {
		x.entries = append(x.entries, traceEntry{})
		i = uint32(len(x.entries) - 1)
	}
	x.entries[i] = traceEntry{hi: hi, lo: lo, seen: now}
	x.pushBack(i)
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
func (x *traceIndex) expire(cutoff uint32) int {
	n := 0
	for h := x.entries[0].next; h != 0 && x.entries[h].seen < cutoff; h = x.entries[0].next {
		x.remove(h)
		n++
	}
	return n
}

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
	x.unlink(i)
	x.entries[i] = traceEntry{next: x.free}
	x.free = i
	x.nfree++
}

func (x *traceIndex) unlink(i uint32) {
	e := &x.entries[i]
	x.entries[e.prev].next = e.next
	x.entries[e.next].prev = e.prev
}

func (x *traceIndex) pushBack(i uint32) {
	last := x.entries[0].prev
	x.entries[i].prev, x.entries[i].next = last, 0
	x.entries[last].next = i
	x.entries[0].prev = i
}

// bytes is the memory the index holds.
func (x *traceIndex) bytes() int {
	return cap(x.entries)*48 + x.byHi.bytes() + x.byLo.bytes()
}
