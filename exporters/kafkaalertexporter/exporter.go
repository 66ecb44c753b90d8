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

	// headMu guards the heads' records, the acknowledged keys and the
	// senders (see head.go, sender.go). It is never held while waiting on
	// Kafka or on the disk: each tenant's head is written under its own
	// writeMu, so one tenant's long head never delays another's write.
	headMu      sync.Mutex
	heads       map[string]*tenantHead
	inHead      map[string]struct{}
	legacySent  map[string]struct{} // acknowledged keys of an earlier release's single head (read-only after start)
	syncSeq     uint64
	roundDone   chan struct{} // closed (and replaced) after every round
	lastSendErr error
	stopped     bool

	indexMu sync.Mutex // serializes writes of the tenants list (head.tenants)
	indexed map[string]bool

	auditExp *auditExport // the audit trail's export (audit.topic), or nil

	accepted, sentN, failedN, ignoredN, spansN, headDamagedN, deadN, refusedN, auditN metric.Int64Counter
	reg                                                                               metric.Registration
}

// tenantHead is one tenant's undelivered records and acknowledged keys.
type tenantHead struct {
	writeMu sync.Mutex // held across a write of this head: writes reach the storage in the order of their snapshots
	recs    []*Record  // taken for delivery, not yet acknowledged, in order (headMu)
	sent    map[string]struct{}
	sentLRU []string
	durable bool // the last write of this head succeeded (headMu)
	sending bool // the tenant's sender goroutine runs (headMu)
}

// sentMemory bounds the acknowledged keys a tenant's head remembers.
const sentMemory = 4096

func newAlertExporter(cfg *Config, set exporter.Settings, signal string) (*alertExporter, error) {
	e := &alertExporter{cfg: cfg, logger: set.Logger, signal: signal, inHead: map[string]struct{}{},
		heads: map[string]*tenantHead{}, indexed: map[string]bool{}, roundDone: make(chan struct{}), id: set.ID, stopCh: make(chan struct{})}
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
	if e.accepted, err = m.Int64Counter(MetricDequeuedRecords, metric.WithDescription("Alert records taken for delivery (including re-sends the heads then ignore)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.auditN, err = m.Int64Counter(MetricAuditRecords, metric.WithDescription("Audit trail records acknowledged by Kafka (audit.topic)."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if e.refusedN, err = m.Int64Counter(MetricRefusedRecords, metric.WithDescription("Alert records refused (retryable) because their tenant's head was at its limit, by tenant."), metric.WithUnit("{record}")); err != nil {
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
		n += len(h.recs)
		for _, r := range h.recs {
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
	n, err := e.loadHeads(ctx, cl)
	if err != nil {
		_ = cl.Close(ctx)
		return err
	}
	if err := e.startAudit(ctx, host, se); err != nil {
		return err
	}
	if n > 0 {
		e.logger.Info("unacknowledged alert records of the last run go out first", zap.Int("records", n))
		e.kickSenders() // even if no new alert arrives
	}
	return nil
}

// loadHeads reads every tenant's stored head (and an earlier release's
// single head, which it splits into per-tenant heads and then deletes) and
// returns how many records wait for Kafka.
func (e *alertExporter) loadHeads(ctx context.Context, cl storage.Client) (int, error) {
	ids, err := loadHeadTenants(ctx, cl, e.logger)
	if err != nil {
		return 0, err
	}
	if e.registry != nil {
		for _, t := range e.registry.Tenants() {
			ids = append(ids, t.ID)
		}
	}
	e.headMu.Lock()
	e.store = cl
	e.headMu.Unlock()
	seen := map[string]bool{}
	damagedN := 0
	for _, t := range ids {
		if seen[t] {
			continue
		}
		seen[t] = true
		recs, sent, damaged, err := loadHead(ctx, cl, headKey(t), e.logger)
		if err != nil {
			return 0, err
		}
		damagedN += damaged
		if len(recs) == 0 && len(sent) == 0 && damaged == 0 {
			continue
		}
		e.indexed[t] = true
		e.headMu.Lock()
		h := e.headLocked(t)
		h.durable = damaged == 0
		for _, k := range sent {
			h.remember(k)
		}
		e.appendLocked(h, recs)
		e.headMu.Unlock()
	}
	legacy, legacySent, damaged, err := loadHead(ctx, cl, legacyHeadKey, e.logger)
	if err != nil {
		return 0, err
	}
	damagedN += damaged
	if damagedN > 0 {
		e.headDamagedN.Add(ctx, int64(damagedN))
	}
	if len(legacy) > 0 || len(legacySent) > 0 || damaged > 0 {
		if err := e.splitLegacyHead(ctx, cl, legacy, legacySent); err != nil {
			return 0, err
		}
	}
	n, _ := e.inFlight()
	return n, nil
}

// splitLegacyHead moves an earlier release's single head into per-tenant
// heads (synced) and only then deletes it: a crash in between reads both
// next time, and the records already moved are not taken twice.
func (e *alertExporter) splitLegacyHead(ctx context.Context, cl storage.Client, recs []*Record, sent []string) error {
	e.headMu.Lock()
	e.legacySent = make(map[string]struct{}, len(sent))
	for _, k := range sent {
		e.legacySent[k] = struct{}{}
	}
	var touched []string
	for _, r := range recs {
		h := e.headLocked(r.Tenant)
		if len(touched) == 0 || touched[len(touched)-1] != r.Tenant {
			touched = append(touched, r.Tenant)
		}
		e.appendLocked(h, []*Record{r})
	}
	e.headMu.Unlock()
	for _, t := range touched {
		if !e.writeHead(ctx, t, true) {
			return fmt.Errorf("cannot move the alert records head of an earlier release to per-tenant heads (storage client alerts_head): tenant %s could not be written", t)
		}
	}
	if err := cl.Delete(ctx, legacyHeadKey); err != nil {
		return fmt.Errorf("cannot delete the alert records head of an earlier release (storage client alerts_head, key %q): %w", legacyHeadKey, err)
	}
	e.logger.Info("alert records head of an earlier release moved to per-tenant heads", zap.Int("records", len(recs)), zap.Int("tenants", len(touched)))
	return nil
}

// headLocked is tenant's head, created empty on first use (headMu held).
func (e *alertExporter) headLocked(tenant string) *tenantHead {
	h := e.heads[tenant]
	if h == nil {
		h = &tenantHead{sent: map[string]struct{}{}, durable: true}
		e.heads[tenant] = h
	}
	return h
}

// appendLocked adds the records that are neither acknowledged nor already
// waiting to h, in order, and reports whether it added any (headMu held).
func (e *alertExporter) appendLocked(h *tenantHead, recs []*Record) bool {
	added := false
	for _, r := range recs {
		k := r.dedupKey()
		if _, done := h.sent[k]; done {
			continue // a late copy (a re-send of the connector, or a queue tail after a crash)
		}
		if _, done := e.legacySent[k]; done {
			continue
		}
		if _, queued := e.inHead[k]; queued {
			continue
		}
		h.recs = append(h.recs, r)
		e.inHead[k] = struct{}{}
		added = true
	}
	return added
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
	var err error
	if e.auditExp != nil {
		err = e.auditExp.shutdown(ctx)
		e.auditExp = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
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

// remember records an acknowledged key of the tenant (headMu held).
func (h *tenantHead) remember(k string) {
	if _, ok := h.sent[k]; ok {
		return
	}
	h.sent[k] = struct{}{}
	h.sentLRU = append(h.sentLRU, k)
	if len(h.sentLRU) > sentMemory {
		delete(h.sent, h.sentLRU[0])
		h.sentLRU = h.sentLRU[1:]
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
