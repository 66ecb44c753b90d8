//go:build e2e

package errorfanoutconnector_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

const e2eConfig = `
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
    window: 5s
    buckets: 5
    min_spans: 20
    history:
      directory: ${env:SCADAOTEL_DATA_DIR}/errorfanout
exporters:
  otlp_grpc/jaeger:
    endpoint: %[3]s
    tls: {insecure: true}
    sending_queue:
      storage: file_storage
      batch: {flush_timeout: 200ms}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
  kafka_alerts:
    brokers: [%[4]s]
    trace_url: %[5]s/trace/{trace_id}
    spans: {topic: scada.alert-spans}
    dead_letter:
      directory: ${env:SCADAOTEL_DATA_DIR}/deadletter/kafka_alerts
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s}
    sending_queue: {storage: file_storage}
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

type key struct{ tenant, service string }

// load sends one trace of 10 spans per key every 250 ms; errors are spread
// evenly (every 100th span at 1 %, every 5th at 20 %).
type load struct {
	url    string
	seq    uint64
	spans  map[key]int
	errs   map[key]int
	traces map[key][]string
}

func (l *load) send(t *testing.T, k key, errPct int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), k.tenant)
	rs.Resource().Attributes().PutStr("service.name", k.service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	l.seq++
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(tid[8:], l.seq)
	now := time.Now()
	for i := 0; i < 10; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{byte(i + 1), 1, 2, 3, 4, 5, 6, 7})
		if i > 0 {
			s.SetParentSpanID(pcommon.SpanID{1, 1, 2, 3, 4, 5, 6, 7})
		}
		s.SetName("modbus-read")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		n := l.spans[k]
		l.spans[k]++
		if (n*errPct)/100 != ((n+1)*errPct)/100 {
			s.Status().SetCode(ptrace.StatusCodeError)
			l.errs[k]++
		}
	}
	l.traces[k] = append(l.traces[k], hex.EncodeToString(tid[:]))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(l.url, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

type received struct {
	at  time.Time
	msg *sarama.ConsumerMessage
}

// TestErrorBurstEndToEnd: real binary, Jaeger, a kfake broker, a sarama
// consumer and kcat. 1 % baseline on three keys (two tenants, the same
// service name in both), a 20 % burst on one key: exactly one firing and one
// resolved record for that key, none for the others, firing within
// window + 2 s, its trace ids in Jaeger, every trace in Jaeger.
func TestErrorBurstEndToEnd(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (Debian package kcat; .ci/run installs it): %v", err)
	}
	jaeger := e2e.StartJaeger(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	require.NoError(t, err)
	defer kc.Close()
	broker := kc.ListenAddrs()[0]

	health, otlpHTTP := e2e.FreeAddr(t), e2e.FreeAddr(t)
	col := e2e.StartCollector(t, fmt.Sprintf(e2eConfig, health, otlpHTTP, jaeger.OTLPGRPC, broker, jaeger.QueryURL))

	// A real sarama consumer reads the alert topic from the start.
	cons, err := sarama.NewConsumer([]string{broker}, sarama.NewConfig())
	require.NoError(t, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.alerts", 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	var mu sync.Mutex
	var got []received
	go func() {
		for m := range pc.Messages() {
			mu.Lock()
			got = append(got, received{at: time.Now(), msg: m})
			mu.Unlock()
		}
	}()
	snapshot := func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}

	hot := key{"west-pipeline-01", "plc-gateway"}
	keys := []key{hot, {"west-pipeline-01", "historian"}, {"east-pipeline-02", "plc-gateway"}}
	l := &load{url: "http://" + otlpHTTP + "/v1/traces", spans: map[key]int{}, errs: map[key]int{}, traces: map[key][]string{}}
	run := func(d time.Duration, hotPct int) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			tick := time.Now()
			for _, k := range keys {
				pct := 1
				if k == hot {
					pct = hotPct
				}
				l.send(t, k, pct)
			}
			time.Sleep(250*time.Millisecond - time.Since(tick))
		}
	}
	const window = 5 * time.Second
	run(8*time.Second, 1)
	require.Empty(t, snapshot(), "no alert during the 1 % baseline")
	burstStart := time.Now()
	run(10*time.Second, 20)
	run(14*time.Second, 1)
	e2e.Eventually(t, 15*time.Second, func() error {
		if n := len(snapshot()); n < 2 {
			return fmt.Errorf("%d alert records so far", n)
		}
		return nil
	})
	time.Sleep(time.Second) // anything extra would show up now
	recs := snapshot()
	require.Len(t, recs, 2, "exactly one firing and one resolved record, none for other keys")
	var firing, resolved map[string]any
	require.NoError(t, json.Unmarshal(recs[0].msg.Value, &firing))
	require.NoError(t, json.Unmarshal(recs[1].msg.Value, &resolved))
	for _, r := range recs {
		assert.Equal(t, "west-pipeline-01/plc-gateway", string(r.msg.Key))
		require.Len(t, r.msg.Headers, 2)
		assert.Equal(t, tenants.Header, string(r.msg.Headers[0].Key))
		assert.Equal(t, "west-pipeline-01", string(r.msg.Headers[0].Value))
	}
	assert.Equal(t, "firing", firing["state"])
	assert.Equal(t, "resolved", resolved["state"])
	assert.Equal(t, firing["alert_id"], resolved["alert_id"])
	assert.Equal(t, 5.0, firing["window_s"])
	latency := recs[0].at.Sub(burstStart)
	t.Logf("firing record on Kafka %v after the burst started (window %v); error_rate %.3f", latency, window, firing["error_rate"])
	assert.Less(t, latency, window+2*time.Second, "firing within window + 2 s")

	// Its trace ids are readable from Jaeger; the link points there.
	ids := firing["trace_ids"].([]any)
	require.NotEmpty(t, ids)
	assert.Equal(t, jaeger.QueryURL+"/trace/"+ids[0].(string), firing["trace_url"])
	for _, id := range ids {
		e2e.Eventually(t, 10*time.Second, func() error {
			resp, err := http.Get(jaeger.QueryURL + "/api/traces/" + id.(string))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("trace %s: HTTP %d", id, resp.StatusCode)
			}
			return nil
		})
	}

	// Every trace of the run is in Jaeger, with all its spans.
	for _, k := range keys {
		e2e.Eventually(t, 20*time.Second, func() error {
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

	// kcat, a client this project did not write, reads the same records.
	out, err := exec.Command(kcat, "-C", "-b", broker, "-t", "scada.alerts", "-o", "beginning", "-e", "-q", "-J").CombinedOutput()
	require.NoError(t, err, "kcat: %s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2, "kcat output: %s", out)
	for i, line := range lines {
		var env struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &env), line)
		assert.Equal(t, "west-pipeline-01/plc-gateway", env.Key)
		assert.Equal(t, []string{tenants.Header, "west-pipeline-01", "content-type", "application/json"}, env.Headers)
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(env.Payload), &rec))
		assert.Equal(t, []string{"firing", "resolved"}[i], rec["state"])
		assert.Equal(t, firing["alert_id"], rec["alert_id"])
	}

	// The firing key's error spans also went to the raw spans topic.
	client, err := sarama.NewClient([]string{broker}, sarama.NewConfig())
	require.NoError(t, err)
	defer client.Close()
	n, err := client.GetOffset("scada.alert-spans", 0, sarama.OffsetNewest)
	require.NoError(t, err)
	assert.Positive(t, n, "raw error spans written while firing")

	code, _ := col.Stop(t)
	assert.Equal(t, 0, code)
}

// jaegerTraces returns the trace ids and span count Jaeger holds for a
// service of a tenant.
func jaegerTraces(queryURL, service, tenant string) (map[string]bool, int, error) {
	resp, err := http.Get(queryURL + "/api/traces?service=" + service + "&limit=100000&lookback=1h")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []struct {
				ProcessID string `json:"processID"`
			} `json:"spans"`
			Processes map[string]struct {
				Tags []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, 0, err
	}
	found := map[string]bool{}
	spans := 0
	for _, tr := range body.Data {
		for _, s := range tr.Spans {
			p := tr.Processes[s.ProcessID]
			for _, tag := range p.Tags {
				if tag.Key == tenants.ResourceAttribute && tag.Value == tenant {
					found[tr.TraceID] = true
					spans++
				}
			}
		}
	}
	return found, spans, nil
}
