package alarmconnector

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/tenants"
)

// stateSet is one poll of a valve as the scada receiver writes it: a point
// per configured status, 1 for the current one.
func stateSet(md pmetric.Metrics, name, valve, current string, quality string) {
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenantA)
	rm.Resource().Attributes().PutStr("scada.station", "ST-07")
	rm.Resource().Attributes().PutStr("scada.rtu", "rtu-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dps := m.SetEmptyGauge().DataPoints()
	for _, st := range []string{"closed", "open", "travel", "fault"} {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		dp.Attributes().PutStr("station", "ST-07")
		dp.Attributes().PutStr("valve_id", valve)
		dp.Attributes().PutStr("status", st)
		dp.Attributes().PutStr("quality", quality)
		if st == current {
			dp.SetDoubleValue(1)
		} else {
			dp.SetDoubleValue(0)
		}
	}
}

func gauge(point string, v float64, quality string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenantA)
	rm.Resource().Attributes().PutStr("scada.rtu", "rtu-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("scada_pressure_gauge")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetDoubleValue(v)
	dp.Attributes().PutStr("point", point)
	dp.Attributes().PutStr("quality", quality)
	return md
}

const kindDefs = `  west-pipeline-01:
    alarms:
      - id: V-12-fault
        series: 'scada_valve_state{valve_id="V-12"}'
        discrete: {abnormal: [fault]}
        priority: high
        message: {en: "V-12 fault", zh-CN: "V-12 故障"}
      - id: V-12-mismatch
        series: 'scada_valve_state{valve_id="V-12"}'
        mismatch: {command: 'scada_valve_command{valve_id="V-12"}', travel_time: 30s}
        priority: medium
        message: {en: "V-12 mismatch", zh-CN: "V-12 不一致"}
      - id: PT-5-quality
        series: 'scada_pressure_gauge{point="PT-5"}'
        quality: {delay: 1m}
        priority: low
        message: {en: "PT-5 quality", zh-CN: "PT-5 质量"}
      - id: PT-6-rate
        series: 'scada_pressure_gauge{point="PT-6"}'
        rate: {per_minute: 5, window: 1m, direction: rising}
        priority: medium
        message: {en: "PT-6 rising {value}/min", zh-CN: "PT-6 上升 {value}/min"}
`

// TestOtherKinds: discrete, command/feedback mismatch after the travel
// time, quality after its delay, rate of change over its window, and
// out_of_service from the definitions, through the connector.
func TestOtherKinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, kindDefs)
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		valves := func(cmd, fb string) pmetric.Metrics {
			md := pmetric.NewMetrics()
			stateSet(md, "scada_valve_command", "V-12", cmd, "good")
			stateSet(md, "scada_valve_state", "V-12", fb, "good")
			return md
		}
		expect := func(step string, want ...string) {
			t.Helper()
			if got := transitions(tc.sink.take()); strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Fatalf("%s: got %v, want %v", step, got, want)
			}
		}

		// Discrete and mismatch.
		tc.send(t, valves("closed", "closed"))
		expect("valve closed as commanded")
		tc.send(t, valves("open", "travel"))
		time.Sleep(29 * time.Second)
		tc.send(t, valves("open", "travel"))
		expect("travelling within the travel time")
		time.Sleep(2 * time.Second) // the tick applies the travel time
		synctest.Wait()
		expect("travel time passed", "V-12-mismatch raise active_unacked")
		tc.send(t, valves("open", "fault"))
		expect("fault", "V-12-fault raise active_unacked")
		tc.send(t, valves("open", "open"))
		expect("open as commanded", "V-12-fault rtn rtn_unacked", "V-12-mismatch rtn rtn_unacked")

		// Quality: bad for longer than a minute.
		tc.send(t, gauge("PT-5", 40, "bad"))
		time.Sleep(59 * time.Second)
		tc.send(t, gauge("PT-5", 40, "bad"))
		expect("bad for 59 s")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expect("bad for over a minute", "PT-5-quality raise active_unacked")
		tc.send(t, gauge("PT-5", 40, "good"))
		expect("good again", "PT-5-quality rtn rtn_unacked")

		// Rate: +0.1 per 0.5 s = 12/min, after half the window.
		var recs []Record
		for i := 0; i <= 90; i++ {
			tc.send(t, gauge("PT-6", 20+float64(i)*0.1, "good"))
			recs = append(recs, tc.sink.take()...)
			if i < 60 && len(recs) > 0 {
				t.Fatalf("rate alarm at sample %d, before half the window", i)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if got := transitions(recs); len(got) != 1 || got[0] != "PT-6-rate raise active_unacked" || *recs[0].Value < 11.9 || *recs[0].Value > 12.1 {
			t.Fatalf("rate: %v %+v", got, recs)
		}

		// out_of_service from the definitions file.
		writeDefs(t, defs, strings.Replace(kindDefs, "        quality: {delay: 1m}\n", "        quality: {delay: 1m}\n        out_of_service: true\n", 1))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expect("taken out of service", "PT-5-quality out_of_service out_of_service")
		tc.send(t, gauge("PT-5", 40, "bad"))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		expect("nothing while out of service")
		writeDefs(t, defs, kindDefs)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expect("back in service, still bad", "PT-5-quality in_service active_unacked")
	})
}
