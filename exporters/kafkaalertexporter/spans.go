package kafkaalertexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/tenants"
)

// spanChunk is one raw-spans message: the (error) spans of one or more
// resources of one key (tenant/service), at most max_message_bytes.
type spanChunk struct {
	td    ptrace.Traces
	size  int
	spans int
}

// spanGroup is everything of one request for one (topic, key), in order.
type spanGroup struct {
	topic, key, tenant string
	chunks             []*spanChunk
}

// chunkOverhead leaves room for the message framing next to the protobuf
// body when packing resources into one message.
const chunkOverhead = 1 << 10

// groupSpans filters td (only error spans when configured) and packs it into
// one message per (topic, tenant/service) where the size allows, so a
// request normally costs one message per key and one round trip in all.
func (e *alertExporter) groupSpans(td ptrace.Traces) []*spanGroup {
	var m ptrace.ProtoMarshaler
	var groups []*spanGroup
	byKey := map[string]*spanGroup{}
	limit := e.cfg.MaxMessageBytes - chunkOverhead
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		one := ptrace.NewTraces()
		dst := one.ResourceSpans().AppendEmpty()
		n := 0
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			var dss ptrace.ScopeSpans
			have := false
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				if e.cfg.Spans.OnlyErrors && s.Status().Code() != ptrace.StatusCodeError {
					continue
				}
				if !have {
					have = true
					dss = dst.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dss.Scope())
					dss.SetSchemaUrl(ss.SchemaUrl())
				}
				s.CopyTo(dss.Spans().AppendEmpty())
				n++
			}
		}
		if n == 0 {
			continue
		}
		rs.Resource().CopyTo(dst.Resource())
		dst.SetSchemaUrl(rs.SchemaUrl())
		tenant := tenants.FromResource(rs.Resource())
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		topic := e.spansTopicFor(tenant)
		key := tenant + "/" + service
		g := byKey[topic+"\x00"+key]
		if g == nil {
			g = &spanGroup{topic: topic, key: key, tenant: tenant}
			byKey[topic+"\x00"+key] = g
			groups = append(groups, g)
		}
		size := m.ResourceSpansSize(dst) + 8 // field tag and length
		if len(g.chunks) > 0 {
			if c := g.chunks[len(g.chunks)-1]; c.size+size <= limit {
				dst.MoveTo(c.td.ResourceSpans().AppendEmpty())
				c.size += size
				c.spans += n
				continue
			}
		}
		g.chunks = append(g.chunks, &spanChunk{td: one, size: size, spans: n})
	}
	return groups
}

// pushTraces writes the (error) spans of a request to the tenant's spans
// topic, one message per key (more only when max_message_bytes forces it),
// all keys of a round in one SendMessages call (one round trip). It returns
// only once Kafka acknowledged (acks=all) everything it reports as sent.
//
// Per-key order: the k-th message of every key goes in round k, so a key's
// message is sent only after its previous one was acknowledged. A key whose
// message fails sends nothing more; after a failed round no further round
// starts. The failed messages and everything unsent are returned as a
// partial error, so exporterhelper's retry resends exactly those (messages
// already acknowledged are not written twice). Across
// requests the order holds because the queue has one consumer and a request
// returns only when all of it is acknowledged or handed back for retry.
// Delivery is at least once: a message whose fate is unknown (context
// cancelled while in flight) is sent again.
func (e *alertExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	groups := e.groupSpans(td)
	if len(groups) == 0 {
		return nil
	}
	var m ptrace.ProtoMarshaler
	var refused []refusedSpans
	leftover := ptrace.NewTraces()
	stopped := map[*spanGroup]int{} // group -> index of its first unsent chunk
	var sendErr error
	for round := 0; ; round++ {
		var msgs []*sarama.ProducerMessage
		var owners []*spanGroup
		for _, g := range groups {
			if _, bad := stopped[g]; bad || round >= len(g.chunks) {
				continue
			}
			body, err := m.MarshalTraces(g.chunks[round].td)
			if err != nil {
				refused = append(refused, refusedSpans{g.tenant, "unencodable", fmt.Sprintf("cannot encode the spans of %s: %v", g.key, err), g.chunks[round].td})
				continue
			}
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: g.topic, Key: sarama.StringEncoder(g.key), Value: sarama.ByteEncoder(body),
				Headers:  []sarama.RecordHeader{{Key: []byte(tenants.Header), Value: []byte(g.tenant)}, {Key: []byte("content-type"), Value: []byte("application/x-protobuf")}},
				Metadata: len(msgs),
			})
			owners = append(owners, g)
		}
		if len(msgs) == 0 {
			break
		}
		failed, err := e.sendBatch(ctx, msgs)
		for i, g := range owners {
			switch {
			case failed == nil || failed[i] == nil:
				e.spansN.Add(ctx, int64(g.chunks[round].spans))
			case tooLarge(failed[i].err):
				// Retrying cannot help: dead-letter it, keep the rest going.
				refused = append(refused, refusedSpans{g.tenant, "too_large", fmt.Sprintf("spans of %s (%d bytes) exceed max_message_bytes on topic %q: %v", g.key, msgs[i].Value.Length(), g.topic, failed[i].err), g.chunks[round].td})
			default:
				stopped[g] = round
			}
		}
		if err != nil && !tooLarge(err) {
			sendErr = err
		}
		if ctx.Err() != nil {
			sendErr = errors.Join(sendErr, ctx.Err())
		}
		if sendErr != nil {
			// Kafka is in trouble (or the request ended): hand back the rest
			// of every key instead of reconnecting within the request.
			for _, g := range groups {
				if _, bad := stopped[g]; !bad && round+1 < len(g.chunks) {
					stopped[g] = round + 1
				}
			}
			break
		}
	}
	if len(refused) > 0 {
		// Kafka will never take these: keep them on disk, per tenant, for
		// replay; a failed write keeps them in the queue (retryable).
		if n, err := e.deadLetterSpans(ctx, refused); err != nil {
			for _, r := range refused[n:] {
				r.td.ResourceSpans().MoveAndAppendTo(leftover.ResourceSpans())
			}
			if sendErr == nil {
				sendErr = err
			}
			if len(stopped) == 0 {
				return consumererror.NewTraces(sendErr, leftover)
			}
		}
	}
	if len(stopped) == 0 {
		return nil
	}
	retry := leftover
	for _, g := range groups {
		from, ok := stopped[g]
		if !ok {
			continue
		}
		for _, c := range g.chunks[from:] {
			c.td.ResourceSpans().MoveAndAppendTo(retry.ResourceSpans())
		}
	}
	if sendErr == nil {
		sendErr = errors.New("raw error spans not acknowledged by Kafka")
	}
	return consumererror.NewTraces(sendErr, retry)
}

type sendFailure struct{ err error }

// sendBatch sends msgs with one SendMessages call and reports, by index,
// the messages Kafka did not acknowledge (nil when all were). When ctx ends
// first, every message counts as failed (its fate is unknown) and the call
// returns without waiting; sarama keeps the in-flight messages ahead of any
// later one on their partition, so a resend cannot overtake them.
func (e *alertExporter) sendBatch(ctx context.Context, msgs []*sarama.ProducerMessage) (map[int]*sendFailure, error) {
	all := func(err error) (map[int]*sendFailure, error) {
		f := make(map[int]*sendFailure, len(msgs))
		for i := range msgs {
			f[i] = &sendFailure{err: err}
		}
		e.failedN.Add(ctx, 1)
		return f, err
	}
	e.mu.Lock()
	p, err := e.producerLocked(ctx)
	e.mu.Unlock()
	if err != nil {
		e.logger.Warn("Kafka unreachable; the raw spans are retried", zap.Error(err))
		return all(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.SendMessages(msgs) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return all(fmt.Errorf("raw spans in flight when the request ended: %w", ctx.Err()))
	}
	if err == nil {
		return nil, nil
	}
	e.failedN.Add(ctx, 1)
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) {
		e.dropProducer(p)
		return all(err)
	}
	failed := make(map[int]*sendFailure, len(perrs))
	var first error
	reconnect := false
	for _, pe := range perrs {
		i, ok := pe.Msg.Metadata.(int)
		if !ok {
			continue
		}
		failed[i] = &sendFailure{err: pe.Err}
		if !tooLarge(pe.Err) {
			reconnect = true
			if first == nil {
				first = fmt.Errorf("cannot write raw spans to Kafka topic %q: %w", pe.Msg.Topic, pe.Err)
			}
		}
	}
	if reconnect {
		// Reconnect from scratch next time (restarted broker, new leader,
		// lost producer id).
		e.dropProducer(p)
		e.logger.Warn("Kafka send of raw spans failed; the failed keys are retried", zap.Int("failed", len(failed)), zap.Int("messages", len(msgs)), zap.Error(first))
		return failed, first
	}
	return failed, perrs[0].Err
}

// dropProducer closes p if it is still the current producer.
func (e *alertExporter) dropProducer(p sarama.SyncProducer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prod == p {
		e.prod = nil
		_ = p.Close()
	}
}

// tooLarge reports a message that can never be written: refused by the
// broker as too large, or over max_message_bytes in sarama itself.
func tooLarge(err error) bool {
	var ce sarama.ConfigurationError
	return errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		errors.As(err, &ce) && strings.Contains(string(ce), "larger than configured Producer.MaxMessageBytes")
}

// refusedSpans is a chunk of one tenant's raw spans Kafka will never take.
type refusedSpans struct {
	tenant, reason, detail string
	td                     ptrace.Traces
}

// deadLetterSpans writes refused chunks to the dead-letter area, each
// fsync'ed, and logs them; on a failed write it returns how many were
// written (the rest stay in the queue, retryably).
func (e *alertExporter) deadLetterSpans(ctx context.Context, refused []refusedSpans) (int, error) {
	if e.dead == nil {
		return 0, errors.New("raw spans refused by Kafka and no dead_letter.directory configured")
	}
	for i, r := range refused {
		data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(r.td)
		if err == nil {
			err = e.dead.Put(deadletter.Entry{Time: time.Now().UTC(), Tenant: r.tenant, Signal: "traces", Reason: r.reason,
				Detail: r.detail, Items: r.td.SpanCount(), Data: data})
		}
		if err != nil {
			return i, fmt.Errorf("raw spans refused by Kafka (%s) and not yet in the dead-letter area: %w", r.detail, err)
		}
		e.deadN.Add(ctx, int64(r.td.SpanCount()), metric.WithAttributes(tenants.SelfMetricTenant(r.tenant), attribute.String("reason", r.reason)))
		e.logger.Error("raw error spans refused by Kafka for good; kept in the dead-letter area for replay",
			zap.String("tenant", r.tenant), zap.String("reason", r.reason), zap.String("detail", r.detail),
			zap.Int("spans", r.td.SpanCount()), zap.String("directory", e.dead.Dir()))
	}
	return len(refused), nil
}
