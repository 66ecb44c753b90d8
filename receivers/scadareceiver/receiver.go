package scadareceiver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// Sample qualities, the data point attribute "quality".
const (
	qualityGood     = scadaseries.QualityGood
	qualityBad      = scadaseries.QualityBad
	qualityCommLost = scadaseries.QualityCommLost
)

// rtu is the runtime state of one configured RTU.
type rtu struct {
	name    string
	station string
	tenant  string
	unit    uint8
	ctx     context.Context // carries the tenant to the next consumer
	attrs   rtuAttrs
	log     *faultLog

	mu      sync.Mutex
	pending []pmetric.Metrics
	wasUp   bool
}

// sample is the outcome of one point in one poll.
type sample struct {
	quality string
	value   float64
	raw     int64
}

type scadaReceiver struct {
	set    receiver.Settings
	cfg    *Config
	next   consumer.Metrics
	tel    *telemetry
	logger *zap.Logger

	rtus  []*rtu
	lanes []*lane
	sched *scheduler

	// per-job scratch, indexed by job; a job never runs twice at once.
	scratch sync.Map // *pollJob -> *jobScratch

	// pollHook, when set (benchmarks), sees each poll's tick and start.
	pollHook func(tick, start time.Time)
}

type jobScratch struct {
	samples []sample
	// prev holds each point's quality in the previous poll.
	prev []string
	regs []uint16
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*scadaReceiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scada receiver: invalid config: %w", err)
	}
	tel, err := newTelemetry(set.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("scada receiver: cannot create self-metrics: %w", err)
	}
	r := &scadaReceiver{set: set, cfg: cfg, next: next, tel: tel, logger: set.Logger}
	if err := r.compile(); err != nil {
		return nil, err
	}
	r.sched = newScheduler(cfg.PollGroups, r.lanes, cfg.MaxConcurrency, cfg.MaxPollsPerSlot, r.exec, r.skipped)
	return r, nil
}

// compile turns the validated config into RTUs, links, lanes and jobs.
func (r *scadaReceiver) compile() error {
	gw := map[string]GatewayConfig{}
	for _, g := range r.cfg.Gateways {
		gw[g.Name] = g
	}
	lanes := map[string]*lane{}
	var laneOrder []string
	for i := range r.cfg.RTUs {
		rc := &r.cfg.RTUs[i]
		timeout := cmp.Or(rc.Timeout, defaultTimeout)
		key, url := "rtu/"+rc.Name, rc.Endpoint
		if rc.Gateway != "" {
			g := gw[rc.Gateway]
			key, url = "gateway/"+g.Name, g.Endpoint
			timeout = cmp.Or(g.Timeout, rc.Timeout, defaultTimeout)
		}
		l, ok := lanes[key]
		if !ok {
			l = &lane{link: &link{name: key, url: url, timeout: timeout, rc: r.cfg.Reconnect}}
			lanes[key] = l
			laneOrder = append(laneOrder, key)
		}
		rt := &rtu{
			name: rc.Name, station: rc.Station, tenant: rc.Tenant, unit: uint8(rc.UnitID),
			ctx: tenants.NewContext(context.Background(), rc.Tenant),
			log: newFaultLog(r.cfg.LogInterval),
		}
		byGroup := map[string][]*point{}
		var groups []string
		for _, pc := range r.cfg.rtuPoints(rc) {
			p, err := compilePoint(pc)
			if err != nil {
				return fmt.Errorf("scada receiver: rtus[%d] (%s): %w", i, rc.Name, err)
			}
			if _, ok := byGroup[p.group]; !ok {
				groups = append(groups, p.group)
			}
			byGroup[p.group] = append(byGroup[p.group], p)
		}
		rt.attrs = newRTUAttrs(rc.Name, groups)
		for _, g := range groups {
			pts := byGroup[g]
			l.jobs = append(l.jobs, &pollJob{
				rtu: rt, group: g, interval: r.cfg.PollGroups[g], points: pts,
				reads: planReads(pts, r.cfg.MaxGap, r.cfg.MaxGapBits),
			})
		}
		r.rtus = append(r.rtus, rt)
	}
	for _, k := range laneOrder {
		r.lanes = append(r.lanes, lanes[k])
	}
	return nil
}

func compilePoint(pc PointConfig) (*point, error) {
	pc = pc.withDefaults() // a Config built in code was not unmarshalled
	t, ok := parseType(pc.Type)
	if !ok {
		return nil, fmt.Errorf("point %q: bad type %q", pc.Name, pc.Type)
	}
	o, ok := parseByteOrder(pc.ByteOrder)
	if !ok {
		return nil, fmt.Errorf("point %q: bad byte_order %q", pc.Name, pc.ByteOrder)
	}
	p := &point{
		name: pc.Name, kind: pc.Kind, reg: parseRegKind(pc.Register), addr: pc.Address,
		typ: t, order: o, scale: pc.Scale, offset: pc.Offset, unit: pc.Unit, group: pc.PollGroup,
	}
	if p.scale == 0 {
		p.scale = 1
	}
	if pc.Kind == KindValve {
		p.states = map[int64]string{}
		type kv struct {
			raw  int64
			name string
		}
		var list []kv
		for k, v := range pc.States {
			raw, err := parseRaw(k)
			if err != nil {
				return nil, fmt.Errorf("point %q: states.%s: %w", pc.Name, k, err)
			}
			p.states[raw] = v
			list = append(list, kv{raw, v})
		}
		slices.SortFunc(list, func(a, b kv) int { return cmp.Compare(a.raw, b.raw) })
		for _, e := range list {
			if !slices.Contains(p.statusList, e.name) {
				p.statusList = append(p.statusList, e.name)
			}
		}
	}
	return p, nil
}

// Start starts polling.
func (r *scadaReceiver) Start(context.Context, component.Host) error {
	r.sched.start()
	return nil
}

// Shutdown stops polling, waits for running polls, tries once more to
// deliver what the next consumer refused, and closes the connections.
func (r *scadaReceiver) Shutdown(context.Context) error {
	if r.sched != nil {
		r.sched.stop()
	}
	for _, rt := range r.rtus {
		r.flush(rt)
	}
	for _, l := range r.lanes {
		l.link.close()
	}
	return nil
}

func (r *scadaReceiver) skipped(j *pollJob, reason string) {
	r.tel.skipped.Add(context.Background(), 1, j.rtu.attrs.groups[j.group])
	j.rtu.log.warn(r.logger, "skip/"+j.group+"/"+reason, "Modbus poll skipped",
		zap.String("rtu", j.rtu.name), zap.String("poll_group", j.group), zap.String("reason", reason))
}

func (r *scadaReceiver) scratchFor(j *pollJob) *jobScratch {
	if s, ok := r.scratch.Load(j); ok {
		return s.(*jobScratch)
	}
	s := &jobScratch{samples: make([]sample, len(j.points)), prev: make([]string, len(j.points))}
	r.scratch.Store(j, s)
	return s
}

// exec performs one poll of a job: its planned reads, decoding, and the
// delivery of the resulting batch.
func (r *scadaReceiver) exec(_ context.Context, j *pollJob, tick time.Time) {
	rt, l := j.rtu, j.lane.link
	sc := r.scratchFor(j)
	idx := func(p *point) int {
		// points are few per job: a linear scan beats a map
		for i, q := range j.points {
			if q == p {
				return i
			}
		}
		return -1
	}
	answered, didIO := false, false
	start := time.Now()
	r.tel.pollLag.Record(context.Background(), start.Sub(tick).Seconds(), rt.attrs.groups[j.group])
	if r.pollHook != nil {
		r.pollHook(tick, start)
	}
	for i := range j.reads {
		rq := &j.reads[i]
		regs, reconnected, err := l.read(time.Now(), rt.unit, rq, sc.regs)
		if reconnected {
			r.tel.reconnects.Add(context.Background(), 1, rt.attrs.rtu)
			r.logger.Info("Modbus connection re-established", zap.String("rtu", rt.name), zap.String("link", l.name))
		}
		if err != nil {
			q := qualityCommLost
			if !errors.Is(err, errBackoff) {
				didIO = true
				kind, code := classify(err)
				if kind == faultException {
					q, answered = qualityBad, true
				}
				r.tel.errors.Add(context.Background(), 1, errorAttrs(rt.name, kind, code))
				rt.log.warn(r.logger, kind+"/"+strconv.Itoa(code), "Modbus read failed",
					zap.String("rtu", rt.name), zap.String("link", l.name), zap.String("kind", kind),
					zap.Int("exception_code", code), zap.String("register", rq.reg.String()),
					zap.Int("address", rq.addr), zap.Int("count", rq.count), zap.Error(err))
			}
			for _, p := range rq.points {
				sc.samples[idx(p)] = sample{quality: q}
			}
			continue
		}
		didIO, answered = true, true
		sc.regs = regs
		for _, p := range rq.points {
			off := p.addr - rq.addr
			sc.samples[idx(p)] = decodePoint(p, regs[off:off+p.typ.words()])
		}
	}
	now := time.Now()
	if didIO {
		r.tel.pollDuration.Record(context.Background(), now.Sub(start).Seconds(), rt.attrs.groups[j.group])
	}
	if answered != rt.wasUp {
		if answered {
			r.logger.Info("RTU answers", zap.String("rtu", rt.name))
		} else {
			r.logger.Warn("RTU lost", zap.String("rtu", rt.name))
		}
		rt.wasUp = answered
	}
	var good, bad, lost int64
	for _, s := range sc.samples {
		switch s.quality {
		case qualityGood:
			good++
		case qualityBad:
			bad++
		default:
			lost++
		}
	}
	ctx := context.Background()
	if good > 0 {
		r.tel.samples.Add(ctx, good, rt.attrs.good)
	}
	if bad > 0 {
		r.tel.samples.Add(ctx, bad, rt.attrs.bad)
	}
	if lost > 0 {
		r.tel.samples.Add(ctx, lost, rt.attrs.lost)
	}
	md := buildMetrics(j, sc.samples, sc.prev, answered, pcommon.NewTimestampFromTime(now))
	for i := range sc.samples {
		sc.prev[i] = sc.samples[i].quality
	}
	r.deliver(rt, md)
}

// decodePoint turns a point's registers into a sample.
func decodePoint(p *point, regs []uint16) sample {
	if p.kind == KindValve {
		raw, ok := rawInt(regs, p.typ, p.order)
		if !ok {
			return sample{quality: qualityBad}
		}
		if _, known := p.states[raw]; !known {
			return sample{quality: qualityBad, raw: raw}
		}
		return sample{quality: qualityGood, raw: raw}
	}
	v, err := decodeRegisters(regs, p.typ, p.order)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return sample{quality: qualityBad}
	}
	return sample{quality: qualityGood, value: scaled(v, p.scale, p.offset)}
}

// deliver sends md to the next consumer after any batches it refused
// before, oldest first. A refused batch is kept (bounded by retry_batches)
// and retried on the RTU's next poll; nothing is dropped without being
// counted and logged.
func (r *scadaReceiver) deliver(rt *rtu, md pmetric.Metrics) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	ctx := context.Background()
	for len(rt.pending) > 0 {
		if !r.send(rt, rt.pending[0]) {
			break
		}
		rt.pending[0] = pmetric.Metrics{}
		rt.pending = rt.pending[1:]
		r.tel.pending.Add(ctx, -1, rt.attrs.rtu)
	}
	if len(rt.pending) == 0 && r.send(rt, md) {
		return
	}
	rt.pending = append(rt.pending, md)
	r.tel.pending.Add(ctx, 1, rt.attrs.rtu)
	for len(rt.pending) > r.cfg.RetryBatches {
		r.tel.dropped.Add(ctx, 1, metricOpt("rtu", rt.name, "reason", "retry_limit"))
		rt.log.warn(r.logger, "drop/retry_limit", "Dropping the oldest refused batch: retry buffer full",
			zap.String("rtu", rt.name), zap.Int("retry_batches", r.cfg.RetryBatches))
		rt.pending[0] = pmetric.Metrics{}
		rt.pending = rt.pending[1:]
		r.tel.pending.Add(ctx, -1, rt.attrs.rtu)
	}
}

// send reports whether md is done with: delivered, or refused permanently
// (counted as dropped, since retrying cannot help).
func (r *scadaReceiver) send(rt *rtu, md pmetric.Metrics) bool {
	err := r.next.ConsumeMetrics(rt.ctx, md)
	if err == nil {
		return true
	}
	ctx := context.Background()
	if consumererror.IsPermanent(err) {
		r.tel.dropped.Add(ctx, 1, metricOpt("rtu", rt.name, "reason", "permanent"))
		rt.log.warn(r.logger, "drop/permanent", "Next consumer rejected a batch permanently; dropped",
			zap.String("rtu", rt.name), zap.Error(err))
		return true
	}
	r.tel.refused.Add(ctx, 1, rt.attrs.rtu)
	rt.log.warn(r.logger, "refused", "Next consumer refused a batch; it is kept and retried on the next poll",
		zap.String("rtu", rt.name), zap.Error(err))
	return false
}

// flush tries once to deliver the RTU's refused batches (at shutdown).
func (r *scadaReceiver) flush(rt *rtu) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for len(rt.pending) > 0 {
		if !r.send(rt, rt.pending[0]) {
			r.tel.dropped.Add(context.Background(), int64(len(rt.pending)), metricOpt("rtu", rt.name, "reason", "shutdown"))
			r.logger.Warn("Shutdown: next consumer still refuses; batches dropped",
				zap.String("rtu", rt.name), zap.Int("batches", len(rt.pending)))
			rt.pending = nil
			return
		}
		rt.pending = rt.pending[1:]
	}
}
