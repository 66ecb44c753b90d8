//go:build e2e

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestJaegerBacklogOfRealisticSpansArrivesWhole: no acknowledged span is lost
// in a backlog.
// Jaeger is down while ordinary spans (a 600-byte attribute, ~700 bytes
// each; and 3 KB spans) are acknowledged; when Jaeger comes back, the queue
// drains in batches that used to pass Jaeger's 4 MiB gRPC limit and were
// dropped (40 % lost). Every acknowledged span must be in Jaeger, read on
// Jaeger's own port, and the appliance must never log a drop.
func TestJaegerBacklogOfRealisticSpansArrivesWhole(t *testing.T) {
	for _, c := range []struct {
		name      string
		attrBytes int
		traces    int
	}{
		{"700B_spans", 600, 2000}, // 20,000 spans, ~14 MB of backlog
		{"3KB_spans", 2900, 700},  // 7,000 spans, ~21 MB of backlog
	} {
		t.Run(c.name, func(t *testing.T) {
			runBacklog(t, c.attrBytes, c.traces)
		})
	}
}

const spansPerTrace = 10

func runBacklog(t *testing.T, attrBytes, nTraces int) {
	jaeger := e2e.StartJaegerIn(t, t.TempDir())
	if code, _ := jaeger.Stop(t); code != 0 {
		t.Fatalf("jaeger exit code %d", code)
	}
	env := newApplianceEnv(t)
	dataDir := t.TempDir()
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, env.vars(jaeger, dataDir, "127.0.0.1:1")...)

	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)

	// Ten traces of ten spans per request, four senders: every trace id whose
	// request was acknowledged is recorded.
	pad := strings.Repeat("p", attrBytes)
	var mu sync.Mutex
	var acked []pcommon.TraceID
	var wg sync.WaitGroup
	const senders = 4
	perSender := nTraces / senders / 10
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range perSender {
				td, ids := backlogRequest(s, r, pad)
				if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
					t.Errorf("export while Jaeger is down must be acknowledged: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d traces (%d spans of ~%d bytes) acknowledged while Jaeger was down", len(acked), len(acked)*spansPerTrace, attrBytes+100)

	jaeger.Restart(t)
	missing := acked
	deadline := time.Now().Add(3 * time.Minute)
	dups := 0
	for len(missing) > 0 && time.Now().Before(deadline) {
		var still []pcommon.TraceID
		for _, id := range missing {
			var body jaegerTraces
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id.String(), &body, ""); err != nil || len(body.Data) != 1 || len(body.Data[0].Spans) < spansPerTrace {
				still = append(still, id)
				continue
			}
			dups += len(body.Data[0].Spans) - spansPerTrace
		}
		missing = still
		if len(missing) > 0 {
			time.Sleep(time.Second)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged traces never complete in Jaeger (first: %s)", len(missing), len(acked), missing[0])
	}
	t.Logf("every acknowledged span in Jaeger; %d duplicate spans (at-least-once)", dups)
	for _, bad := range []string{"Dropping data", "dropped_items", "panic"} {
		if strings.Contains(app.Output(), bad) {
			t.Errorf("appliance log contains %q", bad)
		}
	}
	// Nothing went to the dead-letter area: Jaeger refused nothing for good.
	if files, _ := filepath.Glob(filepath.Join(dataDir, "deadletter", "jaeger", "deadletter-*.log")); len(files) > 0 {
		st, _ := os.Stat(files[0])
		t.Errorf("dead-letter files written: %v (%d bytes)", files, st.Size())
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("appliance exit code %d", code)
	}
}

// backlogRequest builds ten traces of ten spans each for sender s, request r.
func backlogRequest(s, r int, pad string) (ptrace.Traces, []pcommon.TraceID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "pipeline-dispatch")
	ss := rs.ScopeSpans().AppendEmpty()
	ids := make([]pcommon.TraceID, 0, 10)
	now := time.Now()
	for tr := range 10 {
		id := pcommon.TraceID{0xB0, byte(s), byte(r >> 8), byte(r), byte(tr), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
		ids = append(ids, id)
		for i := range spansPerTrace {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(id)
			sp.SetSpanID(pcommon.SpanID{byte(s), byte(r >> 8), byte(r), byte(tr), byte(i), 0, 0, 1})
			sp.SetName(fmt.Sprintf("dispatch-step-%d", i))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			sp.Attributes().PutStr("payload", pad)
		}
	}
	return td, ids
}
