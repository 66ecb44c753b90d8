package traceidrepairprocessor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// Holding and acknowledgement
//
// A held fragment is made of parts, one per ConsumeTraces call that brought
// spans of it. Each such call waits (a waiter) until every fragment it holds
// spans of is released, then passes its whole batch on in one call to the
// next consumer and returns that consumer's result to its caller. So a span
// is acknowledged to the sender only once the next consumer took it, and a
// refusal reaches the sender, which retries. A call whose context ends while
// it waits withdraws its parts (they are never passed on) and returns an
// error, so the sender's retry is the only copy.

// errHoldFull refuses a batch when its candidates do not fit in the hold
// (see room) now but will once other holds end. Not permanent: the
// receiver tells the sender to retry.
var errHoldFull = errors.New("traceidrepair: hold.max_spans_per_tenant or hold.max_spans reached: spans held for late originals fill the bound; retry later")

// holdMargin is how much longer than hold.wait a call waits for the sweeper
// before it releases its fragments itself.
const holdMargin = time.Second

// heldFragment is a fragment without a candidate yet, waiting up to
// hold.wait for its original.
type heldFragment struct {
	st       *tenantState
	id       pcommon.TraceID
	clues    clues
	hasRoot  bool
	parts    []*heldPart
	spans    int
	deadline time.Time
	done     bool
}

// heldPart is the spans one ConsumeTraces call brought to a held fragment,
// with their resources and scopes (and so their tenant).
type heldPart struct {
	h        *heldFragment
	w        *waiter
	td       ptrace.Traces
	spans    int
	released bool // decided and handed back to w (or withdrawn)
}

// waiter is a ConsumeTraces call waiting for the fragments it holds spans of.
type waiter struct {
	parts   []*heldPart
	pending int           // parts not yet released (guarded by p.mu)
	done    chan struct{} // closed when pending drops to 0
}

// room reports whether g's spans fit in the hold: in the tenant's bound
// (hold.max_spans_per_tenant) and in hold.max_spans, which a tenant still
// under its fair share (max_spans / tenants holding spans) may exceed, up to
// twice max_spans in all, so that a tenant filling the hold never makes
// another's spans refused. When they do not fit now but would once the
// tenant's other holds end, the batch is refused (p.refuse); when they never
// could, the caller decides g at once.
func (p *traceProcessor) room(g *group) bool {
	st := g.st
	if st.callBatch != p.batch {
		st.callBatch, st.callHeld = p.batch, 0
	}
	perTenant := p.cfg.Hold.MaxSpans
	if n := p.cfg.Hold.MaxSpansPerTenant; n > 0 && n < perTenant {
		perTenant = n
	}
	after := st.held + g.spans
	if after <= perTenant {
		if p.heldSpans+g.spans <= p.cfg.Hold.MaxSpans {
			return true
		}
		holders := p.holders
		if st.held == 0 {
			holders++
		}
		if after <= p.cfg.Hold.MaxSpans/holders && p.heldSpans+g.spans <= 2*p.cfg.Hold.MaxSpans {
			return true
		}
	}
	if st.callHeld+g.spans <= perTenant && p.callHeld+g.spans <= p.cfg.Hold.MaxSpans {
		p.refuse = true
	}
	return false
}

// addHeld counts n spans (negative: released) held of st.
func (p *traceProcessor) addHeld(st *tenantState, n int) {
	before := st.held
	st.held += n
	p.heldSpans += n
	switch {
	case before == 0 && st.held > 0:
		p.holders++
	case before > 0 && st.held == 0:
		p.holders--
	}
}

// hold starts holding g when holding is on and g fits in hold.max_spans.
func (p *traceProcessor) hold(g *group) *heldFragment {
	if p.cfg.Hold.Wait <= 0 || p.closed || !p.room(g) {
		return nil
	}
	st := g.st
	h := &heldFragment{st: st, id: g.id, clues: g.clues, hasRoot: g.d.hasRoot,
		deadline: time.Now().Add(p.cfg.Hold.Wait)}
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
	p.join(g, h)
	return h
}

// join makes g's spans a part of held fragment h that the current call waits for.
func (p *traceProcessor) join(g *group, h *heldFragment) {
	w := p.cur
	if w == nil {
		w = &waiter{done: make(chan struct{})}
		p.cur = w
	}
	part := &heldPart{h: h, w: w, td: ptrace.NewTraces(), spans: g.spans}
	h.parts = append(h.parts, part)
	h.spans += g.spans
	w.parts = append(w.parts, part)
	w.pending++
	p.addHeld(h.st, g.spans)
	p.callHeld += g.spans
	h.st.callHeld += g.spans
	p.tel.heldSpans.Add(context.Background(), int64(g.spans), h.st.attrs)
	g.state, g.held, g.part = gJoinHeld, h, part
}

// moveToHeld moves span (of resource rs, scope ss at indexes i, j of the
// batch) into its group's held part.
func (p *traceProcessor) moveToHeld(g *group, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, i, j int, span ptrace.Span) {
	if g.curRS != i {
		g.destRS = g.part.td.ResourceSpans().AppendEmpty()
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
		g.held.hasRoot = true
	}
}

// unhold removes h from the tenant's wait lists and the hold bound.
func (p *traceProcessor) unhold(h *heldFragment) {
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
	p.addHeld(st, -h.spans)
	if h.spans != 0 {
		p.tel.heldSpans.Add(context.Background(), -int64(h.spans), st.attrs)
	}
}

// finish ends holding h with result res, decides every part and hands each
// back to the call that brought it.
func (p *traceProcessor) finish(h *heldFragment, res int, now uint32) decision {
	st := h.st
	p.unhold(h)
	if res == resNone {
		res = resUnmatched
	}
	d := decision{hasRoot: h.hasRoot}
	p.decide(st, &d, h.id, res, p.cands, now)
	var repaired int64
	for _, part := range h.parts {
		rss := part.td.ResourceSpans()
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
		part.released = true
		part.w.pending--
		if part.w.pending == 0 {
			close(part.w.done)
		}
	}
	h.parts = nil
	if repaired > 0 {
		p.tel.repairedSpans.Add(context.Background(), repaired, st.attrs)
	}
	return d
}

// release resolves h one last time and finishes it.
func (p *traceProcessor) release(h *heldFragment) {
	hi, lo := halves(h.id)
	var res int
	res, p.cands = h.st.resolve(&h.clues, hi, lo, p.cands)
	p.finish(h, res, p.now())
}

// withdraw takes w's parts that are still held out of their fragments; they
// will never be passed on. A fragment left without parts stops being held.
func (p *traceProcessor) withdraw(w *waiter) {
	for _, part := range w.parts {
		if part.released {
			continue
		}
		part.released = true
		h := part.h
		for i, x := range h.parts {
			if x == part {
				h.parts = append(h.parts[:i], h.parts[i+1:]...)
				break
			}
		}
		h.spans -= part.spans
		p.addHeld(h.st, -part.spans)
		p.tel.heldSpans.Add(context.Background(), -int64(part.spans), h.st.attrs)
		if len(h.parts) == 0 {
			p.unhold(h)
		}
	}
	w.pending = 0
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
func (p *traceProcessor) releaseDue(now time.Time, all bool) {
	for len(p.queue) > 0 {
		h := p.queue[0]
		if !h.done && !all && h.deadline.After(now) {
			break
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if !h.done {
			p.release(h)
		}
	}
	if len(p.queue) == 0 {
		p.queue = nil
	}
}

// wait blocks until every fragment w holds spans of is released. When ctx
// ends first, w's parts are withdrawn and the error says so. When the
// sweeper has not released them within hold.wait plus a margin, or when
// ctx's deadline comes before the hold ends, w releases them itself (in the
// latter case a fifth of the time left, at most holdMargin, before the
// deadline, so that the batch can still be passed on and answered: a
// sender whose timeout equals hold.wait would otherwise give up on every
// unmatched fragment and retry it forever).
func (p *traceProcessor) wait(ctx context.Context, w *waiter) error {
	limit := p.cfg.Hold.Wait + holdMargin
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if l := left - min(left/5, holdMargin); l < limit {
			limit = max(l, 0)
		}
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		p.withdraw(w)
		p.mu.Unlock()
		return fmt.Errorf("traceidrepair: request ended while its spans were held for a late original (not passed on): %w", context.Cause(ctx))
	case <-timer.C:
		p.mu.Lock()
		for _, part := range w.parts {
			if !part.released && !part.h.done {
				p.release(part.h)
			}
		}
		p.mu.Unlock()
		<-w.done
		return nil
	}
}

// merge moves w's released parts back into td and returns their span count.
func (w *waiter) merge(td ptrace.Traces) int {
	n := 0
	for _, part := range w.parts {
		n += part.spans
		part.td.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	return n
}

// releaseContext is the context a batch with released spans goes on
// under: the caller's, which already carries its tenant when it was
// authenticated; otherwise, when the batch is one tenant's, that tenant
// (tenants.NewContext) as when held data was re-emitted.
func releaseContext(ctx context.Context, td ptrace.Traces) context.Context {
	if tenants.FromContext(ctx) != "" {
		return ctx
	}
	rss := td.ResourceSpans()
	if rss.Len() == 0 {
		return ctx
	}
	tenant := tenants.FromResource(rss.At(0).Resource())
	if tenant == "" {
		return ctx
	}
	for i := 1; i < rss.Len(); i++ {
		if tenants.FromResource(rss.At(i).Resource()) != tenant {
			return ctx
		}
	}
	return tenants.NewContext(ctx, tenant)
}

// countRefused counts td's spans per tenant as refused.
func (p *traceProcessor) countRefused(td ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		n := 0
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			n += sss.At(j).Spans().Len()
		}
		if n > 0 {
			p.tel.refused.Add(context.Background(), int64(n),
				metric.WithAttributeSet(tenantAttrs(tenants.FromResource(rss.At(i).Resource()))))
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
		p.releaseDue(now, false)
		next := time.Duration(-1)
		for len(p.queue) > 0 && p.queue[0].done {
			p.queue[0] = nil
			p.queue = p.queue[1:]
		}
		if len(p.queue) > 0 {
			next = p.queue[0].deadline.Sub(now)
		}
		p.mu.Unlock()
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
