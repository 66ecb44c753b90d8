package vmexporter

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// Segment format 2: an 8-byte file header, then records
//
//	[magic u32][payload length u32][payload crc32c u32][header crc32c u32][payload]
//
// The magic and the header checksum are what make damage survivable: after a
// bad record, replay scans forward for the next magic whose header checksum
// holds and whose payload checksum holds, and goes on from there; a header
// that is intact while its payload is not gives the exact record length to
// skip. The header checksum also tells an incomplete final record (torn
// write: intact header, payload cut short by the end of the file) from a
// damaged one.
//
// Format 1 (before the file header existed; records [length u32][crc32c
// u32][payload]) is still read; it has nothing to resynchronise on, so a
// damaged format-1 segment is replayed up to the damage and kept aside.
const (
	segmentHeader    = "SCOTWAL2"
	recordMagic      = uint32(0x3CC35AA5)
	recordHeaderSize = 16
	v1HeaderSize     = 8
	maxRecordSize    = 1 << 30
)

var (
	crcTable   = crc32.MakeTable(crc32.Castagnoli)
	magicBytes = binary.LittleEndian.AppendUint32(nil, recordMagic)
)

// appendRecord appends one format-2 record to dst.
func appendRecord(dst, payload []byte) []byte {
	var hdr [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], recordMagic)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[8:], crc32.Checksum(payload, crcTable))
	binary.LittleEndian.PutUint32(hdr[12:], crc32.Checksum(hdr[:12], crcTable))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// byteSpan is the byte range [From, To) of a segment.
type byteSpan struct{ From, To int64 }

func (s byteSpan) Len() int64 { return s.To - s.From }

// segmentScan is what reading one segment found. Every byte of the segment
// is in exactly one of: the file header, an intact record (Good), a damaged
// span, or the torn tail.
type segmentScan struct {
	Format  int // 1 or 2
	Records int
	Good    int64      // bytes of the file header and the intact records
	Damaged []byteSpan // skipped: not an intact record, not a torn tail
	Torn    *byteSpan  // an incomplete final record at the end of the segment
}

// scanSegment calls fn with the payload of every intact record of a segment,
// in order, skipping damage. It never fails on its input; it returns fn's
// first error.
func scanSegment(data []byte, fn func(payload []byte) error) (segmentScan, error) {
	switch {
	case bytes.HasPrefix(data, []byte(segmentHeader)):
		return scanV2(data, len(segmentHeader), fn)
	case len(data) < len(segmentHeader) && bytes.HasPrefix([]byte(segmentHeader), data):
		// Created, then the crash came before its header was complete.
		res := segmentScan{Format: 2}
		if len(data) > 0 {
			res.Torn = &byteSpan{0, int64(len(data))}
		}
		return res, nil
	case v1RecordAt(data, 0) > 0 && nextRecord(data, 0) < 0:
		return scanV1(data, fn)
	default:
		// A damaged file header: whatever precedes the first intact
		// record is reported as damage.
		return scanV2(data, 0, fn)
	}
}

// recordAt checks the format-2 record at p. n > 0 is the length of an intact
// record; n < 0 with hdrOK means the header is intact and says the record is
// -n bytes long, but the payload is damaged or cut short.
func recordAt(data []byte, p int) (n int, hdrOK bool) {
	if p < 0 || len(data)-p < recordHeaderSize {
		return 0, false
	}
	h := data[p : p+recordHeaderSize]
	if binary.LittleEndian.Uint32(h) != recordMagic ||
		crc32.Checksum(h[:12], crcTable) != binary.LittleEndian.Uint32(h[12:]) {
		return 0, false
	}
	size := int(binary.LittleEndian.Uint32(h[4:]))
	total := recordHeaderSize + size
	if size > maxRecordSize || total > len(data)-p {
		return -total, true
	}
	if crc32.Checksum(data[p+recordHeaderSize:p+total], crcTable) != binary.LittleEndian.Uint32(h[8:]) {
		return -total, true
	}
	return total, true
}

// nextRecord returns the offset of the first intact record at or after from,
// or -1.
func nextRecord(data []byte, from int) int {
	for from < len(data) {
		i := bytes.Index(data[from:], magicBytes)
		if i < 0 {
			return -1
		}
		q := from + i
		if n, _ := recordAt(data, q); n > 0 {
			return q
		}
		from = q + 1
	}
	return -1
}

func scanV2(data []byte, start int, fn func([]byte) error) (segmentScan, error) {
	res := segmentScan{Format: 2, Good: int64(start)}
	p := start
	for p < len(data) {
		n, hdrOK := recordAt(data, p)
		if n > 0 {
			if err := fn(data[p+recordHeaderSize : p+n]); err != nil {
				return res, err
			}
			res.Records++
			res.Good += int64(n)
			p += n
			continue
		}
		if hdrOK && p-n <= len(data) {
			// An intact header gives the damaged record's extent: skip
			// exactly it, so nothing inside its payload is taken for a
			// record and what follows is judged on its own.
			res.Damaged = append(res.Damaged, byteSpan{int64(p), int64(p - n)})
			p -= n
			continue
		}
		q := nextRecord(data, p+1)
		if q < 0 {
			if isTornV2(data[p:]) {
				res.Torn = &byteSpan{int64(p), int64(len(data))}
				return res, nil
			}
			q = len(data)
		}
		res.Damaged = append(res.Damaged, byteSpan{int64(p), int64(q)})
		p = q
	}
	return res, nil
}

// isTornV2 reports whether rest, the bytes after the last intact record, is
// the start of a record that a crash cut short: an intact header whose
// payload runs past the end, or a shorter prefix of a header.
func isTornV2(rest []byte) bool {
	if len(rest) < recordHeaderSize {
		return bytes.HasPrefix(magicBytes, rest[:min(len(rest), len(magicBytes))])
	}
	n, hdrOK := recordAt(rest, 0)
	return hdrOK && -n > len(rest)
}

// v1RecordAt returns the length of the intact format-1 record at p, or 0.
func v1RecordAt(data []byte, p int) int {
	if len(data)-p < v1HeaderSize {
		return 0
	}
	size := int(binary.LittleEndian.Uint32(data[p:]))
	// The old writer never wrote an empty record; zeros are not one.
	if size == 0 || size > maxRecordSize || v1HeaderSize+size > len(data)-p {
		return 0
	}
	payload := data[p+v1HeaderSize : p+v1HeaderSize+size]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[p+4:]) {
		return 0
	}
	return v1HeaderSize + size
}

func scanV1(data []byte, fn func([]byte) error) (segmentScan, error) {
	res := segmentScan{Format: 1}
	p := 0
	for p < len(data) {
		n := v1RecordAt(data, p)
		if n == 0 {
			rest := data[p:]
			span := byteSpan{int64(p), int64(len(data))}
			if len(rest) < v1HeaderSize || int(binary.LittleEndian.Uint32(rest)) <= maxRecordSize &&
				v1HeaderSize+int(binary.LittleEndian.Uint32(rest)) > len(rest) {
				res.Torn = &span
			} else {
				res.Damaged = append(res.Damaged, span)
			}
			return res, nil
		}
		if err := fn(data[p+v1HeaderSize : p+n]); err != nil {
			return res, err
		}
		res.Records++
		res.Good += int64(n)
		p += n
	}
	return res, nil
}
