//go:build e2e

package errorfanoutconnector_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// outageConfig is the errorfanout / kafka_alerts / Jaeger wiring of
// collector/config/default.yaml (persistent queues on fsync'd file storage,
// one ordered Kafka consumer, retry until Jaeger is back) with test ports,
// no tenant auth, and the window given by the scenario.
const outageConfig = `
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
  file_storage:
    directory: ${env:SCADAOTEL_DATA_DIR}/queue
    create_directory: true
    fsync: true
receivers:
  otlp:
    protocols:
      http: {endpoint: %[2]s}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
connectors:
  errorfanout:
    store: [traces/store]
    alert: [traces/alert]
    window: %[6]s
    buckets: 5
    history:
      directory: ${env:SCADAOTEL_DATA_DIR}/errorfanout
exporters:
  otlp_grpc/jaeger:
    endpoint: %[3]s
    tls: {insecure: true}
    sending_queue:
      storage: file_storage
      queue_size: 50000
      batch: {flush_timeout: 200ms}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
  kafka_alerts:
    brokers: [%[4]s]
    topic: scada.alerts
    spans: {topic: scada.alert-spans}
    dead_letter:
      directory: ${env:SCADAOTEL_DATA_DIR}/deadletter/kafka_alerts
    trace_url: %[5]s/trace/{trace_id}
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s}
    sending_queue:
      storage: file_storage
      sizer: bytes
      queue_size: 67108864
      num_consumers: 1
service:
  extensions: [healthcheckv2, file_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [errorfanout]
    traces/store:
      receivers: [errorfanout]
      exporters: [otlp_grpc/jaeger]
    traces/alert:
      receivers: [errorfanout]
      exporters: [kafka_alerts]
    logs/alerts:
      receivers: [errorfanout]
      exporters: [kafka_alerts]
`

// outageScenario is the timeline of one outage run. Everything is relative
// to the end of the baseline: Kafka stops at 0 (when hot1's burst starts),
// Jaeger one second later; hot2 bursts from burst2At; the appliance restarts
// at restartAt; Kafka comes back at outage, Jaeger one second later.
type outageScenario struct {
	window    time.Duration // errorfanout window
	baseline  time.Duration // 1 % on every key before the outage
	burst     time.Duration // length of each hot key's 20 % burst
	burst2At  time.Duration // hot2's burst start
	outage    time.Duration // how long Kafka (and Jaeger) are down
	restartAt time.Duration // appliance restart, inside the outage
	settle    time.Duration // max wait after the outage for the resolved records
	drain     time.Duration // max wait for Jaeger to hold every trace
}

// restartMode says how the appliance is restarted in the middle of the outages.
type restartMode int

const (
	noRestart restartMode = iota
	sigterm
	sigkill
)

func (m restartMode) String() string {
	return [...]string{"no-restart", "SIGTERM", "SIGKILL"}[m]
}

// startKfake starts a one-broker kfake cluster on port (0: any) persisting
// to dir, retrying while the port of a just-closed cluster lingers.
func startKfake(t *testing.T, port int, dir string) *kfake.Cluster {
	t.Helper()
	var err error
	for i := 0; i < 100; i++ {
		var c *kfake.Cluster
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites(), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
		if err == nil {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kfake on port %d: %v", port, err)
	return nil
}

// runOutage: real binary, Jaeger (badger) and a kfake broker. Three keys at
// 1 %; the broker and Jaeger stop while two keys burst at 20 % (the
// appliance restarted in the middle according to mode), then come back on
// the same ports and storage. Checks: exactly firing(hot1), firing(hot2),
// resolved(hot1), resolved(hot2) on Kafka, in that order and in event-time
// order, no (alert_id, state) twice, nothing for the cold key; every trace
// and span of the run in Jaeger.
func runOutage(t *testing.T, sc outageScenario, mode restartMode) {
	start := time.Now()
	jaeger := e2e.StartJaegerIn(t, t.TempDir())
	kdir := t.TempDir()
	kc := startKfake(t, 0, kdir)
	broker := kc.ListenAddrs()[0]
	_, portStr, err := net.SplitHostPort(broker)
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	kafkaDown := false
	defer func() {
		if !kafkaDown {
			kc.Close()
		}
	}()

	health, otlpHTTP := e2e.FreeAddr(t), e2e.FreeAddr(t)
	col := e2e.StartCollector(t, fmt.Sprintf(outageConfig, health, otlpHTTP, jaeger.OTLPGRPC, broker, jaeger.QueryURL, sc.window))

	hot1 := key{"west-pipeline-01", "plc-gateway"}
	hot2 := key{"west-pipeline-01", "rtu-poller"}
	cold := key{"east-pipeline-02", "plc-gateway"}
	keys := []key{hot1, hot2, cold}
	l := &load{url: "http://" + otlpHTTP + "/v1/traces", spans: map[key]int{}, errs: map[key]int{}, traces: map[key][]string{}}
	pct := func(k key, at time.Duration) int {
		from := time.Duration(0)
		switch k {
		case hot2:
			from = sc.burst2At
		case cold:
			return 1
		}
		if at >= from && at < from+sc.burst {
			return 20
		}
		return 1
	}
	tick := func(at time.Duration) {
		t0 := time.Now()
		for _, k := range keys {
			l.send(t, k, pct(k, at))
		}
		time.Sleep(250*time.Millisecond - time.Since(t0))
	}

	for end := time.Now().Add(sc.baseline); time.Now().Before(end); {
		tick(-1)
	}
	outageStart := time.Now()
	since := func() time.Duration { return time.Since(outageStart) }
	kc.Close()
	t.Logf("%v: Kafka stopped", since())
	kafkaDown = true
	jaegerDown, restarted := false, mode == noRestart
	jaegerBack := false
	for kafkaDown || !jaegerBack || !restarted || since() < sc.burst2At+sc.burst {
		at := since()
		switch {
		case !jaegerDown && at >= time.Second && at < sc.outage:
			code, _ := jaeger.Stop(t)
			t.Logf("%v: Jaeger stopped (exit %d)", since(), code)
			jaegerDown = true
		case !restarted && at >= sc.restartAt:
			if mode == sigterm {
				code, took := col.Stop(t)
				t.Logf("%v: appliance SIGTERM: exit %d after %v", since(), code, took)
				assert.Equal(t, 0, code, "clean exit on SIGTERM during the outages")
			} else {
				col.Kill(t)
				t.Logf("%v: appliance SIGKILLed", since())
			}
			col = col.Restart(t)
			t.Logf("%v: appliance healthy again", since())
			restarted = true
		case kafkaDown && at >= sc.outage:
			kc = startKfake(t, port, kdir)
			t.Logf("%v: Kafka back on port %d", since(), port)
			kafkaDown = false
		case jaegerDown && at >= sc.outage+time.Second:
			jaeger.Restart(t)
			t.Logf("%v: Jaeger back", since())
			jaegerDown, jaegerBack = false, true
		}
		tick(at)
	}

	// A real sarama consumer reads the alert topic from the start.
	cons, err := sarama.NewConsumer([]string{broker}, sarama.NewConfig())
	require.NoError(t, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.alerts", 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	var mu sync.Mutex
	var got []*sarama.ConsumerMessage
	go func() {
		for m := range pc.Messages() {
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	// Keep the 1 % traffic going until both keys have resolved.
	for deadline := time.Now().Add(sc.settle); count() < 4 && time.Now().Before(deadline); {
		tick(since())
	}
	time.Sleep(time.Second) // a duplicate would show up now
	mu.Lock()
	recs := append([]*sarama.ConsumerMessage(nil), got...)
	mu.Unlock()
	t.Logf("%v: %d alert records on Kafka", since(), len(recs))

	type rec struct {
		AlertID    string  `json:"alert_id"`
		Tenant     string  `json:"tenant"`
		Service    string  `json:"service"`
		State      string  `json:"state"`
		StartedAt  string  `json:"started_at"`
		ResolvedAt *string `json:"resolved_at"`
	}
	var seq []string
	seen := map[string]bool{}
	ids := map[key]string{}
	var last time.Time
	for i, m := range recs {
		var r rec
		require.NoError(t, json.Unmarshal(m.Value, &r), "record %d: %s", i, m.Value)
		k := key{r.Tenant, r.Service}
		assert.Equal(t, r.Tenant+"/"+r.Service, string(m.Key))
		seq = append(seq, r.State+" "+k.service)
		assert.False(t, seen[r.AlertID+"/"+r.State], "(alert_id, state) twice: %s %s", r.AlertID, r.State)
		seen[r.AlertID+"/"+r.State] = true
		if id, ok := ids[k]; ok {
			assert.Equal(t, id, r.AlertID, "one alert_id per episode of %v", k)
		}
		ids[k] = r.AlertID
		ts := r.StartedAt
		if r.State == "resolved" && r.ResolvedAt != nil {
			ts = *r.ResolvedAt
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		require.NoError(t, err, "record %d time %q", i, ts)
		assert.False(t, at.Before(last), "record %d (%s %s at %v) before the previous one (%v)", i, r.State, r.Service, at, last)
		last = at
	}
	// Both keys fire (hot1's burst starts first) and then both resolve; which
	// one resolves first depends on the windows under load, and the records
	// must follow event time, checked above.
	require.Len(t, seq, 4, "every alert delivered, none for the cold key %v: %v", cold, seq)
	assert.Equal(t, []string{"firing plc-gateway", "firing rtu-poller"}, seq[:2], "firing records in order")
	assert.ElementsMatch(t, []string{"resolved plc-gateway", "resolved rtu-poller"}, seq[2:], "both keys resolved after both fired")

	// Every trace of the run is in Jaeger, with all its spans.
	drainStart := time.Now()
	for _, k := range keys {
		e2e.Eventually(t, sc.drain, func() error {
			found, spans, err := jaegerTraces(jaeger.QueryURL, k.service, k.tenant)
			if err != nil {
				return err
			}
			for _, id := range l.traces[k] {
				if !found[id] {
					return fmt.Errorf("%v: trace %s not in Jaeger (%d of %d found)", k, id, len(found), len(l.traces[k]))
				}
			}
			if spans != l.spans[k] {
				return fmt.Errorf("%v: %d spans in Jaeger, sent %d", k, spans, l.spans[k])
			}
			return nil
		})
	}
	n := 0
	for _, k := range keys {
		n += len(l.traces[k])
	}
	t.Logf("%s: %d traces all in Jaeger (%v after the alerts); whole run %v", mode, n, time.Since(drainStart).Round(time.Millisecond), time.Since(start).Round(time.Second))

	code, _ := col.Stop(t)
	assert.Equal(t, 0, code)
}

// TestOutagesEndToEnd is the outage check, scaled down from
// 2-minute outages to 10 s (window 5 s; the full version is
// TestOutagesSoak, build tag soak): the Kafka-protocol broker and Jaeger are
// stopped during an error burst and brought back on the same ports and
// storage, with no appliance restart, a SIGTERM restart and a SIGKILL
// restart in the middle of the outages.
func TestOutagesEndToEnd(t *testing.T) {
	sc := outageScenario{
		window:    5 * time.Second,
		baseline:  3 * time.Second,
		burst:     6 * time.Second,
		burst2At:  2 * time.Second,
		outage:    10 * time.Second,
		restartAt: 7 * time.Second, // both firings are queued by then
		settle:    25 * time.Second,
		drain:     45 * time.Second, // gRPC reconnect backoff after the Jaeger outage
	}
	for _, mode := range []restartMode{noRestart, sigterm, sigkill} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			runOutage(t, sc, mode)
		})
	}
}
