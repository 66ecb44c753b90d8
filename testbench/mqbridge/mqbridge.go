// Package mqbridge generates traced requests that cross an MQ bridge into a
// legacy batch, damaging the trace id on the legacy side the way real
// bridges do, and returns the ground truth: which legacy ("fragment") spans
// belong to which original trace.
//
// Each request is four services, each exported as its own resource:
//
//	rtu-gateway (server, client) -> dispatch-service (server, producer)
//	  -> mq-bridge (consumer, producer "publish LEGACY.IN") -> legacy-batch (consumer root + children)
//
// The legacy side's spans carry the damage chosen for the request (see
// Damage). Output is deterministic for a Config (same Seed, same bytes).
//
// Typical use:
//
//	truth, err := mqbridge.Generate(mqbridge.Config{Seed: 1, Requests: 1000,
//		Tenants: []string{"west-pipeline-01"}}, func(b mqbridge.Batch) error {
//		return exporter.ConsumeTraces(ctx, b.Traces)
//	})
package mqbridge

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/tenants"
)

// Damage is what the bridge did to the trace id on its way to the legacy side.
type Damage int

const (
	// Intact: the legacy spans continue the original trace.
	Intact Damage = iota
	// TruncLeft: the header kept only the leftmost 16 hex digits (a COBOL
	// PIC X(16) field); the legacy side started a new random trace and
	// recorded the header on its root span under an escaped name.
	TruncLeft
	// TruncRight: like TruncLeft with the rightmost 16 hex digits (B3/W3C
	// style short ids).
	TruncRight
	// ZeroPadLeft: the legacy trace id is 16 zeros followed by the original's
	// leftmost half (a 16-hex id read back and left-padded by a B3 propagator).
	ZeroPadLeft
	// ZeroPadRight: 16 zeros followed by the original's rightmost half.
	ZeroPadRight
	// ZeroPadSuffix: the original's leftmost half followed by 16 zeros (a
	// fixed-width field padded on the right).
	ZeroPadSuffix
	// Dropped: no trace id survived; the legacy root carries the message id
	// and conversation id of the bridge's producer span.
	Dropped
	// Lost: nothing survived; the fragment cannot be put back.
	Lost
)

// AllDamages lists every damage mode, Intact first.
var AllDamages = []Damage{Intact, TruncLeft, TruncRight, ZeroPadLeft, ZeroPadRight, ZeroPadSuffix, Dropped, Lost}

var damageNames = [...]string{"intact", "trunc_left", "trunc_right", "zero_pad_left", "zero_pad_right", "zero_pad_suffix", "dropped", "lost"}

func (d Damage) String() string {
	if d < 0 || int(d) >= len(damageNames) {
		return fmt.Sprintf("damage(%d)", int(d))
	}
	return damageNames[d]
}

// ParseDamage reads a damage mode by its String form.
func ParseDamage(s string) (Damage, error) {
	for i, n := range damageNames {
		if n == s {
			return Damage(i), nil
		}
	}
	return 0, fmt.Errorf("unknown damage mode %q (want one of %v)", s, damageNames)
}

// Recoverable reports whether the legacy side kept 16 hex digits of the
// trace id or a correlation id (Intact counts too: nothing to recover).
func (d Damage) Recoverable() bool { return d != Lost }

// HeaderNames are the spellings of the B3 trace-id header the bridge uses for
// truncated ids, one chosen per request.
var HeaderNames = []string{"X_B3_TraceId", "x_HYPHEN_b3_HYPHEN_traceid", "x_$dash$_b3_$dash$_traceid", "x-b3-traceid"}

// Attribute names the generator writes.
const (
	AttrMessageID      = "messaging.message.id"
	AttrConversationID = "messaging.message.conversation_id"
)

// Config says what to generate.
type Config struct {
	// Seed makes the output reproducible.
	Seed uint64
	// Requests is how many requests to generate (over all tenants).
	Requests int
	// Tenants receive requests in turn; default {"west-pipeline-01"}.
	Tenants []string
	// Damages are drawn uniformly for each request; default AllDamages.
	Damages []Damage
	// LegacySpans is the number of spans of the legacy side per request
	// (root + children); default 3.
	LegacySpans int
	// CollideLowHalves gives every tenant after the first the same low 64
	// bits of the trace id as the first tenant's matching request, so that a
	// repair that ignored tenants would join the wrong trace.
	CollideLowHalves bool
	// Reorder shuffles the delivery of service exports within a window of
	// this many (0 keeps request order: gateway, dispatch, bridge, legacy).
	Reorder int
	// ResourcesPerBatch groups consecutive exports of one tenant into one
	// batch; default 1.
	ResourcesPerBatch int
	// Start is the start time of the first request; default 2026-01-01 UTC.
	Start time.Time
}

// Batch is one delivery: spans of one tenant, each resource stamped with
// the tenant (resource attribute scada.tenant).
type Batch struct {
	Tenant string
	Traces ptrace.Traces
}

// Request is the ground truth of one generated request.
type Request struct {
	Tenant string
	Damage Damage
	// Original is the trace id of the request's gateway, dispatch and bridge spans.
	Original pcommon.TraceID
	// Fragment is the trace id the legacy spans arrive with (Original when Intact).
	Fragment pcommon.TraceID
	// BridgeSpan is the bridge's producer span: the legacy root's parent once repaired.
	BridgeSpan pcommon.SpanID
	// DispatchSpan is the dispatch service's producer span, an earlier
	// producer in the same trace.
	DispatchSpan pcommon.SpanID
	// LegacySpans are the legacy side's spans, root first.
	LegacySpans []pcommon.SpanID
	// Carrier is the header name a truncated id was recorded under ("" otherwise).
	Carrier string
}

// Truth is the ground truth of a generated run.
type Truth struct {
	Requests []Request
	bySpan   map[spanKey]int32
}

type spanKey struct {
	tenant string
	span   pcommon.SpanID
}

// Legacy returns the index in Requests of the request a legacy span of
// tenant belongs to; ok is false for every other span.
func (t *Truth) Legacy(tenant string, span pcommon.SpanID) (i int, ok bool) {
	j, ok := t.bySpan[spanKey{tenant, span}]
	return int(j), ok
}

// Generate produces cfg.Requests requests and hands them to emit as batches,
// in delivery order. It stops at the first error emit returns (ErrStop ends
// it without an error).
func Generate(cfg Config, emit func(Batch) error) (*Truth, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return g.Truth(), g.Run(emit)
}

// Generator generates one run; use it instead of Generate to read the
// ground truth while batches are being emitted.
type Generator struct {
	cfg      Config
	rnd      *rand.Rand
	truth    *Truth
	emit     func(Batch) error
	lows     []uint64 // the first tenant's low halves, for CollideLowHalves
	window   []unit
	batch    Batch
	batchLen int
}

// New checks cfg, fills its defaults and returns a generator.
func New(cfg Config) (*Generator, error) {
	if cfg.Requests < 0 {
		return nil, fmt.Errorf("mqbridge: Requests must be >= 0, got %d", cfg.Requests)
	}
	if len(cfg.Tenants) == 0 {
		cfg.Tenants = []string{"west-pipeline-01"}
	}
	for _, t := range cfg.Tenants {
		if err := tenants.CheckID(t); err != nil {
			return nil, fmt.Errorf("mqbridge: Tenants: %w", err)
		}
	}
	if len(cfg.Damages) == 0 {
		cfg.Damages = AllDamages
	}
	for _, d := range cfg.Damages {
		if d < Intact || d > Lost {
			return nil, fmt.Errorf("mqbridge: Damages: unknown %v", d)
		}
	}
	if cfg.LegacySpans <= 0 {
		cfg.LegacySpans = 3
	}
	if cfg.ResourcesPerBatch <= 0 {
		cfg.ResourcesPerBatch = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Generator{
		cfg:   cfg,
		rnd:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		truth: &Truth{Requests: make([]Request, 0, cfg.Requests), bySpan: make(map[spanKey]int32, cfg.Requests*cfg.LegacySpans)},
	}, nil
}

// Truth is the ground truth so far: a request is in it before any of its
// batches is emitted.
func (g *Generator) Truth() *Truth { return g.truth }

// Run generates the requests and hands them to emit in delivery order. Call it once.
func (g *Generator) Run(emit func(Batch) error) error {
	g.emit = emit
	cfg := g.cfg
	perTenant := make([]int, len(cfg.Tenants))
	for i := 0; i < cfg.Requests; i++ {
		ti := i % len(cfg.Tenants)
		n := perTenant[ti]
		perTenant[ti]++
		if err := g.request(i, ti, n); err != nil {
			return stopErr(err)
		}
	}
	return stopErr(g.drain())
}

type unit struct {
	tenant string
	td     ptrace.Traces
}

func (g *Generator) nonZero() uint64 {
	for {
		if v := g.rnd.Uint64(); v != 0 {
			return v
		}
	}
}

func (g *Generator) traceID(hi, lo uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], hi)
	binary.BigEndian.PutUint64(id[8:], lo)
	return id
}

func (g *Generator) spanID() pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], g.nonZero())
	return s
}

func (g *Generator) request(i, ti, n int) error {
	cfg := g.cfg
	tenant := cfg.Tenants[ti]
	hi, lo := g.nonZero(), g.nonZero()
	if cfg.CollideLowHalves {
		if ti == 0 {
			g.lows = append(g.lows, lo)
		} else if n < len(g.lows) {
			lo = g.lows[n]
		}
	}
	orig := g.traceID(hi, lo)
	damage := cfg.Damages[g.rnd.IntN(len(cfg.Damages))]
	t0 := cfg.Start.Add(time.Duration(i) * time.Millisecond)
	ts := func(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }
	ms := time.Millisecond

	newUnit := func(service string) (ptrace.Traces, ptrace.SpanSlice) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		tenants.SetOnResource(rs.Resource(), tenant)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scadaotel/testbench/mqbridge")
		return td, ss.Spans()
	}
	addSpan := func(spans ptrace.SpanSlice, trace pcommon.TraceID, id, parent pcommon.SpanID, name string, kind ptrace.SpanKind, start, end time.Duration) ptrace.Span {
		s := spans.AppendEmpty()
		s.SetTraceID(trace)
		s.SetSpanID(id)
		s.SetParentSpanID(parent)
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(ts(start))
		s.SetEndTimestamp(ts(end))
		return s
	}

	// rtu-gateway
	gwTD, gw := newUnit("rtu-gateway")
	gwRoot, gwClient := g.spanID(), g.spanID()
	addSpan(gw, orig, gwRoot, pcommon.SpanID{}, "POST /telemetry", ptrace.SpanKindServer, 0, 40*ms)
	addSpan(gw, orig, gwClient, gwRoot, "POST dispatch", ptrace.SpanKindClient, 2*ms, 30*ms)

	// dispatch-service
	dTD, d := newUnit("dispatch-service")
	dSrv, dProd := g.spanID(), g.spanID()
	dispatchMsg := "d-" + hex.EncodeToString(dProd[:])
	addSpan(d, orig, dSrv, gwClient, "POST dispatch", ptrace.SpanKindServer, 3*ms, 29*ms)
	p := addSpan(d, orig, dProd, dSrv, "dispatch.out publish", ptrace.SpanKindProducer, 5*ms, 6*ms)
	p.Attributes().PutStr(AttrMessageID, dispatchMsg)

	// mq-bridge
	bTD, b := newUnit("mq-bridge")
	bCons, bProd := g.spanID(), g.spanID()
	c := addSpan(b, orig, bCons, dProd, "dispatch.out receive", ptrace.SpanKindConsumer, 7*ms, 9*ms)
	c.Attributes().PutStr(AttrMessageID, dispatchMsg)
	msgID := fmt.Sprintf("ID:%016x%08x", g.rnd.Uint64(), g.rnd.Uint32())
	convID := fmt.Sprintf("conv-%016x", g.rnd.Uint64())
	bp := addSpan(b, orig, bProd, bCons, "LEGACY.IN publish", ptrace.SpanKindProducer, 8*ms, 9*ms)
	bp.Attributes().PutStr("messaging.system", "ibmmq")
	bp.Attributes().PutStr("messaging.destination.name", "LEGACY.IN")
	bp.Attributes().PutStr(AttrMessageID, msgID)
	bp.Attributes().PutStr(AttrConversationID, convID)

	// legacy-batch, damaged
	req := Request{Tenant: tenant, Damage: damage, Original: orig, BridgeSpan: bProd, DispatchSpan: dProd}
	frag, parent := orig, bProd
	switch damage {
	case TruncLeft, TruncRight, Dropped, Lost:
		frag, parent = g.traceID(g.nonZero(), g.nonZero()), pcommon.SpanID{}
	case ZeroPadLeft:
		frag = g.traceID(0, hi)
	case ZeroPadRight:
		frag = g.traceID(0, lo)
	case ZeroPadSuffix:
		frag = g.traceID(hi, 0)
	}
	req.Fragment = frag
	lTD, l := newUnit("legacy-batch")
	root := g.spanID()
	r := addSpan(l, frag, root, parent, "LEGACY.IN process", ptrace.SpanKindConsumer, 20*ms, 90*ms)
	r.Attributes().PutStr("messaging.system", "ibmmq")
	switch damage {
	case Intact:
		r.Attributes().PutStr(AttrMessageID, msgID)
	case TruncLeft, TruncRight:
		req.Carrier = HeaderNames[g.rnd.IntN(len(HeaderNames))]
		half := orig[:8]
		if damage == TruncRight {
			half = orig[8:]
		}
		r.Attributes().PutStr(req.Carrier, hex.EncodeToString(half))
	case Dropped:
		r.Attributes().PutStr(AttrMessageID, msgID)
		r.Attributes().PutStr(AttrConversationID, convID)
	}
	req.LegacySpans = append(req.LegacySpans, root)
	for k := 1; k < cfg.LegacySpans; k++ {
		s := g.spanID()
		addSpan(l, frag, s, root, fmt.Sprintf("COBOL STEP%02d", k), ptrace.SpanKindInternal,
			time.Duration(20+k*5)*ms, time.Duration(24+k*5)*ms)
		req.LegacySpans = append(req.LegacySpans, s)
	}
	idx := int32(len(g.truth.Requests))
	for _, s := range req.LegacySpans {
		g.truth.bySpan[spanKey{tenant, s}] = idx
	}
	g.truth.Requests = append(g.truth.Requests, req)

	for _, td := range []ptrace.Traces{gwTD, dTD, bTD, lTD} {
		if err := g.deliver(unit{tenant, td}); err != nil {
			return err
		}
	}
	return nil
}

// deliver passes u through the reorder window.
func (g *Generator) deliver(u unit) error {
	if g.cfg.Reorder <= 1 {
		return g.add(u)
	}
	g.window = append(g.window, u)
	if len(g.window) < g.cfg.Reorder {
		return nil
	}
	return g.popRandom()
}

func (g *Generator) popRandom() error {
	i := g.rnd.IntN(len(g.window))
	u := g.window[i]
	last := len(g.window) - 1
	g.window[i] = g.window[last]
	g.window[last] = unit{}
	g.window = g.window[:last]
	return g.add(u)
}

// add groups u into the current batch.
func (g *Generator) add(u unit) error {
	if g.batchLen > 0 && (g.batch.Tenant != u.tenant || g.batchLen >= g.cfg.ResourcesPerBatch) {
		if err := g.flush(); err != nil {
			return err
		}
	}
	if g.batchLen == 0 {
		g.batch = Batch{Tenant: u.tenant, Traces: u.td}
	} else {
		u.td.ResourceSpans().MoveAndAppendTo(g.batch.Traces.ResourceSpans())
	}
	g.batchLen++
	return nil
}

func (g *Generator) flush() error {
	if g.batchLen == 0 {
		return nil
	}
	b := g.batch
	g.batch, g.batchLen = Batch{}, 0
	return g.emit(b)
}

func (g *Generator) drain() error {
	for len(g.window) > 0 {
		if err := g.popRandom(); err != nil {
			return err
		}
	}
	return g.flush()
}

func stopErr(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ErrStop may be returned by emit to end generation early without an error
// being reported by Generate.
var ErrStop = errors.New("mqbridge: stop")
