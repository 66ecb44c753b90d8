package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// alertExporter sends records with a lazily created sync producer. A failed
// send closes the producer so the next attempt reconnects from scratch
// (a restarted broker, new leader or lost producer id all heal that way).
type alertExporter struct {
	cfg      *Config
	logger   *zap.Logger
	signal   string
	registry *tenants.Registry // tenants' kafka_topic (cfg.Authenticator), or nil

	mu   sync.Mutex // one send at a time (the queue has one consumer anyway)
	prod sarama.SyncProducer

	// head holds, on disk, records whose delivery was interrupted by a
	// shutdown: they go out before anything else after the restart. (The
	// persistent queue would re-append an interrupted request at its tail,
	// breaking the order.)
	id       component.ID
	head     storage.Client
	carry    []*Record // guarded by mu
	stopCh   chan struct{}
	stopOnce sync.Once
	drainWG  sync.WaitGroup

	// sent remembers recently acknowledged (alert_id, state) so a request
	// retried after a partial send does not write a record twice.
	sent    map[string]struct{}
	sentLRU []string

	headMu    sync.Mutex
	headSince time.Time // event time of the oldest record being sent; zero when idle

	accepted, sentN, failedN, ignoredN, spansN metric.Int64Counter
	reg                                        metric.Registration
	queuedMu                                   sync.Mutex
	queued                                     int64
}

const sentMemory = 4096

func newAlertExporter(cfg *Config, set exporter.Settings, signal string) (*alertExporter, error) {
	e := &alertExporter{cfg: cfg, logger: set.Logger, signal: signal, sent: map[string]struct{}{}, id: set.ID, stopCh: make(chan struct{})}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/exporters/kafkaalertexporter")
	var err error
	if e.sentN, err = m.Int64Counter("kafka_alerts_records_sent", metric.WithDescription("Alert records acknowledged by Kafka (acks=all)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.failedN, err = m.Int64Counter("kafka_alerts_send_failures", metric.WithDescription("Failed send attempts (retried; nothing is dropped)."), metric.WithUnit("{attempt}")); err != nil {
		return nil, err
	}
	if e.ignoredN, err = m.Int64Counter("kafka_alerts_records_ignored", metric.WithDescription("Log records that are not alert events."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.spansN, err = m.Int64Counter("kafka_alerts_spans_sent", metric.WithDescription("Raw error spans written to spans.topic."), metric.WithUnit("{span}")); err != nil {
		return nil, err
	}
	if e.accepted, err = m.Int64Counter("kafka_alerts_records_dequeued", metric.WithDescription("Alert records read from the sending queue for delivery (including retries after a restart)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	queued, err := m.Int64ObservableGauge("kafka_alerts_in_flight", metric.WithDescription("Alert records read from the queue and not yet acknowledged (waiting on Kafka)."), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	age, err := m.Float64ObservableGauge("kafka_alerts_oldest_queued_age", metric.WithDescription("Age of the oldest undelivered alert record (the queue is FIFO with one consumer, so it is the record being sent); 0 when idle."), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	if e.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.queuedMu.Lock()
		o.ObserveInt64(queued, e.queued)
		e.queuedMu.Unlock()
		o.ObserveFloat64(age, e.oldestAge(time.Now()).Seconds())
		return nil
	}, queued, age); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *alertExporter) oldestAge(now time.Time) time.Duration {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if e.headSince.IsZero() {
		return 0
	}
	return now.Sub(e.headSince)
}

const headKey = "head"

func (e *alertExporter) start(ctx context.Context, host component.Host) error {
	// No connection here: Kafka being down at start means delayed, not fatal.
	if _, err := saramaConfig(ctx, e.cfg); err != nil {
		return err
	}
	if e.cfg.Authenticator != (component.ID{}) {
		reg, err := tenants.RegistryFromHost(host, e.cfg.Authenticator)
		if err != nil {
			return fmt.Errorf("authenticator: %w", err)
		}
		e.registry = reg
	}
	if e.signal != "alerts" || !e.cfg.SendingQueue.HasValue() || e.cfg.SendingQueue.Get().StorageID == nil {
		return nil
	}
	sid := *e.cfg.SendingQueue.Get().StorageID
	ext, ok := host.GetExtensions()[sid]
	if !ok {
		return fmt.Errorf("sending_queue.storage: extension %q not found", sid)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("sending_queue.storage: extension %q is not a storage extension", sid)
	}
	cl, err := se.GetClient(ctx, component.KindExporter, e.id, "alerts_head")
	if err != nil {
		return fmt.Errorf("sending_queue.storage: %w", err)
	}
	e.head = cl
	b, err := cl.Get(ctx, headKey)
	if err != nil {
		return fmt.Errorf("cannot read the interrupted alert records: %w", err)
	}
	if len(b) > 0 {
		var saved []savedRecord
		if err := json.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("cannot parse the interrupted alert records: %w", err)
		}
		for _, sr := range saved {
			r := sr.Record
			r.eventTime = sr.EventTime
			e.carry = append(e.carry, &r)
		}
		e.logger.Info("alert records interrupted by the last shutdown go out first", zap.Int("records", len(e.carry)))
		// Deliver them even if no new alert arrives.
		e.drainWG.Add(1)
		go func() {
			defer e.drainWG.Done()
			e.mu.Lock()
			defer e.mu.Unlock()
			if err := e.deliverLocked(context.Background(), nil); err != nil && !errors.Is(err, errStopped) {
				e.logger.Error("cannot deliver the interrupted alert records", zap.Error(err))
			}
		}()
	}
	return nil
}

type savedRecord struct {
	Record    Record    `json:"record"`
	EventTime time.Time `json:"event_time"`
}

var errStopped = errors.New("stopped")

// stop makes a delivery in progress save its unsent records and return, so
// the queue can shut down while Kafka is unreachable.
func (e *alertExporter) stop() { e.stopOnce.Do(func() { close(e.stopCh) }) }

func (e *alertExporter) shutdown(ctx context.Context) error {
	e.stop()
	e.drainWG.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.head != nil {
		err = e.head.Close(ctx)
		e.head = nil
	}
	if e.prod != nil {
		err = errors.Join(err, e.prod.Close())
		e.prod = nil
	}
	if e.reg != nil {
		err = errors.Join(err, e.reg.Unregister())
		e.reg = nil
	}
	return err
}

// producerLocked returns the producer, connecting if needed.
func (e *alertExporter) producerLocked(ctx context.Context) (sarama.SyncProducer, error) {
	if e.prod != nil {
		return e.prod, nil
	}
	sc, err := saramaConfig(ctx, e.cfg)
	if err != nil {
		return nil, consumererror.NewPermanent(err)
	}
	p, err := sarama.NewSyncProducer(e.cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to Kafka brokers %v: %w", e.cfg.Brokers, err)
	}
	e.prod = p
	return p, nil
}

func (e *alertExporter) sendLocked(ctx context.Context, msg *sarama.ProducerMessage) error {
	p, err := e.producerLocked(ctx)
	if err == nil {
		_, _, err = p.SendMessage(msg)
		if err != nil {
			_ = p.Close()
			e.prod = nil
			err = fmt.Errorf("cannot write to Kafka topic %q: %w", msg.Topic, err)
		}
	}
	if err != nil {
		e.failedN.Add(ctx, 1)
		e.logger.Warn("Kafka send failed; the request stays queued and is retried", zap.String("topic", msg.Topic), zap.Error(err))
	}
	return err
}

func (e *alertExporter) rememberLocked(k string) {
	if _, ok := e.sent[k]; ok {
		return
	}
	e.sent[k] = struct{}{}
	e.sentLRU = append(e.sentLRU, k)
	if len(e.sentLRU) > sentMemory {
		delete(e.sent, e.sentLRU[0])
		e.sentLRU = e.sentLRU[1:]
	}
}

func headers(tenant string) []sarama.RecordHeader {
	return []sarama.RecordHeader{
		{Key: []byte(tenants.Header), Value: []byte(tenant)},
		{Key: []byte("content-type"), Value: []byte("application/json")},
	}
}

// pushLogs writes one request's alert records in order, each retried until
// Kafka acknowledges it (retry_on_failure intervals, never giving up). On
// shutdown the unsent records are saved as the head and the request is
// acknowledged to the queue; the head goes out first after the restart.
func (e *alertExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	recs, ignored, err := recordsFromLogs(ld, e.cfg.TraceURL)
	if ignored > 0 {
		e.ignoredN.Add(ctx, int64(ignored))
	}
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	if len(recs) == 0 {
		return nil
	}
	e.accepted.Add(ctx, int64(len(recs)))
	e.mu.Lock()
	defer e.mu.Unlock()
	err = e.deliverLocked(ctx, recs)
	if errors.Is(err, errStopped) {
		return nil // saved as the head
	}
	return err
}

// deliverLocked sends e.carry then recs, in order.
//
// Before the first attempt it saves the unsent records as the head (one
// storage write per request). After a crash the persistent queue puts the
// unacknowledged request back at its tail, behind later alerts; the head
// goes out first instead and the late copy is skipped as already sent. The
// only window left is between the queue handing the request over and this
// write (no network wait in between).
func (e *alertExporter) deliverLocked(ctx context.Context, recs []*Record) error {
	all := append(append([]*Record(nil), e.carry...), recs...)
	pending := int64(0)
	oldest := time.Time{}
	for _, r := range all {
		if _, done := e.sent[r.dedupKey()]; !done {
			pending++
			if oldest.IsZero() || r.eventTime.Before(oldest) {
				oldest = r.eventTime
			}
		}
	}
	if pending == 0 {
		if len(e.carry) > 0 {
			e.clearHeadLocked(ctx)
		}
		return nil
	}
	e.setInFlight(pending, oldest)
	defer e.setInFlight(0, time.Time{})
	savedEarly := e.saveHeadEarlyLocked(ctx, all)
	var timer *time.Timer // one per delivery, reused by every retry
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for i, r := range all {
		k := r.dedupKey()
		if _, done := e.sent[k]; done {
			continue
		}
		body, err := r.marshal()
		if err != nil {
			e.logger.Error("cannot encode alert record; skipped", zap.String("alert_id", r.AlertID), zap.Error(err))
			continue
		}
		msg := &sarama.ProducerMessage{
			Topic:   e.topicFor(r.Tenant),
			Key:     sarama.StringEncoder(r.key()),
			Value:   sarama.ByteEncoder(body),
			Headers: headers(r.Tenant),
		}
		wait := e.cfg.Retry.InitialInterval
		for {
			err := e.sendLocked(ctx, msg)
			if err == nil {
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait) // Go >= 1.23: no stale tick after Reset
			}
			select {
			case <-e.stopCh:
				return e.saveHeadLocked(ctx, all[i:], err)
			case <-ctx.Done():
				return e.saveHeadLocked(ctx, all[i:], errors.Join(err, ctx.Err()))
			case <-timer.C:
			}
			wait = time.Duration(float64(wait) * e.cfg.Retry.Multiplier)
			if wait > e.cfg.Retry.MaxInterval {
				wait = e.cfg.Retry.MaxInterval
			}
		}
		e.rememberLocked(k)
		e.sentN.Add(ctx, 1)
		pending--
		e.setInFlight(pending, r.eventTime)
		e.logger.Debug("alert record sent", zap.String("alert_id", r.AlertID), zap.String("state", r.State), zap.String("topic", msg.Topic))
	}
	if len(e.carry) > 0 || savedEarly {
		e.clearHeadLocked(ctx)
	}
	return nil
}

// clearHeadLocked forgets the head once its records are delivered.
func (e *alertExporter) clearHeadLocked(ctx context.Context) {
	e.carry = nil
	if e.head != nil {
		if err := e.head.Delete(context.WithoutCancel(ctx), headKey); err != nil {
			e.logger.Error("cannot clear the delivered head records; they may be sent again after a restart", zap.Error(err))
		}
	}
}

// saveHeadLocked stores rest durably. Without storage, the request stays in
// the queue (sendErr is returned) and is retried after the restart, at the
// queue's tail.
func (e *alertExporter) saveHeadLocked(ctx context.Context, rest []*Record, sendErr error) error {
	if e.head == nil {
		return sendErr
	}
	saved := make([]savedRecord, 0, len(rest))
	for _, r := range rest {
		if _, done := e.sent[r.dedupKey()]; done {
			continue
		}
		saved = append(saved, savedRecord{Record: *r, EventTime: r.eventTime})
	}
	b, err := json.Marshal(saved)
	if err == nil {
		err = e.head.Set(context.WithoutCancel(ctx), headKey, b)
	}
	if err != nil {
		e.logger.Error("cannot save interrupted alert records; the request stays queued", zap.Error(err))
		return sendErr
	}
	e.carry = nil
	e.logger.Info("Kafka unreachable at shutdown: unsent alert records saved, they go out first after the restart", zap.Int("records", len(saved)))
	return errStopped
}

// saveHeadEarlyLocked stores rest durably as the head before delivery
// starts (it is cleared once they are sent); it reports whether it did.
func (e *alertExporter) saveHeadEarlyLocked(ctx context.Context, rest []*Record) bool {
	if e.head == nil {
		return false
	}
	saved := make([]savedRecord, 0, len(rest))
	for _, r := range rest {
		if _, done := e.sent[r.dedupKey()]; !done {
			saved = append(saved, savedRecord{Record: *r, EventTime: r.eventTime})
		}
	}
	b, err := json.Marshal(saved)
	if err == nil {
		err = e.head.Set(context.WithoutCancel(ctx), headKey, b)
	}
	if err != nil {
		e.logger.Error("cannot save the alert records being sent; after a crash they may go out behind later ones", zap.Error(err))
		return false
	}
	return true
}

func (e *alertExporter) setInFlight(n int64, oldest time.Time) {
	e.queuedMu.Lock()
	e.queued = n
	e.queuedMu.Unlock()
	e.headMu.Lock()
	if n == 0 {
		oldest = time.Time{}
	}
	e.headSince = oldest
	e.headMu.Unlock()
}

// topicFor is a tenant's alert topic: tenant_topics, else the tenant's
// kafka_topic in the registry (read per record, so a tenants file reload
// applies to the next record), else topic.
func (e *alertExporter) topicFor(tenant string) string {
	if t, ok := e.cfg.TenantTopics[tenant]; ok {
		return t
	}
	if t := e.registryTopic(tenant); t != "" {
		return t
	}
	return e.cfg.Topic
}

// spansTopicFor is a tenant's raw spans topic: spans.tenant_topics, else
// "<kafka_topic>.spans" for a tenant with its own topic in the registry (so
// its spans never share the common topic), else spans.topic.
func (e *alertExporter) spansTopicFor(tenant string) string {
	if t, ok := e.cfg.Spans.TenantTopics[tenant]; ok {
		return t
	}
	if t := e.registryTopic(tenant); t != "" {
		return t + tenants.SpansTopicSuffix
	}
	return e.cfg.Spans.Topic
}

func (e *alertExporter) registryTopic(tenant string) string {
	if e.registry == nil {
		return ""
	}
	t, _ := e.registry.Tenant(tenant)
	return t.KafkaTopic
}
