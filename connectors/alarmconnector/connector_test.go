package alarmconnector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/recordio"
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"github.com/scadaotel/scadaotel/tenants"
)

const (
	tenantA = "west-pipeline-01"
	tenantB = "east-pipeline-02"
)

// recSink is the logs pipeline: it keeps the records, or refuses while
// refuse is set.
type recSink struct {
	mu           sync.Mutex
	recs         []Record
	refuse       bool
	refuseTenant string // refuse only this tenant's records
}

func (s *recSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *recSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse || s.refuseTenant != "" && tenants.FromContext(ctx) == s.refuseTenant {
		return fmt.Errorf("refused")
	}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		lrs := rl.ScopeLogs().At(0).LogRecords()
		for j := 0; j < lrs.Len(); j++ {
			v, _ := lrs.At(j).Attributes().Get(AttrRecord)
			var r Record
			if err := json.Unmarshal([]byte(v.Str()), &r); err != nil {
				panic(err)
			}
			if tenants.FromResource(rl.Resource()) != r.Tenant || tenants.FromContext(ctx) != r.Tenant {
				panic("record sent under another tenant")
			}
			s.recs = append(s.recs, r)
		}
	}
	return nil
}

func (s *recSink) take() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.recs
	s.recs = nil
	return out
}

func (s *recSink) setRefuse(v bool) { s.mu.Lock(); s.refuse = v; s.mu.Unlock() }

func transitions(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.AlarmID+" "+r.Transition+" "+r.State)
	}
	return out
}

// rtuBatch is one poll of an RTU as the scada receiver writes it: each
// point's pressure with its quality, and scada_rtu_up.
func rtuBatch(tenant, rtu, station string, up bool, points map[string]float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenant)
	rm.Resource().Attributes().PutStr(scadaseries.AttrStation, station)
	rm.Resource().Attributes().PutStr(scadaseries.AttrRTU, rtu)
	sm := rm.ScopeMetrics().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	g := sm.Metrics().AppendEmpty()
	g.SetName(scadaseries.MetricPressure)
	dps := g.SetEmptyGauge().DataPoints()
	for point, v := range points {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(now)
		dp.Attributes().PutStr("station", station)
		dp.Attributes().PutStr("unit", "bar")
		dp.Attributes().PutStr("point", point)
		if up {
			dp.SetDoubleValue(v)
			dp.Attributes().PutStr("quality", "good")
		} else {
			dp.SetDoubleValue(math.NaN())
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			dp.Attributes().PutStr("quality", "comm_lost")
			// As the scada receiver does: the point's good series gets a
			// no-recorded-value marker too.
			m := dps.AppendEmpty()
			m.SetTimestamp(now)
			dp.Attributes().CopyTo(m.Attributes())
			m.Attributes().PutStr("quality", "good")
			m.SetDoubleValue(math.NaN())
			m.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
	}
	u := sm.Metrics().AppendEmpty()
	u.SetName(scadaseries.MetricRTUUp)
	dp := u.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(now)
	dp.Attributes().PutStr("rtu", rtu)
	dp.Attributes().PutStr("station", station)
	dp.Attributes().PutStr("quality", "good")
	if up {
		dp.SetDoubleValue(1)
	} else {
		dp.SetDoubleValue(0)
	}
	return md
}

func limitDefs(tenant string, points ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s:\n    alarms:\n", tenant)
	for _, p := range points {
		fmt.Fprintf(&b, "      - id: %s\n        series: 'scada_pressure_gauge{point=\"%s\"}'\n        limits: {hh: 80, h: 70}\n        priorities: {hh: critical}\n        deadband: 2\n        priority: high\n        message: {en: \"%s {level} {value} {unit}\", zh-CN: \"%s 压力 {level} {value} {unit}\"}\n", p, p, p, p)
	}
	return b.String()
}

type testConn struct {
	c    *alarmConnector
	sink *recSink
	logs *observer.ObservedLogs
}

func startConn(t *testing.T, defsFile, stateDir string, sink *recSink) *testConn {
	t.Helper()
	return startConnWith(t, defsFile, stateDir, sink, nil)
}

// startConnWith is startConn with the config changed by edit.
func startConnWith(t *testing.T, defsFile, stateDir string, sink *recSink, edit func(*Config)) *testConn {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if edit != nil {
		edit(cfg)
	}
	cfg.DefinitionsFile = defsFile
	cfg.State.Directory = stateDir
	cfg.HTTP = configoptional.None[confighttp.ServerConfig]()
	cfg.ReloadInterval = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	set := connectortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, "test")
	set.Logger = zap.New(core)
	c := newConnector(set, cfg, sink)
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return &testConn{c: c, sink: sink, logs: logs}
}

func (tc *testConn) stop(t *testing.T) {
	t.Helper()
	if err := tc.c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (tc *testConn) send(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	if err := tc.c.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
}

func writeDefs(t *testing.T, path string, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("tenants:\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLimitCrossingOneRecordPerTransition: a pressure crossing H and HH and
// falling back gives exactly one record per transition, in order, with
// values, limits, priorities and both languages.
func TestLimitCrossingOneRecordPerTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101"))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		for _, v := range []float64{60, 75, 85, 86, 79, 77, 60} {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": v}))
			time.Sleep(500 * time.Millisecond)
		}
		recs := tc.sink.take()
		want := []string{
			"PT-101:H raise active_unacked",
			"PT-101:HH raise active_unacked",
			"PT-101:HH rtn rtn_unacked", // 77 < 80 - 2
			"PT-101:H rtn rtn_unacked",  // 60 < 70 - 2
		}
		if got := transitions(recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		hh := recs[1]
		if hh.Priority != "critical" || *hh.Value != 85 || *hh.Limit != 80 || *hh.Level != "HH" || *hh.Station != "ST-07" ||
			hh.Message.En != "PT-101 HH 85 bar" || hh.Message.ZhCN != "PT-101 压力 HH 85 bar" || hh.EpisodeID == nil ||
			hh.SampleTime == nil || hh.Tenant != tenantA || *hh.RTU != "rtu-1" {
			b, _ := json.Marshal(hh)
			t.Fatalf("HH record: %s", b)
		}
		if recs[0].Priority != "high" || recs[2].EpisodeID == nil || *recs[2].EpisodeID != *hh.EpisodeID {
			t.Fatal("priorities or episodes wrong")
		}
	})
}

// TestCommLossOneAlarm: an RTU with 20 alarmed points loses its link: one
// communication alarm, no value alarm; its return gives one record.
func TestCommLossOneAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		var points []string
		normal := map[string]float64{}
		for i := 0; i < 20; i++ {
			p := fmt.Sprintf("PT-%03d", i)
			points = append(points, p)
			normal[p] = 50
		}
		writeDefs(t, defs, limitDefs(tenantA, points...))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, normal))
		for i := 0; i < 5; i++ {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", false, normal))
			time.Sleep(500 * time.Millisecond)
		}
		recs := tc.sink.take()
		if got := transitions(recs); len(got) != 1 || got[0] != "comm:rtu-1 raise active_unacked" {
			t.Fatalf("want one communication alarm, got %v", got)
		}
		if recs[0].Kind != "communication" || *recs[0].RTU != "rtu-1" || !strings.Contains(recs[0].Message.ZhCN, "rtu-1") {
			t.Fatalf("comm record %+v", recs[0])
		}
		tc.c.mu.Lock()
		for _, v := range first(tc.c.eng.list(tenantA, false, "", 0, maxListLimit)) {
			if v.Kind == "limit" && v.State != string(alarm.Suppressed) {
				t.Errorf("%s: %s, want suppressed", v.AlarmID, v.State)
			}
		}
		tc.c.mu.Unlock()
		// Back, with one point high: the comm alarm returns, the value alarm raises.
		high := map[string]float64{}
		for k, v := range normal {
			high[k] = v
		}
		high["PT-007"] = 75
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, high))
		got := transitions(tc.sink.take())
		if len(got) != 2 || !contains(got, "comm:rtu-1 rtn rtn_unacked") || !contains(got, "PT-007:H raise active_unacked") {
			t.Fatalf("after the link is back: %v", got)
		}
	})
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestRestartKeepsStateAndSendsNothingTwice: states survive a restart; the
// same sample after it gives no new record; records the logs pipeline had
// refused go out once after the restart.
func TestRestartKeepsStateAndSendsNothingTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		state := filepath.Join(dir, "state")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101", "PT-102"))
		sink := &recSink{}
		tc := startConn(t, defs, state, sink)
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75, "PT-102": 50}))
		if got := transitions(sink.take()); len(got) != 1 {
			t.Fatalf("first run: %v", got)
		}
		sink.setRefuse(true)
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75, "PT-102": 72}))
		// Not a graceful stop: the connector is dropped as a kill -9 would
		// (its file is on disk; nothing else is).
		close(tc.c.stop)
		tc.c.done.Wait()
		tc.c.store.close()
		_ = tc.c.tel.close()

		sink2 := &recSink{}
		tc2 := startConn(t, defs, state, sink2)
		defer tc2.stop(t)
		synctest.Wait()
		if got := transitions(sink2.take()); len(got) != 1 || got[0] != "PT-102:H raise active_unacked" {
			t.Fatalf("after restart, the refused record once: %v", got)
		}
		tc2.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75, "PT-102": 72}))
		tc2.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 69, "PT-102": 72}))
		if got := transitions(sink2.take()); len(got) != 0 {
			t.Fatalf("the same values after the restart gave %v (69 is inside the deadband)", got)
		}
		tc2.c.mu.Lock()
		in := tc2.c.eng.find(tenantA, "PT-101:H")
		st := in.a.State()
		tc2.c.mu.Unlock()
		if st != alarm.ActiveUnacked {
			t.Fatalf("PT-101:H is %s after restart", st)
		}
	})
}

// serveAs calls the operator API as tenant with token.
func serveAs(h http.Handler, tenant, token, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if tenant != "" {
		req = req.WithContext(tenants.NewContext(req.Context(), tenant))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestOperatorAPIAndTenancy: list, acknowledge, shelve and unshelve with
// the journal; another tenant's alarm answers 404 exactly like a missing
// one; B's definitions never see A's samples.
func TestOperatorAPIAndTenancy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		// B watches the very same series name under its own id.
		writeDefs(t, defs, limitDefs(tenantA, "PT-101")+limitDefs(tenantB, "PT-102")+
			strings.Replace(strings.SplitN(limitDefs(tenantA, "PT-101"), "alarms:\n", 2)[1], "id: PT-101", "id: B-PT-101", 1))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75}))
		recs := tc.sink.take()
		if len(recs) != 1 || recs[0].Tenant != tenantA {
			t.Fatalf("A's sample: %v", transitions(recs))
		}
		h := tc.c.handler()
		var list listResponse
		_ = json.Unmarshal(serveAs(h, tenantB, "tb", "GET", "/api/v1/alarms", "").Body.Bytes(), &list)
		for _, v := range list.Alarms {
			if v.State != "normal" {
				t.Fatalf("B's %s is %s after A's sample", v.AlarmID, v.State)
			}
		}
		// PT-101 is A's alone (B has PT-102): B's probes of it answer
		// exactly like an id nobody has.
		for _, p := range []struct{ method, path, body string }{
			{"POST", "/api/v1/alarms/PT-101:H/ack", ""},
			{"POST", "/api/v1/alarms/PT-101:H/shelve", `{"duration":"1h","reason":"x"}`},
			{"POST", "/api/v1/alarms/PT-101:H/unshelve", ""},
			{"GET", "/api/v1/alarms/PT-101:H", ""},
		} {
			r := serveAs(h, tenantB, "tb", p.method, p.path, p.body)
			m := serveAs(h, tenantB, "tb", p.method, strings.Replace(p.path, "PT-101", "PT-999", 1), p.body)
			if r.Code != http.StatusNotFound || m.Code != http.StatusNotFound || r.Body.String() != m.Body.String() {
				t.Fatalf("%s %s as B: %d %q, missing: %d %q", p.method, p.path, r.Code, r.Body.String(), m.Code, m.Body.String())
			}
		}
		if r := serveAs(h, tenantB, "tb", "POST", "/api/v1/alarms/PT-102:H/ack", ""); r.Code != http.StatusConflict {
			t.Fatalf("B's own normal alarm ack: %d", r.Code)
		}
		if got := tc.sink.take(); len(got) != 0 {
			t.Fatalf("B's refused actions sent %v", transitions(got))
		}
		// A acknowledges: one record, with the actor.
		r := serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:H/ack", `{"reason":"seen"}`)
		if r.Code != http.StatusOK {
			t.Fatalf("ack: %d %s", r.Code, r.Body.String())
		}
		synctest.Wait()
		recs = tc.sink.take()
		if len(recs) != 1 || recs[0].Transition != "ack" || recs[0].State != "active_acked" || *recs[0].Actor != tenants.TokenActor("ta") || *recs[0].Reason != "seen" {
			t.Fatalf("ack record: %+v", recs)
		}
		if r := serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:H/ack", ""); r.Code != http.StatusConflict {
			t.Fatalf("second ack: %d", r.Code)
		}
		for _, bad := range []string{`{"duration":"1h"}`, `{"duration":"-1h","reason":"x"}`, `{"duration":"48h","reason":"x"}`, `{"duration":"1h","reason":"x"`} {
			if r := serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:H/shelve", bad); r.Code != http.StatusBadRequest {
				t.Fatalf("shelve %s: %d", bad, r.Code)
			}
		}
		r = serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:H/shelve", `{"duration":"30m","reason":"transmitter replaced"}`)
		if r.Code != http.StatusOK {
			t.Fatalf("shelve: %d %s", r.Code, r.Body.String())
		}
		synctest.Wait()
		time.Sleep(30*time.Minute + 2*time.Second) // the tick applies the expiry
		synctest.Wait()
		got := transitions(tc.sink.take())
		// The condition still holds (75 was the last value): it comes back
		// as a new unacknowledged episode.
		if len(got) != 2 || got[0] != "PT-101:H shelve shelved" || got[1] != "PT-101:H shelve_expired active_unacked" {
			t.Fatalf("shelve and expiry: %v", got)
		}
		var j journalResponse
		_ = json.Unmarshal(serveAs(h, tenantA, "ta", "GET", "/api/v1/alarm-journal", "").Body.Bytes(), &j)
		if len(j.Actions) != 2 || j.Actions[0].Action != "shelve" || j.Actions[1].Action != "ack" || j.Actions[0].Actor != tenants.TokenActor("ta") || j.Actions[0].Reason != "transmitter replaced" {
			t.Fatalf("journal: %+v", j.Actions)
		}
		var jb journalResponse
		_ = json.Unmarshal(serveAs(h, tenantB, "tb", "GET", "/api/v1/alarm-journal", "").Body.Bytes(), &jb)
		if len(jb.Actions) != 0 {
			t.Fatalf("B sees A's journal: %+v", jb.Actions)
		}
		if r := serveAs(h, "", "", "GET", "/api/v1/alarms", ""); r.Code != http.StatusUnauthorized {
			t.Fatalf("no tenant: %d", r.Code)
		}
	})
}

// TestDefinitionsReload: a broken file keeps the last good definitions and
// says why (naming the key); a good one applies.
func TestDefinitionsReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101"))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		writeDefs(t, defs, strings.Replace(limitDefs(tenantA, "PT-101"), "hh: 80", "hh: 60", 1))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		found := false
		for _, e := range tc.logs.All() {
			if e.Message == "Alarm definitions rejected; keeping the previous definitions" &&
				strings.Contains(fmt.Sprint(e.ContextMap()["error"]), "alarms[0] (PT-101).limits: h (70) must be below hh (60)") {
				found = true
			}
		}
		if !found {
			t.Fatalf("no error naming the key in %v", tc.logs.All())
		}
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75}))
		if got := transitions(tc.sink.take()); len(got) != 1 || got[0] != "PT-101:H raise active_unacked" {
			t.Fatalf("the old definitions should still hold: %v", got)
		}
		writeDefs(t, defs, strings.Replace(limitDefs(tenantA, "PT-101"), "h: 70", "h: 76", 1))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 73}))
		if got := transitions(tc.sink.take()); len(got) != 1 || got[0] != "PT-101:H rtn rtn_unacked" {
			t.Fatalf("new limit 76 (deadband 2): 73 returns: %v", got)
		}
	})
}

// TestDamagedStateFile: damage in the middle of the state file is skipped,
// counted and logged; the rest is kept and the start goes on.
func TestDamagedStateFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		state := filepath.Join(dir, "state")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101", "PT-102"))
		tc := startConn(t, defs, state, &recSink{})
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75}))
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-102": 75}))
		tc.stop(t)
		// Break the first record after the header, and tear the tail.
		path := filepath.Join(state, stateFileName)
		data, _ := os.ReadFile(path)
		recs, _ := recordio.ScanAll(data)
		if len(recs) < 3 {
			t.Fatalf("%d records", len(recs))
		}
		data[recs[1].Offset+recordio.HeaderSize+2] ^= 0xff
		data = append(data, recordio.Append(nil, []byte(`{"a":{"tenant":"x"`))[:20]...)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		tc2 := startConn(t, defs, state, &recSink{})
		defer tc2.stop(t)
		var damaged, torn bool
		for _, e := range tc2.logs.All() {
			damaged = damaged || strings.Contains(e.Message, "damaged")
			torn = torn || strings.Contains(e.Message, "torn")
		}
		if !damaged || !torn {
			t.Fatalf("damage not logged: %v", tc2.logs.All())
		}
		matches, _ := filepath.Glob(path + ".damaged-*")
		if len(matches) != 1 {
			t.Fatalf("no copy of the damaged file: %v", matches)
		}
		// The states after the damaged record are intact.
		n := 0
		tc2.c.mu.Lock()
		for _, v := range first(tc2.c.eng.list(tenantA, false, "", 0, maxListLimit)) {
			if v.State == string(alarm.ActiveUnacked) {
				n++
			}
		}
		tc2.c.mu.Unlock()
		if n == 0 {
			t.Fatal("nothing kept")
		}
		b, _ := os.ReadFile(path)
		if _, dmg := recordio.ScanAll(b); len(dmg) != 0 || bytes.Contains(b, []byte(`"tenant":"x"`)) {
			t.Fatal("the file was not rewritten clean")
		}
	})
}

// serveWithRoles calls the operator API with a named token of tenant that
// has only roles.
func serveWithRoles(t *testing.T, h http.Handler, tenant, name string, roles []string, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rs, err := tenants.ParseRoles(roles)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req = req.WithContext(tenants.NewTokenContext(req.Context(), tenants.TokenInfo{Tenant: tenant, Name: name, Roles: rs}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestOperatorAPIRoles (issue 22): a viewer token reads the alarms but may
// not act on them (403 naming the role it lacks, nothing recorded); an
// operator token acknowledges; an ingest-only token reads nothing.
func TestOperatorAPIRoles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101"))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75}))
		if recs := tc.sink.take(); len(recs) != 1 {
			t.Fatalf("the crossing: %v", transitions(recs))
		}
		h := tc.c.handler()
		if r := serveWithRoles(t, h, tenantA, "wall-screen", []string{"viewer"}, "GET", "/api/v1/alarms", ""); r.Code != http.StatusOK {
			t.Fatalf("viewer list: %d %s", r.Code, r.Body.String())
		}
		for _, p := range []string{"/api/v1/alarms/PT-101:H/ack", "/api/v1/alarms/PT-101:H/shelve", "/api/v1/alarms/PT-101:H/unshelve"} {
			r := serveWithRoles(t, h, tenantA, "wall-screen", []string{"viewer"}, "POST", p, `{"duration":"1h","reason":"x"}`)
			if r.Code != http.StatusForbidden || !strings.Contains(r.Body.String(), "operator") || !strings.Contains(r.Body.String(), "wall-screen") {
				t.Fatalf("viewer %s: %d %s", p, r.Code, r.Body.String())
			}
		}
		if r := serveWithRoles(t, h, tenantA, "rtu-gateway", []string{"ingest"}, "GET", "/api/v1/alarms", ""); r.Code != http.StatusForbidden {
			t.Fatalf("ingest-only list: %d %s", r.Code, r.Body.String())
		}
		synctest.Wait()
		if got := tc.sink.take(); len(got) != 0 {
			t.Fatalf("refused actions sent %v", transitions(got))
		}
		if r := serveWithRoles(t, h, tenantA, "li-wei", []string{"operator"}, "POST", "/api/v1/alarms/PT-101:H/ack", `{"reason":"seen"}`); r.Code != http.StatusOK {
			t.Fatalf("operator ack: %d %s", r.Code, r.Body.String())
		}
		synctest.Wait()
		recs := tc.sink.take()
		if len(recs) != 1 || recs[0].Transition != "ack" || recs[0].Actor == nil || *recs[0].Actor != "li-wei" {
			t.Fatalf("the operator's ack record: %+v", recs)
		}
	})
}

func first(v []View, _ int) []View { return v }
