package scadareceiver

import (
	"cmp"
	"slices"
)

// regKind is a Modbus data table.
type regKind uint8

const (
	regCoil regKind = iota
	regDiscrete
	regHolding
	regInput
)

func parseRegKind(s string) regKind {
	switch s {
	case RegCoil:
		return regCoil
	case RegDiscrete:
		return regDiscrete
	case RegInput:
		return regInput
	}
	return regHolding
}

func (k regKind) isBits() bool { return k == regCoil || k == regDiscrete }

func (k regKind) String() string {
	return [...]string{RegCoil, RegDiscrete, RegHolding, RegInput}[k]
}

// point is a validated, compiled point.
type point struct {
	name   string
	kind   string
	reg    regKind
	addr   int
	typ    dataType
	order  byteOrder
	scale  float64
	offset float64
	unit   string
	group  string
	// states, for valves: raw value -> status, and the configured status
	// names in a stable order (sorted by raw value).
	states     map[int64]string
	statusList []string
}

func (p *point) end() int { return p.addr + p.typ.words() } // exclusive

// readReq is one Modbus read covering several points.
type readReq struct {
	reg    regKind
	addr   int
	count  int
	points []*point
}

// planReads merges points of one RTU and poll group into as few reads as
// possible: per data table, sorted by address, a point joins the current
// read when the read stays within the protocol limit (125 registers or 2000
// bits) and the hole before the point is at most maxGap (maxGapBits for bit
// tables). Overlapping points share registers.
func planReads(points []*point, maxGap, maxGapBits int) []readReq {
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b *point) int {
		if c := cmp.Compare(a.reg, b.reg); c != 0 {
			return c
		}
		return cmp.Compare(a.addr, b.addr)
	})
	var out []readReq
	for _, p := range sorted {
		limit, gap := maxRegsPerRead, maxGap
		if p.reg.isBits() {
			limit, gap = maxBitsPerRead, maxGapBits
		}
		if n := len(out); n > 0 {
			r := &out[n-1]
			end := r.addr + r.count
			if r.reg == p.reg && p.addr-end <= gap && max(end, p.end())-r.addr <= limit {
				r.count = max(end, p.end()) - r.addr
				r.points = append(r.points, p)
				continue
			}
		}
		out = append(out, readReq{reg: p.reg, addr: p.addr, count: p.typ.words(), points: []*point{p}})
	}
	return out
}
