package tenantauthextension

import "github.com/scadaotel/scadaotel/tenants"

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRequests            = "scadaotel_tenantauth_requests"
	MetricRateLimitedRequests = "scadaotel_tenantauth_rate_limited_requests"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string { return []string{MetricRequests, MetricRateLimitedRequests} }
