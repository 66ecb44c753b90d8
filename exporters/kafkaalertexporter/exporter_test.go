package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap/zaptest"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/tenants"
)

type host struct {
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

func testEvent(i int, tenant, service, state string) *errorfanoutconnector.Event {
	started := time.Date(2026, 11, 25, 12, 0, i, 0, time.UTC)
	ev := &errorfanoutconnector.Event{
		AlertID: fmt.Sprintf("%032x", i), Tenant: tenant, Service: service, Station: "st-" + strconv.Itoa(i), State: state,
		ErrorRate: 0.2, Threshold: 0.05, WindowS: 30, Spans: 500, Errors: 100, StartedAt: started,
		TraceIDs: []string{fmt.Sprintf("%032x", 1000+i), fmt.Sprintf("%032x", 2000+i)},
	}
	if state == errorfanoutconnector.StateResolved {
		ev.ResolvedAt = started.Add(time.Minute)
		ev.ErrorRate = 0.01
	}
	return ev
}

func newExporter(t *testing.T, cfg *Config, h component.Host) exporter.Logs {
	t.Helper()
	set := exportertest.NewNopSettings(componentType)
	set.ID = component.NewID(componentType) // fixed: the persistent queue's storage is keyed by it
	if os.Getenv("KAFKA_ALERTS_DEBUG") != "" {
		set.Logger = zaptest.NewLogger(t)
	}
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), h))
	return exp
}

// consumeAll reads topic partition 0 from the oldest offset until n
// messages arrived or the timeout passed.
func consumeAll(t *testing.T, addrs []string, topic string, n int, timeout time.Duration, opts ...func(*sarama.Config)) []*sarama.ConsumerMessage {
	t.Helper()
	sc := sarama.NewConfig()
	for _, o := range opts {
		o(sc)
	}
	sc.Consumer.Return.Errors = true
	cons, err := sarama.NewConsumer(addrs, sc)
	require.NoError(t, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-deadline:
			return out
		}
	}
	// Anything beyond n (a duplicate) would arrive right behind.
	select {
	case m := <-pc.Messages():
		out = append(out, m)
	case <-time.After(300 * time.Millisecond):
	}
	return out
}

// checkSchema validates a record against alert-record.schema.json: required
// keys, no extra keys, JSON types, enums and patterns.
func checkSchema(t *testing.T, body []byte) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("alert-record.schema.json")
	require.NoError(t, err)
	var schema struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type    any      `json:"type"`
			Enum    []string `json:"enum"`
			Pattern string   `json:"pattern"`
			Items   *struct {
				Pattern string `json:"pattern"`
			} `json:"items"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(raw, &schema))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(body, &rec))
	for _, k := range schema.Required {
		assert.Contains(t, rec, k, "required field")
	}
	for k, v := range rec {
		p, ok := schema.Properties[k]
		if !assert.True(t, ok, "field %q not in the schema", k) {
			continue
		}
		var types []string
		switch tt := p.Type.(type) {
		case string:
			types = []string{tt}
		case []any:
			for _, x := range tt {
				types = append(types, x.(string))
			}
		}
		got := jsonType(v)
		if got == "integer" && !contains(types, "integer") {
			got = "number"
		}
		assert.Contains(t, types, got, "type of %q", k)
		if len(p.Enum) > 0 {
			assert.Contains(t, p.Enum, v, "enum of %q", k)
		}
		if s, ok := v.(string); ok && p.Pattern != "" {
			assert.Regexp(t, regexp.MustCompile(p.Pattern), s, "pattern of %q", k)
		}
		if arr, ok := v.([]any); ok && p.Items != nil && p.Items.Pattern != "" {
			for _, x := range arr {
				assert.Regexp(t, regexp.MustCompile(p.Items.Pattern), x, "items of %q", k)
			}
		}
	}
	return rec
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	}
	return "unknown"
}

func header(m *sarama.ConsumerMessage, k string) string {
	for _, h := range m.Headers {
		if string(h.Key) == k {
			return string(h.Value)
		}
	}
	return ""
}

func TestRecordSchemaKeyHeaderTopicOverride(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "scada.alerts", "alerts.east", "scada.alert-spans", "east.alert-spans"))
	require.NoError(t, err)
	defer c.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.TenantTopics = map[string]string{"east-pipeline-02": "alerts.east"}
	cfg.Spans.Topic = "scada.alert-spans"
	cfg.DeadLetter.Directory = t.TempDir()
	cfg.Spans.TenantTopics = map[string]string{"east-pipeline-02": "east.alert-spans"}
	require.NoError(t, cfg.Validate())
	cfg.SendingQueue.Get().QueueSize = 1 << 20
	exp := newExporter(t, cfg, host{})

	ctx := context.Background()
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(1, "west-pipeline-01", "plc-gateway", "firing"))))
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(2, "east-pipeline-02", "plc-gateway", "firing"))))
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(1, "west-pipeline-01", "plc-gateway", "resolved"))))

	west := consumeAll(t, c.ListenAddrs(), "scada.alerts", 2, 20*time.Second)
	require.Len(t, west, 2)
	east := consumeAll(t, c.ListenAddrs(), "alerts.east", 1, 10*time.Second)
	require.Len(t, east, 1, "the tenant override topic")

	m := west[0]
	assert.Equal(t, "west-pipeline-01/plc-gateway", string(m.Key))
	assert.Equal(t, "west-pipeline-01", header(m, tenants.Header))
	rec := checkSchema(t, m.Value)
	assert.Equal(t, fmt.Sprintf("%032x", 1), rec["alert_id"])
	assert.Equal(t, "firing", rec["state"])
	assert.Equal(t, "west-pipeline-01", rec["tenant"])
	assert.Equal(t, "plc-gateway", rec["service"])
	assert.Equal(t, "st-1", rec["station"])
	assert.Equal(t, 0.2, rec["error_rate"])
	assert.Equal(t, 0.05, rec["threshold"])
	assert.Equal(t, 30.0, rec["window_s"])
	assert.Equal(t, 500.0, rec["spans"])
	assert.Equal(t, 100.0, rec["errors"])
	assert.Equal(t, "2026-11-25T12:00:01Z", rec["started_at"])
	assert.Nil(t, rec["resolved_at"])
	assert.Equal(t, []any{fmt.Sprintf("%032x", 1001), fmt.Sprintf("%032x", 2001)}, rec["trace_ids"])
	assert.Equal(t, "http://127.0.0.1:16686/trace/"+fmt.Sprintf("%032x", 1001), rec["trace_url"])

	rec = checkSchema(t, west[1].Value)
	assert.Equal(t, "resolved", rec["state"])
	assert.Equal(t, "2026-11-25T12:01:01Z", rec["resolved_at"])
	assert.Equal(t, fmt.Sprintf("%032x", 1), rec["alert_id"], "same alert_id for the episode")

	assert.Equal(t, "east-pipeline-02/plc-gateway", string(east[0].Key))
	assert.Equal(t, "east-pipeline-02", header(east[0], tenants.Header))
	checkSchema(t, east[0].Value)

	// Raw error spans, OTLP protobuf, only the error spans.
	texp, err := NewFactory().CreateTraces(ctx, exportertest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	require.NoError(t, texp.Start(ctx, host{}))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), "west-pipeline-01")
	rs.Resource().Attributes().PutStr("service.name", "plc-gateway")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < 5; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetName("poll")
		if i < 2 {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	require.NoError(t, texp.ConsumeTraces(ctx, td))
	spans := consumeAll(t, c.ListenAddrs(), "scada.alert-spans", 1, 10*time.Second)
	require.Len(t, spans, 1)
	var um ptrace.ProtoUnmarshaler
	got, err := um.UnmarshalTraces(spans[0].Value)
	require.NoError(t, err)
	assert.Equal(t, 2, got.SpanCount())
	assert.Equal(t, "west-pipeline-01", header(spans[0], tenants.Header))
	assert.Equal(t, "west-pipeline-01/plc-gateway", string(spans[0].Key))

	require.NoError(t, texp.Shutdown(ctx))
	require.NoError(t, exp.Shutdown(ctx))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startStorage(t *testing.T, dir string) (component.ID, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	id := component.MustNewID("file_storage")
	set := extensiontest.NewNopSettings(f.Type())
	set.ID = id
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), host{}))
	return id, ext
}

// The broker goes away for a while (scaled down from 2 minutes), alerts keep
// coming, the exporter (appliance) restarts in the middle, then a new broker
// comes up on the same port with the same data: every alert arrives, in
// order, and no (alert_id, state) twice.
func TestBrokerOutageNothingLostInOrderNoDuplicates(t *testing.T) {
	port := freePort(t)
	kdir := t.TempDir()
	startCluster := func() *kfake.Cluster {
		var c *kfake.Cluster
		var err error
		for i := 0; i < 50; i++ { // the port may linger briefly after Close
			c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(kdir), kfake.SeedTopics(1, "scada.alerts"))
			if err == nil {
				return c
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.NoError(t, err)
		return nil
	}
	c1 := startCluster()

	qdir := t.TempDir()
	storageID, storage := startStorage(t, qdir)
	h := host{ext: map[component.ID]component.Component{storageID: storage}}

	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c1.ListenAddrs()
	cfg.Retry.InitialInterval = 100 * time.Millisecond
	cfg.Retry.MaxInterval = 500 * time.Millisecond
	cfg.Timeout.Timeout = 5 * time.Second
	cfg.SendingQueue.Get().StorageID = &storageID
	exp := newExporter(t, cfg, h)
	ctx := context.Background()

	var want []string
	send := func(exp exporter.Logs, i int, state string) {
		ev := testEvent(i, "west-pipeline-01", "svc-"+strconv.Itoa(i%3), state)
		want = append(want, ev.AlertID+"/"+state)
		require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(ev)))
	}
	for i := 1; i <= 3; i++ {
		send(exp, i, "firing")
	}
	require.Len(t, consumeAll(t, c1.ListenAddrs(), "scada.alerts", 3, 20*time.Second), 3)

	c1.Close() // outage starts
	for i := 1; i <= 3; i++ {
		send(exp, i, "resolved")
	}
	for i := 4; i <= 6; i++ {
		send(exp, i, "firing")
	}
	time.Sleep(1500 * time.Millisecond) // several failed attempts

	// The appliance restarts during the outage: the queue is on disk.
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, storage.Shutdown(ctx))
	storageID, storage = startStorage(t, qdir)
	h = host{ext: map[component.ID]component.Component{storageID: storage}}
	exp = newExporter(t, cfg, h)
	for i := 4; i <= 6; i++ {
		send(exp, i, "resolved")
	}
	time.Sleep(1500 * time.Millisecond)

	c2 := startCluster() // the broker returns on the same port
	defer c2.Close()
	got := consumeAll(t, c2.ListenAddrs(), "scada.alerts", len(want), 30*time.Second)
	var ids []string
	for _, m := range got {
		var rec Record
		require.NoError(t, json.Unmarshal(m.Value, &rec))
		ids = append(ids, rec.AlertID+"/"+rec.State)
	}
	assert.Equal(t, want, ids, "every alert, in order, once")
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, storage.Shutdown(ctx))
}

// SASL PLAIN and SCRAM against a kfake cluster that requires SASL.
func TestSASL(t *testing.T) {
	for _, mech := range []string{sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.EnableSASL(),
				kfake.Superuser(mech, "alice", "pw-"+mech), kfake.SeedTopics(1, "scada.alerts"))
			require.NoError(t, err)
			defer c.Close()
			cfg := createDefaultConfig().(*Config)
			cfg.Brokers = c.ListenAddrs()
			cfg.SASL = SASLConfig{Mechanism: mech, Username: "alice", Password: configopaque.String("pw-" + mech)}
			cfg.SendingQueue.Get().QueueSize = 1 << 20
			exp := newExporter(t, cfg, host{})
			require.NoError(t, exp.ConsumeLogs(context.Background(), errorfanoutconnector.EventLogs(testEvent(7, "west-pipeline-01", "svc", "firing"))))
			sc, err := saramaConfig(t.Context(), cfg)
			require.NoError(t, err)
			got := consumeAll(t, c.ListenAddrs(), "scada.alerts", 1, 20*time.Second, func(cc *sarama.Config) { cc.Net.SASL = sc.Net.SASL })
			require.Len(t, got, 1)
			checkSchema(t, got[0].Value)
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}
}

// crashConfig is a persistent-queue config with short retries, for the
// restart and crash tests.
func crashConfig(broker string, storageID component.ID) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = []string{broker}
	cfg.Retry.InitialInterval = 100 * time.Millisecond
	cfg.Retry.MaxInterval = 500 * time.Millisecond
	cfg.SendingQueue.Get().StorageID = &storageID
	return cfg
}
