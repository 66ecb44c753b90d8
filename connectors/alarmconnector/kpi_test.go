package alarmconnector

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestEEMUAFigures: a flood (more than 10 alarms in 10 minutes) is counted
// once, the most frequent alarm leads the bad actors, a chattering alarm
// and an alarm active for over 24 hours are named, all per tenant.
func TestEEMUAFigures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		var pts []string
		for i := 0; i < 12; i++ {
			pts = append(pts, fmt.Sprintf("PT-%02d", i))
		}
		writeDefs(t, defs, limitDefs(tenantA, pts...)+limitDefs(tenantB, "PT-00"))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		h := tc.c.handler()
		kpis := func(tenant string) KPIs {
			var k KPIs
			if err := json.Unmarshal(serveAs(h, tenant, "x", "GET", "/api/v1/alarm-kpis", "").Body.Bytes(), &k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		// PT-00 chatters: up, down, up within a minute.
		for _, v := range []float64{75, 50, 75} {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-00": v}))
			time.Sleep(10 * time.Second)
		}
		// 11 other points raise: with PT-00's two raises, 13 in 10 minutes.
		for i := 1; i < 12; i++ {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{pts[i]: 75}))
		}
		k := kpis(tenantA)
		if k.AlarmsLast10m != 13 || !k.InFlood || k.FloodPeriods != 1 || k.ActiveByPriority["high"] != 12 {
			t.Fatalf("figures %+v", k)
		}
		if len(k.BadActors) != 10 || k.BadActors[0] != (BadActor{"PT-00:H", 2}) {
			t.Fatalf("bad actors %+v", k.BadActors)
		}
		if len(k.Chattering) != 1 || k.Chattering[0] != "PT-00:H" {
			t.Fatalf("chattering %v", k.Chattering)
		}
		if kb := kpis(tenantB); kb.AlarmsLast10m != 0 || kb.InFlood || len(kb.BadActors) != 0 {
			t.Fatalf("B sees A's figures: %+v", kb)
		}
		time.Sleep(24*time.Hour + time.Minute)
		k = kpis(tenantA)
		if k.AlarmsLast10m != 0 || k.InFlood || k.FloodPeriods != 1 || len(k.Stale) != 12 || len(k.Chattering) != 0 || len(k.BadActors) != 0 {
			t.Fatalf("a day later: %+v", k)
		}
	})
}

// TestEEMUAFiguresSurviveARestart: the 10-minute window, the flood count
// and the bad actors' 24-hour counts are kept in the state file, so a
// restart in the middle of a flood still reports it, and B's figures stay
// B's.
func TestEEMUAFiguresSurviveARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		state := filepath.Join(dir, "state")
		var pts []string
		for i := 0; i < 12; i++ {
			pts = append(pts, fmt.Sprintf("PT-%02d", i))
		}
		writeDefs(t, defs, limitDefs(tenantA, pts...)+limitDefs(tenantB, "PT-00"))
		kpisOf := func(tc *testConn, tenant string) KPIs {
			var k KPIs
			if err := json.Unmarshal(serveAs(tc.c.handler(), tenant, "x", "GET", "/api/v1/alarm-kpis", "").Body.Bytes(), &k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		tc := startConn(t, defs, state, &recSink{})
		for _, v := range []float64{75, 50, 75} { // PT-00 raised twice
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-00": v}))
			time.Sleep(10 * time.Second)
		}
		for i := 1; i < 12; i++ {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{pts[i]: 75}))
		}
		tc.send(t, rtuBatch(tenantB, "rtu-9", "ST-90", true, map[string]float64{"PT-00": 75}))
		before := kpisOf(tc, tenantA)
		tc.stop(t)
		time.Sleep(time.Minute)

		tc = startConn(t, defs, state, &recSink{})
		defer tc.stop(t)
		after := kpisOf(tc, tenantA)
		if after.AlarmsLast10m != 13 || !after.InFlood || after.FloodPeriods != 1 {
			t.Fatalf("after a restart: %d raises in 10 minutes, flood %v, %d flood periods; before it: %d, %v, %d",
				after.AlarmsLast10m, after.InFlood, after.FloodPeriods, before.AlarmsLast10m, before.InFlood, before.FloodPeriods)
		}
		if len(after.BadActors) != 10 || after.BadActors[0] != (BadActor{"PT-00:H", 2}) {
			t.Fatalf("bad actors after a restart: %+v (before: %+v)", after.BadActors, before.BadActors)
		}
		if kb := kpisOf(tc, tenantB); kb.AlarmsLast10m != 1 || kb.FloodPeriods != 0 || len(kb.BadActors) != 1 {
			t.Fatalf("B's figures after a restart: %+v", kb)
		}
		// The restored raises leave the window on time.
		time.Sleep(10 * time.Minute)
		if k := kpisOf(tc, tenantA); k.AlarmsLast10m != 0 || k.InFlood || k.FloodPeriods != 1 {
			t.Fatalf("11 minutes after the flood: %+v", k)
		}
	})
}
