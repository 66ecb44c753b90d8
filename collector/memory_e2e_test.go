//go:build e2e

package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestMemoryBlastIsRefusedBeforeTheLimit: the appliance runs with a memory
// budget (SCADAOTEL_MEMORY_LIMIT, as the cgroup limit would set it) while
// 16 senders blast 3.5 MB trace requests. Receivers must refuse with
// retryable errors, and the process's RSS must stay under the budget.
func TestMemoryBlastIsRefusedBeforeTheLimit(t *testing.T) {
	const budget = 384 << 20
	jaeger := e2e.StartJaeger(t) // the trace store is up: the blast is about memory, not disk
	env := newApplianceEnv(t)
	dataDir := t.TempDir()
	vars := append(env.vars(jaeger, dataDir, "127.0.0.1:1"), "SCADAOTEL_MEMORY_LIMIT=384MiB")
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, vars...)
	if !strings.Contains(app.Output(), "memory budget 384 MiB") {
		t.Fatalf("budget not applied; log:\n%s", app.Output())
	}

	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)
	pad := strings.Repeat("m", 600)

	var accepted, refused, other atomic.Int64
	var maxRSS atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if r := app.RSS(); r > maxRSS.Load() {
				maxRSS.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	for s := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; time.Now().Before(deadline); r++ {
				td, _ := backlogRequest(s, r%60000, pad)
				for range 49 { // 500 traces, 5,000 spans, ~3.5 MB
					more, _ := backlogRequest(s+16*(r%1000), r%60000, pad)
					more.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				}
				_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
				switch grpcstatus.Code(err) {
				case codes.OK:
					accepted.Add(1)
				case codes.Unavailable, codes.ResourceExhausted:
					refused.Add(1)
				default:
					other.Add(1)
					t.Logf("unexpected answer: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	t.Logf("accepted %d, refused %d (retryable), other %d; max RSS %d MiB of a %d MiB budget",
		accepted.Load(), refused.Load(), other.Load(), maxRSS.Load()>>20, budget>>20)
	if app.Exited() {
		t.Fatalf("appliance died under the blast; log:\n%s", app.Output())
	}
	if refused.Load() == 0 {
		t.Error("no refusal under the blast: memory_limiter never refused")
	}
	if other.Load() > 0 {
		t.Errorf("%d answers that are neither success nor a retryable refusal", other.Load())
	}
	if maxRSS.Load() >= budget {
		t.Errorf("RSS reached %d MiB, over the %d MiB budget", maxRSS.Load()>>20, budget>>20)
	}
	if accepted.Load() == 0 {
		t.Error("nothing accepted: refusing everything is not a memory limit")
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
