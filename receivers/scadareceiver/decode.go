package scadareceiver

import (
	"fmt"
	"math"
)

// dataType is a point's wire type.
type dataType uint8

const (
	typeBool dataType = iota + 1
	typeInt16
	typeUint16
	typeInt32
	typeUint32
	typeInt64
	typeUint64
	typeFloat32
	typeFloat64
)

func parseType(s string) (dataType, bool) {
	switch s {
	case "bool":
		return typeBool, true
	case "int16":
		return typeInt16, true
	case "uint16":
		return typeUint16, true
	case "int32":
		return typeInt32, true
	case "uint32":
		return typeUint32, true
	case "int64":
		return typeInt64, true
	case "uint64":
		return typeUint64, true
	case "float32":
		return typeFloat32, true
	case "float64":
		return typeFloat64, true
	}
	return 0, false
}

// words is the number of 16-bit registers (or bits, for bool) the type spans.
func (t dataType) words() int {
	switch t {
	case typeInt32, typeUint32, typeFloat32:
		return 2
	case typeInt64, typeUint64, typeFloat64:
		return 4
	}
	return 1
}

func (t dataType) isFloat() bool { return t == typeFloat32 || t == typeFloat64 }

// byteOrder follows Telegraf's names: the letters give the order in which
// the bytes of a big-endian value ABCD (A most significant) appear on the
// wire. DCBA and BADC swap the two bytes inside each register; DCBA and
// CDAB reverse the order of the registers. For 16-bit types only the byte
// swap applies; for 64-bit types the same two rules extend to 4 registers.
type byteOrder uint8

const (
	orderABCD byteOrder = iota
	orderDCBA
	orderBADC
	orderCDAB
)

func parseByteOrder(s string) (byteOrder, bool) {
	switch s {
	case "ABCD", "":
		return orderABCD, true
	case "DCBA":
		return orderDCBA, true
	case "BADC":
		return orderBADC, true
	case "CDAB":
		return orderCDAB, true
	}
	return 0, false
}

func (o byteOrder) swapBytes() bool { return o == orderDCBA || o == orderBADC }
func (o byteOrder) swapWords() bool { return o == orderDCBA || o == orderCDAB }

// rawBits assembles the big-endian bits of an n-register value from regs
// (n = 1, 2 or 4) in the given byte order.
func rawBits(regs []uint16, o byteOrder) uint64 {
	var v uint64
	n := len(regs)
	for i := range n {
		w := regs[i]
		if o.swapWords() {
			w = regs[n-1-i]
		}
		if o.swapBytes() {
			w = w<<8 | w>>8
		}
		v = v<<16 | uint64(w)
	}
	return v
}

// decodeRegisters decodes a register-backed value. regs must hold exactly
// t.words() registers. The raw (unscaled) value is returned; ints that a
// float64 cannot represent exactly lose precision, as in any float gauge.
func decodeRegisters(regs []uint16, t dataType, o byteOrder) (float64, error) {
	if len(regs) != t.words() {
		return 0, fmt.Errorf("%d registers for a %d-register type", len(regs), t.words())
	}
	b := rawBits(regs, o)
	switch t {
	case typeInt16:
		return float64(int16(b)), nil
	case typeUint16:
		return float64(uint16(b)), nil
	case typeInt32:
		return float64(int32(b)), nil
	case typeUint32:
		return float64(uint32(b)), nil
	case typeInt64:
		return float64(int64(b)), nil
	case typeUint64:
		return float64(b), nil
	case typeFloat32:
		return float64(math.Float32frombits(uint32(b))), nil
	case typeFloat64:
		return math.Float64frombits(b), nil
	case typeBool:
		if b != 0 {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("unknown type %d", t)
}

// rawInt returns the integer raw value used for valve state lookup.
func rawInt(regs []uint16, t dataType, o byteOrder) (int64, bool) {
	if t.isFloat() || len(regs) != t.words() {
		return 0, false
	}
	b := rawBits(regs, o)
	switch t {
	case typeInt16:
		return int64(int16(b)), true
	case typeUint16:
		return int64(uint16(b)), true
	case typeInt32:
		return int64(int32(b)), true
	case typeUint32:
		return int64(uint32(b)), true
	case typeInt64:
		return int64(b), true
	case typeUint64:
		if b > math.MaxInt64 {
			return 0, false
		}
		return int64(b), true
	case typeBool:
		if b != 0 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// scaled applies scale and offset: value = raw*scale + offset.
func scaled(raw, scale, offset float64) float64 { return raw*scale + offset }
