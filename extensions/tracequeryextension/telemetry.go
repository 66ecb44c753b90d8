package tracequeryextension

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/internal/traceindex"
	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRequests         = "scadaotel_tenant_trace_query_requests"
	MetricDuration         = "scadaotel_tenant_trace_query_duration"
	MetricUpstreamFailures = "scadaotel_tenant_trace_query_upstream_failures"
	MetricIndexServices    = "scadaotel_tenant_trace_query_index_services"
	MetricIndexOverBound   = "scadaotel_tenant_trace_query_index_over_bound"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string {
	return []string{MetricRequests, MetricDuration, MetricUpstreamFailures, MetricIndexServices, MetricIndexOverBound}
}

// telemetry is the extension's self-metrics. A nil *telemetry records
// nothing (unit tests of the proxy alone).
type telemetry struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	upstream metric.Int64Counter
}

// newTelemetry registers the instruments; stats, when not nil, is read at
// each collection for the index's figures (nothing on the span path).
func newTelemetry(mp metric.MeterProvider, stats func() map[string]traceindex.Stats) (*telemetry, error) {
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
	services, err := m.Int64ObservableGauge(MetricIndexServices,
		metric.WithDescription("Services the index lists for a tenant (bounded by index.max_services)."),
		metric.WithUnit("{service}"))
	if err != nil {
		return nil, err
	}
	over, err := m.Int64ObservableCounter(MetricIndexOverBound,
		metric.WithDescription("What the index did not keep because a tenant was at a bound, by bound: max_services and max_operations count names not kept, max_trace_ids counts id generations forgotten early."),
		metric.WithUnit("{item}"))
	if err != nil {
		return nil, err
	}
	if stats != nil {
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			for tenant, st := range stats() {
				ta := tenants.SelfMetricTenant(tenant) // a keyed pseudonym, as every per-tenant self-metric
				o.ObserveInt64(services, int64(st.Services), metric.WithAttributes(ta))
				o.ObserveInt64(over, st.ServicesRefused, metric.WithAttributes(ta, attribute.String("bound", "max_services")))
				o.ObserveInt64(over, st.OperationsRefused, metric.WithAttributes(ta, attribute.String("bound", "max_operations")))
				o.ObserveInt64(over, st.TraceIDsForgotten, metric.WithAttributes(ta, attribute.String("bound", "max_trace_ids")))
			}
			return nil
		}, services, over); err != nil {
			return nil, err
		}
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
