package logstorageextension

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// One log record is one storage Batch (or Set/Delete): all of its writes
// become durable together or not at all, so a crash never leaves a queue's
// write index on disk without the item it points to.
//
// payload: count uvarint, then per op: type byte (opSet/opDelete),
// key length uvarint, key, and for opSet value length uvarint, value.

const (
	opSet    byte = 1
	opDelete byte = 2
)

type op struct {
	typ   byte
	key   string
	value []byte
	// valueOff is the value's offset inside the payload (opSet), filled by
	// encode and decode so the index can point into the segment file.
	valueOff int
}

// encodeOps appends the payload of ops to dst; valueOff is relative to the
// payload's start (len(dst) on entry).
func encodeOps(dst []byte, ops []op) []byte {
	base := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for i := range ops {
		o := &ops[i]
		dst = append(dst, o.typ)
		dst = binary.AppendUvarint(dst, uint64(len(o.key)))
		dst = append(dst, o.key...)
		if o.typ == opSet {
			dst = binary.AppendUvarint(dst, uint64(len(o.value)))
			o.valueOff = len(dst) - base
			dst = append(dst, o.value...)
		}
	}
	return dst
}

var errBadRecord = errors.New("malformed storage record")

// decodeOps parses a payload; values alias p.
func decodeOps(p []byte) ([]op, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return nil, errBadRecord
	}
	pos := k
	ops := make([]op, 0, n)
	for range n {
		if pos >= len(p) {
			return nil, errBadRecord
		}
		o := op{typ: p[pos]}
		pos++
		if o.typ != opSet && o.typ != opDelete {
			return nil, fmt.Errorf("%w: op type %d", errBadRecord, o.typ)
		}
		kl, k := binary.Uvarint(p[pos:])
		if k <= 0 || kl > uint64(len(p)-pos-k) {
			return nil, errBadRecord
		}
		pos += k
		o.key = string(p[pos : pos+int(kl)]) //nolint:gosec // bounded above
		pos += int(kl)                       //nolint:gosec // bounded above
		if o.typ == opSet {
			vl, k := binary.Uvarint(p[pos:])
			if k <= 0 || vl > uint64(len(p)-pos-k) {
				return nil, errBadRecord
			}
			pos += k
			o.valueOff = pos
			o.value = p[pos : pos+int(vl)] //nolint:gosec // bounded above
			pos += int(vl)                 //nolint:gosec // bounded above
		}
		ops = append(ops, o)
	}
	if pos != len(p) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(p)-pos)
	}
	return ops, nil
}
