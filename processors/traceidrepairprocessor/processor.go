package traceidrepairprocessor

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// Span attributes the processor writes.
const (
	// AttrOriginal keeps the trace id a repaired span arrived with.
	AttrOriginal = "scada.traceid.original"
	// AttrRepair is repaired, ambiguous or unmatched.
	AttrRepair = "scada.traceid.repair"
	// AttrLinkCandidate marks a span link added to an ambiguous fragment.
	AttrLinkCandidate = "scada.traceid.candidate"
)

type traceProcessor struct {
	cfg    *Config
	next   consumer.Traces
	logger *zap.Logger
	tel    *telemetry

	mu       sync.Mutex
	base     time.Time
	window   uint32 // seconds
	keys     *keyClassifier
	hashSeed maphash.Seed
	idxSeed  uint64
	tenants  map[string]*tenantState
	overflow bool // logged once: more tenants than index.max_tenants
	batch    uint64

	// Per-batch scratch (guarded by mu).
	groups map[groupKey]*group
	order  []*group
	pool   []*group
	cands  []candidate
	fired  []*heldFragment

	// Held fragments, oldest first (deadlines are monotonic).
	queue     []*heldFragment
	heldSpans int
	holders   int // tenants with spans held
	closed    bool
	// The current call (guarded by mu): its waiter, the spans it holds, and
	// whether it is refused because the hold is full.
	cur      *waiter
	callHeld int
	refuse   bool
	// Calls waiting for held spans or passing released ones on.
	waiting sync.WaitGroup

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

var _ processor.Traces = (*traceProcessor)(nil)

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces) (*traceProcessor, error) {
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	var seed [8]byte
	s := maphash.MakeSeed()
	binary.LittleEndian.PutUint64(seed[:], maphash.String(s, "traceidrepair"))
	window := uint32((cfg.Index.Window + time.Second - 1) / time.Second)
	return &traceProcessor{
		cfg:      cfg,
		next:     next,
		logger:   set.Logger,
		tel:      tel,
		base:     time.Now(),
		window:   window,
		keys:     newKeyClassifier(cfg.Carriers.TraceIDAttributes, cfg.Carriers.CorrelationAttributes),
		hashSeed: s,
		idxSeed:  binary.LittleEndian.Uint64(seed[:]),
		tenants:  map[string]*tenantState{},
		groups:   map[groupKey]*group{},
		wake:     make(chan struct{}, 1),
	}, nil
}

func (p *traceProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (p *traceProcessor) Start(context.Context, component.Host) error {
	if p.cfg.Hold.Wait > 0 {
		p.stop = make(chan struct{})
		p.done = make(chan struct{})
		go p.sweep()
	}
	return nil
}

// Shutdown stops the timer and releases everything held (repaired when its
// original has arrived, otherwise unmatched), then waits until the calls
// that brought the held spans have passed them on to the next consumer and
// returned its result to their senders.
func (p *traceProcessor) Shutdown(ctx context.Context) error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	p.mu.Lock()
	p.closed = true
	p.releaseDue(time.Time{}, true)
	p.mu.Unlock()
	passed := make(chan struct{})
	go func() {
		p.waiting.Wait()
		close(passed)
	}()
	select {
	case <-passed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("traceidrepair: shutdown ended before released held spans were passed on: %w", ctx.Err())
	}
}

// now is the index clock: seconds since the processor was created.
func (p *traceProcessor) now() uint32 {
	return uint32(time.Since(p.base)/time.Second) + 1
}

func (p *traceProcessor) state(tenant string) *tenantState {
	if st, ok := p.tenants[tenant]; ok {
		return st
	}
	if len(p.tenants) >= p.cfg.Index.MaxTenants {
		if !p.overflow {
			p.overflow = true
			p.logger.Warn("more tenants than index.max_tenants: spans of further tenants pass through unrepaired",
				zap.Int("max_tenants", p.cfg.Index.MaxTenants), zap.String("tenant", tenant))
		}
		return nil
	}
	seed := p.idxSeed ^ uint64(len(p.tenants))*0x9e3779b97f4a7c15
	st := &tenantState{
		tenant:   tenant,
		attrs:    metric.WithAttributeSet(tenantAttrs(tenant)),
		traces:   newTraceIndex(p.cfg.Index.MaxTraces, seed),
		corrs:    newCorrIndex(p.cfg.Index.MaxCorrelations, seed^0x5851f42d4c957f2d),
		frags:    fragmentMap{max: p.cfg.Index.MaxFragments},
		heldByID: map[pcommon.TraceID]*heldFragment{},
		waitHalf: map[uint64][]*heldFragment{},
		waitCorr: map[uint64][]*heldFragment{},
	}
	p.tenants[tenant] = st
	return st
}

func (p *traceProcessor) corrKey(idx int, v string) uint64 {
	h := maphash.String(p.hashSeed, v)
	return mix64(h + uint64(idx+1)*0x9e3779b97f4a7c15)
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func halves(id pcommon.TraceID) (uint64, uint64) {
	return binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:])
}

func traceID(hi, lo uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], hi)
	binary.BigEndian.PutUint64(id[8:], lo)
	return id
}

func spanU64(s pcommon.SpanID) uint64 { return binary.BigEndian.Uint64(s[:]) }

func spanID(v uint64) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], v)
	return s
}

// Group states.
const (
	gNormal    = iota // an original (or an undamaged trace)
	gCandidate        // carries clues: resolve
	gMapped           // a fragment repaired earlier: follow the mapping
	gJoinHeld         // a fragment being held: join it
)

type groupKey struct {
	st *tenantState
	id pcommon.TraceID
}

// group is the spans of one (tenant, trace id) in a batch.
type group struct {
	st    *tenantState
	id    pcommon.TraceID
	state int
	clues clues

	producer      uint64
	producerStart uint64
	prodCorr      [maxClues][2]uint64 // key, producer span
	npc           int

	spans int
	d     decision
	held  *heldFragment
	part  *heldPart
	// Where this group's held spans go in the held fragment's data.
	curRS, curSS int
	destRS       ptrace.ResourceSpans
	destSS       ptrace.ScopeSpans
}

// decision is what happens to every span of a fragment.
type decision struct {
	result  int
	hi, lo  uint64 // target trace
	parent  uint64 // producer span to hang the fragment root under
	cands   []candidate
	hasRoot bool // the fragment has a span without parent
	linked  bool // links were added (when it has no root)
}

func (p *traceProcessor) newGroup(st *tenantState, id pcommon.TraceID) *group {
	var g *group
	if n := len(p.pool); n > 0 {
		g = p.pool[n-1]
		p.pool = p.pool[:n-1]
		cands := g.d.cands[:0]
		*g = group{}
		g.d.cands = cands
	} else {
		g = &group{}
	}
	g.st, g.id, g.curRS, g.curSS = st, id, -1, -1
	return g
}

// ConsumeTraces repairs td and passes it on. When some of its spans are
// held for a late original, the call waits until they are released (at most
// hold.wait, plus a margin) and then passes the whole batch on in one call,
// so that the caller acknowledges nothing before the next consumer took it
// and gets the next consumer's error.
func (p *traceProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	p.mu.Lock()
	p.process(td)
	w, refused := p.cur, p.refuse
	p.cur, p.refuse = nil, false
	if refused {
		if w != nil {
			p.withdraw(w)
			w.merge(td)
		}
		p.mu.Unlock()
		p.countRefused(td)
		return errHoldFull
	}
	if w != nil {
		p.waiting.Add(1)
	}
	p.mu.Unlock()
	if w == nil {
		if td.ResourceSpans().Len() == 0 {
			return nil
		}
		return p.next.ConsumeTraces(ctx, td)
	}
	defer p.waiting.Done()
	if err := p.wait(ctx, w); err != nil {
		return err
	}
	held := w.merge(td)
	err := p.next.ConsumeTraces(releaseContext(ctx, td), td)
	if err != nil {
		p.tel.releaseFailed.Add(context.Background(), int64(held), w.parts[0].h.st.attrs)
	}
	return err
}

// process repairs td in place; spans to hold are moved out of it into parts
// of held fragments that p.cur waits for. It runs in three passes: group the
// spans and collect their clues, classify the groups (indexing originals),
// then resolve the candidates and rewrite td; last, held fragments that this
// batch's originals may complete are decided.
func (p *traceProcessor) process(td ptrace.Traces) {
	now := p.now()
	p.order = p.order[:0]
	clear(p.groups)
	p.batch++
	p.callHeld = 0
	var cutoff uint32
	if now > p.window {
		cutoff = now - p.window
	}

	p.groupSpans(td.ResourceSpans(), cutoff)
	if len(p.order) == 0 {
		return
	}
	if p.classify(now) {
		p.resolveCandidates(now)
		p.apply(td)
	}
	p.completeFired(now)
	p.flushEvictions()
	p.pool = append(p.pool, p.order...)
}

// groupSpans is pass 1: it groups the spans by (tenant, trace id) into
// p.groups and p.order and collects each group's clues. A tenant's first
// batch of the call expires its state older than cutoff first.
func (p *traceProcessor) groupSpans(rss ptrace.ResourceSpansSlice, cutoff uint32) {
	var last *group
	var lastKey groupKey
	zeroHalf := p.cfg.Carriers.ZeroHalf
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		st := p.state(tenants.FromResource(rs.Resource()))
		if st == nil {
			continue
		}
		if st.batch != p.batch {
			// Expire first, so that nothing older than the window matches.
			st.batch = p.batch
			if cutoff > 0 {
				st.evTraceTTL += int64(st.traces.expire(cutoff))
				st.evCorrTTL += int64(st.corrs.expire(cutoff))
				st.evFragTTL += int64(st.frags.expire(cutoff))
			}
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := span.TraceID()
				key := groupKey{st, id}
				g := last
				if last == nil || key != lastKey {
					g = p.groups[key]
					if g == nil {
						g = p.newGroup(st, id)
						p.groups[key] = g
						p.order = append(p.order, g)
					}
					last, lastKey = g, key
				}
				p.collect(g, span, zeroHalf)
			}
		}
	}
}

// collect adds span to g: its count, root flag, producer span and clues.
func (p *traceProcessor) collect(g *group, span ptrace.Span, zeroHalf bool) {
	g.spans++
	if span.ParentSpanID().IsEmpty() {
		g.d.hasRoot = true
	}
	hi, lo := halves(g.id) // the span's trace id
	if zeroHalf && (hi == 0) != (lo == 0) {
		g.clues.addHalf(hi | lo)
	}
	producer := span.Kind() == ptrace.SpanKindProducer
	if producer {
		if start := uint64(span.StartTimestamp()); g.producer == 0 || start >= g.producerStart {
			g.producer, g.producerStart = spanU64(span.SpanID()), start
		}
	}
	for name, v := range span.Attributes().All() {
		kind := p.keys.kind(name)
		if kind == keyNone {
			continue
		}
		if kind == keyTrace {
			if v.Type() == pcommon.ValueTypeStr {
				if c, ok := parseTraceCarrier(v.Str()); ok {
					g.clues.addTrace(c)
				}
			}
			continue
		}
		var val string
		switch v.Type() {
		case pcommon.ValueTypeStr:
			val = v.Str()
		case pcommon.ValueTypeInt:
			val = v.AsString()
		default:
			continue
		}
		if val == "" || len(val) > 1024 {
			continue
		}
		ck := p.corrKey(kind-keyCorr, val)
		if producer {
			if g.npc < maxClues {
				g.prodCorr[g.npc] = [2]uint64{ck, spanU64(span.SpanID())}
				g.npc++
			}
		} else {
			g.clues.addCorr(ck)
		}
	}
}

// classify is pass 2: it sets each group's state (joining held fragments,
// following earlier repairs, marking candidates) and indexes every trace
// with a full id as an original. It reports whether any group needs work.
func (p *traceProcessor) classify(now uint32) bool {
	p.fired = p.fired[:0]
	work := false
	for _, g := range p.order {
		st := g.st
		hi, lo := halves(g.id)
		if h, ok := st.heldByID[g.id]; ok && (!g.clues.empty() || hi == 0 || lo == 0) {
			// A later batch of a held fragment joins it when it is itself a
			// candidate (always so for zero-half ids). Spans without clues of
			// a held full id go on: the hold may be an intact trace whose
			// consumer arrived first, and these may be what it waits for.
			work = true
			if p.room(g) {
				p.join(g, h)
			} else if !p.refuse {
				// It can never fit: decide the fragment now.
				var res int
				res, p.cands = st.resolve(&h.clues, hi, lo, p.cands)
				d := p.finish(h, res, now)
				g.state, g.d = gMapped, d
				g.d.hasRoot = g.d.hasRoot || h.hasRoot
			}
		} else if t, ok := st.frags.get(g.id); ok {
			g.state = gMapped
			g.d.result, g.d.hi, g.d.lo, g.d.parent = resRepaired, t.hi, t.lo, t.parent
			work = true
			continue // a repaired fragment's id is no original
		} else if !g.clues.empty() {
			g.state = gCandidate
			work = true
		}
		if hi != 0 && lo != 0 {
			p.index(g, hi, lo, now)
		}
	}
	return work
}

// resolveCandidates is pass 3: now that the batch's originals are indexed,
// each candidate group is resolved and decided, or held for a late original.
func (p *traceProcessor) resolveCandidates(now uint32) {
	for _, g := range p.order {
		if g.state != gCandidate {
			continue
		}
		hi, lo := halves(g.id)
		var res int
		res, p.cands = g.st.resolve(&g.clues, hi, lo, p.cands)
		switch res {
		case resIntact:
			g.state = gNormal
		case resRepaired:
			if p.cands[0].producer == 0 && g.d.hasRoot {
				// The original is known but not yet the producer to hang
				// the root under: wait for it (bounded by hold.wait).
				if p.hold(g) != nil {
					continue
				}
				if p.refuse {
					g.state = gNormal
					continue
				}
			}
			p.decide(g.st, &g.d, g.id, res, p.cands, now)
		case resNone:
			if p.hold(g) != nil {
				continue
			}
			if p.refuse {
				g.state = gNormal
				continue
			}
			p.decide(g.st, &g.d, g.id, resUnmatched, nil, now)
		default:
			p.decide(g.st, &g.d, g.id, res, p.cands, now)
		}
	}
}

// completeFired decides the held fragments that this batch's originals may
// complete; the others keep waiting (for the original, or its producer span).
func (p *traceProcessor) completeFired(now uint32) {
	for _, h := range p.fired {
		if h.done {
			continue
		}
		hi, lo := halves(h.id)
		var res int
		res, p.cands = h.st.resolve(&h.clues, hi, lo, p.cands)
		if res == resNone || (res == resRepaired && p.cands[0].producer == 0 && h.hasRoot) {
			continue
		}
		p.finish(h, res, now)
	}
}

// index records g's trace as an original, with its producers, and notes
// held fragments it may complete.
func (p *traceProcessor) index(g *group, hi, lo uint64, now uint32) {
	st := g.st
	idx, isNew, ev := st.traces.touch(hi, lo, now)
	if ev {
		st.evTraceCap++
	}
	changed := st.traces.setProducer(idx, g.producer, g.producerStart)
	if (isNew || changed) && len(st.waitHalf) > 0 {
		p.fire(st.waitHalf[hi])
		p.fire(st.waitHalf[lo])
	}
	for i := 0; i < g.npc; i++ {
		isNewC, evC := st.corrs.put(g.prodCorr[i][0], hi, lo, g.prodCorr[i][1], now)
		if evC {
			st.evCorrCap++
		}
		if isNewC && len(st.waitCorr) > 0 {
			p.fire(st.waitCorr[g.prodCorr[i][0]])
		}
	}
}

// fire notes held fragments that a new original might complete.
func (p *traceProcessor) fire(hs []*heldFragment) {
	p.fired = append(p.fired, hs...)
}

// decide fills d for a resolved fragment and counts it.
func (p *traceProcessor) decide(st *tenantState, d *decision, id pcommon.TraceID, res int, cands []candidate, now uint32) {
	d.result = res
	switch res {
	case resRepaired:
		d.hi, d.lo, d.parent = cands[0].hi, cands[0].lo, cands[0].producer
		if st.frags.put(id, fragTarget{hi: d.hi, lo: d.lo, parent: d.parent}, now) {
			st.evFragCap++
		}
		p.tel.repaired.Add(context.Background(), 1, st.attrs)
	case resAmbiguous:
		d.cands = append(d.cands[:0], cands...)
		p.tel.ambiguous.Add(context.Background(), 1, st.attrs)
	case resUnmatched:
		p.tel.unmatched.Add(context.Background(), 1, st.attrs)
	}
}

// apply carries out the groups' decisions on td (pass 2).
func (p *traceProcessor) apply(td ptrace.Traces) {
	var last *group
	var lastKey groupKey
	var repaired int64
	var repairedBy *tenantState
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		st, ok := p.tenants[tenants.FromResource(rs.Resource())]
		if !ok {
			continue
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				key := groupKey{st, span.TraceID()}
				g := last
				if last == nil || key != lastKey {
					g = p.groups[key]
					last, lastKey = g, key
				}
				if g == nil {
					return false
				}
				switch g.state {
				case gJoinHeld:
					p.moveToHeld(g, rs, ss, i, j, span)
					return true
				case gMapped, gCandidate:
					if repairedBy != st && repaired > 0 {
						p.tel.repairedSpans.Add(context.Background(), repaired, repairedBy.attrs)
						repaired = 0
					}
					repairedBy = st
					if p.applySpan(span, &g.d) {
						repaired++
					}
				}
				return false
			})
		}
	}
	if repaired > 0 {
		p.tel.repairedSpans.Add(context.Background(), repaired, repairedBy.attrs)
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
		return rs.ScopeSpans().Len() == 0
	})
}

// applySpan applies d to one span; it reports whether the trace id changed.
func (p *traceProcessor) applySpan(span ptrace.Span, d *decision) bool {
	attrs := span.Attributes()
	switch d.result {
	case resRepaired:
		old := span.TraceID()
		if _, ok := attrs.Get(AttrOriginal); !ok {
			attrs.PutStr(AttrOriginal, hex.EncodeToString(old[:]))
		}
		attrs.PutStr(AttrRepair, "repaired")
		span.SetTraceID(traceID(d.hi, d.lo))
		if d.parent != 0 && span.ParentSpanID().IsEmpty() {
			span.SetParentSpanID(spanID(d.parent))
		}
		return true
	case resAmbiguous:
		attrs.PutStr(AttrRepair, "ambiguous")
		if p.cfg.AmbiguousAction == AmbiguousLink && (span.ParentSpanID().IsEmpty() || (!d.hasRoot && !d.linked)) {
			d.linked = true
			for _, c := range d.cands {
				l := span.Links().AppendEmpty()
				l.SetTraceID(traceID(c.hi, c.lo))
				if c.producer != 0 {
					l.SetSpanID(spanID(c.producer))
				}
				l.Attributes().PutBool(AttrLinkCandidate, true)
			}
		}
	case resUnmatched:
		attrs.PutStr(AttrRepair, "unmatched")
	}
	return false
}

func (p *traceProcessor) flushEvictions() {
	for _, g := range p.order {
		st := g.st
		if st.evTraceCap|st.evTraceTTL|st.evCorrCap|st.evCorrTTL|st.evFragCap|st.evFragTTL != 0 {
			p.flushTenantEvictions(st)
		}
	}
}

func (p *traceProcessor) flushTenantEvictions(st *tenantState) {
	for _, e := range []struct {
		n             *int64
		index, reason string
	}{
		{&st.evTraceCap, "traces", "capacity"}, {&st.evTraceTTL, "traces", "expired"},
		{&st.evCorrCap, "correlations", "capacity"}, {&st.evCorrTTL, "correlations", "expired"},
		{&st.evFragCap, "fragments", "capacity"}, {&st.evFragTTL, "fragments", "expired"},
	} {
		if *e.n > 0 {
			p.tel.evicted.Add(context.Background(), *e.n, evictAttrs(st.tenant, e.index, e.reason))
			*e.n = 0
		}
	}
}
