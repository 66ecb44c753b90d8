package errorfanoutconnector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// Format 1 of the history was one JSON document, alerts.json, with no
// checksum. At start it is migrated: read (or, when damaged, read up to the
// damage), written as the format 2 journal, and renamed to
// alerts.json.migrated-<unix> (alerts.json.damaged-<unix> when damaged).
const historyV1Name = "alerts.json"

func (s *historyStore) loadV1(h *history) loadStats {
	var st loadStats
	path := filepath.Join(s.dir, historyV1Name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st
	}
	what := "migrated"
	if err != nil {
		st.damagedRecords, st.damagedBytes = 1, fileSize(path)
		s.logger.Error("cannot read the format 1 alert history; moving it aside", zap.String("file", path), zap.Error(err))
		what = "damaged"
	} else {
		eps, good, derr := salvageV1(b)
		h.importV1(eps)
		if derr != nil {
			st.damagedRecords, st.damagedBytes = 1, int64(len(b))-good
			s.logger.Error("alert history damaged: the episodes in this byte range are lost",
				zap.String("file", path), zap.Int64("from_byte", good), zap.Int64("to_byte", int64(len(b))),
				zap.Int("episodes_kept", len(eps)), zap.Error(derr))
			what = "damaged"
		}
	}
	// The new journal first: if it cannot be written, alerts.json stays and
	// is read again at the next start.
	if err := s.rewrite(h.snapshotLocked()); err != nil {
		s.logger.Error("cannot write the migrated alert history; the format 1 file stays in place", zap.String("file", s.path), zap.Error(err))
		return st
	}
	aside, err := renameAside(path, what)
	if err != nil {
		s.logger.Error("cannot move the format 1 alert history aside; it is migrated again at the next start", zap.String("file", path), zap.Error(err))
		return st
	}
	s.logger.Info("alert history migrated to the checksummed journal", zap.String("from", path), zap.String("moved_to", aside), zap.String("to", s.path))
	return st
}

// importV1 adds the events of format 1 episodes; malformed ones are dropped.
func (h *history) importV1(eps []*Episode) {
	for _, ep := range eps {
		for _, er := range ep.Events {
			if (er.State != StateFiring && er.State != StateResolved) || er.AlertID == "" {
				continue
			}
			if er.Delivery != DeliveryQueued {
				er.Delivery = DeliveryPending // unknown: send again (consumers dedupe)
			}
			h.applyLocked(er)
		}
	}
}

// salvageV1 decodes a format 1 document episode by episode, so damage loses
// only what follows it. good is the offset after the last episode kept.
func salvageV1(b []byte) (eps []*Episode, good int64, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fmt.Errorf("at byte %d: want %q, got %v", dec.InputOffset(), want, tok)
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return nil, 0, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return eps, good, err
		}
		if key, _ := tok.(string); key != "episodes" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return eps, good, err
			}
			good = dec.InputOffset()
			continue
		}
		if err := expect('{'); err != nil {
			return eps, good, err
		}
		for dec.More() {
			if _, err := dec.Token(); err != nil { // tenant
				return eps, good, err
			}
			if err := expect('['); err != nil {
				return eps, good, err
			}
			for dec.More() {
				var ep Episode
				if err := dec.Decode(&ep); err != nil {
					return eps, good, err
				}
				eps = append(eps, &ep)
				good = dec.InputOffset()
			}
			if err := expect(']'); err != nil {
				return eps, good, err
			}
		}
		if err := expect('}'); err != nil {
			return eps, good, err
		}
		good = dec.InputOffset()
	}
	if err := expect('}'); err != nil {
		return eps, good, err
	}
	return eps, int64(len(b)), nil
}
