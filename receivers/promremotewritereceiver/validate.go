package promremotewritereceiver

import (
	"fmt"
	"regexp"

	"github.com/prometheus/prometheus/prompb"
)

// The storage keeps a remote-write name only if the OTLP-to-Prometheus
// translation in front of it leaves it unchanged: letters, digits and
// colons in words joined by single underscores ("utf8_名前" would be stored
// as "utf8", "foo__bar" as "foo_bar"). Label names must be Prometheus label
// names ("名" would lose its series). Anything else is refused by name
// rather than stored under a name nobody queries.
var (
	storableMetricName = regexp.MustCompile(`^[a-zA-Z:][a-zA-Z0-9:]*(_[a-zA-Z0-9:]+)*$`)
	storableLabelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// seriesProblem returns why ts cannot be stored as sent ("" if it can),
// with a short reason for the self-metric.
func seriesProblem(ts *prompb.TimeSeries) (reason, detail string) {
	name := ""
	for _, l := range ts.Labels {
		if l.Name == "__name__" {
			name = l.Value
			continue
		}
		if !storableLabelName.MatchString(l.Name) {
			return "invalid_label_name", fmt.Sprintf("label name %.64q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", l.Name)
		}
	}
	switch {
	case name == "":
		return "no_name", "series has no __name__ label"
	case !storableMetricName.MatchString(name):
		return "invalid_metric_name", fmt.Sprintf("metric name %.64q would not be stored under that name: use letters, digits and colons in words joined by single underscores", name)
	}
	return "", ""
}
