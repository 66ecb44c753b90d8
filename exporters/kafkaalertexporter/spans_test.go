package kafkaalertexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/tenants"
)

// addResource appends one resource of tenant/service with errs error spans
// and one OK span; seq is a resource attribute to follow its order.
func addResource(td ptrace.Traces, tenant, service string, seq, errs int, pad int) {
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), tenant)
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutInt("seq", int64(seq))
	if pad > 0 {
		rs.Resource().Attributes().PutStr("pad", strings.Repeat("x", pad))
	}
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i <= errs; i++ {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(seq), byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(seq), byte(i + 1)})
		s.SetName("poll")
		if i < errs {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
}

// seqs lists the seq attribute of every resource of td, in order.
func seqs(td ptrace.Traces) []int64 {
	var out []int64
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		v, _ := td.ResourceSpans().At(i).Resource().Attributes().Get("seq")
		out = append(out, v.Int())
	}
	return out
}

func decode(t *testing.T, m *sarama.ConsumerMessage) ptrace.Traces {
	t.Helper()
	var um ptrace.ProtoUnmarshaler
	td, err := um.UnmarshalTraces(m.Value)
	require.NoError(t, err)
	return td
}

// One request with several resources per key and two tenants: one message
// per key (one round trip for all), the tenant's own spans topic, only error
// spans, and a key too big for one message split in order.
func TestRawSpansOneMessagePerKeyTenantTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0),
		kfake.SeedTopics(1, "scada.alerts", "alerts.east", "scada.alert-spans", "east.alert-spans"))
	require.NoError(t, err)
	defer c.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.TenantTopics = map[string]string{"east-pipeline-02": "alerts.east"}
	cfg.Spans.Topic = "scada.alert-spans"
	cfg.DeadLetter.Directory = t.TempDir()
	cfg.Spans.TenantTopics = map[string]string{"east-pipeline-02": "east.alert-spans"}
	cfg.MaxMessageBytes = 4096
	cfg.SendingQueue.Get().QueueSize = 1 << 20
	require.NoError(t, cfg.Validate())
	ctx := context.Background()
	texp, err := NewFactory().CreateTraces(ctx, exportertest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	require.NoError(t, texp.Start(ctx, host{}))
	defer func() { require.NoError(t, texp.Shutdown(ctx)) }()

	td := ptrace.NewTraces()
	addResource(td, "west-pipeline-01", "svc-a", 0, 2, 0)
	addResource(td, "west-pipeline-01", "svc-b", 1, 1, 0)
	addResource(td, "west-pipeline-01", "svc-a", 2, 2, 0)
	addResource(td, "east-pipeline-02", "svc-a", 3, 3, 0)
	addResource(td, "west-pipeline-01", "svc-ok", 4, 0, 0) // no error span: nothing written
	require.NoError(t, texp.ConsumeTraces(ctx, td))

	west := consumeAll(t, c.ListenAddrs(), "scada.alert-spans", 2, 10*time.Second)
	require.Len(t, west, 2)
	assert.Equal(t, "west-pipeline-01/svc-a", string(west[0].Key))
	a := decode(t, west[0])
	assert.Equal(t, []int64{0, 2}, seqs(a), "both svc-a resources in one message, in order")
	assert.Equal(t, 4, a.SpanCount(), "only the error spans")
	assert.Equal(t, "west-pipeline-01/svc-b", string(west[1].Key))
	assert.Equal(t, 1, decode(t, west[1]).SpanCount())
	for _, m := range west {
		assert.Equal(t, "west-pipeline-01", header(m, tenants.Header), "no other tenant in the shared topic")
	}
	east := consumeAll(t, c.ListenAddrs(), "east.alert-spans", 1, 10*time.Second)
	require.Len(t, east, 1, "the tenant's own spans topic")
	assert.Equal(t, "east-pipeline-02/svc-a", string(east[0].Key))
	assert.Equal(t, "east-pipeline-02", header(east[0], tenants.Header))
	assert.Equal(t, 3, decode(t, east[0]).SpanCount())
	assert.Len(t, consumeAll(t, c.ListenAddrs(), "east.alert-spans", 2, time.Second), 1, "one message for the east key")

	// Resources of ~1.6 KB with a 4 KB message limit: one per message, in order.
	td = ptrace.NewTraces()
	for i := 0; i < 5; i++ {
		addResource(td, "west-pipeline-01", "svc-big", 10+i, 1, 1600)
	}
	require.NoError(t, texp.ConsumeTraces(ctx, td))
	all := consumeAll(t, c.ListenAddrs(), "scada.alert-spans", 7, 20*time.Second)
	require.Len(t, all, 7, "one message per key (2), then 5 for the split key")
	assert.Len(t, consumeAll(t, c.ListenAddrs(), "scada.alert-spans", 8, time.Second), 7, "nothing more")
	var got []int64
	for _, m := range all[2:] {
		assert.Equal(t, "west-pipeline-01/svc-big", string(m.Key))
		assert.LessOrEqual(t, len(m.Value), cfg.MaxMessageBytes)
		got = append(got, seqs(decode(t, m))...)
	}
	assert.Equal(t, []int64{10, 11, 12, 13, 14}, got, "a split key stays in order")
}

// flakyProducer stands in for Kafka refusing some partitions (a fault kfake
// cannot make for one topic of a produce request): it fails every message
// whose key is in failKeys and records what was acknowledged.
type flakyProducer struct {
	sarama.SyncProducer
	mu       sync.Mutex
	failKeys map[string]bool
	calls    int
	acked    map[string][][]int64 // key -> seq lists of acknowledged messages
}

func (p *flakyProducer) SendMessages(msgs []*sarama.ProducerMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	var errs sarama.ProducerErrors
	for _, m := range msgs {
		k, _ := m.Key.Encode()
		key := string(k)
		if p.failKeys[key] {
			errs = append(errs, &sarama.ProducerError{Msg: m, Err: sarama.ErrNotEnoughReplicas})
			continue
		}
		body, _ := m.Value.Encode()
		var um ptrace.ProtoUnmarshaler
		td, err := um.UnmarshalTraces(body)
		if err != nil {
			return err
		}
		p.acked[key] = append(p.acked[key], seqs(td))
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (p *flakyProducer) Close() error { return nil }

// A failure on one key hands back exactly what was not acknowledged (the
// failed key, and the later messages of a split key, in order) for retry;
// what was acknowledged is not written twice, and a key's later message is
// never sent before its earlier one is acked.
func TestRawSpansPartialFailureRetriesOnlyFailedKeys(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Spans.Topic = "scada.alert-spans"
	cfg.DeadLetter.Directory = t.TempDir()
	cfg.MaxMessageBytes = 4096
	e, err := newAlertExporter(cfg, exportertest.NewNopSettings(componentType), "spans")
	require.NoError(t, err)
	fp := &flakyProducer{
		failKeys: map[string]bool{"east-pipeline-02/svc-a": true},
		acked:    map[string][][]int64{},
	}
	e.prod = fp

	td := ptrace.NewTraces()
	addResource(td, "west-pipeline-01", "svc-a", 0, 1, 0)
	addResource(td, "east-pipeline-02", "svc-a", 1, 1, 0)
	for i := 0; i < 3; i++ {
		addResource(td, "west-pipeline-01", "svc-big", 10+i, 1, 1600)
	}
	err = e.pushTraces(context.Background(), td)
	require.Error(t, err)
	var te consumererror.Traces
	require.True(t, errors.As(err, &te), "a partial error: %v", err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.Equal(t, []int64{1, 11, 12}, seqs(te.Data()), "the failed key, and svc-big's messages after the failed round")
	assert.Equal(t, 1, fp.calls, "no new round after a failed one")
	assert.Equal(t, [][]int64{{10}}, fp.acked["west-pipeline-01/svc-big"])
	assert.Equal(t, [][]int64{{0}}, fp.acked["west-pipeline-01/svc-a"])

	// The retry (exporterhelper resends te.Data()) after Kafka recovers.
	fp.failKeys = nil
	e.prod = fp
	require.NoError(t, e.pushTraces(context.Background(), te.Data()))
	assert.Equal(t, 3, fp.calls, "the retry: one round per message of the split key")
	assert.Equal(t, [][]int64{{0}}, fp.acked["west-pipeline-01/svc-a"], "written once")
	assert.Equal(t, [][]int64{{1}}, fp.acked["east-pipeline-02/svc-a"])
	assert.Equal(t, [][]int64{{10}, {11}, {12}}, fp.acked["west-pipeline-01/svc-big"], "in order, once")
}

// A message Kafka can never take (over max_message_bytes) goes to the
// dead-letter area, per tenant, without blocking the other keys or being
// retried forever; nothing acknowledged is dropped.
func TestRawSpansTooLargeGoToTheDeadLetterArea(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "scada.alert-spans"))
	require.NoError(t, err)
	defer c.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.Spans.Topic = "scada.alert-spans"
	cfg.DeadLetter.Directory = t.TempDir()
	cfg.MaxMessageBytes = 2048
	e, err := newAlertExporter(cfg, exportertest.NewNopSettings(componentType), "spans")
	require.NoError(t, err)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	td := ptrace.NewTraces()
	addResource(td, "west-pipeline-01", "svc-huge", 0, 1, 4000)
	addResource(td, "west-pipeline-01", "svc-a", 1, 1, 0)
	require.NoError(t, e.pushTraces(context.Background(), td), "refused spans are kept, the request is done")
	got := consumeAll(t, c.ListenAddrs(), "scada.alert-spans", 2, 2*time.Second)
	require.Len(t, got, 1)
	assert.Equal(t, "west-pipeline-01/svc-a", string(got[0].Key))
	files, err := deadletter.Files(cfg.DeadLetter.Directory)
	require.NoError(t, err)
	require.Len(t, files, 1)
	var kept []deadletter.Entry
	require.NoError(t, deadletter.ReadFile(files[0], 0, func(_ int64, en deadletter.Entry) error { kept = append(kept, en); return nil }, nil))
	require.Len(t, kept, 1)
	assert.Equal(t, "west-pipeline-01", kept[0].Tenant)
	assert.Equal(t, "too_large", kept[0].Reason)
	assert.Equal(t, 1, kept[0].Items)
	assert.Contains(t, kept[0].Detail, "west-pipeline-01/svc-huge")

	// A full dead-letter volume keeps the spans in the queue (retryable).
	e.dead, err = deadletter.Open(deadletter.Config{Directory: t.TempDir(), DiskReserve: diskreserve.Config{Bytes: 1 << 62}})
	require.NoError(t, err)
	td2 := ptrace.NewTraces()
	addResource(td2, "west-pipeline-01", "svc-huge", 2, 1, 4000)
	err = e.pushTraces(context.Background(), td2)
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	assert.False(t, consumererror.IsPermanent(err))
	assert.Equal(t, 1, te.Data().SpanCount())
}

// The alert retry loop gives up its wait when the request's context ends
// (here: Kafka unreachable, a one-hour retry interval).
func TestDeliveryRespectsContext(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", freePort(t))} // nothing listens
	cfg.Retry.InitialInterval = time.Hour
	cfg.Retry.MaxInterval = time.Hour
	e, err := newAlertExporter(cfg, exportertest.NewNopSettings(componentType), "alerts")
	require.NoError(t, err)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.pushLogs(ctx, errorfanoutconnector.EventLogs(testEvent(1, "west-pipeline-01", "svc", "firing")))
	require.Error(t, err, "not delivered, not acknowledged")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second, "returned when the context ended, not after the retry interval")
}
