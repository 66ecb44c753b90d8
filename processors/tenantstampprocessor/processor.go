package tenantstampprocessor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/traceindex"
	"github.com/scadaotel/scadaotel/tenants"
)

// errNoTenant refuses data that reached the processor unauthenticated.
var errNoTenant = consumererror.NewPermanent(status.Error(codes.Unauthenticated,
	"tenantstamp: data carries no authenticated tenant (the receiver needs auth: {authenticator: tenantauth})"))

// stamp is the signal-independent part of the processor.
type stamp struct {
	cfg      *Config
	signal   string
	registry *tenants.Registry
	refused  metric.Int64Counter
	stamped  metric.Int64Counter
	items    metric.Int64Counter
	now      func() time.Time

	acceptedAttrs sync.Map // tenant -> metric.AddOption
	// recorders are the service's trace indexes (tenant_trace_query's),
	// fed with every stamped span of the traces pipeline.
	recorders []traceindex.Recorder
}

func newStamp(set processor.Settings, cfg *Config, signal string) (*stamp, error) {
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/processors/tenantstampprocessor")
	refused, err := m.Int64Counter(MetricRefusedRequests,
		metric.WithDescription("Requests refused, by tenant, signal and reason (no_tenant, forbidden, or the limit name)."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	stamped, err := m.Int64Counter(MetricAcceptedRequests,
		metric.WithDescription("Requests stamped and passed on, by tenant and signal."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	items, err := m.Int64Counter(MetricAcceptedItems,
		metric.WithDescription("Spans, metric data points or log records stamped and passed on, by tenant and signal: each tenant's ingest rate."),
		metric.WithUnit("{item}"))
	if err != nil {
		return nil, err
	}
	return &stamp{cfg: cfg, signal: signal, refused: refused, stamped: stamped, items: items, now: time.Now}, nil
}

// Start finds the tenant registry of the configured tenantauth extension.
func (s *stamp) Start(_ context.Context, host component.Host) error {
	reg, err := tenants.RegistryFromHost(host, s.cfg.Authenticator)
	if err != nil {
		return fmt.Errorf("tenantstamp: authenticator: %w", err)
	}
	s.registry = reg
	if s.signal == "traces" {
		s.recorders = traceindex.RecordersFromHost(host)
	}
	return nil
}

func (*stamp) Shutdown(context.Context) error { return nil }

func (*stamp) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: true} }

// tenant returns the authenticated tenant of ctx or the refusal.
func (s *stamp) tenant(ctx context.Context) (string, error) {
	if t := tenants.FromContext(ctx); t != "" {
		if code, reason := tenants.CheckRole(ctx, tenants.RoleIngest); code != http.StatusOK {
			s.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", s.signal), attribute.String("reason", "role")))
			return "", consumererror.NewPermanent(status.Error(codes.PermissionDenied, reason))
		}
		return t, nil
	}
	if reason, ok := tenants.RefusalFromContext(ctx); ok {
		s.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", s.signal), attribute.String("reason", "forbidden")))
		return "", consumererror.NewPermanent(status.Error(codes.PermissionDenied, reason))
	}
	s.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", s.signal), attribute.String("reason", "no_tenant")))
	return "", errNoTenant
}

// admit applies the tenant's limits; usage is computed lazily so that
// tenants without limits cost nothing.
func (s *stamp) admit(ctx context.Context, tenant string, usage func(l tenants.Limits) tenants.Usage) error {
	if !s.cfg.EnforceLimits || s.registry == nil {
		return nil
	}
	t, ok := s.registry.Tenant(tenant)
	if !ok || t.Limits == (tenants.Limits{}) {
		return nil
	}
	err := s.registry.Limiter().Admit(tenant, usage(t.Limits), s.now())
	if err != nil {
		var le *tenants.LimitError
		reason := "limit"
		if errors.As(err, &le) {
			reason = le.Limit
		}
		s.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", s.signal),
			tenants.SelfMetricTenant(tenant), attribute.String("reason", reason)))
	}
	return err
}

func (s *stamp) accepted(ctx context.Context, tenant string, items int) {
	opt, ok := s.acceptedAttrs.Load(tenant)
	if !ok { // attribute sets built once per tenant, not per request
		opt, _ = s.acceptedAttrs.LoadOrStore(tenant, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("signal", s.signal), tenants.SelfMetricTenant(tenant))))
	}
	s.stamped.Add(ctx, 1, opt.(metric.AddOption))
	s.items.Add(ctx, int64(items), opt.(metric.AddOption))
}

type tracesStamp struct {
	*stamp
	next  consumer.Traces
	sizer ptrace.ProtoMarshaler
}

func (p *tracesStamp) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	tenant, err := p.tenant(ctx)
	if err != nil {
		return err
	}
	if err := p.refuseDeep(ctx, tenant, tracesTooDeep(td)); err != nil {
		return err
	}
	if err := p.admit(ctx, tenant, func(l tenants.Limits) tenants.Usage {
		u := tenants.Usage{Spans: td.SpanCount()}
		if l.BytesPerSecond > 0 {
			u.Bytes = p.sizer.TracesSize(td)
		}
		return u
	}); err != nil {
		return err
	}
	stampTraces(td, tenant)
	for _, r := range p.recorders {
		r.RecordTraces(tenant, td)
	}
	p.accepted(ctx, tenant, td.SpanCount())
	return p.next.ConsumeTraces(tenants.NewContext(ctx, tenant), td)
}

type metricsStamp struct {
	*stamp
	next  consumer.Metrics
	sizer pmetric.ProtoMarshaler
}

func (p *metricsStamp) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	tenant, err := p.tenant(ctx)
	if err != nil {
		return err
	}
	if err := p.refuseDeep(ctx, tenant, metricsTooDeep(md)); err != nil {
		return err
	}
	// Stamp first, so that series hashes include the tenant label.
	stampMetrics(md, tenant)
	if err := p.admit(ctx, tenant, func(l tenants.Limits) tenants.Usage {
		u := tenants.Usage{Samples: md.DataPointCount()}
		if l.BytesPerSecond > 0 {
			u.Bytes = p.sizer.MetricsSize(md)
		}
		if l.ActiveSeries > 0 {
			u.Series = appendSeriesHashes(nil, md)
		}
		return u
	}); err != nil {
		return err
	}
	p.accepted(ctx, tenant, md.DataPointCount())
	return p.next.ConsumeMetrics(tenants.NewContext(ctx, tenant), md)
}

type logsStamp struct {
	*stamp
	next  consumer.Logs
	sizer plog.ProtoMarshaler
}

func (p *logsStamp) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	tenant, err := p.tenant(ctx)
	if err != nil {
		return err
	}
	if err := p.refuseDeep(ctx, tenant, logsTooDeep(ld)); err != nil {
		return err
	}
	if err := p.admit(ctx, tenant, func(l tenants.Limits) tenants.Usage {
		var u tenants.Usage
		if l.BytesPerSecond > 0 {
			u.Bytes = p.sizer.LogsSize(ld)
		}
		return u
	}); err != nil {
		return err
	}
	stampLogs(ld, tenant)
	p.accepted(ctx, tenant, ld.LogRecordCount())
	return p.next.ConsumeLogs(tenants.NewContext(ctx, tenant), ld)
}
