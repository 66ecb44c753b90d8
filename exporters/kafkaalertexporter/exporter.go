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

	mu   sync.Mutex // guards prod (shared by the senders: SendMessages is safe for concurrent use)
	prod sarama.SyncProducer

	id       component.ID
	dead     *deadletter.Store // raw spans Kafka refuses for good (traces only)
	store    storage.Client    // where the head lives (alerts only, with a persistent queue), or nil
	stopCh   chan struct{}
	stopOnce sync.Once
	drainWG  sync.WaitGroup

	stopCtx context.Context // ends at stop: in-flight sends give up
	cancel  context.CancelFunc

	// headMu guards the heads (see head.go, sender.go) and the acknowledged
	// keys. It is never held while waiting on Kafka, so a request handed over
	// by the queue joins its tenant's head at once.
	headMu      sync.Mutex
	heads       map[string][]*Record // per tenant: taken from the queue, not yet acknowledged, in order
	ring        []string             // tenants with records in heads, in the order of the stored head
	inHead      map[string]struct{}
	headDurable bool // the last head write succeeded (the head on disk is current)
	syncSeq     uint64
	sent        map[string]struct{}
	sentLRU     []string
	sending     map[string]bool // tenants whose sender goroutine runs
	roundDone   chan struct{}   // closed (and replaced) after every round
	lastSendErr error
	stopped     bool

	accepted, sentN, failedN, ignoredN, spansN, headDamagedN, deadN metric.Int64Counter
	reg                                                             metric.Registration
}

const sentMemory = 4096

func newAlertExporter(cfg *Config, set exporter.Settings, signal string) (*alertExporter, error) {
	e := &alertExporter{cfg: cfg, logger: set.Logger, signal: signal, sent: map[string]struct{}{}, inHead: map[string]struct{}{},
		heads: map[string][]*Record{}, sending: map[string]bool{}, roundDone: make(chan struct{}), id: set.ID, stopCh: make(chan struct{})}
	e.stopCtx, e.cancel = context.WithCancel(context.Background())
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
	age, err := m.Float64ObservableGauge(MetricOldestQueuedAge, metric.WithDescription("Age of the oldest alert record taken from the queue and not yet acknowledged by Kafka; 0 when idle."), metric.WithUnit("s"))
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
	n := 0
	for _, h := range e.heads {
		n += len(h)
		for _, r := range h {
			if oldest.IsZero() || r.eventTime.Before(oldest) {
				oldest = r.eventTime
			}
		}
	}
	return n, oldest
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
		if len(e.heads[r.Tenant]) == 0 {
			e.ring = append(e.ring, r.Tenant)
		}
		e.heads[r.Tenant] = append(e.heads[r.Tenant], r)
		e.inHead[r.dedupKey()] = struct{}{}
	}
	e.headMu.Unlock()
	if len(recs) > 0 {
		e.logger.Info("unacknowledged alert records of the last run go out first", zap.Int("records", len(recs)))
		e.kickSenders() // even if no new alert arrives
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
		e.cancel()
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

// recordTopic is where a record goes: an alarm transition to its tenant's
// alarm topic, anything else to its alert topic.
func (e *alertExporter) recordTopic(r *Record) string {
	if len(r.Alarm) > 0 {
		return e.alarmsTopicFor(r.Tenant)
	}
	return e.topicFor(r.Tenant)
}

// alarmsTopicFor is a tenant's alarm topic: "<topic>.alarms" for a tenant
// with its own alert topic (tenant_topics, else kafka_topic in the
// registry), so its alarms never share the common topic; else alarms.topic.
func (e *alertExporter) alarmsTopicFor(tenant string) string {
	if t, ok := e.cfg.TenantTopics[tenant]; ok {
		return t + AlarmsTopicSuffix
	}
	if t := e.registryTopic(tenant); t != "" {
		return t + AlarmsTopicSuffix
	}
	if e.cfg.Alarms.Topic == "" {
		return DefaultAlarmsTopic
	}
	return e.cfg.Alarms.Topic
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
