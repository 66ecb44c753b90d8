package crcframe

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func build(n int) (b []byte, offsets []int) {
	for i := 0; i < n; i++ {
		offsets = append(offsets, len(b))
		b = Append(b, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	return b, append(offsets, len(b))
}

func payloads(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Payload))
	}
	return out
}

func TestScanSkipsDamageAndResynchronises(t *testing.T) {
	b, off := build(4)
	recs, dmg := Scan(b)
	assert.Equal(t, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}, payloads(recs))
	assert.Empty(t, dmg)

	for _, tc := range []struct {
		name string
		at   int // byte flipped
		want []string
	}{
		{"magic", off[1], []string{`{"n":0}`, `{"n":2}`, `{"n":3}`}},
		{"length", off[1] + 5, []string{`{"n":0}`, `{"n":2}`, `{"n":3}`}},
		{"crc", off[2] + 9, []string{`{"n":0}`, `{"n":1}`, `{"n":3}`}},
		{"payload", off[3] + HeaderSize + 2, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := append([]byte(nil), b...)
			c[tc.at] ^= 0x40
			recs, dmg := Scan(c)
			assert.Equal(t, tc.want, payloads(recs))
			require.Len(t, dmg, 1)
		})
	}

	// A huge length must not swallow the good frames after it.
	c := append([]byte(nil), b...)
	c[off[1]+7] = 0x7f
	recs, dmg = Scan(c)
	assert.Equal(t, []string{`{"n":0}`, `{"n":2}`, `{"n":3}`}, payloads(recs))
	assert.Equal(t, []Damage{{int64(off[1]), int64(off[2])}}, dmg)

	// Truncated: the torn frame is damage up to the end.
	recs, dmg = Scan(b[:off[3]+5])
	assert.Equal(t, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}, payloads(recs))
	assert.Equal(t, []Damage{{int64(off[3]), int64(off[3] + 5)}}, dmg)

	// Garbage only.
	recs, dmg = Scan([]byte("not a frame at all"))
	assert.Empty(t, recs)
	assert.Equal(t, []Damage{{0, 18}}, dmg)

	// Garbage between frames is one merged range.
	c = append(append(append([]byte(nil), b[:off[2]]...), []byte("xx\xff\xfeSRyy")...), b[off[2]:]...)
	recs, dmg = Scan(c)
	assert.Len(t, recs, 4)
	assert.Equal(t, []Damage{{int64(off[2]), int64(off[2] + 8)}}, dmg)
}

func FuzzScan(f *testing.F) {
	b, off := build(3)
	f.Add(b)
	f.Add(b[:off[2]+3])
	f.Add([]byte{})
	f.Add(Magic)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, dmg := Scan(b)
		// Records and damage tile the buffer exactly, in order.
		var p int64
		ri, di := 0, 0
		for p < int64(len(b)) {
			switch {
			case ri < len(recs) && recs[ri].Offset == p:
				p += int64(HeaderSize + len(recs[ri].Payload))
				ri++
			case di < len(dmg) && dmg[di].Start == p:
				if dmg[di].End <= p {
					t.Fatalf("empty damage %v", dmg[di])
				}
				p = dmg[di].End
				di++
			default:
				t.Fatalf("offset %d covered by neither a record nor damage", p)
			}
		}
		if p != int64(len(b)) || ri != len(recs) || di != len(dmg) {
			t.Fatalf("records and damage do not tile the %d bytes", len(b))
		}
		// Every good record re-frames to the same bytes.
		for _, r := range recs {
			if string(Append(nil, r.Payload)) != string(b[r.Offset:r.Offset+int64(HeaderSize+len(r.Payload))]) {
				t.Fatalf("record at %d does not re-frame to itself", r.Offset)
			}
		}
	})
}
