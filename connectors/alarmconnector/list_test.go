package alarmconnector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// TestAlarmListPages: in a flood the list is served a page at a time with
// the total, in priority order, and bad paging parameters are refused.
func TestAlarmListPages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		var pts []string
		for i := 0; i < 30; i++ {
			pts = append(pts, fmt.Sprintf("PT-%02d", i))
		}
		writeDefs(t, defs, limitDefs(tenantA, pts...))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		values := map[string]float64{}
		for i, p := range pts {
			switch {
			case i < 5:
				values[p] = 85 // HH (critical) and H (high)
			case i < 20:
				values[p] = 75 // H
			default:
				values[p] = 50
			}
		}
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, values))
		h := tc.c.handler()
		page := func(q string) listResponse {
			t.Helper()
			rec := serveAs(h, tenantA, "x", "GET", "/api/v1/alarms?"+q, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
			}
			var lr listResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil {
				t.Fatal(err)
			}
			return lr
		}
		// 25 active: 5 HH (critical) first, then 20 H.
		lr := page("active=true&limit=10")
		if lr.Total != 25 || len(lr.Alarms) != 10 || lr.Limit != 10 || lr.Offset != 0 {
			t.Fatalf("first page: total %d, %d alarms, limit %d, offset %d", lr.Total, len(lr.Alarms), lr.Limit, lr.Offset)
		}
		for i, v := range lr.Alarms[:5] {
			if v.Priority != "critical" || !strings.HasSuffix(v.AlarmID, ":HH") {
				t.Fatalf("alarm %d of the first page is %s (%s), want the critical HH alarms first", i, v.AlarmID, v.Priority)
			}
		}
		seen := map[string]bool{}
		for off := 0; off < 25; off += 10 {
			for _, v := range page(fmt.Sprintf("active=true&limit=10&offset=%d", off)).Alarms {
				if seen[v.AlarmID] || v.State == "normal" {
					t.Fatalf("page at %d: %s twice or normal (%s)", off, v.AlarmID, v.State)
				}
				seen[v.AlarmID] = true
			}
		}
		if len(seen) != 25 {
			t.Fatalf("the pages hold %d alarms, want the 25 active", len(seen))
		}
		if lr := page("active=true&offset=100"); lr.Total != 25 || len(lr.Alarms) != 0 {
			t.Fatalf("past the end: total %d, %d alarms", lr.Total, len(lr.Alarms))
		}
		if lr := page(""); lr.Total != 60 || len(lr.Alarms) != 60 || lr.Limit != defaultListLimit {
			t.Fatalf("every alarm: total %d, %d alarms, limit %d", lr.Total, len(lr.Alarms), lr.Limit)
		}
		for _, q := range []string{"limit=0", "limit=10001", "limit=x", "offset=-1"} {
			rec := serveAs(h, tenantA, "x", "GET", "/api/v1/alarms?"+q, "")
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), strings.SplitN(q, "=", 2)[0]) {
				t.Errorf("%s: %d %s, want 400 naming the parameter", q, rec.Code, rec.Body)
			}
		}
		if lr := page("station=ST-07&limit=1"); lr.Total != 60 || len(lr.Alarms) != 1 {
			t.Fatalf("station ST-07: total %d, %d alarms", lr.Total, len(lr.Alarms))
		}
		// limitDefs' selectors name no station: the samples' station counts.
		if lr := page("station=ST-99"); lr.Total != 0 {
			t.Fatalf("another station: total %d", lr.Total)
		}
		// Another tenant's list is its own: empty.
		if lr := func() listResponse {
			rec := serveAs(h, tenantB, "x", "GET", "/api/v1/alarms?active=true", "")
			var lr listResponse
			_ = json.Unmarshal(rec.Body.Bytes(), &lr)
			return lr
		}(); lr.Total != 0 || len(lr.Alarms) != 0 {
			t.Fatalf("tenant B sees %d of A's alarms", lr.Total)
		}
	})
}
