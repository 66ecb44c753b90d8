package tenantstampprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/tenants"
)

// The tenant attribute is the appliance's alone: before the one true value
// is set on each resource, every scada.tenant key a client sent is removed,
// at every level and in every copy. An OTLP map may hold one key several
// times (pdata keeps duplicates as decoded), and Jaeger stores each copy as
// a tag, so overwriting the first copy is not enough.

func isTenantKey(k string, _ pcommon.Value) bool { return k == tenants.ResourceAttribute }

// stripTenant removes every scada.tenant key from m. The Get first keeps
// the common case (no such key) to one scan without a callback per key:
// Get finds the first copy, and with none there is no other.
func stripTenant(m pcommon.Map) {
	if _, ok := m.Get(tenants.ResourceAttribute); ok {
		m.RemoveIf(isTenantKey)
	}
}

// stampResource sets tenant as the only scada.tenant of res.
func stampResource(res pcommon.Resource, tenant string) {
	attrs := res.Attributes()
	if v, ok := attrs.Get(tenants.ResourceAttribute); ok {
		// Usually the one copy (a resource re-stamped by a pipeline that
		// already stamped it): overwrite it in place, then drop any other.
		v.SetStr(tenant)
		n := 0
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			if k != tenants.ResourceAttribute {
				return false
			}
			n++
			return n > 1
		})
		return
	}
	tenants.SetOnResource(res, tenant)
}

func stampTraces(td ptrace.Traces, tenant string) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		stampResource(rs.Resource(), tenant)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			stripTenant(ss.Scope().Attributes())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				stripTenant(s.Attributes())
				evs := s.Events()
				for e := 0; e < evs.Len(); e++ {
					stripTenant(evs.At(e).Attributes())
				}
				links := s.Links()
				for l := 0; l < links.Len(); l++ {
					stripTenant(links.At(l).Attributes())
				}
			}
		}
	}
}

func stampLogs(ld plog.Logs, tenant string) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		stampResource(rl.Resource(), tenant)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			stripTenant(sl.Scope().Attributes())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				stripTenant(lrs.At(k).Attributes())
			}
		}
	}
}

func stampMetrics(md pmetric.Metrics, tenant string) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		stampResource(rm.Resource(), tenant)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			stripTenant(sm.Scope().Attributes())
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				stripMetric(ms.At(k))
			}
		}
	}
}

func stripMetric(m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			stripTenant(dps.At(d).Attributes())
			stripExemplars(dps.At(d).Exemplars())
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			stripTenant(dps.At(d).Attributes())
			stripExemplars(dps.At(d).Exemplars())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			stripTenant(dps.At(d).Attributes())
			stripExemplars(dps.At(d).Exemplars())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			stripTenant(dps.At(d).Attributes())
			stripExemplars(dps.At(d).Exemplars())
		}
	case pmetric.MetricTypeSummary: // no exemplars
		dps := m.Summary().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			stripTenant(dps.At(d).Attributes())
		}
	}
}

func stripExemplars(exs pmetric.ExemplarSlice) {
	for e := 0; e < exs.Len(); e++ {
		stripTenant(exs.At(e).FilteredAttributes())
	}
}
