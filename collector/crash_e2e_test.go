//go:build e2e

package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestKillNineTenTimesUnderLoadLosesNothing: the default config (log_storage
// queues for Jaeger and Kafka) under steady trace load with error bursts is
// killed with SIGKILL at ten random moments and restarted on the same data
// directory each time. Every span the appliance acknowledged must be in
// Jaeger; the alert records on Kafka, read by sarama's consumer, must be in
// order with no (alert_id, state) twice. Duplicated spans are allowed only
// for requests in flight at a crash; the test prints how many.
func TestKillNineTenTimesUnderLoadLosesNothing(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	env := newApplianceEnv(t)
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--config", "embedded:default",
		"--config", "yaml:connectors::errorfanout::window: 6s"}
	vars := env.vars(jaeger, dataDir, kafka.ListenAddrs()[0])
	app := e2e.StartCollectorArgs(t, args, env.health, vars...)

	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)

	services := []string{"valve-control", "pump-control", "scada-historian"}
	var mu sync.Mutex
	acked := map[string]int{} // trace id -> spans acknowledged
	burst := func(svc int, at time.Duration) bool {
		// Every 6 s one service (in turn) runs at 30 % errors for 3 s.
		phase := int(at / (3 * time.Second))
		return phase%2 == 1 && (phase/2)%len(services) == svc
	}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(0); ; seq++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				td, id := crashTrace(services[svc], svc, seq, burst(svc, time.Since(start)))
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := client.Export(cctx, ptraceotlp.NewExportRequestFromTraces(td))
				cancel()
				if err == nil {
					mu.Lock()
					acked[id] = td.SpanCount()
					mu.Unlock()
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range 10 {
		time.Sleep(time.Duration(1000+rng.IntN(2500)) * time.Millisecond)
		app.Kill(t)
		t.Logf("kill -9 #%d at %v", i+1, time.Since(start).Round(time.Millisecond))
		app = e2e.StartCollectorArgs(t, args, env.health, vars...)
	}
	time.Sleep(8 * time.Second) // let the last bursts fire and resolve
	close(stop)
	wg.Wait()
	mu.Lock()
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	mu.Unlock()
	t.Logf("%d traces acknowledged across 10 crashes", len(ids))

	// Every acknowledged span in Jaeger (Jaeger's own port).
	missing, dups := ids, 0
	for deadline := time.Now().Add(2 * time.Minute); len(missing) > 0 && time.Now().Before(deadline); {
		var still []string
		dups = 0
		for _, id := range missing {
			var body jaegerTraces
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id, &body, ""); err != nil || len(body.Data) != 1 || len(body.Data[0].Spans) < acked[id] {
				still = append(still, id)
				continue
			}
			dups += len(body.Data[0].Spans) - acked[id]
		}
		missing = still
		if len(missing) > 0 {
			time.Sleep(time.Second)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged traces missing from Jaeger (first %s)", len(missing), len(ids), missing[0])
	}
	t.Logf("all acknowledged traces in Jaeger; duplicate spans in the last check: %d", dups)

	// Alert records: sarama reads the topic from the start.
	cons, err := sarama.NewConsumer(kafka.ListenAddrs(), sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.alerts", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var recs []*sarama.ConsumerMessage
	for idle := time.After(5 * time.Second); ; {
		select {
		case m := <-pc.Messages():
			recs = append(recs, m)
			idle = time.After(3 * time.Second)
			continue
		case <-idle:
		}
		break
	}
	type rec struct {
		AlertID string `json:"alert_id"`
		Service string `json:"service"`
		State   string `json:"state"`
	}
	seen := map[string]bool{}
	lastState := map[string]string{}
	firing := 0
	for i, m := range recs {
		var r rec
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, m.Value)
		}
		if seen[r.AlertID+"/"+r.State] {
			t.Errorf("(alert_id, state) twice: %s %s", r.AlertID, r.State)
		}
		seen[r.AlertID+"/"+r.State] = true
		if lastState[r.Service] == r.State {
			t.Errorf("record %d: %s %s follows %s: out of order or lost", i, r.Service, r.State, lastState[r.Service])
		}
		lastState[r.Service] = r.State
		if r.State == "firing" {
			firing++
		}
	}
	t.Logf("%d alert records (%d firing) on Kafka, in order, no duplicate", len(recs), firing)
	if firing == 0 {
		t.Error("no alert fired: the bursts did not reach Kafka")
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// crashTrace is one trace of ten spans of a service, 30 % errors in a burst.
func crashTrace(service string, svc int, seq uint64, burst bool) (ptrace.Traces, string) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(tid[8:], uint64(svc)<<48|seq)
	now := time.Now()
	for i := range 10 {
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{byte(i + 1), byte(svc), byte(seq >> 8), byte(seq), 4, 5, 6, 7})
		s.SetName(fmt.Sprintf("step-%d", i))
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		if burst && i < 3 {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td, hex.EncodeToString(tid[:])
}
