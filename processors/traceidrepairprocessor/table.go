package traceidrepairprocessor

// slotTable is an open-addressing (linear probing) hash table of entry
// indexes: 4 bytes a slot, no keys stored. The owner tells it the key of an
// entry; several entries may share a key (colliding halves), and a lookup
// visits all of them. Deletion shifts back, so there are no tombstones.
type slotTable struct {
	slots []uint32 // 0 empty, else entry index
	mask  uint64
	n     int
	seed  uint64
}

func newSlotTable(seed uint64) slotTable {
	return slotTable{slots: make([]uint32, 64), mask: 63, seed: seed}
}

// mix spreads a key over the table (splitmix64 finaliser); the per-index seed
// keeps crafted ids from piling into one probe run.
func (t *slotTable) home(key uint64) uint64 {
	x := key ^ t.seed
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x & t.mask
}

func (t *slotTable) insert(key uint64, idx uint32, keyOf func(uint32) uint64) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow(keyOf)
	}
	i := t.home(key)
	for t.slots[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = idx
	t.n++
}

func (t *slotTable) grow(keyOf func(uint32) uint64) {
	old := t.slots
	t.slots = make([]uint32, len(old)*2)
	t.mask = uint64(len(t.slots) - 1)
	for _, idx := range old {
		if idx == 0 {
			continue
		}
		i := t.home(keyOf(idx))
		for t.slots[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = idx
	}
}

// remove deletes idx, stored under key.
func (t *slotTable) remove(key uint64, idx uint32, keyOf func(uint32) uint64) {
	i := t.home(key)
	for {
		s := t.slots[i]
		if s == 0 {
			return // not present
		}
		if s == idx {
			break
		}
		i = (i + 1) & t.mask
	}
	t.n--
	// Backward-shift deletion: i is the hole; pull later members of the
	// probe run back unless their home lies cyclically in (i, j].
	t.slots[i] = 0
	j := i
	for {
		j = (j + 1) & t.mask
		s := t.slots[j]
		if s == 0 {
			return
		}
		k := t.home(keyOf(s))
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		t.slots[i] = s
		t.slots[j] = 0
		i = j
	}
}

// lookup calls visit for every entry stored under key (and possibly some
// others: the caller compares keys) until visit returns false.
func (t *slotTable) lookup(key uint64, visit func(idx uint32) bool) {
	i := t.home(key)
	for {
		s := t.slots[i]
		if s == 0 {
			return
		}
		if !visit(s) {
			return
		}
		i = (i + 1) & t.mask
	}
}

func (t *slotTable) bytes() int { return cap(t.slots) * 4 }
