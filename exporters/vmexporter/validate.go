package vmexporter

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/scadaotel/scadaotel/internal/vmstore"
)

// The embedded storage's limits (VictoriaMetrics' ingestion defaults:
// -maxLabelsPerTimeseries, -maxLabelNameLen, -maxLabelValueLen, and its
// 2-day future window). Samples past them would be dropped by the storage
// after the client got its acknowledgement; they are refused instead,
// before the write-ahead log.
const (
	maxLabelsPerSeries = 40
	maxLabelNameLen    = 256
	maxLabelValueLen   = 4 << 10
	futureWindow       = 48 * time.Hour
)

// sampleWindow is the accepted timestamp range in milliseconds: the
// retention back from now, futureWindow ahead.
type sampleWindow struct{ min, max int64 }

func newSampleWindow(now time.Time, retention time.Duration) sampleWindow {
	return sampleWindow{min: now.Add(-retention).UnixMilli(), max: now.Add(futureWindow).UnixMilli()}
}

// rejection counts one batch's refused samples and keeps the first reason.
type rejection struct {
	samples int
	reason  string // short, for the self-metric attribute
	detail  string // for the client
}

func (r *rejection) add(n int, reason, detail string) {
	if r.samples == 0 {
		r.reason, r.detail = reason, detail
	}
	r.samples += n
}

// checkLabels returns the reason a series cannot be stored, or "".
func checkLabels(labels []vmstore.Label) (reason, detail string) {
	if len(labels) > maxLabelsPerSeries {
		return "too_many_labels", fmt.Sprintf("series has %d labels, the storage keeps at most %d", len(labels), maxLabelsPerSeries)
	}
	for _, l := range labels {
		if len(l.Name) > maxLabelNameLen {
			return "label_name_too_long", fmt.Sprintf("label name %.64q... is %d bytes, at most %d", l.Name, len(l.Name), maxLabelNameLen)
		}
		if len(l.Value) > maxLabelValueLen {
			return "label_value_too_long", fmt.Sprintf("label %q has a %d-byte value, at most %d", l.Name, len(l.Value), maxLabelValueLen)
		}
	}
	return "", ""
}

// checkSamples counts samples outside w into r.
// The zero window (a batch built outside push) checks nothing.
func (w sampleWindow) checkSamples(samples []prompb.Sample, r *rejection) bool {
	if w == (sampleWindow{}) {
		return true
	}
	ok := true
	for _, s := range samples {
		if s.Timestamp < w.min || s.Timestamp > w.max {
			r.add(1, "timestamp_out_of_range", fmt.Sprintf("sample at %s is outside the storage's window %s .. %s (retention, 2 days ahead)",
				time.UnixMilli(s.Timestamp).UTC().Format(time.RFC3339), time.UnixMilli(w.min).UTC().Format(time.RFC3339),
				time.UnixMilli(w.max).UTC().Format(time.RFC3339)))
			ok = false
		}
	}
	return ok
}
