package alarmconnector

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentSamplesAndActions: samples of two tenants, operator actions
// and listings at the same time (run it with -race). Every alarm's records
// reach the logs pipeline in the order of its transitions, none missing
// and none twice (seq 1, 2, 3, ... per alarm).
func TestConcurrentSamplesAndActions(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "alarms.yaml")
	writeDefs(t, defs, limitDefs(tenantA, "PT-1", "PT-2")+limitDefs(tenantB, "PT-1"))
	sink := &recSink{}
	tc := startConn(t, defs, filepath.Join(dir, "state"), sink)
	h := tc.c.handler()
	var wg sync.WaitGroup
	for _, tenant := range []string{tenantA, tenantB} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				v := 50.0
				if i%2 == 0 {
					v = 85
				}
				if err := tc.c.ConsumeMetrics(t.Context(), rtuBatch(tenant, "rtu-"+tenant, "ST-1", i%7 != 3, map[string]float64{"PT-1": v, "PT-2": 100 - v})); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := []string{"PT-1:H", "PT-1:HH", "PT-2:H"}[i%3]
				switch i % 4 {
				case 0:
					serveAs(h, tenant, "t", "POST", "/api/v1/alarms/"+id+"/ack", "")
				case 1:
					serveAs(h, tenant, "t", "POST", "/api/v1/alarms/"+id+"/shelve", `{"duration":"1h","reason":"r"}`)
				case 2:
					serveAs(h, tenant, "t", "POST", "/api/v1/alarms/"+id+"/unshelve", "")
				default:
					serveAs(h, tenant, "t", "GET", "/api/v1/alarms", "")
					serveAs(h, tenant, "t", "GET", "/api/v1/alarm-kpis", "")
				}
			}
		}()
	}
	wg.Wait()
	tc.stop(t)
	last := map[string]uint64{}
	n := 0
	for _, r := range sink.take() {
		k := r.Tenant + "/" + r.AlarmID
		if r.Seq != last[k]+1 {
			t.Fatalf("%s: record seq %d after %d", k, r.Seq, last[k])
		}
		last[k] = r.Seq
		n++
	}
	if n < 100 {
		t.Fatalf("only %d records", n)
	}
	t.Logf("%d records, in order per alarm: %v", n, fmt.Sprint(last))
}
