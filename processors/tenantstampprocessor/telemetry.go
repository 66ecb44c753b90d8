package tenantstampprocessor

import "github.com/scadaotel/scadaotel/tenants"

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRefusedRequests  = "scadaotel_tenantstamp_refused_requests"
	MetricAcceptedRequests = "scadaotel_tenantstamp_accepted_requests"
	MetricAcceptedItems    = "scadaotel_tenantstamp_accepted_items"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the processor registers.
func MetricNames() []string {
	return []string{MetricRefusedRequests, MetricAcceptedRequests, MetricAcceptedItems}
}
