package alarmconnector

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestOutboxBoundPerTenant: while the logs pipeline refuses tenant A's
// records, A's outbox fills to max_outbox_per_tenant; then A's samples are
// refused retryably (gRPC Unavailable with a retry hint) and so are its
// operator actions (503, Retry-After), nothing is evaluated or lost;
// tenant B's samples go on and its records are delivered. Once A's
// records are accepted again, A's outbox drains in order and its samples
// pass.
func TestOutboxBoundPerTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101")+limitDefs(tenantB, "PT-101"))
		sink := &recSink{refuseTenant: tenantA}
		tc := startConnWith(t, defs, filepath.Join(dir, "state"), sink, func(c *Config) { c.MaxOutboxPerTenant = 3 })
		defer tc.stop(t)

		// raise, rtn, realarm of PT-101:H: three records A's pipeline refuses.
		for _, v := range []float64{75, 60, 75} {
			tc.send(t, rtuBatch(tenantA, "rtu-a", "ST-07", true, map[string]float64{"PT-101": v}))
		}
		if n := tc.c.pendingRecords(); n != 3 {
			t.Fatalf("pending %d, want 3", n)
		}
		err := tc.c.ConsumeMetrics(context.Background(), rtuBatch(tenantA, "rtu-a", "ST-07", true, map[string]float64{"PT-101": 60}))
		var full *OutboxFullError
		if !errors.As(err, &full) || full.Tenant != tenantA || full.Pending != 3 || full.Max != 3 {
			t.Fatalf("A at its bound: got %v", err)
		}
		st, _ := status.FromError(err)
		if st.Code() != codes.Unavailable {
			t.Fatalf("refusal code %v, want Unavailable (retryable)", st.Code())
		}
		hint := false
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay.AsDuration() == time.Second {
				hint = true
			}
		}
		if !hint {
			t.Fatalf("no one-second retry hint in %v", st.Details())
		}
		tc.c.mu.Lock()
		state := tc.c.eng.find(tenantA, "PT-101:H").a.State()
		tc.c.mu.Unlock()
		if state != "active_unacked" {
			t.Fatalf("the refused sample was evaluated: PT-101:H is %s", state)
		}
		h := tc.c.handler()
		if rec := serveAs(h, tenantA, "tok-a", http.MethodPost, "/api/v1/alarms/PT-101:H/ack", `{}`); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("ack at the bound: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}

		// B is not held up by A.
		tc.send(t, rtuBatch(tenantB, "rtu-b", "ST-07", true, map[string]float64{"PT-101": 75}))
		if got := transitions(sink.take()); len(got) != 1 || got[0] != "PT-101:H raise active_unacked" {
			t.Fatalf("B's records: %v", got)
		}
		if rec := serveAs(h, tenantB, "tok-b", http.MethodPost, "/api/v1/alarms/PT-101:H/ack", `{}`); rec.Code != http.StatusOK {
			t.Fatalf("B's ack: %d %s", rec.Code, rec.Body)
		}
		synctest.Wait()
		if got := sink.take(); len(got) != 1 || got[0].Tenant != tenantB || got[0].Transition != "ack" {
			t.Fatalf("B's ack record: %v", transitions(got))
		}

		// A's pipeline accepts again: its three records go out in order at
		// the next tick, and its samples pass.
		sink.mu.Lock()
		sink.refuseTenant = ""
		sink.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		drained := sink.take()
		for _, r := range drained {
			if r.Tenant != tenantA {
				t.Fatalf("a record of %s among A's", r.Tenant)
			}
		}
		if got := transitions(drained); len(got) != 3 || got[0] != "PT-101:H raise active_unacked" || got[1] != "PT-101:H rtn rtn_unacked" || got[2] != "PT-101:H realarm active_unacked" {
			t.Fatalf("A's drained outbox: %v", got)
		}
		tc.send(t, rtuBatch(tenantA, "rtu-a", "ST-07", true, map[string]float64{"PT-101": 60}))
		if got := transitions(sink.take()); len(got) != 1 || got[0] != "PT-101:H rtn rtn_unacked" {
			t.Fatalf("A after the drain: %v", got)
		}
	})
}
