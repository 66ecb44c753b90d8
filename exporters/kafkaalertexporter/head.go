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

// A tenant's head is every alert record of that tenant accepted by the
// exporter and not yet acknowledged by Kafka, in order, plus the keys of
// the tenant's records acknowledged last. A record joins its head (on disk,
// fsync'ed) before the request that carried it is answered, and leaves it
// (on disk, without waiting for the fsync) when Kafka acknowledged it.
//
// Why per tenant: each tenant's head is its own storage value, written
// under its own lock, so a tenant with thousands of records waiting never
// makes another tenant's write carry (or wait for) its backlog.
//
// Why the remembered keys: the connector re-sends events it could not mark
// as delivered before a crash, and an earlier release's sending queue puts
// the request it had handed over back at its tail after a crash; the keys
// make those late copies go nowhere.
//
// Storage ("alerts_head" client of the sending queue's storage):
//
//	head/<tenant>  recordio records, so a damaged record is skipped and the others kept:
//	               {"sent": ["<alert_id>/<state>", ...]}   the acknowledged keys remembered
//	               {"record": {...}, "event_time": "..."}  one per record, in order
//	head.tenants   JSON array of the tenants that have a head/<tenant> value
//	head           format 2 (one value for every tenant, same records) and
//	               format 1 (a JSON array of records) of earlier releases:
//	               read at start, split into head/<tenant>, then deleted
const (
	legacyHeadKey  = "head"
	headKeyPrefix  = "head/"
	headTenantsKey = "head.tenants"
	// sentPersisted is how many acknowledged keys of a tenant survive a
	// restart (the process remembers sentMemory).
	sentPersisted = 1024
)

func headKey(tenant string) string { return headKeyPrefix + tenant }

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

// loadHead reads the head stored under key at start. A damaged value is
// kept under "<key>.damaged-<unix>" (never deleted), each damaged range is
// logged, and what could be read is used; it never fails the start for damage.
func loadHead(ctx context.Context, cl storage.Client, key string, logger *zap.Logger) (recs []*Record, sent []string, damagedN int, err error) {
	b, err := cl.Get(ctx, key)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cannot read the alert records head (storage client alerts_head, key %q): %w", key, err)
	}
	if len(b) == 0 {
		return nil, nil, 0, nil
	}
	recs, sent, damaged := decodeHead(b)
	if len(damaged) == 0 {
		return recs, sent, 0, nil
	}
	aside := fmt.Sprintf("%s.damaged-%d", key, time.Now().Unix())
	if err := cl.Set(ctx, aside, b); err != nil {
		logger.Error("cannot keep a copy of the damaged alert records head", zap.String("key", aside), zap.Error(err))
		aside = ""
	}
	for _, d := range damaged {
		logger.Error("alert records head damaged: the records in this byte range are lost",
			zap.String("storage_key", key), zap.String("copy_key", aside),
			zap.Int64("from_byte", d.Start), zap.Int64("to_byte", d.End), zap.Int("records_kept", len(recs)))
	}
	return recs, sent, len(damaged), nil
}

// loadHeadTenants reads the list of tenants with a stored head. A damaged
// list is kept aside and logged; the caller then also looks for the heads
// of the tenants it knows from the registry.
func loadHeadTenants(ctx context.Context, cl storage.Client, logger *zap.Logger) ([]string, error) {
	b, err := cl.Get(ctx, headTenantsKey)
	if err != nil {
		return nil, fmt.Errorf("cannot read the alert records head (storage client alerts_head, key %q): %w", headTenantsKey, err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err == nil {
		return ids, nil
	}
	aside := fmt.Sprintf("%s.damaged-%d", headTenantsKey, time.Now().Unix())
	if err := cl.Set(ctx, aside, b); err != nil {
		aside = ""
	}
	logger.Error("the list of tenants with undelivered alert records is damaged: the heads of the tenants in the tenants file are still read; a head of a tenant no longer there is not",
		zap.String("storage_key", headTenantsKey), zap.String("copy_key", aside))
	return nil, nil
}
