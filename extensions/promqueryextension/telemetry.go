package promqueryextension

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRequests = "scadaotel_prometheus_query_requests"
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string { return []string{MetricRequests} }
