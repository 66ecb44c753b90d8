package iec104receiver

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

// point is one configured information object.
type point struct {
	name, kind, unit string
	ca               uint16
	ioa              uint32
	scale, offset    float64
	states           map[string]string // valve: state key → status
	statusList       []string
	last             string // quality of the last sample, "" before any
}

func pointKey(ca uint16, ioa uint32) uint64 { return uint64(ca)<<32 | uint64(ioa) }

// outstation is the runtime of one configured outstation. Everything but
// its configuration belongs to its own goroutine: one outstation's stall
// never touches another's state.
type outstation struct {
	r       *iecReceiver
	name    string
	station string
	tenant  string
	addrs   []string
	ctx     context.Context // carries the tenant to the next consumer
	attrs   *outAttrs
	log     *faultLog
	points  map[uint64]*point
	list    []*point
	cas     []uint16
	params  iec104.Params
	loc     *time.Location

	up      bool
	everUp  bool
	objs    []iec104.Object
	pending []pmetric.Metrics
	nextGI  time.Time
	nextCI  time.Time
	nextUp  time.Time
}

// dialer opens a connection (replaced in tests).
type dialer func(ctx context.Context, addr string) (net.Conn, error)

// run keeps the outstation's link up until ctx ends: connect (alternating
// with the backup address after a failure), start, and on any fault report
// comm_lost and retry after a backoff.
func (o *outstation) run(ctx context.Context) {
	failures, idx := 0, 0
	cfg := o.r.cfg
	for ctx.Err() == nil {
		addr := o.addrs[idx]
		dctx, cancel := context.WithTimeout(ctx, cfg.T0)
		conn, err := o.r.dial(dctx, addr)
		cancel()
		started := false
		if err != nil {
			err = &linkError{kind: faultRefused, err: err}
		} else {
			s := &session{cfg: o.r.link, conn: conn, h: o}
			err = s.run(ctx)
			started = s.isStarted
		}
		if ctx.Err() != nil {
			return
		}
		if started {
			failures = 0
		}
		o.linkDown(addr, err)
		if len(o.addrs) > 1 {
			idx = 1 - idx
		}
		o.wait(ctx, o.backoff(failures))
		failures++
	}
}

// backoff is the wait before the next dial: doubling from
// reconnect.initial_interval up to max_interval, shortened by a random
// fraction up to jitter so that outstations dropped together do not
// reconnect together.
func (o *outstation) backoff(failures int) time.Duration {
	rc := o.r.cfg.Reconnect
	d := rc.InitialInterval
	for i := 0; i < failures && d < rc.MaxInterval; i++ {
		d *= 2
	}
	d = min(d, rc.MaxInterval)
	if rc.Jitter > 0 {
		d -= time.Duration(rand.Float64() * rc.Jitter * float64(d))
	}
	return d
}

// wait sleeps for d, emitting comm_lost samples every status_interval.
func (o *outstation) wait(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	every := o.r.cfg.StatusInterval
	next := time.Now().Add(every)
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	for {
		wake := end
		if next.Before(wake) {
			wake = next
		}
		t.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if !now.Before(next) {
			o.emitCommLost(now)
			next = now.Add(every)
		}
		if !now.Before(end) {
			return
		}
	}
}

func (o *outstation) linkDown(addr string, err error) {
	kind := faultKind(err)
	bg := context.Background()
	o.r.tel.linkErrors.Add(bg, 1, o.attrs.fault(kind))
	if kind == faultSequence {
		o.r.tel.seqErrors.Add(bg, 1, o.attrs.base)
	}
	o.log.warn(o.r.logger, "link/"+kind, "IEC 104 link down",
		zap.String("outstation", o.name), zap.String("address", addr), zap.String("kind", kind), zap.Error(err))
	if o.up {
		o.up = false
		o.r.tel.linkUp.Record(bg, 0, o.attrs.base)
	}
	o.emitCommLost(time.Now())
}

// emitCommLost sends a comm_lost sample for every point.
func (o *outstation) emitCommLost(now time.Time) {
	if len(o.list) == 0 {
		return
	}
	ts := pcommon.NewTimestampFromTime(now)
	b := o.newBatch()
	for _, p := range o.list {
		b.add(o.station, p, sample{quality: qualityCommLost, ts: ts}, p.last)
		p.last = qualityCommLost
	}
	b.addUp(o.name, o.station, false, ts)
	o.r.tel.samples.Add(context.Background(), int64(len(o.list)), o.attrs.quality(qualityCommLost))
	o.deliver(b.md)
}

// started: the link is up; interrogate (and synchronise the clock).
func (o *outstation) started(s *session, now time.Time) {
	bg := context.Background()
	if o.everUp {
		o.r.tel.reconnects.Add(bg, 1, o.attrs.base)
	}
	o.r.logger.Info("IEC 104 link started", zap.String("outstation", o.name))
	o.everUp, o.up = true, true
	o.r.tel.linkUp.Record(bg, 1, o.attrs.base)
	if o.r.cfg.ClockSync {
		for _, ca := range o.cas {
			o.send(s, iec104.ClockSync(ca, iec104.NewCP56Time2a(now, o.loc)), now)
		}
	}
	o.nextGI, o.nextCI, o.nextUp = now, time.Time{}, now.Add(o.r.cfg.StatusInterval)
	if o.r.cfg.CounterInterrogationInterval > 0 {
		o.nextCI = now
	}
}

// due sends the interrogations that are due.
func (o *outstation) due(s *session, now time.Time) {
	cfg := o.r.cfg
	if !o.nextGI.IsZero() && !now.Before(o.nextGI) {
		for _, ca := range o.cas {
			o.send(s, iec104.Interrogation(ca), now)
		}
		o.nextGI = time.Time{}
		if cfg.InterrogationInterval > 0 {
			o.nextGI = now.Add(cfg.InterrogationInterval)
		}
	}
	if !o.nextCI.IsZero() && !now.Before(o.nextCI) {
		for _, ca := range o.cas {
			o.send(s, iec104.CounterInterrogation(ca), now)
		}
		o.nextCI = now.Add(cfg.CounterInterrogationInterval)
	}
	if !now.Before(o.nextUp) {
		o.nextUp = now.Add(cfg.StatusInterval)
		b := o.newBatch()
		b.addUp(o.name, o.station, true, pcommon.NewTimestampFromTime(now))
		o.deliver(b.md)
	}
}

// next is when due next has work.
func (o *outstation) next() time.Time {
	next := o.nextUp
	for _, t := range []time.Time{o.nextGI, o.nextCI} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	return next
}

func (o *outstation) send(s *session, a iec104.ASDU, now time.Time) {
	b, err := o.params.Encode(nil, a)
	if err != nil {
		o.r.logger.Error("cannot encode a command", zap.String("outstation", o.name), zap.Error(err))
		return
	}
	if err := s.sendASDU(b, now); err != nil {
		// the session sees the failed write on its next step
		o.r.logger.Debug("command not sent", zap.String("outstation", o.name), zap.Error(err))
	}
}

func (o *outstation) frame(f iec104.Format, rx bool) {
	o.r.tel.frames.Add(context.Background(), 1, o.attrs.frame(f, rx))
}

// asdu maps one received ASDU to samples and delivers them as one batch.
func (o *outstation) asdu(b []byte, now time.Time) {
	bg := context.Background()
	a, err := o.params.Decode(b, o.objs)
	o.objs = a.Objects[:0]
	if err != nil {
		if errors.Is(err, iec104.ErrUnknownType) {
			o.r.tel.unknown.Add(bg, 1, o.attrs.typ(a.Type))
		} else {
			o.r.tel.malformed.Add(bg, 1, o.attrs.base)
		}
		o.log.warn(o.r.logger, "asdu/"+a.Type.String(), "IEC 104 ASDU skipped",
			zap.String("outstation", o.name), zap.Error(err))
		return
	}
	o.r.tel.asdus.Add(bg, 1, o.attrs.typ(a.Type))
	switch a.Type {
	case iec104.MEiNa1:
		// the outstation restarted: its image may have changed
		o.nextGI = now
		return
	case iec104.CIcNa1, iec104.CCiNa1, iec104.CCsNa1:
		if a.Negative {
			o.log.warn(o.r.logger, "neg/"+a.Type.String(), "IEC 104 command refused by the outstation",
				zap.String("outstation", o.name), zap.String("type", a.Type.String()), zap.Uint16("common_address", a.CommonAddr))
		}
		return
	case iec104.CScNa1, iec104.CDcNa1:
		return
	}
	arrival := pcommon.NewTimestampFromTime(now)
	var bt *batch
	var good, bad, nt, unconf int64
	for i := range a.Objects {
		obj := &a.Objects[i]
		q := o.quality(obj)
		ts := arrival
		if obj.HasTime {
			if t, ok := obj.Time.Time(o.loc); ok {
				ts = pcommon.NewTimestampFromTime(t)
			}
		}
		p := o.points[pointKey(a.CommonAddr, obj.IOA)]
		if p == nil {
			unconf++
			if o.r.cfg.Discovery {
				if bt == nil {
					bt = o.newBatch()
				}
				bt.addDiscovered(o.station, a.CommonAddr, a.Type, obj, q, ts)
			}
			continue
		}
		s := sample{quality: q, flags: obj.Quality & (iec104.QualitySB | iec104.QualityBL | iec104.QualityOV), ts: ts}
		if p.kind == KindValve {
			s.state = valveState(a.Type, obj)
			if s.state == "" || p.states[s.state] == "" {
				s.quality = qualityBad
			}
		} else {
			s.value = obj.Value*p.scale + p.offset
		}
		switch s.quality {
		case qualityGood:
			good++
		case qualityNotTopical:
			nt++
		default:
			bad++
		}
		if bt == nil {
			bt = o.newBatch()
		}
		bt.add(o.station, p, s, p.last)
		p.last = s.quality
	}
	if unconf > 0 {
		o.r.tel.unconfigured.Add(bg, unconf, o.attrs.base)
	}
	if good > 0 {
		o.r.tel.samples.Add(bg, good, o.attrs.quality(qualityGood))
	}
	if bad > 0 {
		o.r.tel.samples.Add(bg, bad, o.attrs.quality(qualityBad))
	}
	if nt > 0 {
		o.r.tel.samples.Add(bg, nt, o.attrs.quality(qualityNotTopical))
	}
	if bt == nil {
		return
	}
	bt.addUp(o.name, o.station, true, arrival)
	o.deliver(bt.md)
}

// quality maps an object's quality descriptor: IV → bad; NT → not_topical
// (or bad, per not_topical); SB/BL/OV stay attributes.
func (o *outstation) quality(obj *iec104.Object) string {
	switch {
	case obj.Quality&iec104.QualityIV != 0:
		return qualityBad
	case obj.Quality&iec104.QualityNT != 0:
		if o.r.cfg.NotTopical == NotTopicalBad {
			return qualityBad
		}
		return qualityNotTopical
	}
	return qualityGood
}

// valveState is the state key of a double or single point, "" for other types.
func valveState(t iec104.TypeID, obj *iec104.Object) string {
	switch t {
	case iec104.MDpNa1, iec104.MDpTb1:
		return dpiStates[obj.Raw&3]
	case iec104.MSpNa1, iec104.MSpTb1:
		if obj.Raw != 0 {
			return StateOn
		}
		return StateOff
	}
	return ""
}

// deliver sends md after any batches the next consumer refused before,
// oldest first; a refused batch is kept (up to retry_batches) and retried
// with the next one. Only the outstation's goroutine calls it.
func (o *outstation) deliver(md pmetric.Metrics) {
	for len(o.pending) > 0 {
		if !o.send1(o.pending[0]) {
			break
		}
		o.pending[0] = pmetric.Metrics{}
		o.pending = o.pending[1:]
	}
	if len(o.pending) == 0 && o.send1(md) {
		return
	}
	o.pending = append(o.pending, md)
	for len(o.pending) > o.r.cfg.RetryBatches {
		o.r.tel.dropped.Add(context.Background(), 1, o.attrs.with(attribute.String("reason", "retry_limit")))
		o.log.warn(o.r.logger, "drop/retry_limit", "Dropping the oldest refused batch: retry buffer full",
			zap.String("outstation", o.name), zap.Int("retry_batches", o.r.cfg.RetryBatches))
		o.pending[0] = pmetric.Metrics{}
		o.pending = o.pending[1:]
	}
}

// send1 reports whether md is done with: delivered, or refused for good.
func (o *outstation) send1(md pmetric.Metrics) bool {
	err := o.r.next.ConsumeMetrics(o.ctx, md)
	if err == nil {
		return true
	}
	if consumererror.IsPermanent(err) {
		o.r.tel.dropped.Add(context.Background(), 1, o.attrs.with(attribute.String("reason", "permanent")))
		o.log.warn(o.r.logger, "drop/permanent", "Next consumer rejected a batch permanently; dropped",
			zap.String("outstation", o.name), zap.Error(err))
		return true
	}
	o.r.tel.refused.Add(context.Background(), 1, o.attrs.base)
	o.log.warn(o.r.logger, "refused", "Next consumer refused a batch; it is kept and retried with the next",
		zap.String("outstation", o.name), zap.Error(err))
	return false
}

// flush tries once more to deliver the refused batches (at shutdown).
func (o *outstation) flush() {
	for len(o.pending) > 0 {
		if !o.send1(o.pending[0]) {
			o.r.tel.dropped.Add(context.Background(), int64(len(o.pending)), o.attrs.with(attribute.String("reason", "shutdown")))
			o.r.logger.Warn("Shutdown: next consumer still refuses; batches dropped",
				zap.String("outstation", o.name), zap.Int("batches", len(o.pending)))
			o.pending = nil
			return
		}
		o.pending = o.pending[1:]
	}
}

// interrogatedCAs are the common addresses to interrogate: those of the
// points, and the outstation's own when it has no points of it yet (no
// points at all, or discovery).
func interrogatedCAs(pts []*point, def uint16, discovery bool) []uint16 {
	var cas []uint16
	if len(pts) == 0 || discovery {
		cas = append(cas, def)
	}
	for _, p := range pts {
		if !slices.Contains(cas, p.ca) {
			cas = append(cas, p.ca)
		}
	}
	slices.Sort(cas)
	return cas
}
