package deadletter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Entry is one request that its destination refused for good: the data as
// OTLP protobuf, with enough context to understand and replay it.
type Entry struct {
	Time   time.Time
	Tenant string
	// Signal is "traces", "metrics" or "logs": how Data decodes.
	Signal string
	// Reason is a short class for counting ("too_large", "invalid_argument").
	Reason string
	// Detail is the destination's error text.
	Detail string
	// Items is the number of spans, data points or log records in Data.
	Items int
	// Data is an OTLP ExportRequest of Signal, protobuf encoded.
	Data []byte
}

const entryVersion = 1

// encode appends e's payload (recordio frames it).
func (e Entry) encode(dst []byte) []byte {
	dst = append(dst, entryVersion)
	dst = binary.AppendVarint(dst, e.Time.UnixNano())
	for _, s := range []string{e.Tenant, e.Signal, e.Reason, e.Detail} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(e.Items)) //nolint:gosec // a count
	dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
	return append(dst, e.Data...)
}

var errShort = errors.New("entry cut short")

// decodeEntry parses a payload; Data aliases p.
func decodeEntry(p []byte) (Entry, error) {
	var e Entry
	if len(p) == 0 || p[0] != entryVersion {
		return e, fmt.Errorf("unknown dead-letter entry version")
	}
	p = p[1:]
	ns, n := binary.Varint(p)
	if n <= 0 {
		return e, errShort
	}
	e.Time = time.Unix(0, ns).UTC()
	p = p[n:]
	var fields [5][]byte
	for i := range fields {
		l, n := binary.Uvarint(p)
		if n <= 0 || uint64(len(p)-n) < l {
			return e, errShort
		}
		fields[i] = p[n : n+int(l)] //nolint:gosec // bounded by len(p)
		p = p[n+int(l):]            //nolint:gosec // bounded by len(p)
		if i == 3 {
			items, n := binary.Uvarint(p)
			if n <= 0 {
				return e, errShort
			}
			e.Items = int(items) //nolint:gosec // a count
			p = p[n:]
		}
	}
	e.Tenant, e.Signal, e.Reason, e.Detail = string(fields[0]), string(fields[1]), string(fields[2]), string(fields[3])
	e.Data = fields[4]
	if len(p) != 0 {
		return e, fmt.Errorf("%d trailing bytes after the entry", len(p))
	}
	return e, nil
}
