package alarmconnector

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/tenants"
)

// seriesOf flattens each tenant's last series request into
// "name{k=v} value" lines; it checks that the request's resource and
// context name the same tenant.
func seriesOf(t *testing.T, sink *consumertest.MetricsSink) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, md := range sink.AllMetrics() {
		rm := md.ResourceMetrics().At(0)
		tenant := tenants.FromResource(rm.Resource())
		var lines []string
		ms := rm.ScopeMetrics().At(0).Metrics()
		for i := 0; i < ms.Len(); i++ {
			m := ms.At(i)
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			for j := 0; j < dps.Len(); j++ {
				dp := dps.At(j)
				var labels []string
				for k, v := range dp.Attributes().All() {
					labels = append(labels, k+"="+v.Str())
				}
				lines = append(lines, fmt.Sprintf("%s{%s} %d", m.Name(), strings.Join(labels, ","), dp.IntValue()))
			}
		}
		sort.Strings(lines)
		out[tenant] = lines // the last request of the tenant
	}
	return out
}

// ctxTenantSink checks that each series request travels under its
// tenant's context (what the store's per-tenant limits read).
type ctxTenantSink struct {
	consumertest.MetricsSink
	t *testing.T
}

func (s *ctxTenantSink) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if got, want := tenants.FromContext(ctx), tenants.FromResource(md.ResourceMetrics().At(0).Resource()); got != want || want == "" {
		s.t.Errorf("series of tenant %q sent under the context of %q", want, got)
	}
	return s.MetricsSink.ConsumeMetrics(ctx, md)
}

func TestStoredSeriesPerTenantThroughTheFactory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101", "PT-102", "PT-103")+limitDefs(tenantB, "PT-201"))
		cfg := createDefaultConfig().(*Config)
		cfg.DefinitionsFile = defs
		cfg.State.Directory = filepath.Join(dir, "state")
		cfg.HTTP = configoptional.None[confighttp.ServerConfig]()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		set := connectortest.NewNopSettings(componentType)
		set.ID = component.NewIDWithName(componentType, "series")
		f := NewFactory()
		logs := &recSink{}
		series := &ctxTenantSink{t: t}
		ctx := context.Background()
		// The collector creates both instances; both are exporters of the
		// one metrics pipeline and get every request.
		ml, err := f.CreateMetricsToLogs(ctx, set, cfg, logs)
		if err != nil {
			t.Fatal(err)
		}
		mm, err := f.CreateMetricsToMetrics(ctx, set, cfg, series)
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			stopped = true
			for _, c := range []component.Component{ml, mm} {
				if err := c.Shutdown(ctx); err != nil {
					t.Error(err)
				}
			}
		}
		defer func() {
			if !stopped {
				stop()
			}
		}()
		for _, c := range []component.Component{mm, ml} {
			if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
				t.Fatal(err)
			}
		}
		send := func(md pmetric.Metrics) {
			for _, c := range []interface {
				ConsumeMetrics(context.Context, pmetric.Metrics) error
			}{ml, mm} {
				if err := c.ConsumeMetrics(ctx, md); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A: PT-101 over HH (critical) and so over H (high), PT-102 over H,
		// PT-103 normal.
		send(rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 85, "PT-102": 75, "PT-103": 50}))
		// B: normal.
		send(rtuBatch(tenantB, "rtu-9", "ST-90", true, map[string]float64{"PT-201": 50}))
		synctest.Wait() // the outbox's flush
		if got := len(logs.take()); got != 3 {
			t.Fatalf("%d transition records, want 3 (PT-101 HH and H, PT-102 H)", got)
		}
		// The metrics→metrics instance gets the same requests and ignores
		// them: only the metrics→logs one evaluates.
		if err := mm.ConsumeMetrics(ctx, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-103": 85})); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := logs.take(); len(got) != 0 {
			t.Fatalf("the series instance evaluated a sample: %v", transitions(got))
		}
		time.Sleep(cfg.SeriesInterval + time.Second)
		got := seriesOf(t, &series.MetricsSink)
		wantA := []string{
			"scada_alarm_bad_actor_raises{alarm_id=PT-101:HH} 1",
			"scada_alarm_bad_actor_raises{alarm_id=PT-101:H} 1",
			"scada_alarm_bad_actor_raises{alarm_id=PT-102:H} 1",
			"scada_alarm_floods{} 0",
			"scada_alarm_flood{} 0",
			"scada_alarm_rate_10m{} 3",
			"scada_alarms_active{priority=critical} 1",
			"scada_alarms_active{priority=high} 2",
			"scada_alarms_active{priority=low} 0",
			"scada_alarms_active{priority=medium} 0",
			"scada_alarms_by_state{state=active_acked} 0",
			"scada_alarms_by_state{state=active_unacked} 3",
			"scada_alarms_by_state{state=normal} 3", // PT-102:HH, PT-103:HH and :H
			"scada_alarms_by_state{state=out_of_service} 0",
			"scada_alarms_by_state{state=rtn_unacked} 0",
			"scada_alarms_by_state{state=shelved} 0",
			"scada_alarms_by_state{state=suppressed} 0",
			"scada_alarms_chattering{} 0",
			"scada_alarms_stale{} 0",
		}
		if strings.Join(got[tenantA], "\n") != strings.Join(wantA, "\n") {
			t.Errorf("tenant A's series:\n%s\nwant:\n%s", strings.Join(got[tenantA], "\n"), strings.Join(wantA, "\n"))
		}
		for _, l := range got[tenantB] {
			if strings.Contains(l, "PT-1") || strings.HasPrefix(l, "scada_alarms_active") && !strings.HasSuffix(l, " 0") {
				t.Errorf("tenant B's series show A's alarms: %s", l)
			}
		}
		if len(got[tenantB]) == 0 {
			t.Error("tenant B (definitions, no alarm) has no series: a panel of it would show no data instead of 0")
		}
		before := len(series.AllMetrics())
		stop()
		time.Sleep(time.Minute)
		if n := len(series.AllMetrics()); n != before {
			t.Errorf("%d series requests after shutdown", n-before)
		}
	})
}

func TestMetricsOutputAloneRefusesToStart(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP = configoptional.None[confighttp.ServerConfig]()
	set := connectortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, "alone")
	mm, err := NewFactory().CreateMetricsToMetrics(context.Background(), set, cfg, &consumertest.MetricsSink{})
	if err != nil {
		t.Fatal(err)
	}
	err = mm.Start(context.Background(), componenttest.NewNopHost())
	if err == nil || !strings.Contains(err.Error(), "logs pipeline") {
		t.Fatalf("start without a logs output: %v, want an error naming the logs pipeline", err)
	}
	if err := mm.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
