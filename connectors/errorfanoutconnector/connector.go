package errorfanoutconnector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/internal/sharedcomponent"
	"github.com/scadaotel/scadaotel/internal/tenantoutbox"
	"github.com/scadaotel/scadaotel/tenants"
)

// core is the state shared by the instances of one connector id.
type core struct {
	cfg    *Config
	set    connector.Settings
	logger *zap.Logger
	cls    classifier
	tel    *telemetry
	hist   *history

	mu      sync.Mutex // guards tr
	tr      *tracker
	store   consumer.Traces
	alert   consumer.Traces
	logs    consumer.Logs
	metrics consumer.Metrics

	// outbox holds events not yet accepted by the logs pipeline, per
	// tenant, each in order, drained round robin (see flush).
	outbox tenantoutbox.Outbox[*Event]
	kick   chan struct{}
	marks  sync.WaitGroup // delivery marks being written

	histMu      sync.Mutex
	histFailing bool           // the last history write failed
	host        component.Host // for status reports; set by start

	stop   chan struct{}
	done   chan struct{}
	server *httpserver.Server
}

func newCore(set connector.Settings, cfg *Config) *core {
	return &core{
		cfg: cfg, set: set, logger: set.Logger, cls: newClassifier(cfg.Errors),
		hist: newHistory(cfg.History, set.Logger), tr: newTracker(cfg), kick: make(chan struct{}, 1),
	}
}

func (c *core) setTraces(store, alert consumer.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		return fmt.Errorf("%s: created twice for traces", c.set.ID)
	}
	c.store, c.alert = store, alert
	return nil
}

func (c *core) setLogs(l consumer.Logs) { c.mu.Lock(); c.logs = l; c.mu.Unlock() }

func (c *core) setMetrics(m consumer.Metrics) { c.mu.Lock(); c.metrics = m; c.mu.Unlock() }

// start starts the shared state, for the first instance started
// (sharedcomponent); on error it leaves nothing running.
func (c *core) start(ctx context.Context, host component.Host) (err error) {
	c.mu.Lock()
	hasTraces := c.store != nil
	c.mu.Unlock()
	if !hasTraces {
		return fmt.Errorf("%s: must also be a receiver of a traces pipeline (its store/alert outputs); logs and metrics outputs alone do nothing", c.set.ID)
	}
	tel, err := newTelemetry(c.set.TelemetrySettings, c)
	if err != nil {
		return fmt.Errorf("%s: telemetry: %w", c.set.ID, err)
	}
	c.tel = tel
	c.histMu.Lock()
	c.host = host
	c.histMu.Unlock()
	defer func() {
		if err != nil {
			_ = c.tel.close()
			c.tel = nil
		}
	}()
	c.tel.historyDamaged(c.hist.load())
	if c.hist.store == nil {
		c.logger.Warn("history.directory is not set: the alert history is kept in memory only and lost on restart")
	}
	pending, firing := c.hist.pending()
	now := time.Now()
	c.mu.Lock()
	for _, ev := range firing {
		c.tr.restore(ev, now)
	}
	c.mu.Unlock()
	if len(pending) > 0 || len(firing) > 0 {
		c.logger.Info("restored alert state from history", zap.Int("pending_events", len(pending)), zap.Int("firing_keys", len(firing)))
	}
	c.queue(pending)

	if c.cfg.HTTP.HasValue() {
		hc := c.cfg.HTTP.Get()
		ln, err := httpserver.ListenHTTP(ctx, hc)
		if err != nil {
			return fmt.Errorf("%s: http: %w", c.set.ID, err)
		}
		srv, err := hc.ToServer(ctx, host.GetExtensions(), c.set.TelemetrySettings, c.hist.handler())
		if err != nil {
			ln.Close()
			return fmt.Errorf("%s: http: %w", c.set.ID, err)
		}
		c.server = httpserver.Start("alert history API", srv, ln, host, c.logger)
		c.logger.Info("alert history API listening", zap.String("endpoint", c.server.Addr()))
	}

	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.loop()
	c.kickEmitter()
	return nil
}

// shutdown runs once, when the last started instance stops
// (sharedcomponent): it stops the loop, evaluates and flushes the outbox
// one last time, and saves.
func (c *core) shutdown(ctx context.Context) error {
	close(c.stop)
	<-c.done
	var errs []error
	if c.server != nil {
		errs = append(errs, c.server.Shutdown(ctx))
		c.server = nil
	}
	c.flush(ctx)
	c.marks.Wait()
	if err := c.hist.save(); err != nil {
		c.logger.Error("alert history not saved at shutdown; events still pending are sent again after the restart", zap.Error(err))
	}
	c.hist.close()
	if c.tel != nil {
		errs = append(errs, c.tel.close())
		c.tel = nil
	}
	return errors.Join(errs...)
}

func (c *core) kickEmitter() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop evaluates keys every interval and delivers queued events.
func (c *core) loop() {
	defer close(c.done)
	tick := time.NewTicker(c.cfg.evalInterval())
	defer tick.Stop()
	ctx := context.Background()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			c.flush(ctx)
		case now := <-tick.C:
			c.evaluate(ctx, now)
			c.flush(ctx)
			if c.hist.unsaved() {
				c.noteHistoryWrite(c.hist.save())
			}
		}
	}
}

func (c *core) evaluate(ctx context.Context, now time.Time) {
	var samples []keySample
	c.mu.Lock()
	metrics := c.metrics
	var sp *[]keySample
	if metrics != nil {
		sp = &samples
	}
	evs := c.tr.evaluate(now, nil, sp)
	c.mu.Unlock()
	c.enqueue(evs)
	if metrics != nil && len(samples) > 0 {
		c.emitMetrics(ctx, now, samples)
	}
}

// enqueue records events in the history (one journal write shared with
// concurrent calls) and queues them for the logs pipeline.
func (c *core) enqueue(evs []*Event) {
	if len(evs) == 0 {
		return
	}
	// Queued first: the events go out while the history write (group
	// commit, fsync) is under way; the request that raised them is still
	// answered only after it. A delivery mark that reaches the journal
	// before its event carries the whole event, so replay is the same.
	c.queue(evs)
	c.kickEmitter()
	if wrote, err := c.hist.recordAll(evs); wrote {
		c.noteHistoryWrite(err)
	}
	for _, ev := range evs {
		if c.tel != nil {
			c.tel.alert(ev.State)
		}
		c.logger.Info("alert state change", zap.String("tenant", ev.Tenant), zap.String("service", ev.Service),
			zap.String("state", ev.State), zap.String("alert_id", ev.AlertID), zap.Float64("error_rate", ev.ErrorRate),
			zap.Uint64("spans", ev.Spans), zap.Uint64("errors", ev.Errors))
	}
}

// queue puts events in their tenants' outboxes, in order.
func (c *core) queue(evs []*Event) {
	for _, ev := range evs {
		c.outbox.Add(ev.Tenant, ev)
	}
}

// flushBatch is how many events of one tenant go in one logs request: one
// queue write and one history write for all of them, and the most another
// tenant's events wait for in one round.
const flushBatch = 256

// flush hands queued events to the logs pipeline: round robin over the
// tenants, up to flushBatch events of one tenant per request, each tenant's
// in order. A tenant whose request is refused waits for the next tick (its
// order is kept); the others go on, so one tenant's backlog or refusal
// never holds another's alerts back by more than one request.
func (c *core) flush(ctx context.Context) {
	c.mu.Lock()
	logs := c.logs
	c.mu.Unlock()
	if logs == nil {
		// No logs output: the events have nowhere to go.
		c.outbox.Drain(flushBatch, func(string, []*Event) error { return nil }, nil)
		return
	}
	c.outbox.Drain(flushBatch, func(tenant string, batch []*Event) error {
		err := logs.ConsumeLogs(tenantContext(ctx, tenant), EventsLogs(batch))
		if err != nil {
			c.logger.Warn("alert events not accepted by the logs pipeline; will retry", zap.String("tenant", tenant),
				zap.Int("events", len(batch)), zap.String("first_alert_id", batch[0].AlertID), zap.Error(err))
		}
		return err
	}, func(_ string, batch []*Event) {
		// The delivery marks are written while the next tenant's turn
		// goes on (shutdown waits for them before the last save).
		c.marks.Add(1)
		go func() {
			defer c.marks.Done()
			if wrote, err := c.hist.deliveredAll(batch); wrote {
				c.noteHistoryWrite(err)
			}
		}()
	})
}

func (c *core) pendingEvents() int { return c.outbox.Total() }

func tenantContext(ctx context.Context, tenant string) context.Context {
	// An authenticated request of this tenant already carries it.
	if tenant == "" || tenants.FromContext(ctx) == tenant {
		return ctx
	}
	// tenants.NewContext builds each tenant's auth data and metadata once.
	return tenants.NewContext(ctx, tenant)
}

// Alert event log record attribute names (AttrPrefix + JSON field name).
const (
	AttrPrefix = "scada.alert."
	EventName  = "scada.alert"
)

// EventLogs renders one event as a log record: resource scada.tenant and
// service.name, attributes scada.alert.<field> for every field.
func EventLogs(ev *Event) plog.Logs { return EventsLogs([]*Event{ev}) }

// EventsLogs renders events as log records in their order, one resource
// each.
func EventsLogs(evs []*Event) plog.Logs {
	ld := plog.NewLogs()
	for _, ev := range evs {
		appendEventLog(ld, ev)
	}
	return ld
}

func appendEventLog(ld plog.Logs, ev *Event) {
	rl := ld.ResourceLogs().AppendEmpty()
	if ev.Tenant != "" {
		tenants.SetOnResource(rl.Resource(), ev.Tenant)
	}
	rl.Resource().Attributes().PutStr("service.name", ev.Service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/scadaotel/scadaotel/connectors/errorfanoutconnector")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName(EventName)
	ts := ev.StartedAt
	if ev.State == StateResolved {
		ts = ev.ResolvedAt
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberError)
	}
	lr.SetSeverityText(ev.State)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.Body().SetStr(fmt.Sprintf("%s/%s %s: error rate %.4f over %gs (threshold %.4f)", ev.Tenant, ev.Service, ev.State, ev.ErrorRate, ev.WindowS, ev.Threshold))
	a := lr.Attributes()
	a.PutStr(AttrPrefix+"alert_id", ev.AlertID)
	a.PutStr(AttrPrefix+"tenant", ev.Tenant)
	a.PutStr(AttrPrefix+"service", ev.Service)
	if ev.Station != "" {
		a.PutStr(AttrPrefix+"station", ev.Station)
	}
	a.PutStr(AttrPrefix+"state", ev.State)
	a.PutDouble(AttrPrefix+"error_rate", ev.ErrorRate)
	a.PutDouble(AttrPrefix+"threshold", ev.Threshold)
	a.PutDouble(AttrPrefix+"window_s", ev.WindowS)
	a.PutInt(AttrPrefix+"spans", int64(ev.Spans))
	a.PutInt(AttrPrefix+"errors", int64(ev.Errors))
	a.PutStr(AttrPrefix+"started_at", ev.StartedAt.UTC().Format(time.RFC3339Nano))
	if !ev.ResolvedAt.IsZero() {
		a.PutStr(AttrPrefix+"resolved_at", ev.ResolvedAt.UTC().Format(time.RFC3339Nano))
	}
	ids := a.PutEmptySlice(AttrPrefix + "trace_ids")
	for _, id := range ev.TraceIDs {
		ids.AppendEmpty().SetStr(id)
	}
}

// emitMetrics sends scada_service_error_ratio and
// scada_service_error_threshold per key, one request per tenant.
func (c *core) emitMetrics(ctx context.Context, now time.Time, samples []keySample) {
	byTenant := map[string]pmetric.Metrics{}
	gauges := map[string][2]pmetric.Gauge{}
	ts := pcommon.NewTimestampFromTime(now)
	for _, s := range samples {
		g, ok := gauges[s.id.tenant]
		if !ok {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			if s.id.tenant != "" {
				tenants.SetOnResource(rm.Resource(), s.id.tenant)
			}
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("github.com/scadaotel/scadaotel/connectors/errorfanoutconnector")
			m1 := sm.Metrics().AppendEmpty()
			m1.SetName("scada_service_error_ratio")
			m1.SetUnit("1")
			m1.SetDescription("Error spans / spans of the service over the sliding window.")
			m2 := sm.Metrics().AppendEmpty()
			m2.SetName("scada_service_error_threshold")
			m2.SetUnit("1")
			m2.SetDescription("Error ratio above which the service's alert fires.")
			g = [2]pmetric.Gauge{m1.SetEmptyGauge(), m2.SetEmptyGauge()}
			gauges[s.id.tenant] = g
			byTenant[s.id.tenant] = md
		}
		dp := g[0].DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(s.ratio)
		dp.Attributes().PutStr("service", s.id.service)
		dp = g[1].DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(s.threshold)
		dp.Attributes().PutStr("service", s.id.service)
	}
	c.mu.Lock()
	metrics := c.metrics
	c.mu.Unlock()
	for tenant, md := range byTenant {
		if err := metrics.ConsumeMetrics(tenantContext(ctx, tenant), md); err != nil {
			c.logger.Warn("error ratio metrics not accepted", zap.String("tenant", tenant), zap.Error(err))
		}
	}
}

// consume counts, evaluates and routes one request.
func (c *core) consume(ctx context.Context, td ptrace.Traces) error {
	rss := td.ResourceSpans()
	n := rss.Len()
	if n == 0 {
		return nil
	}
	type rsInfo struct {
		tenant string
		firing bool
	}
	var small [8]rsInfo
	infos := small[:0]
	var idBuf [16]pcommon.TraceID
	now := time.Now()
	var evs []*Event
	anyFiring := false

	c.mu.Lock()
	for i := 0; i < n; i++ {
		rs := rss.At(i)
		res := rs.Resource()
		tenant := tenants.FromResource(res)
		service := ""
		if v, ok := res.Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		station := ""
		if c.cfg.StationAttribute != "" {
			if v, ok := res.Attributes().Get(c.cfg.StationAttribute); ok {
				station = v.AsString()
			}
		}
		spans, errs, ids := c.cls.countResource(rs, idBuf[:0], c.cfg.MaxTraceIDs)
		info := rsInfo{tenant: tenant}
		if spans > 0 {
			firing, ev := c.tr.observe(now, keyID{tenant: tenant, service: service}, station, spans, errs, ids)
			if ev != nil {
				evs = append(evs, ev)
			}
			info.firing = firing
		}
		anyFiring = anyFiring || info.firing
		infos = append(infos, info)
	}
	c.mu.Unlock()
	if len(evs) > 0 {
		c.enqueue(evs)
	}
	if c.tel != nil {
		c.tel.spans(ctx, td.SpanCount())
	}

	// Fast path: one tenant, nothing firing: the request goes to store as is.
	single := true
	for i := 1; i < len(infos); i++ {
		if infos[i].tenant != infos[0].tenant {
			single = false
			break
		}
	}
	if single && !anyFiring {
		return c.store.ConsumeTraces(tenantContext(ctx, infos[0].tenant), td)
	}
	var errs []error
	for _, tenant := range tenantsOf(infos, func(i rsInfo) string { return i.tenant }) {
		storeTD, alertTD := ptrace.NewTraces(), ptrace.NewTraces()
		for i, info := range infos {
			if info.tenant != tenant {
				continue
			}
			if !info.firing || c.cfg.StoreWhileFiring {
				rss.At(i).CopyTo(storeTD.ResourceSpans().AppendEmpty())
			}
			if info.firing && c.alert != nil {
				rss.At(i).CopyTo(alertTD.ResourceSpans().AppendEmpty())
			}
		}
		tctx := tenantContext(ctx, tenant)
		if alertTD.ResourceSpans().Len() > 0 {
			if err := c.alert.ConsumeTraces(tctx, alertTD); err != nil {
				errs = append(errs, fmt.Errorf("alert pipeline: %w", err))
			}
		}
		if storeTD.ResourceSpans().Len() > 0 {
			if err := c.store.ConsumeTraces(tctx, storeTD); err != nil {
				errs = append(errs, fmt.Errorf("store pipeline: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

func tenantsOf[T any](items []T, key func(T) string) []string {
	var out []string
	for _, it := range items {
		k := key(it)
		dup := false
		for _, o := range out {
			if o == k {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}

// tracesConnector is the traces→traces instance: it evaluates and routes.
type tracesConnector struct {
	shared *sharedcomponent.Instance[*core]
}

func (t *tracesConnector) Start(ctx context.Context, host component.Host) error {
	return t.shared.Start(func() error { return t.shared.Value().start(ctx, host) })
}

func (t *tracesConnector) Shutdown(ctx context.Context) error {
	return t.shared.Shutdown(func() error { return t.shared.Value().shutdown(ctx) })
}

func (t *tracesConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (t *tracesConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return t.shared.Value().consume(ctx, td)
}

// sideConnector is the traces→logs or traces→metrics instance: the traces
// it receives are the same ones the traces→traces instance counts, so it
// ignores them; the core emits into its output.
type sideConnector struct {
	shared *sharedcomponent.Instance[*core]
}

func (s *sideConnector) Start(ctx context.Context, host component.Host) error {
	return s.shared.Start(func() error { return s.shared.Value().start(ctx, host) })
}

func (s *sideConnector) Shutdown(ctx context.Context) error {
	return s.shared.Shutdown(func() error { return s.shared.Value().shutdown(ctx) })
}

func (s *sideConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (s *sideConnector) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }
