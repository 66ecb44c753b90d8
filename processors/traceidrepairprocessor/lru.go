package traceidrepairprocessor

// lruLinks is the part of an index entry that the LRU list owns: when the
// entry was last seen and its neighbours (slot 0 is the sentinel; free slots
// chain through next).
type lruLinks struct {
	seen       uint32 // seconds since the index base
	prev, next uint32
}

// lruEntry is an index entry type that embeds lruLinks.
type lruEntry[E any] interface {
	*E
	links() *lruLinks
}

// lruList is a slot array of entries kept in least-recently-seen order, with
// a free list of released slots. It does not know the entries' keys: the
// index that embeds it removes an entry from its tables before release.
type lruList[E any, P lruEntry[E]] struct {
	entries []E // [0] is the sentinel
	free    uint32
	nfree   int
}

func newLRUList[E any, P lruEntry[E]](capacity int) lruList[E, P] {
	return lruList[E, P]{entries: make([]E, 1, capacity)}
}

func (l *lruList[E, P]) len() int { return len(l.entries) - 1 - l.nfree }

// oldest is the least recently seen entry, or 0 when the list is empty.
func (l *lruList[E, P]) oldest() uint32 { return P(&l.entries[0]).links().next }

// add stores e in a free slot at the most recent end and returns the slot.
func (l *lruList[E, P]) add(e E) uint32 {
	var i uint32
	if l.free != 0 {
		i = l.free
		l.free = P(&l.entries[i]).links().next
		l.nfree--
		l.entries[i] = e
	} else {
		l.entries = append(l.entries, e)
		i = uint32(len(l.entries) - 1)
	}
	l.pushBack(i)
	return i
}

// touch marks entry i seen now and moves it to the most recent end.
func (l *lruList[E, P]) touch(i, now uint32) {
	P(&l.entries[i]).links().seen = now
	l.unlink(i)
	l.pushBack(i)
}

// release unlinks entry i, clears it and puts its slot on the free list.
func (l *lruList[E, P]) release(i uint32) {
	l.unlink(i)
	var zero E
	l.entries[i] = zero
	P(&l.entries[i]).links().next = l.free
	l.free = i
	l.nfree++
}

// expire calls remove on every entry not seen since before cutoff, oldest
// first (remove must release the entry); it returns how many.
func (l *lruList[E, P]) expire(cutoff uint32, remove func(i uint32)) int {
	n := 0
	for h := l.oldest(); h != 0 && P(&l.entries[h]).links().seen < cutoff; h = l.oldest() {
		remove(h)
		n++
	}
	return n
}

func (l *lruList[E, P]) unlink(i uint32) {
	e := P(&l.entries[i]).links()
	P(&l.entries[e.prev]).links().next = e.next
	P(&l.entries[e.next]).links().prev = e.prev
}

func (l *lruList[E, P]) pushBack(i uint32) {
	s := P(&l.entries[0]).links()
	last := s.prev
	e := P(&l.entries[i]).links()
	e.prev, e.next = last, 0
	P(&l.entries[last]).links().next = i
	s.prev = i
}
