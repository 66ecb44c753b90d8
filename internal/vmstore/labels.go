package vmstore

import (
	"fmt"
	"math"
	"sort"
	"strings"

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

// MarshalName appends the storage form of a series name to dst. Labels
// with empty values are dropped (as in Prometheus). Names or values longer
// than 65535 bytes are refused (the storage would panic on them).
func MarshalName(dst []byte, labels []Label) ([]byte, error) {
	for i := range labels {
		if len(labels[i].Name) > math.MaxUint16 || len(labels[i].Value) > math.MaxUint16 {
			return dst, fmt.Errorf("label %.64q is longer than 65535 bytes", labels[i].Name)
		}
	}
	dst = storage.MarshalMetricNameRaw(dst, labels)
	// MarshalMetricNameRaw rewrites "__name__" to "" in place; undo it.
	for i := range labels {
		if labels[i].Name == "" {
			labels[i].Name = "__name__"
		}
	}
	return dst, nil
}

// NameString renders a name built by MarshalName as name{a="x",b="y"} with
// sorted labels (for tests and logs).
func NameString(raw []byte) (string, error) {
	var mn storage.MetricName
	if err := mn.UnmarshalRaw(raw); err != nil {
		return "", err
	}
	pairs := make([]string, 0, len(mn.Tags))
	for _, t := range mn.Tags {
		pairs = append(pairs, fmt.Sprintf("%s=%q", t.Key, t.Value))
	}
	sort.Strings(pairs)
	return string(mn.MetricGroup) + "{" + strings.Join(pairs, ",") + "}", nil
}
