package tenantstampprocessor

import (
	"context"
	"fmt"
	"github.com/scadaotel/scadaotel/tenants"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxAttributeDepth is how deeply attribute values (maps and lists inside
// maps and lists) may nest. The collector's protobuf decoder stops at a
// recursion limit of 100 (3 per nested map): an OTLP/JSON request nesting
// deeper decodes at the receiver, is acknowledged, and then can never be
// read back from a persistent queue, which drops it. It is refused here,
// before any queue, with the tenant known.
const MaxAttributeDepth = 32

// refuseDeep returns the permanent refusal (400 / InvalidArgument) for a
// request with an attribute nested deeper than MaxAttributeDepth, counted
// for the tenant, or nil.
func (s *stamp) refuseDeep(ctx context.Context, tenant, where string) error {
	if where == "" {
		return nil
	}
	s.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", s.signal),
		tenants.SelfMetricTenant(tenant), attribute.String("reason", "attribute_depth")))
	return consumererror.NewPermanent(status.Error(codes.InvalidArgument, fmt.Sprintf(
		"tenantstamp: %s nests attribute values deeper than %d levels; request refused (it could not be read back from the queue)",
		where, MaxAttributeDepth)))
}

// valueTooDeep reports whether v nests more than left levels.
func valueTooDeep(v pcommon.Value, left int) bool {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		return mapTooDeep(v.Map(), left-1)
	case pcommon.ValueTypeSlice:
		if left <= 0 {
			return true
		}
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			if valueTooDeep(sl.At(i), left-1) {
				return true
			}
		}
	}
	return false
}

func mapTooDeep(m pcommon.Map, left int) bool {
	if left < 0 {
		return true
	}
	for _, v := range m.All() {
		if t := v.Type(); (t == pcommon.ValueTypeMap || t == pcommon.ValueTypeSlice) && valueTooDeep(v, left) {
			return true
		}
	}
	return false
}

func attrsTooDeep(m pcommon.Map) bool { return mapTooDeep(m, MaxAttributeDepth) }

// tracesTooDeep names the first place nesting too deeply, or "".
func tracesTooDeep(td ptrace.Traces) string {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if attrsTooDeep(rs.Resource().Attributes()) {
			return "a resource"
		}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			if attrsTooDeep(ss.Scope().Attributes()) {
				return "a scope"
			}
			for k := 0; k < ss.Spans().Len(); k++ {
				sp := ss.Spans().At(k)
				if attrsTooDeep(sp.Attributes()) {
					return fmt.Sprintf("span %q", sp.Name())
				}
				for e := 0; e < sp.Events().Len(); e++ {
					if attrsTooDeep(sp.Events().At(e).Attributes()) {
						return fmt.Sprintf("an event of span %q", sp.Name())
					}
				}
				for l := 0; l < sp.Links().Len(); l++ {
					if attrsTooDeep(sp.Links().At(l).Attributes()) {
						return fmt.Sprintf("a link of span %q", sp.Name())
					}
				}
			}
		}
	}
	return ""
}

// metricsTooDeep names the first place nesting too deeply, or "".
func metricsTooDeep(md pmetric.Metrics) string {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		if attrsTooDeep(rm.Resource().Attributes()) {
			return "a resource"
		}
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			sm := rm.ScopeMetrics().At(j)
			if attrsTooDeep(sm.Scope().Attributes()) {
				return "a scope"
			}
			for k := 0; k < sm.Metrics().Len(); k++ {
				m := sm.Metrics().At(k)
				if attrsTooDeep(m.Metadata()) || metricPointsTooDeep(m) {
					return fmt.Sprintf("metric %q", m.Name())
				}
			}
		}
	}
	return ""
}

func metricPointsTooDeep(m pmetric.Metric) bool {
	check := func(n int, attrs func(int) pcommon.Map) bool {
		for i := 0; i < n; i++ {
			if attrsTooDeep(attrs(i)) {
				return true
			}
		}
		return false
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		d := m.Gauge().DataPoints()
		return check(d.Len(), func(i int) pcommon.Map { return d.At(i).Attributes() })
	case pmetric.MetricTypeSum:
		d := m.Sum().DataPoints()
		return check(d.Len(), func(i int) pcommon.Map { return d.At(i).Attributes() })
	case pmetric.MetricTypeHistogram:
		d := m.Histogram().DataPoints()
		return check(d.Len(), func(i int) pcommon.Map { return d.At(i).Attributes() })
	case pmetric.MetricTypeExponentialHistogram:
		d := m.ExponentialHistogram().DataPoints()
		return check(d.Len(), func(i int) pcommon.Map { return d.At(i).Attributes() })
	case pmetric.MetricTypeSummary:
		d := m.Summary().DataPoints()
		return check(d.Len(), func(i int) pcommon.Map { return d.At(i).Attributes() })
	}
	return false
}

// logsTooDeep names the first place nesting too deeply (bodies included),
// or "".
func logsTooDeep(ld plog.Logs) string {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		if attrsTooDeep(rl.Resource().Attributes()) {
			return "a resource"
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			if attrsTooDeep(sl.Scope().Attributes()) {
				return "a scope"
			}
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				if attrsTooDeep(lr.Attributes()) || valueTooDeep(lr.Body(), MaxAttributeDepth) {
					return "a log record"
				}
			}
		}
	}
	return ""
}
