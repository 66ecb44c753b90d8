package traceidrepairprocessor

// corrEntry is one indexed producer span: 48 bytes.
type corrEntry struct {
	key        uint64 // hash of attribute name and value
	hi, lo     uint64 // trace id of the producer
	span       uint64 // producer span id
	seen       uint32
	prev, next uint32
	_          uint32
}

// corrIndex maps correlation keys (message id, conversation id, business
// key) of producer spans to the producer, per tenant; bounded like traceIndex.
type corrIndex struct {
	entries []corrEntry
	free    uint32
	nfree   int
	byKey   slotTable
	max     int
	keyOf   func(uint32) uint64
}

func newCorrIndex(max int, seed uint64) *corrIndex {
	x := &corrIndex{entries: make([]corrEntry, 1, 16), max: max, byKey: newSlotTable(seed)}
	x.keyOf = func(i uint32) uint64 { return x.entries[i].key }
	return x
}

func (x *corrIndex) len() int { return len(x.entries) - 1 - x.nfree }

// put records producer (hi, lo, span) under key; evicted reports whether the
// least recently seen entry had to go.
func (x *corrIndex) put(key, hi, lo, span uint64, now uint32) (isNew, evicted bool) {
	if x.max == 0 {
		return false, false
	}
	var found uint32
	x.byKey.lookup(key, func(i uint32) bool {
		e := &x.entries[i]
		if e.key == key && e.hi == hi && e.lo == lo && e.span == span {
			found = i
			return false
		}
		return true
	})
	if found != 0 {
		x.entries[found].seen = now
		x.unlink(found)
		x.pushBack(found)
		return false, false
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
		x.entries = append(x.entries, corrEntry{})
		i = uint32(len(x.entries) - 1)
	}
	x.entries[i] = corrEntry{key: key, hi: hi, lo: lo, span: span, seen: now}
	x.pushBack(i)
	x.byKey.insert(key, i, x.keyOf)
	return true, evicted
}

// get calls visit with every producer recorded under key.
func (x *corrIndex) get(key uint64, visit func(e *corrEntry)) {
	x.byKey.lookup(key, func(i uint32) bool {
		if e := &x.entries[i]; e.key == key {
			visit(e)
		}
		return true
	})
}

func (x *corrIndex) expire(cutoff uint32) int {
	n := 0
	for h := x.entries[0].next; h != 0 && x.entries[h].seen < cutoff; h = x.entries[0].next {
		x.remove(h)
		n++
	}
	return n
}

func (x *corrIndex) remove(i uint32) {
	x.byKey.remove(x.entries[i].key, i, x.keyOf)
	x.unlink(i)
	x.entries[i] = corrEntry{next: x.free}
	x.free = i
	x.nfree++
}

func (x *corrIndex) unlink(i uint32) {
	e := &x.entries[i]
	x.entries[e.prev].next = e.next
	x.entries[e.next].prev = e.prev
}

func (x *corrIndex) pushBack(i uint32) {
	last := x.entries[0].prev
	x.entries[i].prev, x.entries[i].next = last, 0
	x.entries[last].next = i
	x.entries[0].prev = i
}

func (x *corrIndex) bytes() int { return cap(x.entries)*48 + x.byKey.bytes() }
