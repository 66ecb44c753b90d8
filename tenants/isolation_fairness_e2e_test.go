//go:build e2e

package tenants_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// Noisy-neighbour tests of issue 19 (points 3 and 4) through the real binary
// with its embedded default configuration, a real Jaeger and a Kafka-protocol
// broker (kfake) read by a sarama consumer.

// defaultAppliance runs the binary with the default config on free ports,
// with the tenants west (A) and east (B); sets are --set overrides of it.
type defaultAppliance struct {
	*e2e.Collector
	otlpHTTP, alertsAPI string
}

func startDefaultAppliance(t *testing.T, jaeger *e2e.Jaeger, kafka string, sets ...string) *defaultAppliance {
	t.Helper()
	tenantsFile := filepath.Join(t.TempDir(), "tenants.yaml")
	body := fmt.Sprintf("tenants:\n  - id: %s\n    token_sha256: [%s]\n  - id: %s\n    token_sha256: [%s]\n",
		westID, tenants.HashToken(westToken), eastID, tenants.HashToken(eastToken))
	if err := os.WriteFile(tenantsFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &defaultAppliance{otlpHTTP: e2e.FreeAddr(t), alertsAPI: e2e.FreeAddr(t)}
	health, metrics := e2e.FreeAddr(t), e2e.FreeAddr(t)
	_, metricsPort, _ := net.SplitHostPort(metrics)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := []string{
		"SCADAOTEL_OTLP_GRPC_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_OTLP_HTTP_ENDPOINT=" + a.otlpHTTP,
		"SCADAOTEL_HEALTH_ENDPOINT=" + health,
		"SCADAOTEL_METRICS_PORT=" + metricsPort,
		"SCADAOTEL_QUERY_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_TRACE_QUERY_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_UI_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_ALERTS_ENDPOINT=" + a.alertsAPI,
		"SCADAOTEL_ALARMS_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_REMOTE_WRITE_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT=" + jaeger.OTLPGRPC,
		"SCADAOTEL_JAEGER_QUERY_URL=" + jaeger.QueryURL,
		"SCADAOTEL_KAFKA_BROKERS=" + kafka,
		"SCADAOTEL_TENANTS_FILE=" + tenantsFile,
		"SCADAOTEL_DATA_DIR=" + dataDir,
	}
	args := []string{"--data-dir", dataDir}
	if len(sets) > 0 {
		// --set alone would replace the default config instead of amending it.
		args = append(args, "--config", "embedded:default")
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	a.Collector = e2e.StartCollectorArgs(t, args, health, env...)
	return a
}

// errorBurst is one request of services × spans error spans (one resource
// per service): each service fires on it with the default min_spans (20).
func errorBurst(services []string, spans int, seq *uint64) []byte {
	return spanBurst(services, spans, true, seq)
}

// spanBurst is one request of services × spans spans, all errors or none.
func spanBurst(services []string, spans int, errs bool, seq *uint64) []byte {
	td := ptrace.NewTraces()
	now := time.Now()
	for _, svc := range services {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		for i := 0; i < spans; i++ {
			*seq++
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[:8], uint64(now.UnixNano()))
			binary.BigEndian.PutUint64(tid[8:], *seq)
			s := ss.AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
			s.SetName("modbus-read")
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			if errs {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

func postTraces(t *testing.T, addr, token string, body []byte) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		// A refusal the sender retries (memory limiter, hold) is retried as an SDK would.
		if (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && attempt < 50 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Errorf("POST /v1/traces as %s: %d %s", token, resp.StatusCode, msg)
		return
	}
}

// alertLog is every alert record read from scada.alerts, with its arrival.
type alertLog struct {
	mu   sync.Mutex
	recs []alertSeen
	cond chan struct{}
}

type alertSeen struct {
	Tenant, Service, State, AlertID string
	at                              time.Time
	offset                          int64
}

func consumeAlerts(t *testing.T, broker string) *alertLog {
	t.Helper()
	cons, err := sarama.NewConsumer([]string{broker}, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	pc, err := cons.ConsumePartition("scada.alerts", 0, sarama.OffsetOldest)
	if err != nil {
		cons.Close()
		t.Fatal(err)
	}
	l := &alertLog{cond: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range pc.Messages() {
			var r struct {
				Tenant  string `json:"tenant"`
				Service string `json:"service"`
				State   string `json:"state"`
				AlertID string `json:"alert_id"`
			}
			if err := json.Unmarshal(m.Value, &r); err != nil {
				t.Errorf("record at offset %d: %v", m.Offset, err)
				continue
			}
			l.mu.Lock()
			l.recs = append(l.recs, alertSeen{Tenant: r.Tenant, Service: r.Service, State: r.State, AlertID: r.AlertID, at: time.Now(), offset: m.Offset})
			l.mu.Unlock()
			select {
			case l.cond <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		cons.Close()
		<-done
	})
	return l
}

// waitFor returns when the firing record of (tenant, service) arrived.
func (l *alertLog) waitFor(t *testing.T, tenant, service string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, r := range l.recs {
			if r.Tenant == tenant && r.Service == service && r.State == "firing" {
				l.mu.Unlock()
				return r.at
			}
		}
		l.mu.Unlock()
		select {
		case <-l.cond:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no firing record of %s/%s in Kafka within %s", tenant, service, timeout)
		}
	}
}

func (l *alertLog) count(tenant string) (firing int, dups int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range l.recs {
		if r.Tenant != tenant || r.State != "firing" {
			continue
		}
		k := r.AlertID + "/" + r.State
		if seen[k] {
			dups++
			continue
		}
		seen[k] = true
		firing++
	}
	return firing, dups
}

// TestAlertStormDoesNotDelayOtherTenants (issue 19, point 3): tenant A's
// storm of 2,000 alert events (2,000 services × 20 error spans, in two
// concurrent requests) must not delay tenant B's next firing record in Kafka.
// As in the issue, B's alert goes out as soon as A's storm was accepted (its
// 2,000 alert events raised, most not yet in Kafka), and B's alert-to-Kafka
// latency (request sent → record read by a consumer) is measured.
//
// The baseline ("B alone" as far as alerts go) is the same measurement
// right after A sent the same 40,000 spans without errors: the appliance
// then carries the same ingest load (A's spans on their way to Jaeger on the
// same two cores and disk) but no alert of A. Three rounds of each,
// alternating; the median with A's storm must stay within 1.5× of the
// median without it, plus 100 ms: B's alert still waits for at most one
// request of A in the connector's turn, shares fsyncs with A's writes, and
// shares the two cores with A's storm's own work (40,000 raw error spans and
// 2,000 records on their way to Kafka). Measured on an idle 2-core machine:
// 14-33 ms (idle appliance 2.6-3.6 ms, after A's healthy burst 4-5 ms); with
// the earlier FIFO sending queue in front of the heads 44-560 ms (medians
// 69-237 ms); with one global in-order outbox, one fsync per event and one
// Kafka send per record 7.6-14.4 s. Every one of A's alerts reaches Kafka
// once. B's latency while A's storm is still being sent is logged, not
// asserted: it is dominated by the ingest of A's spans, which A's span rate
// limit bounds.
func TestAlertStormDoesNotDelayOtherTenants(t *testing.T) {
	const stormServices, perRequest, rounds = 2000, 1000, 3
	jaeger := e2e.StartJaeger(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	broker := kc.ListenAddrs()[0]
	app := startDefaultAppliance(t, jaeger, broker)
	alerts := consumeAlerts(t, broker)
	var seqMu sync.Mutex
	var seq uint64
	burst := func(services []string, errs bool) []byte {
		seqMu.Lock()
		defer seqMu.Unlock()
		return spanBurst(services, 20, errs, &seq)
	}
	bAlert := func(name string) time.Duration {
		body := burst([]string{name}, true)
		start := time.Now()
		postTraces(t, app.otlpHTTP, eastToken, body)
		return alerts.waitFor(t, eastID, name, 60*time.Second).Sub(start)
	}
	// storm sends A's 2,000 services (errors: each fires) of round name in
	// two concurrent requests of 1,000; during runs after the first was
	// answered.
	storm := func(name string, errs bool, during func()) {
		var wg sync.WaitGroup
		reqs := make(chan []string)
		answered := make(chan struct{}, stormServices/perRequest)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for svcs := range reqs {
					postTraces(t, app.otlpHTTP, westToken, burst(svcs, errs))
					answered <- struct{}{}
				}
			}()
		}
		go func() {
			for i := 0; i < stormServices; i += perRequest {
				var svcs []string
				for j := i; j < i+perRequest; j++ {
					svcs = append(svcs, fmt.Sprintf("a-%s-%04d", name, j))
				}
				reqs <- svcs
			}
			close(reqs)
		}()
		if during != nil {
			<-answered
			during()
		}
		wg.Wait()
	}

	// Warm up (producer connection, first queue files), then B on an idle appliance.
	bAlert("b-warmup")
	var idle []time.Duration
	for i := 0; i < 5; i++ {
		idle = append(idle, bAlert(fmt.Sprintf("b-idle-%d", i)))
		time.Sleep(100 * time.Millisecond)
	}

	var healthy, stormy []time.Duration
	aAlerts := 0
	for r := 0; r < rounds; r++ {
		storm(fmt.Sprintf("ok%d", r), false, nil)
		healthy = append(healthy, bAlert(fmt.Sprintf("b-healthy-%d", r)))

		start := time.Now()
		storm(fmt.Sprintf("storm%d", r), true, nil)
		sent := time.Since(start)
		inKafka, _ := alerts.count(westID)
		aAlerts += stormServices
		d := bAlert(fmt.Sprintf("b-storm-%d", r))
		stormy = append(stormy, d)
		t.Logf("round %d: A's storm accepted in %s, %d of A's %d alerts not yet in Kafka; B's alert took %s (after A's healthy burst: %s)",
			r, sent.Round(time.Millisecond), aAlerts-inKafka, aAlerts, d, healthy[r])
		e2e.Eventually(t, 120*time.Second, func() error {
			if n, _ := alerts.count(westID); n < aAlerts {
				return fmt.Errorf("%d of A's %d firing records in Kafka", n, aAlerts)
			}
			return nil
		})
		t.Logf("round %d: all of A's alerts in Kafka %s after the storm began", r, time.Since(start).Round(time.Millisecond))
	}
	var during []time.Duration
	storm("during", true, func() {
		for i := 0; i < 3; i++ {
			during = append(during, bAlert(fmt.Sprintf("b-during-%d", i)))
		}
	})
	aAlerts += stormServices
	t.Logf("B on an idle appliance: %v (median %s); B right after A's healthy burst: %v (median %s); B right after A's alert storm: %v (median %s); B while A's storm is being sent (not asserted): %v",
		idle, median(idle), healthy, median(healthy), stormy, median(stormy), during)

	// Everything of A arrives, once.
	e2e.Eventually(t, 120*time.Second, func() error {
		if n, _ := alerts.count(westID); n < aAlerts {
			return fmt.Errorf("%d of A's %d firing records in Kafka", n, aAlerts)
		}
		return nil
	})
	if aFiring, aDups := alerts.count(westID); aFiring != aAlerts || aDups != 0 {
		t.Errorf("A: %d distinct firing records (want %d), %d duplicates", aFiring, aAlerts, aDups)
	}
	limit := median(healthy)*3/2 + 100*time.Millisecond
	if m := median(stormy); m > limit {
		t.Errorf("B's alert right after A's alert storm took %s (median of %d rounds), more than 1.5× after A's healthy burst (%s) + 100 ms = %s",
			m, rounds, median(healthy), limit)
	}
}

// TestFiringKeysOfOneTenantDoNotRefuseAnother (issue 19, point 4): with
// errorfanout's max_keys at 40 and tenant A's 40 services all firing (plus
// 10 more A tries to add), tenant B's new service still alerts: its firing
// record reaches Kafka. On main max_keys was one bound over all tenants and
// B's key was refused (scadaotel_errorfanout_refused_keys), so B never
// alerted.
func TestFiringKeysOfOneTenantDoNotRefuseAnother(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	broker := kc.ListenAddrs()[0]
	app := startDefaultAppliance(t, jaeger, broker, "connectors::errorfanout::max_keys=40")
	alerts := consumeAlerts(t, broker)
	var seq uint64
	var aServices []string
	for i := 0; i < 50; i++ {
		aServices = append(aServices, fmt.Sprintf("a-svc-%02d", i))
	}
	postTraces(t, app.otlpHTTP, westToken, errorBurst(aServices[:40], 20, &seq))
	for _, svc := range aServices[:40] {
		alerts.waitFor(t, westID, svc, 30*time.Second)
	}
	postTraces(t, app.otlpHTTP, westToken, errorBurst(aServices[40:], 20, &seq)) // over the bound: A's own problem

	postTraces(t, app.otlpHTTP, eastToken, errorBurst([]string{"plc-gateway"}, 20, &seq))
	alerts.waitFor(t, eastID, "plc-gateway", 15*time.Second)
	if n, _ := alerts.count(westID); n != 40 {
		t.Errorf("A: %d firing records, want 40 (its keys over max_keys are not tracked)", n)
	}
}

// fragmentRequest is one request of a fragment with a damaged trace id (its
// high half zero, no original known): traceidrepair holds it for hold.wait.
func fragmentRequest(n uint64, spans int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "historian-sync")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[8:], n)
	now := time.Now()
	for i := 0; i < spans; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8})
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
		}
		s.SetName("poll")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

// postOnce posts an OTLP/HTTP traces request once and returns its status
// (0 when it did not answer within timeout, if set).
func postOnce(t *testing.T, addr, token string, body []byte, timeout ...time.Duration) int {
	t.Helper()
	client := http.DefaultClient
	if len(timeout) > 0 {
		client = &http.Client{Timeout: timeout[0]}
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		if len(timeout) == 0 {
			t.Error(err)
		}
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRepairHoldOfOneTenantDoesNotRefuseAnother (issue 19, point 10): with
// traceidrepair's hold.max_spans at 40, tenant A's held fragments (25
// requests of 2 spans) fill it and A's further ones are refused (503,
// retryable); tenant B's fragment (4 spans) sent then is still held and
// answered 200. On main the hold was one bound over all tenants and B got
// the 503.
func TestRepairHoldOfOneTenantDoesNotRefuseAnother(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	app := startDefaultAppliance(t, jaeger, "127.0.0.1:1",
		"processors::traceidrepair::hold::max_spans=40", "processors::traceidrepair::hold::wait=5s")
	var wg sync.WaitGroup
	codes := make(chan int, 25)
	for i := 0; i < 25; i++ { // 50 spans: more than the hold takes
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- postOnce(t, app.otlpHTTP, westToken, fragmentRequest(uint64(i+1), 2))
		}()
	}
	defer wg.Wait()
	hist := map[int]int{}
	select {
	case c := <-codes: // the first answer is a refusal: the held ones wait 5 s
		hist[c]++
	case <-time.After(4 * time.Second):
	}
	if hist[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("A was not refused at the full hold (answers so far: %v)", hist)
	}
	if code := postOnce(t, app.otlpHTTP, eastToken, fragmentRequest(1000, 4)); code != http.StatusOK {
		t.Errorf("B's fragment while A fills the hold: HTTP %d, want 200 (held, then passed on)", code)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		hist[c]++
		if c != http.StatusOK && c != http.StatusServiceUnavailable {
			t.Errorf("A's fragment answered %d, want 200 (held, then passed on) or 503 (the hold full)", c)
		}
	}
	t.Logf("A's 25 fragments answered: %v", hist)
}
