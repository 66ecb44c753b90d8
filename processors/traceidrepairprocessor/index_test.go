package traceidrepairprocessor

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The trace index agrees with a brute-force model through random inserts,
// touches, evictions and expiries, with deliberately colliding halves.
func TestTraceIndexAgainstModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const max = 300
	x := newTraceIndex(max, 99)
	type rec struct {
		hi, lo uint64
		seen   uint32
		order  int
	}
	model := map[[2]uint64]*rec{}
	order := 0
	halves := make([]uint64, 50) // a small pool: many collisions
	for i := range halves {
		halves[i] = rnd.Uint64() | 1
	}
	now := uint32(1)
	for step := 0; step < 20000; step++ {
		if rnd.IntN(100) == 0 {
			now++
		}
		switch op := rnd.IntN(10); {
		case op < 7:
			hi, lo := halves[rnd.IntN(len(halves))], halves[rnd.IntN(len(halves))]
			if rnd.IntN(2) == 0 {
				lo = rnd.Uint64() | 1
			}
			_, isNew, ev := x.touch(hi, lo, now)
			k := [2]uint64{hi, lo}
			_, had := model[k]
			require.Equal(t, !had, isNew)
			if isNew && len(model) >= max {
				require.True(t, ev)
				// the least recently touched goes
				var oldest *rec
				for _, r := range model {
					if oldest == nil || r.order < oldest.order {
						oldest = r
					}
				}
				delete(model, [2]uint64{oldest.hi, oldest.lo})
			}
			order++
			if r, ok := model[k]; ok {
				r.seen, r.order = now, order
			} else {
				model[k] = &rec{hi, lo, now, order}
			}
		case op < 8:
			cut := now - 1
			n := x.expire(cut)
			m := 0
			for k, r := range model {
				if r.seen < cut {
					delete(model, k)
					m++
				}
			}
			require.Equal(t, m, n)
		default:
			h := halves[rnd.IntN(len(halves))]
			var got, want [][2]uint64
			x.byHalf(h, func(i uint32) { got = append(got, [2]uint64{x.entries[i].hi, x.entries[i].lo}) })
			for k := range model {
				if k[0] == h || k[1] == h {
					want = append(want, k)
				}
			}
			cmp := func(a, b [2]uint64) int {
				if a[0] != b[0] {
					if a[0] < b[0] {
						return -1
					}
					return 1
				}
				if a[1] < b[1] {
					return -1
				} else if a[1] > b[1] {
					return 1
				}
				return 0
			}
			slices.SortFunc(got, cmp)
			slices.SortFunc(want, cmp)
			require.Equal(t, want, got, "step %d", step)
		}
		require.Equal(t, len(model), x.len())
		require.Equal(t, len(model), x.byHi.n)
		require.Equal(t, len(model), x.byLo.n)
	}
}

func TestCorrIndexBounded(t *testing.T) {
	x := newCorrIndex(100, 7)
	ev := 0
	for i := uint64(1); i <= 1000; i++ {
		_, e := x.put(i%300+1, i, i, i, 1)
		if e {
			ev++
		}
	}
	assert.Equal(t, 100, x.len())
	assert.Equal(t, 900, ev)
	n := 0
	x.get(1000%300+1, func(e *corrEntry) { n++; assert.Equal(t, uint64(1000), e.span) })
	assert.Equal(t, 1, n)
	assert.Equal(t, 100, x.expire(2))
	assert.Equal(t, 0, x.len())
}

func TestNormalizeAndParse(t *testing.T) {
	for _, n := range []string{"X_B3_TraceId", "x_HYPHEN_b3_HYPHEN_traceid", "x_$dash$_b3_$dash$_traceid", "X-B3-TRACEID", " x-b3-traceid "} {
		assert.Equal(t, "x-b3-traceid", normalizeName(n), n)
	}
	for _, tc := range []struct {
		in   string
		ok   bool
		want traceClue
	}{
		{"a3ce929d0e0e4736", true, traceClue{half: 0xa3ce929d0e0e4736}},
		{"0xA3CE929D0E0E4736", true, traceClue{half: 0xa3ce929d0e0e4736}},
		{"3ce929d0e0e4736", true, traceClue{half: 0x3ce929d0e0e4736}}, // leading zero stripped (uber)
		{"4bf92f3577b34da6a3ce929d0e0e4736", true, traceClue{hi: 0x4bf92f3577b34da6, lo: 0xa3ce929d0e0e4736}},
		{"0000000000000000a3ce929d0e0e4736", true, traceClue{half: 0xa3ce929d0e0e4736}},
		{"4bf92f3577b34da60000000000000000", true, traceClue{half: 0x4bf92f3577b34da6}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, traceClue{hi: 0x4bf92f3577b34da6, lo: 0xa3ce929d0e0e4736, span: 0x00f067aa0ba902b7}},
		{"a3ce929d0e0e4736-00f067aa0ba902b7-1", true, traceClue{half: 0xa3ce929d0e0e4736, span: 0x00f067aa0ba902b7}},
		{"a3ce929d0e0e4736:00f067aa0ba902b7:0:1", true, traceClue{half: 0xa3ce929d0e0e4736, span: 0x00f067aa0ba902b7}},
		{"", false, traceClue{}},
		{"0000000000000000", false, traceClue{}},
		{"xyz", false, traceClue{}},
		{"4bf92f3577b34da6a3ce929d0e0e47361", false, traceClue{}},
	} {
		got, ok := parseTraceCarrier(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		if ok {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
}
