package scadareceiver

import (
	"math"
	"testing"
)

// Register images as a device would hold them, per Telegraf byte order.
func TestDecodeKnownImages(t *testing.T) {
	cases := []struct {
		typ   string
		order string
		regs  []uint16
		want  float64
	}{
		{"uint16", "ABCD", []uint16{0x1234}, 0x1234},
		{"uint16", "DCBA", []uint16{0x3412}, 0x1234},
		{"uint16", "BADC", []uint16{0x3412}, 0x1234},
		{"uint16", "CDAB", []uint16{0x1234}, 0x1234},
		{"int16", "ABCD", []uint16{0xfffe}, -2},
		{"int16", "DCBA", []uint16{0xfeff}, -2},
		{"int16", "BADC", []uint16{0x0080}, -32768},
		{"int16", "CDAB", []uint16{0x7fff}, 32767},

		// int32 -123456789 = 0xF8A432EB
		{"int32", "ABCD", []uint16{0xf8a4, 0x32eb}, -123456789},
		{"int32", "DCBA", []uint16{0xeb32, 0xa4f8}, -123456789},
		{"int32", "BADC", []uint16{0xa4f8, 0xeb32}, -123456789},
		{"int32", "CDAB", []uint16{0x32eb, 0xf8a4}, -123456789},
		// uint32 3000000000 = 0xB2D05E00
		{"uint32", "ABCD", []uint16{0xb2d0, 0x5e00}, 3000000000},
		{"uint32", "DCBA", []uint16{0x005e, 0xd0b2}, 3000000000},
		{"uint32", "BADC", []uint16{0xd0b2, 0x005e}, 3000000000},
		{"uint32", "CDAB", []uint16{0x5e00, 0xb2d0}, 3000000000},
		// float32 12.5 = 0x41480000, -0.5 = 0xBF000000
		{"float32", "ABCD", []uint16{0x4148, 0x0000}, 12.5},
		{"float32", "DCBA", []uint16{0x0000, 0x4841}, 12.5},
		{"float32", "BADC", []uint16{0x4841, 0x0000}, 12.5},
		{"float32", "CDAB", []uint16{0x0000, 0x4148}, 12.5},
		{"float32", "CDAB", []uint16{0x0000, 0xbf00}, -0.5},

		// int64 -1234567890123 = 0xFFFFFEE08E04FB35
		{"int64", "ABCD", []uint16{0xffff, 0xfee0, 0x8e04, 0xfb35}, -1234567890123},
		{"int64", "DCBA", []uint16{0x35fb, 0x048e, 0xe0fe, 0xffff}, -1234567890123},
		{"int64", "BADC", []uint16{0xffff, 0xe0fe, 0x048e, 0x35fb}, -1234567890123},
		{"int64", "CDAB", []uint16{0xfb35, 0x8e04, 0xfee0, 0xffff}, -1234567890123},
		// uint64 0x0102030405060708
		{"uint64", "ABCD", []uint16{0x0102, 0x0304, 0x0506, 0x0708}, 0x0102030405060708},
		{"uint64", "DCBA", []uint16{0x0807, 0x0605, 0x0403, 0x0201}, 0x0102030405060708},
		{"uint64", "BADC", []uint16{0x0201, 0x0403, 0x0605, 0x0807}, 0x0102030405060708},
		{"uint64", "CDAB", []uint16{0x0708, 0x0506, 0x0304, 0x0102}, 0x0102030405060708},
		// float64 -273.15 = 0xC071266666666666
		{"float64", "ABCD", []uint16{0xc071, 0x1266, 0x6666, 0x6666}, -273.15},
		{"float64", "DCBA", []uint16{0x6666, 0x6666, 0x6612, 0x71c0}, -273.15},
		{"float64", "BADC", []uint16{0x71c0, 0x6612, 0x6666, 0x6666}, -273.15},
		{"float64", "CDAB", []uint16{0x6666, 0x6666, 0x1266, 0xc071}, -273.15},

		{"bool", "ABCD", []uint16{1}, 1},
		{"bool", "ABCD", []uint16{0}, 0},
	}
	for _, tc := range cases {
		typ, _ := parseType(tc.typ)
		order, _ := parseByteOrder(tc.order)
		got, err := decodeRegisters(tc.regs, typ, order)
		if err != nil {
			t.Errorf("%s %s %04x: %v", tc.typ, tc.order, tc.regs, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %s %04x = %v, want %v", tc.typ, tc.order, tc.regs, got, tc.want)
		}
	}
}

func TestDecodeWrongLength(t *testing.T) {
	if _, err := decodeRegisters([]uint16{1}, typeFloat32, orderABCD); err == nil {
		t.Fatal("1 register decoded as float32")
	}
	if _, ok := rawInt([]uint16{1, 2, 3}, typeUint64, orderABCD); ok {
		t.Fatal("3 registers decoded as uint64")
	}
}

func TestDecodePointScaleOffsetAndQuality(t *testing.T) {
	p := &point{kind: KindPressure, typ: typeInt16, scale: 0.01, offset: -1}
	s := decodePoint(p, []uint16{0x04d2}) // 1234
	if s.quality != qualityGood || math.Abs(s.value-11.34) > 1e-9 {
		t.Errorf("scaled int16 = %+v, want 11.34 good", s)
	}
	nan := &point{kind: KindGeneric, typ: typeFloat32, scale: 1}
	if s := decodePoint(nan, []uint16{0x7fc0, 0}); s.quality != qualityBad {
		t.Errorf("NaN register image gave %+v, want quality bad", s)
	}
	valve := &point{kind: KindValve, typ: typeUint16, states: map[int64]string{0: "closed", 1: "open"}}
	if s := decodePoint(valve, []uint16{1}); s.quality != qualityGood || s.raw != 1 {
		t.Errorf("valve 1 = %+v", s)
	}
	if s := decodePoint(valve, []uint16{7}); s.quality != qualityBad || s.raw != 7 {
		t.Errorf("unmapped valve value = %+v, want quality bad", s)
	}
}

// FuzzDecode: any register image decodes without panic, to a finite value
// or an error, and byte orders are permutations of each other.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(8), uint8(0), uint64(0x4148000000000000))
	f.Add(uint8(9), uint8(1), uint64(0xffffffffffffffff))
	f.Add(uint8(3), uint8(3), uint64(0x7ff8000000000001))
	f.Fuzz(func(t *testing.T, ti, oi uint8, img uint64) {
		typ := dataType(ti%9 + 1)
		order := byteOrder(oi % 4)
		regs := make([]uint16, typ.words())
		for i := range regs {
			regs[i] = uint16(img >> (16 * i))
		}
		v, err := decodeRegisters(regs, typ, order)
		if err != nil {
			t.Fatalf("decode %v: %v", regs, err)
		}
		// Re-encode ABCD and decode again: must be the same value.
		bits := rawBits(regs, order)
		abcd := make([]uint16, len(regs))
		for i := range abcd {
			abcd[i] = uint16(bits >> (16 * (len(abcd) - 1 - i)))
		}
		v2, _ := decodeRegisters(abcd, typ, orderABCD)
		if !(v == v2 || math.IsNaN(v) && math.IsNaN(v2)) {
			t.Fatalf("%v %v: %v != ABCD %v", typ, order, v, v2)
		}
		if raw, ok := rawInt(regs, typ, order); ok && !typ.isFloat() && typ != typeUint64 && float64(raw) != v {
			t.Fatalf("rawInt %d != %v", raw, v)
		}
		p := &point{kind: KindPressure, typ: typ, order: order, scale: 2, offset: 1}
		_ = decodePoint(p, regs)
		_ = decodePoint(p, regs[:len(regs)-1]) // short input must not panic
	})
}
