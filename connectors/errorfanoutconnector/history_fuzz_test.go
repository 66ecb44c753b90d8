package errorfanoutconnector

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/scadaotel/scadaotel/internal/recordio"
)

// FuzzHistoryReader: whatever the history file holds (the journal, or a
// format 1 alerts.json when v1), reading it never panics, keeps only
// well-formed events, and what it kept, written again as a journal, reads
// back the same without damage. (In memory: the file handling around it is
// covered by TestHistoryRecoversPastDamage.)
// Run: go test -run XXX -fuzz FuzzHistoryReader -fuzztime 60s ./connectors/errorfanoutconnector/
func FuzzHistoryReader(f *testing.F) {
	var recs []EventRecord
	for _, ev := range journalEvents {
		recs = append(recs, EventRecord{Event: *ev, Delivery: DeliveryPending})
	}
	b, err := encodeJournal(recs)
	if err != nil {
		f.Fatal(err)
	}
	_, damaged, _ := decodeJournal(b)
	if len(damaged) != 0 {
		f.Fatal("seed journal damaged")
	}
	frames, _ := recordio.ScanAll(b)
	f.Add(b, false)
	f.Add(b[:frames[3].Offset+5], false)
	f.Add(append(append([]byte(nil), b[:frames[2].Offset]...), b[frames[3].Offset:]...), false)
	f.Add([]byte("\xff\xfeSR\x00\x00\x00\x00"), false)
	v1, _ := json.Marshal(historyFile{Version: 1, Episodes: map[string][]*Episode{"t1": {{AlertID: "a", Tenant: "t1", Events: recs[:1]}}}})
	f.Add(v1, true)
	f.Add(v1[:len(v1)/2], true)
	f.Fuzz(func(t *testing.T, b []byte, v1 bool) {
		h := &history{max: 100, data: historyFile{Version: 1, Episodes: map[string][]*Episode{}}}
		if v1 {
			eps, _, _ := salvageV1(b)
			h.importV1(eps)
		} else {
			events, damaged, _ := decodeJournal(b)
			var covered int64
			for _, d := range damaged {
				if d.Start < 0 || d.End > int64(len(b)) || d.End <= d.Start {
					t.Fatalf("damage %v outside the %d bytes", d, len(b))
				}
				covered += d.End - d.Start
			}
			if len(events) == 0 && len(damaged) == 0 && len(b) > 0 && covered == 0 {
				// only a header (or nothing): fine
				_ = covered
			}
			for _, er := range events {
				h.applyLocked(er)
			}
		}
		first := h.snapshotLocked()
		for _, er := range first {
			if er.AlertID == "" || (er.State != StateFiring && er.State != StateResolved) ||
				(er.Delivery != DeliveryPending && er.Delivery != DeliveryQueued) {
				t.Fatalf("kept a malformed event %+v", er)
			}
		}
		again, err := encodeJournal(first)
		if err != nil {
			t.Fatal(err)
		}
		events, damaged, _ := decodeJournal(again)
		h2 := &history{max: 100, data: historyFile{Version: 1, Episodes: map[string][]*Episode{}}}
		for _, er := range events {
			h2.applyLocked(er)
		}
		if len(damaged) != 0 || !reflect.DeepEqual(normalise(first), normalise(h2.snapshotLocked())) {
			t.Fatalf("the recovered history written again reads back differently: damage %v, %d events then %d", damaged, len(first), len(events))
		}
	})
}

// normalise drops what JSON does not round-trip exactly (monotonic clock
// readings, locations, nil versus empty slices).
func normalise(recs []EventRecord) []string {
	var out []string
	for _, er := range recs {
		out = append(out, er.AlertID+"/"+er.Tenant+"/"+er.State+"/"+er.Delivery+"/"+er.StartedAt.UTC().String())
	}
	return out
}
