package alarmconnector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/internal/tenantoutbox"
	"github.com/scadaotel/scadaotel/tenants"
)

type alarmConnector struct {
	cfg    *Config
	set    connector.Settings
	logger *zap.Logger
	next   consumer.Logs    // the transitions' logs pipeline
	series consumer.Metrics // the stored series' metrics pipeline, if any
	// started is when Start ran: the start of the stored floods counter.
	started time.Time

	// mu guards the engine, the store and the journal: a request's
	// evaluation, its state write (fsync) and the queueing of its records
	// happen under it, so the records leave in the order they were saved.
	mu       sync.Mutex
	eng      *engine
	store    *stateStore
	journal  map[string][]*Action
	defsData []byte // the definitions file content in use
	defsOK   bool   // defsData parsed (a missing file is OK and empty)
	badData  []byte // the last content rejected (not parsed again until it changes)

	// outbox: records not yet accepted by the logs pipeline, per tenant
	// in order, drained round robin.
	outbox tenantoutbox.Outbox[*Record]
	kick   chan struct{}

	audit *audit.Log
	tel   *telemetry

	stop   chan struct{}
	done   sync.WaitGroup
	server *httpserver.Server
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Logs) *alarmConnector {
	return &alarmConnector{cfg: cfg, set: set, logger: set.Logger, next: next, eng: newEngine(cfg.MaxLinksPerTenant),
		store: newStateStore(cfg.State.Directory, set.Logger), journal: map[string][]*Action{},
		kick: make(chan struct{}, 1)}
}

// setLogs and setSeries are called by the factory before Start.
func (c *alarmConnector) setLogs(next consumer.Logs)      { c.next = next }
func (c *alarmConnector) setSeries(next consumer.Metrics) { c.series = next }

func (c *alarmConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// readDefinitions reads and validates the definitions file. A missing file
// is no definitions.
func (c *alarmConnector) readDefinitions() ([]byte, *alarm.Definitions, error) {
	if c.cfg.DefinitionsFile == "" {
		return nil, &alarm.Definitions{Tenants: map[string]*alarm.TenantDefs{}}, nil
	}
	data, err := os.ReadFile(c.cfg.DefinitionsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &alarm.Definitions{Tenants: map[string]*alarm.TenantDefs{}}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read alarm definitions: %w", err)
	}
	defs, err := alarm.ParseDefinitions(c.cfg.DefinitionsFile, data)
	if err != nil {
		return nil, nil, err
	}
	return data, defs, nil
}

func (c *alarmConnector) Start(ctx context.Context, host component.Host) error {
	if c.next == nil {
		return fmt.Errorf("%s: must be a receiver of a logs pipeline (the alarm transitions go there, to kafka_alerts); a metrics output alone carries only the alarm series", c.set.ID)
	}
	c.started = time.Now()
	data, defs, err := c.readDefinitions()
	if err != nil {
		return fmt.Errorf("%s: definitions_file: %w", c.set.ID, err)
	}
	tel, err := newTelemetry(c.set.TelemetrySettings, c)
	if err != nil {
		return fmt.Errorf("%s: telemetry: %w", c.set.ID, err)
	}
	c.tel = tel
	now := time.Now()
	c.mu.Lock()
	c.defsData, c.defsOK = data, true
	var o out
	c.eng.apply(defs, now, c.store == nil, &o)
	if c.store != nil {
		ld, err := c.store.load()
		if err != nil {
			c.mu.Unlock()
			_ = c.tel.close()
			return fmt.Errorf("%s: %w", c.set.ID, err)
		}
		c.restore(ld)
		if ld.damaged > 0 {
			c.tel.damaged(int64(ld.damaged))
		}
		// The restored states are the base: what apply changed (an alarm
		// taken out of service while stopped) is applied again on them.
		c.eng.apply(defs, now, true, &o)
		if err := c.store.rewrite(c.fullLocked()); err != nil {
			c.logger.Error("cannot write the alarm state file; states are kept in memory and written again on the next change", zap.Error(err))
		}
		if len(ld.pending) > 0 {
			c.logger.Info("alarm transitions of the last run not yet delivered go out first", zap.Int("records", len(ld.pending)))
		}
	} else {
		c.logger.Warn("state.directory is not set: alarm states are kept in memory only and lost on restart")
	}
	_ = c.commitLocked(&o)
	c.mu.Unlock()

	if c.cfg.HTTP.HasValue() {
		hc := c.cfg.HTTP.Get()
		if hc.Auth.HasValue() {
			c.audit = tenants.AuditLogFromHost(host, hc.Auth.Get().Config.AuthenticatorID)
		}
		// httpserver.ListenHTTP keeps the connection cap under the TLS
		// layer (listener_tls gives this listener its certificate).
		ln, err := httpserver.ListenHTTP(ctx, hc)
		if err != nil {
			c.store.close()
			_ = c.tel.close()
			return fmt.Errorf("%s: http: %w", c.set.ID, err)
		}
		srv, err := hc.ToServer(ctx, host.GetExtensions(), c.set.TelemetrySettings, c.handler())
		if err != nil {
			ln.Close()
			c.store.close()
			_ = c.tel.close()
			return fmt.Errorf("%s: http: %w", c.set.ID, err)
		}
		c.server = httpserver.Start("alarm operator API", srv, ln, host, c.logger)
		c.logger.Info("alarm operator API listening", zap.String("endpoint", c.server.Addr()))
	}
	c.stop = make(chan struct{})
	c.done.Add(2)
	go c.loop()
	go c.watch()
	c.kickFlush()
	return nil
}

// restore puts saved states back on the alarms that are still defined.
func (c *alarmConnector) restore(ld *loaded) {
	for k, ls := range ld.links {
		ts := c.eng.tenants[k[0]]
		if ts == nil || !ls.Down {
			continue
		}
		ts.links[ls.Link] = &linkState{down: true, station: ls.Station, insts: map[*inst]struct{}{}}
	}
	for k, sn := range ld.alarms {
		ts := c.eng.tenants[k[0]]
		if ts == nil {
			continue
		}
		in := ts.alarms[sn.ID]
		if in == nil && sn.Kind == alarm.KindComm && ts.defs.Comm.Enabled {
			in = &inst{tenant: sn.Tenant, id: sn.ID, kind: alarm.KindComm, prio: ts.defs.Comm.Priority}
			ts.alarms[sn.ID] = in
		}
		if in == nil || in.kind != sn.Kind {
			continue
		}
		a := sn.Alarm
		if in.a != nil {
			a.OnDelay, a.OffDelay = in.a.OnDelay, in.a.OffDelay
		} else {
			a.OnDelay, a.OffDelay = ts.defs.Comm.OnDelay, ts.defs.Comm.OffDelay
		}
		a.Restored()
		in.a = &a
		if sn.Raises != nil {
			in.raises = *sn.Raises
		}
		in.link, in.station, in.unit, in.value, in.sampleTime = sn.Link, sn.Station, sn.Unit, sn.Value, sn.SampleTime
		if l := ts.links[in.link]; l != nil && in.kind != alarm.KindComm {
			l.insts[in] = struct{}{}
		}
		c.eng.track(in)
	}
	for tenant, acts := range ld.journal {
		if n := len(acts) - c.cfg.State.JournalPerTenant; n > 0 {
			acts = acts[n:]
		}
		c.journal[tenant] = acts
	}
	for tenant, k := range ld.kpis {
		if c.eng.tenants[tenant] != nil {
			c.eng.restoreKPI(k)
		}
	}
	c.queue(ld.pending)
}

// fullLocked is the whole state as entries, for a rewrite of the file.
func (c *alarmConnector) fullLocked() []stateEntry {
	var es []stateEntry
	for tid, ts := range c.eng.tenants {
		for link, l := range ts.links {
			if l.down {
				es = append(es, stateEntry{Link: &linkSnap{Tenant: tid, Link: link, Station: l.station, Down: true}})
			}
		}
		for _, in := range ts.alarms {
			es = append(es, stateEntry{Alarm: snapOf(in)})
		}
		if k := c.eng.kpi[tid]; k != nil {
			es = append(es, stateEntry{KPI: k.snap(tid)})
		}
	}
	c.outbox.Each(func(_ string, recs []*Record) {
		for _, r := range recs {
			es = append(es, stateEntry{Record: r})
		}
	})
	for _, acts := range c.journal {
		for _, a := range acts {
			es = append(es, stateEntry{Action: a})
		}
	}
	return es
}

// commitLocked saves what an evaluation changed (one fsync'ed write) and
// queues its records. A failed write is logged and counted; the records
// still go out (an alarm late is worse than one sent twice after a crash),
// and the next write rewrites the whole file.
func (c *alarmConnector) commitLocked(o *out, extra ...stateEntry) error {
	if o.empty() && len(extra) == 0 {
		return nil
	}
	var es []stateEntry
	seen := map[*inst]bool{}
	for _, in := range o.snaps {
		if !seen[in] {
			seen[in] = true
			es = append(es, stateEntry{Alarm: snapOf(in)})
		}
	}
	for i := range o.links {
		es = append(es, stateEntry{Link: &o.links[i]})
	}
	for tenant := range o.raised {
		if k := c.eng.kpi[tenant]; k != nil {
			es = append(es, stateEntry{KPI: k.snap(tenant)})
		}
	}
	for _, r := range o.records {
		es = append(es, stateEntry{Record: r})
	}
	es = append(es, extra...)
	// The records join the outbox first, so a rewrite of the file (full)
	// holds them as pending.
	c.queue(o.records)
	err := c.store.write(es, c.fullLocked)
	if err != nil {
		c.logger.Error("alarm states not saved; they are kept in memory and written again with the next change", zap.Error(err))
		c.tel.writeFailed()
	}
	for _, r := range o.records {
		c.tel.transition(r)
		c.logger.Info("alarm transition", zap.String("tenant", r.Tenant), zap.String("alarm_id", r.AlarmID),
			zap.String("transition", r.Transition), zap.String("state", r.State), zap.String("priority", r.Priority))
	}
	if len(o.records) > 0 {
		c.kickFlush()
	}
	return err
}

// ConsumeMetrics evaluates every sample of the request. It returns once
// the transitions it caused are on disk. It refuses the request, retryably,
// only when a tenant of the request has max_outbox_per_tenant records that
// the logs pipeline has not accepted yet (OutboxFullError).
func (c *alarmConnector) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if err := c.outboxFull(md); err != nil {
		c.tel.refused(err.Tenant)
		c.logger.Warn("samples refused: the tenant's alarm records are not being accepted by the logs pipeline", zap.Error(err))
		return err
	}
	start := time.Now()
	c.mu.Lock()
	var o out
	c.eng.consume(md, start, &o)
	_ = c.commitLocked(&o)
	c.mu.Unlock()
	if c.tel != nil {
		c.tel.evaluated(md.DataPointCount(), time.Since(start))
	}
	return nil
}

func (c *alarmConnector) kickFlush() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop applies delays and expiries every tick_interval and delivers the
// outbox.
func (c *alarmConnector) loop() {
	defer c.done.Done()
	t := time.NewTicker(c.cfg.TickInterval)
	defer t.Stop()
	// Without a metrics output the series ticker never fires.
	var seriesC <-chan time.Time
	if c.series != nil {
		st := time.NewTicker(c.cfg.SeriesInterval)
		defer st.Stop()
		seriesC = st.C
	}
	ctx := context.Background()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
			c.flush(ctx)
		case now := <-seriesC:
			c.emitSeries(ctx, now)
		case now := <-t.C:
			c.mu.Lock()
			var o out
			c.eng.tick(now, &o)
			_ = c.commitLocked(&o)
			c.mu.Unlock()
			c.flush(ctx)
		}
	}
}

// fullReadEvery: the definitions file is read whole at least this often,
// even when its size, modification time and inode say it is unchanged.
const fullReadEvery = time.Minute

// watch checks the definitions file every reload_interval. It reads the
// file only when its size, modification time or inode changed (or once a
// minute): a file of 10,000 definitions is about 2 MB, and reading it
// every second doubled the polling appliance's allocation rate.
func (c *alarmConnector) watch() {
	defer c.done.Done()
	t := time.NewTicker(c.cfg.ReloadInterval)
	defer t.Stop()
	var last os.FileInfo
	var lastRead time.Time
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			var fi os.FileInfo
			if c.cfg.DefinitionsFile != "" {
				fi, _ = os.Stat(c.cfg.DefinitionsFile)
			}
			if fi != nil && last != nil && os.SameFile(fi, last) && fi.Size() == last.Size() &&
				fi.ModTime().Equal(last.ModTime()) && now.Sub(lastRead) < fullReadEvery {
				continue
			}
			last, lastRead = fi, now
			_ = c.reload()
		}
	}
}

// reload applies a changed definitions file. A broken file keeps the last
// good definitions and is logged (with the key) and counted; it is read
// again on the next tick.
func (c *alarmConnector) reload() error {
	var data []byte
	if c.cfg.DefinitionsFile != "" {
		d, err := os.ReadFile(c.cfg.DefinitionsFile)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			data = d
		}
	}
	c.mu.Lock()
	same := c.defsOK && bytes.Equal(data, c.defsData) || c.badData != nil && bytes.Equal(data, c.badData)
	c.mu.Unlock()
	if same {
		return nil
	}
	data, defs, err := c.readDefinitions()
	if err != nil {
		c.mu.Lock()
		c.defsOK = false
		if b, rerr := os.ReadFile(c.cfg.DefinitionsFile); rerr == nil {
			c.badData = b
		}
		c.mu.Unlock()
		c.tel.reloaded(false)
		c.logger.Error("Alarm definitions rejected; keeping the previous definitions", zap.String("file", c.cfg.DefinitionsFile), zap.Error(err))
		return err
	}
	now := time.Now()
	c.mu.Lock()
	var o out
	c.eng.apply(defs, now, true, &o)
	c.defsData, c.defsOK, c.badData = data, true, nil
	// The whole state is written again: removed alarms leave the file.
	err = c.store.rewrite(c.fullLocked())
	o.snaps = nil
	_ = c.commitLocked(&o)
	n := 0
	for _, td := range defs.Tenants {
		n += len(td.Defs)
	}
	c.mu.Unlock()
	if err != nil {
		c.logger.Error("alarm state file not rewritten after the definitions changed", zap.Error(err))
	}
	c.tel.reloaded(true)
	c.logger.Info("Alarm definitions reloaded", zap.String("file", c.cfg.DefinitionsFile), zap.Int("tenants", len(defs.Tenants)), zap.Int("definitions", n))
	return nil
}

// OutboxFullError refuses a tenant's samples (and operator actions) while
// its outbox holds max_outbox_per_tenant records: retryable (gRPC
// Unavailable with a retry hint, HTTP 503), so the sender keeps the
// samples and sends them again once the logs pipeline accepts records.
type OutboxFullError struct {
	Tenant  string
	Pending int
	Max     int
}

func (e *OutboxFullError) Error() string {
	return fmt.Sprintf("tenant %q has %d alarm records the logs pipeline has not accepted yet (max_outbox_per_tenant %d); refused, retry later",
		e.Tenant, e.Pending, e.Max)
}

// GRPCStatus lets the receivers answer Unavailable (HTTP 503) with a
// one-second retry hint.
func (e *OutboxFullError) GRPCStatus() *status.Status {
	st := status.New(codes.Unavailable, e.Error())
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)}); err == nil {
		return withInfo
	}
	return st
}

// outboxFull is the refusal of the first tenant of md at its outbox bound.
func (c *alarmConnector) outboxFull(md pmetric.Metrics) *OutboxFullError {
	if c.outbox.Total() == 0 {
		return nil
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		if err := c.outboxFullFor(tenants.FromResource(md.ResourceMetrics().At(i).Resource())); err != nil {
			return err
		}
	}
	return nil
}

func (c *alarmConnector) outboxFullFor(tenant string) *OutboxFullError {
	if n := c.outbox.Len(tenant); n >= c.cfg.MaxOutboxPerTenant {
		return &OutboxFullError{Tenant: tenant, Pending: n, Max: c.cfg.MaxOutboxPerTenant}
	}
	return nil
}

// queue appends records to their tenants' outboxes.
func (c *alarmConnector) queue(recs []*Record) {
	for _, r := range recs {
		c.outbox.Add(r.Tenant, r)
	}
}

// flushBatch is how many records of one tenant go in one logs request.
const flushBatch = 256

// flush hands the outbox to the logs pipeline, round robin over tenants,
// each tenant's records in order. A refused tenant waits for the next tick;
// the others go on. Each delivered batch is marked in the state file.
func (c *alarmConnector) flush(ctx context.Context) {
	c.outbox.Drain(flushBatch, func(tenant string, batch []*Record) error {
		ld, err := recordsLogs(batch)
		if err == nil {
			err = c.next.ConsumeLogs(tenants.NewContext(ctx, tenant), ld)
		}
		if err != nil {
			c.logger.Warn("alarm transitions not accepted by the logs pipeline; will retry", zap.String("tenant", tenant),
				zap.Int("records", len(batch)), zap.Error(err))
		}
		return err
	}, func(_ string, batch []*Record) {
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.RecordID
		}
		c.mu.Lock()
		if err := c.store.write([]stateEntry{{Delivered: ids}}, c.fullLocked); err != nil {
			c.logger.Warn("delivery marks not saved; these records may be sent again after a restart", zap.Error(err))
		}
		c.mu.Unlock()
		c.tel.delivered(len(batch))
	})
}

func (c *alarmConnector) pendingRecords() int { return c.outbox.Total() }

func (c *alarmConnector) Shutdown(ctx context.Context) error {
	if c.stop == nil {
		return nil
	}
	var errs []error
	if c.server != nil {
		errs = append(errs, c.server.Shutdown(ctx))
		c.server = nil
	}
	close(c.stop)
	c.done.Wait()
	c.flush(ctx)
	c.mu.Lock()
	c.store.close()
	c.mu.Unlock()
	if c.tel != nil {
		errs = append(errs, c.tel.close())
	}
	c.stop = nil
	return errors.Join(errs...)
}
