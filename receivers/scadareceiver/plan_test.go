package scadareceiver

import (
	"fmt"
	"testing"
)

func pt(reg regKind, addr int, typ dataType) *point {
	return &point{name: fmt.Sprintf("%v%d", reg, addr), reg: reg, addr: addr, typ: typ}
}

func TestPlanReads(t *testing.T) {
	type want struct {
		reg                 regKind
		addr, count, points int
	}
	cases := []struct {
		name   string
		points []*point
		want   []want
	}{
		{"contiguous", []*point{pt(regHolding, 0, typeFloat32), pt(regHolding, 2, typeFloat32), pt(regHolding, 4, typeUint16)},
			[]want{{regHolding, 0, 5, 3}}},
		{"unsorted with small gap", []*point{pt(regHolding, 10, typeUint16), pt(regHolding, 0, typeFloat64)},
			[]want{{regHolding, 0, 11, 2}}},
		{"gap too wide", []*point{pt(regHolding, 0, typeUint16), pt(regHolding, 10, typeUint16)},
			[]want{{regHolding, 0, 1, 1}, {regHolding, 10, 1, 1}}},
		{"tables never merge", []*point{pt(regHolding, 0, typeUint16), pt(regInput, 1, typeUint16)},
			[]want{{regHolding, 0, 1, 1}, {regInput, 1, 1, 1}}},
		{"overlap", []*point{pt(regInput, 0, typeUint32), pt(regInput, 1, typeUint16)},
			[]want{{regInput, 0, 2, 2}}},
		{"125 register limit", []*point{pt(regHolding, 0, typeUint16), pt(regHolding, 121, typeUint64)},
			[]want{{regHolding, 0, 1, 1}, {regHolding, 121, 4, 1}}},
		{"exactly 125", []*point{pt(regHolding, 0, typeUint16), pt(regHolding, 4, typeUint16), pt(regHolding, 121, typeUint64)},
			nil}, // filled below: gap 116 > max gap, so 2 reads
		{"bits", []*point{pt(regCoil, 0, typeBool), pt(regCoil, 60, typeBool), pt(regCoil, 200, typeBool), pt(regDiscrete, 0, typeBool)},
			[]want{{regCoil, 0, 61, 2}, {regCoil, 200, 1, 1}, {regDiscrete, 0, 1, 1}}},
	}
	cases[6].want = []want{{regHolding, 0, 5, 2}, {regHolding, 121, 4, 1}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := planReads(tc.points, 8, 64)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d reads %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.reg != w.reg || g.addr != w.addr || g.count != w.count || len(g.points) != w.points {
					t.Errorf("read %d = %v@%d+%d (%d points), want %v@%d+%d (%d points)",
						i, g.reg, g.addr, g.count, len(g.points), w.reg, w.addr, w.count, w.points)
				}
			}
		})
	}
}

func TestPlanReadsRespectsProtocolLimits(t *testing.T) {
	// 300 adjacent registers and 5000 adjacent coils with max gaps allowed.
	var regs, bits []*point
	for a := 0; a < 300; a++ {
		regs = append(regs, pt(regHolding, a, typeUint16))
	}
	for a := 0; a < 5000; a++ {
		bits = append(bits, pt(regCoil, a, typeBool))
	}
	for _, set := range [][]*point{regs, bits} {
		covered := 0
		for _, r := range planReads(set, 124, 1999) {
			limit := maxRegsPerRead
			if r.reg.isBits() {
				limit = maxBitsPerRead
			}
			if r.count > limit {
				t.Fatalf("read of %d exceeds %d", r.count, limit)
			}
			for _, p := range r.points {
				if p.addr < r.addr || p.end() > r.addr+r.count {
					t.Fatalf("point %d outside read %d+%d", p.addr, r.addr, r.count)
				}
			}
			covered += len(r.points)
		}
		if covered != len(set) {
			t.Fatalf("covered %d of %d points", covered, len(set))
		}
	}
	if n := len(planReads(regs, 8, 64)); n != 3 {
		t.Errorf("300 registers need 3 reads, got %d", n)
	}
	if n := len(planReads(bits, 8, 64)); n != 3 {
		t.Errorf("5000 coils need 3 reads, got %d", n)
	}
}
