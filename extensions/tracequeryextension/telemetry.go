package tracequeryextension

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRequests         = "scadaotel_tenant_trace_query_requests"
	MetricDuration         = "scadaotel_tenant_trace_query_duration"
	MetricUpstreamFailures = "scadaotel_tenant_trace_query_upstream_failures"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string { return []string{MetricRequests, MetricDuration, MetricUpstreamFailures} }

// telemetry is the extension's self-metrics. A nil *telemetry records
// nothing (unit tests of the proxy alone).
type telemetry struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	upstream metric.Int64Counter
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter("github.com/scadaotel/scadaotel/extensions/tracequeryextension")
	requests, err := m.Int64Counter(MetricRequests,
		metric.WithDescription("Trace API requests answered, by route, HTTP status and tenant (authenticated requests only; refusals are counted by tenantauth)."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram(MetricDuration,
		metric.WithDescription("Time to answer a trace API request, including the calls to Jaeger and the tenant filtering, by route."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	if err != nil {
		return nil, err
	}
	upstream, err := m.Int64Counter(MetricUpstreamFailures,
		metric.WithDescription("Calls to Jaeger's query API that failed (unreachable, unreadable answer, unexpected status), by reason."),
		metric.WithUnit("{call}"))
	if err != nil {
		return nil, err
	}
	return &telemetry{requests: requests, duration: duration, upstream: upstream}, nil
}

func (t *telemetry) request(ctx context.Context, route, tenant string, code int, took time.Duration) {
	if t == nil {
		return
	}
	t.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("route", route),
		attribute.Int("code", code), tenants.SelfMetricTenant(tenant)))
	t.duration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("route", route)))
}

func (t *telemetry) upstreamFailure(ctx context.Context, reason string) {
	if t == nil {
		return
	}
	t.upstream.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}
