package traceidrepairprocessor

// corrEntry is one indexed producer span: 48 bytes.
type corrEntry struct {
	key    uint64 // hash of attribute name and value
	hi, lo uint64 // trace id of the producer
	span   uint64 // producer span id
	lruLinks
	_ uint32
}

func (e *corrEntry) links() *lruLinks { return &e.lruLinks }

// corrIndex maps correlation keys (message id, conversation id, business
// key) of producer spans to the producer, per tenant; bounded like traceIndex.
type corrIndex struct {
	lruList[corrEntry, *corrEntry]
	byKey slotTable
	max   int
	keyOf func(uint32) uint64
}

func newCorrIndex(max int, seed uint64) *corrIndex {
	x := &corrIndex{lruList: newLRUList[corrEntry](16), max: max, byKey: newSlotTable(seed)}
	x.keyOf = func(i uint32) uint64 { return x.entries[i].key }
	return x
}

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
		x.touch(found, now)
		return false, false
	}
	if x.len() >= x.max {
		x.remove(x.oldest())
		evicted = true
	}
	i := x.add(corrEntry{key: key, hi: hi, lo: lo, span: span, lruLinks: lruLinks{seen: now}})
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

func (x *corrIndex) expire(cutoff uint32) int { return x.lruList.expire(cutoff, x.remove) }

func (x *corrIndex) remove(i uint32) {
	x.byKey.remove(x.entries[i].key, i, x.keyOf)
	x.release(i)
}

func (x *corrIndex) bytes() int { return cap(x.entries)*48 + x.byKey.bytes() }
