package kafkaalertexporter

import (
	"context"
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

	"github.com/scadaotel/scadaotel/internal/deadletter"
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

	mu   sync.Mutex // one send at a time; guards prod
	prod sarama.SyncProducer

	id       component.ID
	dead     *deadletter.Store // raw spans Kafka refuses for good (traces only)
	store    storage.Client    // where the head lives (alerts only, with a persistent queue), or nil
	stopCh   chan struct{}
	stopOnce sync.Once
	drainWG  sync.WaitGroup

	// headMu guards the head (see head.go) and the acknowledged keys. It is
	// never held while waiting on Kafka, so a request handed over by the
	// queue joins the head at once, even while an earlier one is being sent.
	headMu      sync.Mutex
	head        []*Record // taken from the queue, not yet acknowledged, in order
	inHead      map[string]struct{}
	headDurable bool // the last head write succeeded (the head on disk is current)
	sent        map[string]struct{}
	sentLRU     []string
	draining    bool // a goroutine delivers the head without a request
	stopped     bool

	accepted, sentN, failedN, ignoredN, spansN, headDamagedN, deadN metric.Int64Counter
	reg                                                             metric.Registration
}

const sentMemory = 4096

func newAlertExporter(cfg *Config, set exporter.Settings, signal string) (*alertExporter, error) {
	e := &alertExporter{cfg: cfg, logger: set.Logger, signal: signal, sent: map[string]struct{}{}, inHead: map[string]struct{}{},
		id: set.ID, stopCh: make(chan struct{})}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/exporters/kafkaalertexporter")
	var err error
	if e.sentN, err = m.Int64Counter(MetricSentRecords, metric.WithDescription("Alert records acknowledged by Kafka (acks=all)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.failedN, err = m.Int64Counter(MetricSendFailures, metric.WithDescription("Failed send attempts (retried; nothing is dropped)."), metric.WithUnit("{attempt}")); err != nil {
		return nil, err
	}
	if e.ignoredN, err = m.Int64Counter(MetricIgnoredRecords, metric.WithDescription("Log records that are not alert events."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.spansN, err = m.Int64Counter(MetricSentSpans, metric.WithDescription("Raw error spans written to spans.topic."), metric.WithUnit("{span}")); err != nil {
		return nil, err
	}
	if e.accepted, err = m.Int64Counter(MetricDequeuedRecords, metric.WithDescription("Alert records read from the sending queue for delivery (including retries after a restart)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.deadN, err = m.Int64Counter(MetricDeadLetterSpans, metric.WithDescription("Raw error spans Kafka refused for good, kept in the dead-letter area, by tenant and reason."), metric.WithUnit("{span}")); err != nil {
		return nil, err
	}
	if signal == "spans" && cfg.DeadLetter.Directory != "" {
		if e.dead, err = deadletter.Open(cfg.DeadLetter); err != nil {
			return nil, err
		}
	}
	if e.headDamagedN, err = m.Int64Counter(MetricHeadDamagedRecords, metric.WithDescription("Damaged parts of the stored head skipped at start (each a byte range of one or more records)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	queued, err := m.Int64ObservableGauge(MetricInFlightRecords, metric.WithDescription("Alert records read from the queue and not yet acknowledged (the head: waiting on Kafka)."), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	age, err := m.Float64ObservableGauge(MetricOldestQueuedAge, metric.WithDescription("Age of the oldest undelivered alert record (the queue is FIFO with one consumer, so it is the record being sent); 0 when idle."), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	if e.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, oldest := e.inFlight()
		o.ObserveInt64(queued, int64(n))
		a := 0.0
		if n > 0 {
			a = time.Since(oldest).Seconds()
		}
		o.ObserveFloat64(age, a)
		return nil
	}, queued, age); err != nil {
		return nil, err
	}
	return e, nil
}

// inFlight is the number of head records and the oldest event time among them.
func (e *alertExporter) inFlight() (int, time.Time) {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	var oldest time.Time
	for _, r := range e.head {
		if oldest.IsZero() || r.eventTime.Before(oldest) {
			oldest = r.eventTime
		}
	}
	return len(e.head), oldest
}

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
	recs, sent, damaged, err := loadHead(ctx, cl, e.logger)
	if err != nil {
		_ = cl.Close(ctx)
		return err
	}
	if damaged > 0 {
		e.headDamagedN.Add(ctx, int64(damaged))
	}
	e.headMu.Lock()
	e.store, e.headDurable = cl, true
	for _, k := range sent {
		e.rememberLocked(k)
	}
	for _, r := range recs {
		e.head = append(e.head, r)
		e.inHead[r.dedupKey()] = struct{}{}
	}
	e.headMu.Unlock()
	if len(recs) > 0 {
		e.logger.Info("unacknowledged alert records of the last run go out first", zap.Int("records", len(recs)))
		e.kickDrain() // even if no new alert arrives
	}
	return nil
}

var errStopped = errors.New("stopped")

// stop makes a delivery in progress return, so the queue can shut down
// while Kafka is unreachable (the head is already on disk).
func (e *alertExporter) stop() {
	e.stopOnce.Do(func() {
		e.headMu.Lock()
		e.stopped = true
		e.headMu.Unlock()
		close(e.stopCh)
	})
}

func (e *alertExporter) shutdown(ctx context.Context) error {
	e.stop()
	e.drainWG.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	e.headMu.Lock()
	if e.store != nil {
		err = e.store.Close(ctx)
		e.store = nil
	}
	e.headMu.Unlock()
	if e.dead != nil {
		err = errors.Join(err, e.dead.Close())
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

// rememberLocked records an acknowledged key (headMu held).
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

// pushLogs puts one request's alert records at the end of the head (on
// disk, before anything else happens), then delivers the head in order,
// each record retried until Kafka acknowledges it (retry_on_failure
// intervals, never giving up). When the head is on disk and the delivery is
// interrupted (shutdown, or the request's context ended) the request is
// acknowledged to the queue: the head delivers its records, before anything
// else, now or after the restart.
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
	durable := e.admit(ctx, recs)
	e.mu.Lock()
	err = e.deliverLocked(ctx)
	e.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case durable && errors.Is(err, errStopped):
		return nil
	case durable:
		e.kickDrain() // the context ended: keep going without it
		return nil
	default:
		return err
	}
}

// admit appends the records not yet acknowledged nor in the head to the
// head and writes it; it reports whether the head on disk holds them.
func (e *alertExporter) admit(ctx context.Context, recs []*Record) bool {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	added := false
	for _, r := range recs {
		k := r.dedupKey()
		if _, done := e.sent[k]; done {
			continue // a late copy (queue tail after a crash, or a re-send)
		}
		if _, queued := e.inHead[k]; queued {
			continue
		}
		e.head = append(e.head, r)
		e.inHead[k] = struct{}{}
		added = true
	}
	if added || !e.headDurable {
		e.writeHeadLocked(ctx)
	}
	return e.store != nil && e.headDurable
}

// writeHeadLocked stores the head (headMu held). On failure the head stays
// in memory, the request stays unacknowledged, and the next change writes
// it again.
func (e *alertExporter) writeHeadLocked(ctx context.Context) {
	if e.store == nil {
		return
	}
	b, err := encodeHead(e.head, e.sentLRU)
	if err == nil {
		err = e.store.Set(context.WithoutCancel(ctx), headKey, b)
	}
	if err != nil {
		if e.headDurable {
			e.logger.Error("cannot store the alert records head (storage client alerts_head); until it is stored, a crash may reorder alerts", zap.Error(err))
		}
		e.headDurable = false
		return
	}
	e.headDurable = true
}

// kickDrain delivers the head in a goroutine when no request does (after a
// restart, or when a request's context ended).
func (e *alertExporter) kickDrain() {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if e.draining || e.stopped || len(e.head) == 0 {
		return
	}
	e.draining = true
	e.drainWG.Add(1) // under headMu, before stopped is set: never races shutdown's Wait
	go func() {
		defer e.drainWG.Done()
		e.mu.Lock()
		err := e.deliverLocked(context.Background())
		e.mu.Unlock()
		e.headMu.Lock()
		e.draining = false
		e.headMu.Unlock()
		if err != nil && !errors.Is(err, errStopped) {
			e.logger.Error("cannot deliver the alert records head", zap.Error(err))
		}
	}()
}

// deliverLocked sends the head in order until it is empty (e.mu held).
// Each acknowledged record leaves the head on disk at once, so a crash
// re-sends at most the one record acknowledged and not yet written off.
func (e *alertExporter) deliverLocked(ctx context.Context) error {
	var timer *time.Timer // one per delivery, reused by every retry
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		e.headMu.Lock()
		if len(e.head) == 0 {
			e.headMu.Unlock()
			return nil
		}
		r := e.head[0] // only this function removes from the head, under e.mu
		e.headMu.Unlock()
		if err := e.sendRecordLocked(ctx, r, &timer); err != nil {
			return err
		}
		e.headMu.Lock()
		e.head = e.head[1:]
		delete(e.inHead, r.dedupKey())
		e.rememberLocked(r.dedupKey())
		e.writeHeadLocked(ctx)
		e.headMu.Unlock()
	}
}

// sendRecordLocked sends one record, retrying until Kafka acknowledges it,
// the exporter stops (errStopped) or ctx ends. A record that cannot be
// encoded is logged and counts as done.
func (e *alertExporter) sendRecordLocked(ctx context.Context, r *Record, timer **time.Timer) error {
	body, err := r.marshal()
	if err != nil {
		e.logger.Error("cannot encode alert record; skipped", zap.String("alert_id", r.AlertID), zap.Error(err))
		return nil
	}
	msg := &sarama.ProducerMessage{
		Topic:   e.topicFor(r.Tenant),
		Key:     sarama.StringEncoder(r.key()),
		Value:   sarama.ByteEncoder(body),
		Headers: headers(r.Tenant),
	}
	wait := e.cfg.Retry.InitialInterval
	for {
		select {
		case <-e.stopCh:
			return errStopped
		default:
		}
		err := e.sendLocked(ctx, msg)
		if err == nil {
			break
		}
		if *timer == nil {
			*timer = time.NewTimer(wait)
		} else {
			(*timer).Reset(wait) // Go >= 1.23: no stale tick after Reset
		}
		select {
		case <-e.stopCh:
			return errStopped
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-(*timer).C:
		}
		wait = time.Duration(float64(wait) * e.cfg.Retry.Multiplier)
		if wait > e.cfg.Retry.MaxInterval {
			wait = e.cfg.Retry.MaxInterval
		}
	}
	e.sentN.Add(ctx, 1)
	e.logger.Debug("alert record sent", zap.String("alert_id", r.AlertID), zap.String("state", r.State), zap.String("topic", msg.Topic))
	return nil
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
