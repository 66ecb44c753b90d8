// Package recordio frames records in an append-only file so that a reader
// recovers past damage: every record carries a magic number, its length and
// a CRC-32C of its payload, so a reader that meets a bad record skips to the
// next offset where a whole, valid record starts and keeps everything after.
//
// Layout of one record (little endian):
//
//	magic   uint32  0x5CADA10C
//	length  uint32  payload bytes
//	crc     uint32  CRC-32C (Castagnoli) of the payload
//	payload [length]byte
package recordio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// Magic starts every record.
	Magic uint32 = 0x5CADA10C
	// HeaderSize is the framing overhead per record.
	HeaderSize = 12
	// MaxPayload bounds one record, so a damaged length never makes a reader
	// allocate gigabytes.
	MaxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Append frames payload and appends it to dst.
func Append(dst, payload []byte) []byte {
	var h [HeaderSize]byte
	PutHeader(h[:], payload)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// PutHeader writes payload's header into h (HeaderSize bytes), for a writer
// that encodes the payload in place behind room left for the header.
func PutHeader(h, payload []byte) {
	binary.LittleEndian.PutUint32(h[0:], Magic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload))) //nolint:gosec // bounded by MaxPayload at the writer
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(payload, castagnoli))
}

// ErrTooLarge refuses a payload a reader would not accept.
var ErrTooLarge = errors.New("record payload larger than recordio.MaxPayload")

// Damage is a byte range of a file that held no valid record.
type Damage struct {
	Start, End int64 // [Start, End)
	// Torn is true when the range runs to the end of the data and looks like
	// the unfinished last write of a crash (a valid header, or a prefix of
	// one, whose payload is cut short).
	Torn bool
}

func (d Damage) String() string {
	kind := "damaged"
	if d.Torn {
		kind = "torn tail"
	}
	return fmt.Sprintf("%s bytes %d-%d (%d bytes)", kind, d.Start, d.End, d.End-d.Start)
}

// Scan walks every valid record of data in order. fn gets each payload
// (aliasing data) and its offset; onDamage gets each range skipped. A
// non-nil error from fn stops the scan and is returned.
func Scan(data []byte, fn func(off int64, payload []byte) error, onDamage func(Damage)) error {
	off := 0
	for off < len(data) {
		n, ok := validAt(data, off)
		if ok {
			if err := fn(int64(off), data[off+HeaderSize:off+n]); err != nil {
				return err
			}
			off += n
			continue
		}
		next := nextValid(data, off+1)
		d := Damage{Start: int64(off), End: int64(next)}
		if next == len(data) {
			d.Torn = tornAt(data, off)
		}
		if onDamage != nil {
			onDamage(d)
		}
		off = next
	}
	return nil
}

// validAt reports whether a whole valid record starts at off, and its size.
func validAt(data []byte, off int) (int, bool) {
	if len(data)-off < HeaderSize || binary.LittleEndian.Uint32(data[off:]) != Magic {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(data[off+4:])
	if n > MaxPayload || uint64(len(data)-off-HeaderSize) < uint64(n) {
		return 0, false
	}
	payload := data[off+HeaderSize : off+HeaderSize+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[off+8:]) {
		return 0, false
	}
	return HeaderSize + int(n), true
}

// tornAt: the bytes from off look like one record cut short by a crash.
func tornAt(data []byte, off int) bool {
	rest := data[off:]
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], Magic)
	if len(rest) < 4 {
		return bytes.HasPrefix(m[:], rest)
	}
	if !bytes.Equal(rest[:4], m[:]) {
		return false
	}
	if len(rest) < HeaderSize {
		return true
	}
	n := binary.LittleEndian.Uint32(rest[4:])
	return n <= MaxPayload && uint64(len(rest)-HeaderSize) < uint64(n)
}

// nextValid is the first offset at or after from where a valid record
// starts, or len(data).
func nextValid(data []byte, from int) int {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], Magic)
	for from < len(data) {
		i := bytes.Index(data[from:], m[:])
		if i < 0 {
			return len(data)
		}
		if _, ok := validAt(data, from+i); ok {
			return from + i
		}
		from += i + 1
	}
	return len(data)
}

// Writer appends framed records to w.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter frames records onto w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends one record; it returns the bytes written.
func (w *Writer) Write(payload []byte) (int, error) {
	if len(payload) > MaxPayload {
		return 0, ErrTooLarge
	}
	w.buf = Append(w.buf[:0], payload)
	return w.w.Write(w.buf)
}

// Record is one valid record of a scanned buffer.
type Record struct {
	Offset  int64  // where its header starts
	Payload []byte // aliases the scanned buffer
}

// ScanAll returns the valid records of data in order and the damaged
// ranges between them, for readers that load a whole small file.
func ScanAll(data []byte) (recs []Record, damaged []Damage) {
	_ = Scan(data, func(off int64, p []byte) error {
		recs = append(recs, Record{Offset: off, Payload: p})
		return nil
	}, func(d Damage) { damaged = append(damaged, d) })
	return recs, damaged
}
