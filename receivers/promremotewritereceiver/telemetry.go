package promremotewritereceiver

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricSamples           = "scadaotel_prometheus_remote_write_samples"
	MetricRefusedRequests   = "scadaotel_prometheus_remote_write_refused_requests"
	MetricSkippedHistograms = "scadaotel_prometheus_remote_write_skipped_histograms"
	MetricRejectedSamples   = "scadaotel_prometheus_remote_write_rejected_samples"
)

// MetricNames lists every self-metric the receiver registers.
func MetricNames() []string {
	return []string{MetricSamples, MetricRefusedRequests, MetricSkippedHistograms, MetricRejectedSamples}
}
