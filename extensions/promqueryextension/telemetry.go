package promqueryextension

// Self-metric names, listed in documentation.md (the Prometheus exposition
// adds _total to counters).
const (
	MetricRequests = "scadaotel_prometheus_query_requests"
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string { return []string{MetricRequests} }
