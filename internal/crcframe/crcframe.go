// Package crcframe frames records with a checksum so that a reader can skip a
// damaged record and resynchronise on the next good one instead of giving up
// on the whole file (or storage value).
//
// A frame is
//
//	magic   4 bytes  0xFF 0xFE 'S' 'R'
//	length  4 bytes  little-endian length of the payload
//	crc     4 bytes  little-endian CRC-32C of the length bytes and the payload
//	payload length bytes
//
// The magic holds 0xFF and 0xFE, which never occur in UTF-8 (and so never in
// JSON written by encoding/json): a reader that lost its place looks for the
// next magic, and a payload cannot fake one. The CRC covers the length so that
// a damaged length is caught rather than followed.
package crcframe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Magic starts every frame.
var Magic = []byte{0xFF, 0xFE, 'S', 'R'}

const (
	// HeaderSize is the frame overhead before the payload.
	HeaderSize = 12
	// MaxPayload bounds one record; a larger length is damage, not a record.
	MaxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Append appends the frame of payload to dst.
func Append(dst, payload []byte) []byte {
	if len(payload) > MaxPayload {
		panic(fmt.Sprintf("crcframe: payload of %d bytes exceeds %d", len(payload), MaxPayload))
	}
	var hdr [HeaderSize]byte
	copy(hdr[:4], Magic)
	binary.LittleEndian.PutUint32(hdr[4:8], uint32(len(payload))) //nolint:gosec // bounded above
	binary.LittleEndian.PutUint32(hdr[8:12], checksum(hdr[4:8], payload))
	return append(append(dst, hdr[:]...), payload...)
}

func checksum(length, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, length)
	return crc32.Update(c, castagnoli, payload)
}

// Record is one good frame: its payload and where the frame starts.
type Record struct {
	Offset  int64
	Payload []byte // a sub-slice of the scanned buffer
}

// Damage is a byte range [Start, End) that held no good frame.
type Damage struct {
	Start, End int64
}

func (d Damage) String() string {
	return fmt.Sprintf("bytes %d-%d (%d bytes)", d.Start, d.End, d.End-d.Start)
}

// Scan returns the good frames of b in order and the damaged ranges between
// them (adjacent damage merged). It never fails: a buffer with no good frame
// is one damaged range.
func Scan(b []byte) (recs []Record, damaged []Damage) {
	p := 0
	for p < len(b) {
		if n, ok := frameAt(b, p); ok {
			recs = append(recs, Record{Offset: int64(p), Payload: b[p+HeaderSize : p+HeaderSize+n]})
			p += HeaderSize + n
			continue
		}
		// Resynchronise: the next magic that starts a good frame.
		next := len(b)
		for q := p + 1; q < len(b); {
			i := bytes.Index(b[q:], Magic)
			if i < 0 {
				break
			}
			if _, ok := frameAt(b, q+i); ok {
				next = q + i
				break
			}
			q += i + 1
		}
		if k := len(damaged); k > 0 && damaged[k-1].End == int64(p) {
			damaged[k-1].End = int64(next)
		} else {
			damaged = append(damaged, Damage{Start: int64(p), End: int64(next)})
		}
		p = next
	}
	return recs, damaged
}

// frameAt reports whether a good frame starts at p and its payload length.
func frameAt(b []byte, p int) (int, bool) {
	if len(b)-p < HeaderSize || !bytes.Equal(b[p:p+4], Magic) {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
	if n > MaxPayload || n > len(b)-p-HeaderSize {
		return 0, false
	}
	if checksum(b[p+4:p+8], b[p+HeaderSize:p+HeaderSize+n]) != binary.LittleEndian.Uint32(b[p+8:p+12]) {
		return 0, false
	}
	return n, true
}
