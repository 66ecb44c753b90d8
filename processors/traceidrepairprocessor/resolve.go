package traceidrepairprocessor

// Clue bounds keep per-fragment work and memory constant whatever a span carries.
const (
	maxClues      = 4
	maxCandidates = 16
)

// clues are what a fragment's spans say about their original trace.
type clues struct {
	halves     [maxClues]uint64
	fulls      [maxClues][2]uint64
	corrs      [maxClues]uint64
	nh, nf, nc int
	span       uint64 // sender span id from a b3 / traceparent / uber-trace-id carrier
}

func (c *clues) empty() bool { return c.nh == 0 && c.nf == 0 && c.nc == 0 }

func (c *clues) addHalf(h uint64) {
	for i := 0; i < c.nh; i++ {
		if c.halves[i] == h {
			return
		}
	}
	if c.nh < maxClues {
		c.halves[c.nh] = h
		c.nh++
	}
}

func (c *clues) addFull(hi, lo uint64) {
	for i := 0; i < c.nf; i++ {
		if c.fulls[i] == [2]uint64{hi, lo} {
			return
		}
	}
	if c.nf < maxClues {
		c.fulls[c.nf] = [2]uint64{hi, lo}
		c.nf++
	}
}

func (c *clues) addCorr(k uint64) {
	for i := 0; i < c.nc; i++ {
		if c.corrs[i] == k {
			return
		}
	}
	if c.nc < maxClues {
		c.corrs[c.nc] = k
		c.nc++
	}
}

func (c *clues) addTrace(t traceClue) {
	if t.half != 0 {
		c.addHalf(t.half)
	} else {
		c.addFull(t.hi, t.lo)
	}
	if t.span != 0 && c.span == 0 {
		c.span = t.span
	}
}

// Results of resolving a fragment.
const (
	resNone      = iota // no candidate
	resIntact           // a clue points at the fragment's own trace: not damaged
	resRepaired         // exactly one original
	resAmbiguous        // more than one
	resUnmatched        // no candidate, and no more waiting
)

type candidate struct {
	hi, lo   uint64
	producer uint64 // producer span id when known
	fromCorr uint8  // bit i: found through correlation clue i
	corrSpan bool   // producer came from the correlation index (exact)
}

// resolve finds the originals that agree with every clue. A candidate must
// contain every half clue, equal every full-id clue, and for each
// correlation clue that found producers, be one of them. cands is scratch.
func (st *tenantState) resolve(c *clues, ownHi, ownLo uint64, cands []candidate) (int, []candidate) {
	cands = cands[:0]
	overflow := false
	add := func(hi, lo, producer uint64, corrBit uint8, exact bool) {
		for i := range cands {
			if cands[i].hi == hi && cands[i].lo == lo {
				cands[i].fromCorr |= corrBit
				if exact && !cands[i].corrSpan {
					cands[i].producer, cands[i].corrSpan = producer, true
				} else if cands[i].producer == 0 && !cands[i].corrSpan {
					cands[i].producer = producer
				}
				return
			}
		}
		if len(cands) < maxCandidates {
			cands = append(cands, candidate{hi: hi, lo: lo, producer: producer, fromCorr: corrBit, corrSpan: exact})
		} else {
			overflow = true // too many to be sure of anything: never a repair
		}
	}
	tr := st.traces
	for i := 0; i < c.nh; i++ {
		tr.byHalf(c.halves[i], func(j uint32) {
			e := &tr.entries[j]
			add(e.hi, e.lo, e.producer, 0, false)
		})
	}
	for i := 0; i < c.nf; i++ {
		if j := tr.find(c.fulls[i][0], c.fulls[i][1]); j != 0 {
			e := &tr.entries[j]
			add(e.hi, e.lo, e.producer, 0, false)
		}
	}
	var corrFound uint8
	for i := 0; i < c.nc; i++ {
		bit := uint8(1) << i
		st.corrs.get(c.corrs[i], func(e *corrEntry) {
			corrFound |= bit
			add(e.hi, e.lo, e.span, bit, true)
		})
	}
	for i := range cands {
		if cands[i].hi == ownHi && cands[i].lo == ownLo {
			return resIntact, cands[:0]
		}
	}
	kept := cands[:0]
	for _, k := range cands {
		ok := k.fromCorr&corrFound == corrFound
		for i := 0; ok && i < c.nh; i++ {
			ok = k.hi == c.halves[i] || k.lo == c.halves[i]
		}
		for i := 0; ok && i < c.nf; i++ {
			ok = k.hi == c.fulls[i][0] && k.lo == c.fulls[i][1]
		}
		if ok {
			kept = append(kept, k)
		}
	}
	switch {
	case overflow:
		return resAmbiguous, kept
	case len(kept) == 0:
		return resNone, kept
	case len(kept) == 1:
		if !kept[0].corrSpan && c.span != 0 {
			kept[0].producer = c.span
		}
		return resRepaired, kept
	default:
		return resAmbiguous, kept
	}
}
