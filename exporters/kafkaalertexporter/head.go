package kafkaalertexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/recordio"
)

// The head is every alert record taken from the sending queue and not yet
// acknowledged by Kafka, in order, plus the keys of the records acknowledged
// last. It is the order of delivery: a record joins the head (on disk) as
// soon as the queue hands it over, before anything waits on a lock or on
// Kafka, and leaves it (on disk) when Kafka acknowledged it.
//
// Why: after a crash the persistent queue puts the request it had handed over
// back at its tail, behind later alerts. The head keeps such records ahead
// of everything, however many crashes happen in one outage, and the
// remembered keys make the late copies from the tail (and the connector's
// re-sends after its own restart) go nowhere.
//
// Storage value (key "head" of the "alerts_head" storage client): recordio
// records, so a damaged record is skipped and the others kept:
//
//	{"sent": ["<alert_id>/<state>", ...]}   the acknowledged keys remembered
//	{"record": {...}, "event_time": "..."}  one per record, in order
//
// Format 1 (before this change) was a JSON array of the record objects; it
// is still read.
const (
	headKey = "head"
	// sentPersisted is how many acknowledged keys survive a restart (the
	// process remembers sentMemory).
	sentPersisted = 1024
)

type headFrame struct {
	Sent      []string  `json:"sent,omitempty"`
	Record    *Record   `json:"record,omitempty"`
	EventTime time.Time `json:"event_time,omitzero"`
}

type savedRecord struct {
	Record    Record    `json:"record"`
	EventTime time.Time `json:"event_time"`
}

// encodeHead is the storage value of recs and the last sentPersisted keys.
func encodeHead(recs []*Record, sent []string) ([]byte, error) {
	if len(sent) > sentPersisted {
		sent = sent[len(sent)-sentPersisted:]
	}
	var buf []byte
	if len(sent) > 0 {
		b, err := json.Marshal(headFrame{Sent: sent})
		if err != nil {
			return nil, err
		}
		buf = recordio.Append(buf, b)
	}
	for _, r := range recs {
		// A record never changes once taken from the queue: its frame is
		// encoded once, so storing a long head costs a copy, not a re-encoding.
		if r.frame == nil {
			b, err := json.Marshal(headFrame{Record: r, EventTime: r.eventTime})
			if err != nil {
				return nil, fmt.Errorf("alert record %s: %w", r.dedupKey(), err)
			}
			r.frame = recordio.Append(nil, b)
		}
		buf = append(buf, r.frame...)
	}
	return buf, nil
}

// decodeHead reads a stored head. damaged lists what could not be read;
// the rest is kept.
func decodeHead(b []byte) (recs []*Record, sent []string, damaged []recordio.Damage) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' { // format 1
		var saved []savedRecord
		if err := json.Unmarshal(t, &saved); err != nil {
			return nil, nil, []recordio.Damage{{Start: 0, End: int64(len(b))}}
		}
		for _, sr := range saved {
			r := sr.Record
			r.eventTime = sr.EventTime
			recs = append(recs, &r)
		}
		return recs, nil, nil
	}
	frames, damaged := recordio.ScanAll(b)
	for _, f := range frames {
		var hf headFrame
		if err := json.Unmarshal(f.Payload, &hf); err != nil || (hf.Record == nil && hf.Sent == nil) || (hf.Record != nil && hf.Record.AlertID == "") {
			damaged = append(damaged, recordio.Damage{Start: f.Offset, End: f.Offset + int64(recordio.HeaderSize+len(f.Payload))})
			continue
		}
		sent = append(sent, hf.Sent...)
		if hf.Record != nil {
			hf.Record.eventTime = hf.EventTime
			recs = append(recs, hf.Record)
		}
	}
	return recs, sent, damaged
}

// loadHead reads the head at start. A damaged value is kept under
// "head.damaged-<unix>" (never deleted), each damaged range is logged, and
// what could be read is used; it never fails the start for damage.
func loadHead(ctx context.Context, cl storage.Client, logger *zap.Logger) (recs []*Record, sent []string, damagedN int, err error) {
	b, err := cl.Get(ctx, headKey)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cannot read the alert records head (storage client alerts_head, key %q): %w", headKey, err)
	}
	if len(b) == 0 {
		return nil, nil, 0, nil
	}
	recs, sent, damaged := decodeHead(b)
	if len(damaged) == 0 {
		return recs, sent, 0, nil
	}
	aside := fmt.Sprintf("%s.damaged-%d", headKey, time.Now().Unix())
	if err := cl.Set(ctx, aside, b); err != nil {
		logger.Error("cannot keep a copy of the damaged alert records head", zap.String("key", aside), zap.Error(err))
		aside = ""
	}
	for _, d := range damaged {
		logger.Error("alert records head damaged: the records in this byte range are lost",
			zap.String("storage_key", headKey), zap.String("copy_key", aside),
			zap.Int64("from_byte", d.Start), zap.Int64("to_byte", d.End), zap.Int("records_kept", len(recs)))
	}
	return recs, sent, len(damaged), nil
}
