package groupcommitprocessor

import "github.com/scadaotel/scadaotel/tenants"

// Self-metric names, listed in documentation.md.
const (
	MetricGroupRequests = "scadaotel_groupcommit_group_requests"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the processor registers.
func MetricNames() []string { return []string{MetricGroupRequests} }
