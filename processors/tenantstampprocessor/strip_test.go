package tenantstampprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

// spoof is a JSON attribute list with scada.tenant twice (OTLP allows a
// key more than once; pdata keeps both copies as decoded) plus a harmless
// attribute that must survive.
const spoof = `[{"key":"scada.tenant","value":{"stringValue":"victim"}},{"key":"keep","value":{"stringValue":"me"}},{"key":"scada.tenant","value":{"stringValue":"victim"}}]`

func spoofed(s string) string { return strings.ReplaceAll(s, "SPOOF", spoof) }

// countTenantKeys counts scada.tenant keys in m and checks "keep" survived.
func countTenantKeys(t *testing.T, where string, m pcommon.Map) int {
	t.Helper()
	n := 0
	for k := range m.All() {
		if k == tenants.ResourceAttribute {
			n++
		}
	}
	if v, ok := m.Get("keep"); !ok || v.Str() != "me" {
		t.Errorf("%s: the other attribute was lost: %v", where, m.AsRaw())
	}
	return n
}

func checkResource(t *testing.T, res pcommon.Resource) {
	t.Helper()
	if n := countTenantKeys(t, "resource", res.Attributes()); n != 1 {
		t.Errorf("resource has %d scada.tenant keys, want exactly 1: %v", n, res.Attributes().AsRaw())
	}
	if got := tenants.FromResource(res); got != "west-pipeline-01" {
		t.Errorf("resource scada.tenant = %q", got)
	}
}

func checkNone(t *testing.T, where string, m pcommon.Map) {
	t.Helper()
	if n := countTenantKeys(t, where, m); n != 0 {
		t.Errorf("%s keeps %d scada.tenant keys: %v", where, n, m.AsRaw())
	}
}

func TestStampRemovesEveryTenantKeyTraces(t *testing.T) {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(spoofed(`{"resourceSpans":[{"resource":{"attributes":SPOOF},
 "scopeSpans":[{"scope":{"name":"s","attributes":SPOOF},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"op",
   "attributes":SPOOF,"events":[{"name":"e","attributes":SPOOF}],"links":[{"traceId":"0102030405060708090a0b0c0d0e0f11","spanId":"0102030405060709","attributes":SPOOF}]}]}]}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	sink := &consumertest.TracesSink{}
	f := NewFactory()
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), benchHost(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeTraces(tenants.NewContext(context.Background(), "west-pipeline-01"), td); err != nil {
		t.Fatal(err)
	}
	rs := sink.AllTraces()[0].ResourceSpans().At(0)
	checkResource(t, rs.Resource())
	ss := rs.ScopeSpans().At(0)
	checkNone(t, "scope", ss.Scope().Attributes())
	s := ss.Spans().At(0)
	checkNone(t, "span", s.Attributes())
	checkNone(t, "event", s.Events().At(0).Attributes())
	checkNone(t, "link", s.Links().At(0).Attributes())
}

func TestStampRemovesEveryTenantKeyMetrics(t *testing.T) {
	ex := `"exemplars":[{"asDouble":1,"filteredAttributes":SPOOF}]`
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics([]byte(spoofed(`{"resourceMetrics":[{"resource":{"attributes":SPOOF},
 "scopeMetrics":[{"scope":{"name":"s","attributes":SPOOF},"metrics":[
  {"name":"g","gauge":{"dataPoints":[{"asDouble":1,"attributes":SPOOF,` + ex + `}]}},
  {"name":"s","sum":{"aggregationTemporality":2,"dataPoints":[{"asDouble":1,"attributes":SPOOF,` + ex + `}]}},
  {"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","attributes":SPOOF,` + ex + `}]}},
  {"name":"e","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","attributes":SPOOF,` + ex + `}]}},
  {"name":"q","summary":{"dataPoints":[{"count":"1","attributes":SPOOF}]}}]}]}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	sink := &consumertest.MetricsSink{}
	f := NewFactory()
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), benchHost(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeMetrics(tenants.NewContext(context.Background(), "west-pipeline-01"), md); err != nil {
		t.Fatal(err)
	}
	rm := sink.AllMetrics()[0].ResourceMetrics().At(0)
	checkResource(t, rm.Resource())
	sm := rm.ScopeMetrics().At(0)
	checkNone(t, "scope", sm.Scope().Attributes())
	ms := sm.Metrics()
	if ms.Len() != 5 {
		t.Fatalf("%d metrics", ms.Len())
	}
	checkNone(t, "gauge point", ms.At(0).Gauge().DataPoints().At(0).Attributes())
	checkNone(t, "gauge exemplar", ms.At(0).Gauge().DataPoints().At(0).Exemplars().At(0).FilteredAttributes())
	checkNone(t, "sum point", ms.At(1).Sum().DataPoints().At(0).Attributes())
	checkNone(t, "sum exemplar", ms.At(1).Sum().DataPoints().At(0).Exemplars().At(0).FilteredAttributes())
	checkNone(t, "histogram point", ms.At(2).Histogram().DataPoints().At(0).Attributes())
	checkNone(t, "histogram exemplar", ms.At(2).Histogram().DataPoints().At(0).Exemplars().At(0).FilteredAttributes())
	checkNone(t, "exponential histogram point", ms.At(3).ExponentialHistogram().DataPoints().At(0).Attributes())
	checkNone(t, "exponential histogram exemplar", ms.At(3).ExponentialHistogram().DataPoints().At(0).Exemplars().At(0).FilteredAttributes())
	checkNone(t, "summary point", ms.At(4).Summary().DataPoints().At(0).Attributes())
}

func TestStampRemovesEveryTenantKeyLogs(t *testing.T) {
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs([]byte(spoofed(`{"resourceLogs":[{"resource":{"attributes":SPOOF},
 "scopeLogs":[{"scope":{"name":"s","attributes":SPOOF},"logRecords":[{"body":{"stringValue":"x"},"attributes":SPOOF}]}]}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	sink := &consumertest.LogsSink{}
	f := NewFactory()
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), benchHost(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeLogs(tenants.NewContext(context.Background(), "west-pipeline-01"), ld); err != nil {
		t.Fatal(err)
	}
	rl := sink.AllLogs()[0].ResourceLogs().At(0)
	checkResource(t, rl.Resource())
	sl := rl.ScopeLogs().At(0)
	checkNone(t, "scope", sl.Scope().Attributes())
	checkNone(t, "log record", sl.LogRecords().At(0).Attributes())
}
