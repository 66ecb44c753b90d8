package traceidrepairprocessor

import (
	"context"
	"go.opentelemetry.io/otel/metric"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// heldFragment is a fragment without a candidate yet, waiting up to
// hold.wait for its original. It keeps its resources (and so its tenant).
type heldFragment struct {
	st       *tenantState
	id       pcommon.TraceID
	clues    clues
	hasRoot  bool
	td       ptrace.Traces
	spans    int
	deadline time.Time
	done     bool
}

// released is a finished held fragment to send on, under its tenant.
type released struct {
	tenant string
	td     ptrace.Traces
}

// hold starts holding g when holding is on and g fits in hold.max_spans.
func (p *traceProcessor) hold(g *group, _ uint32) *heldFragment {
	if p.cfg.Hold.Wait <= 0 || p.closed {
		return nil
	}
	if p.heldSpans+g.spans > p.cfg.Hold.MaxSpans {
		return nil
	}
	st := g.st
	h := &heldFragment{st: st, id: g.id, clues: g.clues, hasRoot: g.d.hasRoot,
		td: ptrace.NewTraces(), deadline: time.Now().Add(p.cfg.Hold.Wait)}
	st.heldByID[g.id] = h
	for i := 0; i < h.clues.nh; i++ {
		st.waitHalf[h.clues.halves[i]] = append(st.waitHalf[h.clues.halves[i]], h)
	}
	for i := 0; i < h.clues.nf; i++ {
		st.waitHalf[h.clues.fulls[i][0]] = append(st.waitHalf[h.clues.fulls[i][0]], h)
	}
	for i := 0; i < h.clues.nc; i++ {
		st.waitCorr[h.clues.corrs[i]] = append(st.waitCorr[h.clues.corrs[i]], h)
	}
	if len(p.queue) == 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.queue = append(p.queue, h)
	p.tel.held.Add(context.Background(), 1, st.attrs)
	return h
}

// moveToHeld moves span (of resource rs, scope ss at indexes i, j of the
// batch) into its group's held fragment.
func (p *traceProcessor) moveToHeld(g *group, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, i, j int, span ptrace.Span) {
	h := g.held
	if g.curRS != i {
		g.destRS = h.td.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(g.destRS.Resource())
		g.destRS.SetSchemaUrl(rs.SchemaUrl())
		g.curRS, g.curSS = i, -1
	}
	if g.curSS != j {
		g.destSS = g.destRS.ScopeSpans().AppendEmpty()
		ss.Scope().CopyTo(g.destSS.Scope())
		g.destSS.SetSchemaUrl(ss.SchemaUrl())
		g.curSS = j
	}
	span.MoveTo(g.destSS.Spans().AppendEmpty())
	if span.ParentSpanID().IsEmpty() {
		h.hasRoot = true
	}
	h.spans++
	p.heldSpans++
	p.tel.heldSpans.Add(context.Background(), 1, h.st.attrs)
}

// finish ends holding h with result res and returns its data, decided.
func (p *traceProcessor) finish(h *heldFragment, res int, now uint32) (released, decision) {
	st := h.st
	h.done = true
	delete(st.heldByID, h.id)
	for i := 0; i < h.clues.nh; i++ {
		unwait(st.waitHalf, h.clues.halves[i], h)
	}
	for i := 0; i < h.clues.nf; i++ {
		unwait(st.waitHalf, h.clues.fulls[i][0], h)
	}
	for i := 0; i < h.clues.nc; i++ {
		unwait(st.waitCorr, h.clues.corrs[i], h)
	}
	p.heldSpans -= h.spans
	p.tel.heldSpans.Add(context.Background(), -int64(h.spans), st.attrs)
	if res == resNone {
		res = resUnmatched
	}
	d := decision{hasRoot: h.hasRoot}
	p.decide(st, &d, h.id, res, p.cands, now)
	var repaired int64
	rss := h.td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if p.applySpan(spans.At(k), &d) {
					repaired++
				}
			}
		}
	}
	if repaired > 0 {
		p.tel.repairedSpans.Add(context.Background(), repaired, st.attrs)
	}
	return released{tenant: st.tenant, td: h.td}, d
}

func unwait(m map[uint64][]*heldFragment, k uint64, h *heldFragment) {
	hs := m[k]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(m, k)
	} else {
		m[k] = hs
	}
}

// releaseDue finishes held fragments whose wait is over (all of them when
// all is set), resolving them one last time.
func (p *traceProcessor) releaseDue(now time.Time, all bool) []released {
	var out []released
	idxNow := p.now()
	for len(p.queue) > 0 {
		h := p.queue[0]
		if !h.done && !all && h.deadline.After(now) {
			break
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if h.done {
			continue
		}
		hi, lo := halves(h.id)
		var res int
		res, p.cands = h.st.resolve(&h.clues, hi, lo, p.cands)
		r, _ := p.finish(h, res, idxNow)
		out = append(out, r)
	}
	if len(p.queue) == 0 {
		p.queue = nil
	}
	return out
}

// emit sends released fragments on, each under its own tenant.
func (p *traceProcessor) emit(ctx context.Context, out []released) {
	for _, r := range out {
		if r.td.SpanCount() == 0 {
			continue
		}
		n := r.td.SpanCount()
		if err := p.next.ConsumeTraces(tenants.NewContext(ctx, r.tenant), r.td); err != nil {
			p.tel.releaseFailed.Add(context.Background(), int64(n), metric.WithAttributeSet(tenantAttrs(r.tenant)))
			p.logger.Warn("next consumer refused released spans", zap.String("tenant", r.tenant),
				zap.Int("spans", n), zap.Error(err))
		}
	}
}

// sweep releases held fragments when their wait is over.
func (p *traceProcessor) sweep() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		p.mu.Lock()
		now := time.Now()
		out := p.releaseDue(now, false)
		next := time.Duration(-1)
		for len(p.queue) > 0 && p.queue[0].done {
			p.queue[0] = nil
			p.queue = p.queue[1:]
		}
		if len(p.queue) > 0 {
			next = p.queue[0].deadline.Sub(now)
		}
		p.mu.Unlock()
		p.emit(context.Background(), out)
		if next >= 0 {
			timer.Reset(next)
		} else {
			timer.Stop()
		}
		select {
		case <-p.stop:
			timer.Stop()
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}
