package vmstore

import (
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/decimal"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// Label is one series label; Name "__name__" holds the metric name.
type Label = prompb.Label

// StaleNaN is the staleness marker value (the same bits as Prometheus'):
// a series ends at a sample with this value.
var StaleNaN = decimal.StaleNaN

// IsStaleNaN reports whether v is the staleness marker.
func IsStaleNaN(v float64) bool { return decimal.IsStaleNaN(v) }

// MarshalName appends the storage form of a series name to dst.
func MarshalName(dst []byte, labels []Label) []byte {
	return storage.MarshalMetricNameRaw(dst, labels)
}
