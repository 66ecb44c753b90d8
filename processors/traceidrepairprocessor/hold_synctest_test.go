package traceidrepairprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

// tenantSink records each delivery with the tenant of its context. While
// refuse is set it refuses deliveries with that error and records nothing.
type tenantSink struct {
	mu       sync.Mutex
	got      []delivery
	refuse   error
	refusals int
}

type delivery struct {
	ctxTenant string
	td        ptrace.Traces
	at        time.Time
}

func (s *tenantSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *tenantSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		s.refusals++
		return s.refuse
	}
	s.got = append(s.got, delivery{tenants.FromContext(ctx), td, time.Now()})
	return nil
}

func (s *tenantSink) setRefuse(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = err
}

func (s *tenantSink) deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// find returns the delivery holding span id and the span.
func (s *tenantSink) find(id string) (delivery, ptrace.Span, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.got {
		rss := d.td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if spans.At(k).SpanID() == sid(id) {
						return d, spans.At(k), true
					}
				}
			}
		}
	}
	return delivery{}, ptrace.Span{}, false
}

// count returns how many times span id was delivered.
func (s *tenantSink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.got {
		rss := d.td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					if spans.At(k).SpanID() == sid(id) {
						n++
					}
				}
			}
		}
	}
	return n
}

func newHoldHarness(t *testing.T, cfg *Config) (*harness, *tenantSink) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := &tenantSink{}
	p, err := newProcessor(set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	return &harness{p: p, tel: tel}, sink
}

// call is a ConsumeTraces running in its own goroutine, as a receiver runs
// each request.
type call struct {
	done chan struct{}
	err  error
	at   time.Time
}

func (h *harness) async(ctx context.Context, td ptrace.Traces) *call {
	c := &call{done: make(chan struct{})}
	go func() {
		c.err = h.p.ConsumeTraces(ctx, td)
		c.at = time.Now()
		close(c.done)
	}()
	return c
}

// returned reports whether the call has returned (call after synctest.Wait).
func (c *call) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// The call that brought a held fragment is not acknowledged until the
// fragment has been passed on: it returns when the wait ends, together with
// the delivery.
func TestHeldCallBlocksUntilRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		c := h.async(context.Background(), fragment(tenantA, "0000000000000000"+origLo, "", nil))
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		require.False(t, c.returned(), "not acknowledged while held")
		assert.Zero(t, sink.deliveries())
		assert.Equal(t, int64(2), h.counter(t, MetricHeldSpans, tenantA))
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.True(t, c.returned(), "acknowledged when the wait ends")
		require.NoError(t, c.err)
		assert.Equal(t, 5*time.Second, c.at.Sub(start))
		d, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, "unmatched", repairAttr(s))
		assert.Equal(t, tenantA, d.ctxTenant)
		assert.Equal(t, d.at, c.at, "acknowledged only after the delivery")
		assert.Equal(t, int64(0), h.counter(t, MetricHeldSpans, tenantA))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

func TestHoldUntilOriginalArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		const zeroPadded = "0000000000000000" + origHi
		c1 := h.async(context.Background(), fragment(tenantA, zeroPadded, "", nil))
		synctest.Wait()
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "the fragment is held, not passed on")
		assert.Equal(t, int64(1), h.counter(t, MetricHeld, tenantA))
		assert.Equal(t, int64(2), h.counter(t, MetricHeldSpans, tenantA))

		// A later batch of the held fragment joins it (and its call waits too).
		c2 := h.async(context.Background(), batch(tenantA, sp{trace: zeroPadded, span: "eeeeeeeeeeeeeeee", parent: "cccccccccccccccc"}))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		require.False(t, c1.returned())
		require.False(t, c2.returned())
		h.send(t, original(tenantA))
		synctest.Wait()
		for _, c := range []*call{c1, c2} {
			require.True(t, c.returned())
			require.NoError(t, c.err)
			assert.Equal(t, 3*time.Second, c.at.Sub(start), "acknowledged as soon as the original arrived")
		}
		for _, id := range []string{"cccccccccccccccc", "dddddddddddddddd", "eeeeeeeeeeeeeeee"} {
			d, s, ok := sink.find(id)
			require.True(t, ok, id)
			assert.Equal(t, origID, s.TraceID().String(), id)
			assert.Equal(t, "repaired", repairAttr(s), id)
			assert.Equal(t, tenantA, d.ctxTenant, "released data carries its tenant in the context")
			assert.Equal(t, 3*time.Second, d.at.Sub(start), "released as soon as the original arrived")
			assert.Equal(t, 1, sink.count(id), "each span is passed on once")
		}
		_, root, _ := sink.find("cccccccccccccccc")
		assert.Equal(t, bridgeID, root.ParentSpanID().String())
		assert.Equal(t, int64(0), h.counter(t, MetricHeldSpans, tenantA))
		assert.Equal(t, int64(1), h.counter(t, MetricRepaired, tenantA))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// Spans of a batch that need no hold go on together with its held spans,
// in one call to the next consumer, once these are released.
func TestUnheldSpansGoWithTheHeldOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		td := fragment(tenantA, "0000000000000000"+origLo, "", nil)
		other := batch(tenantA, sp{trace: "99999999999999998888888888888888", span: "0000000000000009"})
		other.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		c := h.async(context.Background(), td)
		time.Sleep(time.Second)
		synctest.Wait()
		require.False(t, c.returned())
		assert.Zero(t, sink.deliveries(), "the intact span waits with the held fragment")
		h.send(t, original(tenantA))
		synctest.Wait()
		require.True(t, c.returned())
		require.NoError(t, c.err)
		d1, s, ok := sink.find("0000000000000009")
		require.True(t, ok)
		assert.Equal(t, "", repairAttr(s))
		d2, _, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, d1.td, d2.td, "one delivery for the whole batch")
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

var errDownstream = errors.New("exporter queue full")

// When the next consumer refuses released spans, the call that brought
// them returns that error (the receiver tells the sender to retry), and a
// retry is repaired and passed on.
func TestHeldCallGetsDownstreamError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		h.send(t, original(tenantA))
		frag := func() ptrace.Traces { return fragment(tenantA, "0000000000000000"+origHi, "", nil) }
		// Unmatched at the deadline: refused on release.
		sink.setRefuse(errDownstream)
		c := h.async(context.Background(), fragment(tenantA, "00000000000000007777777777777777", "", nil))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.True(t, c.returned())
		require.ErrorIs(t, c.err, errDownstream)
		// Repaired when its original came: refused on release too.
		sink.setRefuse(nil)
		h.send(t, batch(tenantA, sp{trace: "5555555555555555" + "6666666666666666", span: "0000000000000055", kind: ptrace.SpanKindServer}))
		c = h.async(context.Background(), batch(tenantA, sp{trace: "0000000000000000" + "6666666666666666", span: "0000000000000066"}))
		synctest.Wait()
		require.False(t, c.returned(), "waits for the producer span")
		sink.setRefuse(errDownstream)
		err := h.p.ConsumeTraces(context.Background(), batch(tenantA,
			sp{trace: "5555555555555555" + "6666666666666666", span: "0000000000000056", parent: "0000000000000055", kind: ptrace.SpanKindProducer}))
		require.ErrorIs(t, err, errDownstream, "the original's own call gets the refusal too")
		synctest.Wait()
		require.True(t, c.returned())
		require.ErrorIs(t, c.err, errDownstream)
		sink.mu.Lock()
		assert.Equal(t, 3, sink.refusals)
		sink.mu.Unlock()
		for _, id := range []string{"cccccccccccccccc", "0000000000000066", "0000000000000056"} {
			assert.Zero(t, sink.count(id), "refused spans were not taken: %s", id)
		}
		assert.Equal(t, int64(3), h.counter(t, MetricReleaseFailed, tenantA))
		assert.Equal(t, int64(0), h.counter(t, MetricHeldSpans, tenantA))

		// The sender retries once the next consumer takes data again.
		sink.setRefuse(nil)
		c = h.async(context.Background(), frag())
		synctest.Wait()
		require.True(t, c.returned(), "the original is known: no hold")
		require.NoError(t, c.err)
		_, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, origID, s.TraceID().String())
		assert.Equal(t, "repaired", repairAttr(s))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// A caller whose request ends while its spans are held gets an error at
// once; its spans are taken out of the hold and never passed on, so the
// sender's retry is the only copy.
func TestCancelWithdrawsHeldSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		const zeroPadded = "0000000000000000" + origLo
		c := h.async(ctx, fragment(tenantA, zeroPadded, "", nil))
		time.Sleep(time.Second)
		synctest.Wait()
		require.False(t, c.returned())
		cancel()
		synctest.Wait()
		require.True(t, c.returned(), "cancel unblocks the caller")
		require.ErrorIs(t, c.err, context.Canceled)
		assert.Equal(t, time.Second, c.at.Sub(start))
		assert.Equal(t, int64(0), h.counter(t, MetricHeldSpans, tenantA))
		assert.Equal(t, 0, h.p.heldSpans)
		// The original arrives, the wait would have ended: nothing of the
		// withdrawn fragment comes out.
		h.send(t, original(tenantA))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Zero(t, sink.count("cccccccccccccccc"))
		// The retry is repaired and passed on once.
		h.send(t, fragment(tenantA, zeroPadded, "", nil))
		require.NoError(t, h.p.Shutdown(context.Background()))
		for _, id := range []string{"cccccccccccccccc", "dddddddddddddddd"} {
			assert.Equal(t, 1, sink.count(id), id)
			_, s, _ := sink.find(id)
			assert.Equal(t, "repaired", repairAttr(s))
		}
		// A cancel racing with the release: one of the two calls of a
		// fragment gives up, the other's part still goes on alone.
		ctx2, cancel2 := context.WithCancel(context.Background())
		h2, sink2 := newHoldHarness(t, createDefaultConfig())
		a := h2.async(ctx2, batch(tenantB, sp{trace: zeroPadded, span: "0000000000000001"}))
		synctest.Wait()
		b := h2.async(context.Background(), batch(tenantB, sp{trace: zeroPadded, span: "0000000000000002", parent: "0000000000000001"}))
		synctest.Wait()
		cancel2()
		synctest.Wait()
		require.True(t, a.returned())
		require.Error(t, a.err)
		require.False(t, b.returned())
		h2.send(t, original(tenantB))
		synctest.Wait()
		require.True(t, b.returned())
		require.NoError(t, b.err)
		assert.Zero(t, sink2.count("0000000000000001"))
		assert.Equal(t, 1, sink2.count("0000000000000002"))
		require.NoError(t, h2.p.Shutdown(context.Background()))
	})
}

// A fragment whose original is known but whose producer span has not
// arrived yet waits for it, so that its root hangs under the bridge span.
func TestHoldWaitsForProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		h.send(t, batch(tenantA, sp{trace: origID, span: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindServer}))
		c := h.async(context.Background(), fragment(tenantA, fragID, "", map[string]string{"X_B3_TraceId": origLo}))
		synctest.Wait()
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "held until the producer is known")
		time.Sleep(time.Second)
		h.send(t, batch(tenantA, sp{trace: origID, span: bridgeID, parent: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindProducer}))
		synctest.Wait()
		require.True(t, c.returned())
		d, root, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, time.Second, d.at.Sub(start))
		assert.Equal(t, origID, root.TraceID().String())
		assert.Equal(t, bridgeID, root.ParentSpanID().String())

		// Without a producer it is still repaired when the wait ends, as a second root.
		h.send(t, batch(tenantA, sp{trace: "99999999999999998888888888888888", span: "0000000000000001"}))
		c = h.async(context.Background(), batch(tenantA, sp{trace: "00000000000000008888888888888888", span: "0000000000000002"}))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.True(t, c.returned())
		_, s, ok := sink.find("0000000000000002")
		require.True(t, ok)
		assert.Equal(t, "repaired", repairAttr(s))
		assert.True(t, s.ParentSpanID().IsEmpty())
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

func TestHoldExpiresUnmatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig()
		cfg.Hold.Wait = 2 * time.Second
		h, sink := newHoldHarness(t, cfg)
		start := time.Now()
		c := h.async(context.Background(), fragment(tenantB, "0000000000000000"+origLo, "", nil))
		time.Sleep(1999 * time.Millisecond)
		synctest.Wait()
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "still held just before the wait ends")
		require.False(t, c.returned())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.True(t, c.returned())
		d, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok, "released when the wait ends")
		assert.Equal(t, 2*time.Second, d.at.Sub(start))
		assert.Equal(t, "unmatched", repairAttr(s))
		assert.Equal(t, "0000000000000000"+origLo, s.TraceID().String())
		assert.Equal(t, tenantB, d.ctxTenant)
		assert.Equal(t, tenantB, tenants.FromResource(d.td.ResourceSpans().At(0).Resource()))
		// An original arriving later does not change what was released.
		h.send(t, original(tenantB))
		assert.Equal(t, int64(1), h.counter(t, MetricUnmatched, tenantB))
		assert.Equal(t, int64(0), h.counter(t, MetricRepaired, tenantB))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// The hold is bounded: a batch whose candidates do not fit is refused with
// a retryable error (not dropped, not passed on), and a retry after the
// hold has drained is held; a fragment larger than the whole bound is
// decided at once, since a retry could never fit.
func TestHoldIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig()
		cfg.Hold.MaxSpans = 3
		h, sink := newHoldHarness(t, cfg)
		start := time.Now()
		first := h.async(context.Background(), fragment(tenantA, "00000000000000000000000000000001", "", nil)) // 2 spans: held
		synctest.Wait()
		second := func() ptrace.Traces {
			return batch(tenantA,
				sp{trace: "00000000000000000000000000000002", span: "0000000000000021"},
				sp{trace: "00000000000000000000000000000002", span: "0000000000000022", parent: "0000000000000021"})
		}
		err := h.p.ConsumeTraces(context.Background(), second()) // 2 more would exceed 3
		require.ErrorIs(t, err, errHoldFull)
		assert.False(t, consumererror.IsPermanent(err), "the sender retries")
		assert.Equal(t, int64(2), h.counter(t, MetricRefused, tenantA))
		// A later batch of the held fragment that does not fit is refused too.
		err = h.p.ConsumeTraces(context.Background(), batch(tenantA,
			sp{trace: "00000000000000000000000000000001", span: "0000000000000031", parent: "cccccccccccccccc"},
			sp{trace: "00000000000000000000000000000001", span: "0000000000000032", parent: "cccccccccccccccc"}))
		require.ErrorIs(t, err, errHoldFull)
		assert.Equal(t, 2, h.p.heldSpans, "only the first fragment is held")
		assert.Zero(t, sink.deliveries())

		// A fragment that could never fit is decided at once.
		big := batch(tenantA,
			sp{trace: "00000000000000000000000000000004", span: "0000000000000041"},
			sp{trace: "00000000000000000000000000000004", span: "0000000000000042", parent: "0000000000000041"},
			sp{trace: "00000000000000000000000000000004", span: "0000000000000043", parent: "0000000000000041"},
			sp{trace: "00000000000000000000000000000004", span: "0000000000000044", parent: "0000000000000041"})
		h.send(t, big)
		_, s, ok := sink.find("0000000000000041")
		require.True(t, ok)
		assert.Equal(t, "unmatched", repairAttr(s))

		// The first hold ends; the refused batch, retried, is held.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.True(t, first.returned())
		require.NoError(t, first.err)
		retry := h.async(context.Background(), second())
		synctest.Wait()
		require.False(t, retry.returned(), "held now that there is room")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.True(t, retry.returned())
		require.NoError(t, retry.err)
		assert.Equal(t, 10*time.Second, retry.at.Sub(start))
		for _, id := range []string{"cccccccccccccccc", "dddddddddddddddd", "0000000000000021", "0000000000000022"} {
			assert.Equal(t, 1, sink.count(id), id)
			_, s, _ := sink.find(id)
			assert.Equal(t, "unmatched", repairAttr(s), id)
		}
		assert.Equal(t, 0, h.p.heldSpans)
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// Shutdown releases everything held and returns only once the calls that
// brought it have passed it on; each call gets the next consumer's result.
func TestShutdownUnblocksHeldCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		a := h.async(context.Background(), fragment(tenantA, fragID, "", map[string]string{"messaging.message.id": "m-unknown"}))
		b := h.async(context.Background(), fragment(tenantB, "0000000000000000"+origHi, "", nil))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, sink.deliveries())
		require.False(t, a.returned())
		require.False(t, b.returned())
		require.NoError(t, h.p.Shutdown(context.Background()))
		require.Equal(t, 2, sink.deliveries(), "shutdown returned after both held fragments were passed on")
		synctest.Wait()
		for _, c := range []*call{a, b} {
			require.True(t, c.returned())
			require.NoError(t, c.err)
		}
		got := map[string]string{}
		for _, d := range sink.got {
			res := d.td.ResourceSpans().At(0)
			got[d.ctxTenant] = tenants.FromResource(res.Resource())
			s := res.ScopeSpans().At(0).Spans().At(0)
			assert.Equal(t, "unmatched", repairAttr(s))
		}
		assert.Equal(t, map[string]string{tenantA: tenantA, tenantB: tenantB}, got, "each release keeps its tenant")
		assert.Equal(t, int64(0), h.counter(t, MetricHeldSpans, tenantA))
		// After shutdown nothing is held any more.
		h.send(t, fragment(tenantA, "0000000000000000"+origLo, "", nil))
		assert.Equal(t, 3, sink.deliveries())

		// With a next consumer that refuses, the held call gets its error.
		h2, sink2 := newHoldHarness(t, createDefaultConfig())
		c := h2.async(context.Background(), fragment(tenantA, "0000000000000000"+origLo, "", nil))
		synctest.Wait()
		sink2.setRefuse(errDownstream)
		require.NoError(t, h2.p.Shutdown(context.Background()))
		synctest.Wait()
		require.True(t, c.returned())
		require.ErrorIs(t, c.err, errDownstream)
	})
}

func TestIndexWindowAndCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := noWait()
		cfg.Index.Window = time.Minute
		cfg.Index.MaxTraces = 2
		h, sink := newHoldHarness(t, cfg)
		h.send(t, batch(tenantA, sp{trace: "1111111111111111aaaaaaaaaaaaaaaa", span: "0000000000000001"}))
		h.send(t, batch(tenantA, sp{trace: "2222222222222222bbbbbbbbbbbbbbbb", span: "0000000000000002"}))
		h.send(t, batch(tenantA, sp{trace: "3333333333333333cccccccccccccccc", span: "0000000000000003"}))
		assert.Equal(t, int64(1), evicted(t, h, "traces", "capacity"))
		h.send(t, batch(tenantA, sp{trace: "00000000000000001111111111111111", span: "0000000000000011"}))
		h.send(t, batch(tenantA, sp{trace: "00000000000000002222222222222222", span: "0000000000000012"}))
		_, s, _ := sink.find("0000000000000011")
		assert.Equal(t, "unmatched", repairAttr(s), "least recently seen went first")
		_, s, _ = sink.find("0000000000000012")
		assert.Equal(t, "repaired", repairAttr(s))
		// Seeing trace 2 again keeps it; trace 3 expires after the window.
		time.Sleep(40 * time.Second)
		h.send(t, batch(tenantA, sp{trace: "2222222222222222bbbbbbbbbbbbbbbb", span: "0000000000000004"}))
		time.Sleep(40 * time.Second)
		h.send(t, batch(tenantA, sp{trace: "0000000000000000cccccccccccccccc", span: "0000000000000013"}))
		h.send(t, batch(tenantA, sp{trace: "0000000000000000bbbbbbbbbbbbbbbb", span: "0000000000000014"}))
		_, s, _ = sink.find("0000000000000013")
		assert.Equal(t, "unmatched", repairAttr(s), "expired after the window")
		_, s, _ = sink.find("0000000000000014")
		assert.Equal(t, "repaired", repairAttr(s), "seen again within the window")
		assert.GreaterOrEqual(t, evicted(t, h, "traces", "expired"), int64(1))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

func evicted(t *testing.T, h *harness, index, reason string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(MetricEvicted)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range sumPoints(m) {
		i, _ := dp.Attributes.Value("index")
		r, _ := dp.Attributes.Value("reason")
		if i.AsString() == index && r.AsString() == reason {
			n += dp.Value
		}
	}
	return n
}

// Should the sweeper not run (here: Start was never called), a held call
// releases its fragment itself after hold.wait plus the margin.
func TestHeldCallReleasesItselfAfterMargin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &tenantSink{}
		p, err := newProcessor(processortest.NewNopSettings(componentType), createDefaultConfig(), sink)
		require.NoError(t, err)
		h := &harness{p: p}
		start := time.Now()
		c := h.async(context.Background(), fragment(tenantA, "0000000000000000"+origLo, "", nil))
		time.Sleep(5*time.Second + holdMargin - time.Millisecond)
		synctest.Wait()
		require.False(t, c.returned())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.True(t, c.returned())
		require.NoError(t, c.err)
		assert.Equal(t, 5*time.Second+holdMargin, c.at.Sub(start))
		_, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, "unmatched", repairAttr(s))
		assert.Equal(t, 0, p.heldSpans)
		require.NoError(t, p.Shutdown(context.Background()))
	})
}

// A request whose deadline comes before the hold ends has its fragment
// released early enough to be passed on and answered (a fifth of the time
// left, at most a second, before the deadline): a sender whose timeout is
// hold.wait must not give up on, and retry, every unmatched fragment.
func TestHeldCallReleasedBeforeItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c := h.async(ctx, fragment(tenantA, "0000000000000000"+origLo, "", nil))
		time.Sleep(4*time.Second - time.Millisecond)
		synctest.Wait()
		require.False(t, c.returned())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.True(t, c.returned())
		require.NoError(t, c.err)
		assert.Equal(t, 4*time.Second, c.at.Sub(start))
		_, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, "unmatched", repairAttr(s))
		// A short deadline: released at four fifths of it.
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		start = time.Now()
		c = h.async(ctx2, fragment(tenantA, "0000000000000000"+origHi[:15]+"1", "", nil))
		time.Sleep(time.Second)
		synctest.Wait()
		require.True(t, c.returned())
		require.NoError(t, c.err)
		assert.Equal(t, 800*time.Millisecond, c.at.Sub(start))
		assert.Equal(t, 0, h.p.heldSpans)
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// Issue 19, point 10: tenant A's held spans fill the hold; A is refused
// (retryable), B's fragment is still held and passed on. On main the hold
// was one bound over all tenants and B got the refusal (HTTP 503).
func TestHoldBoundedPerTenant(t *testing.T) {
	frag := func(tenant string, n int) ptrace.Traces {
		return fragment(tenant, fmt.Sprintf("000000000000000000000000000000%02x", n), "", nil) // 2 spans, zero half: held
	}
	cases := []struct {
		name string
		cfg  func(*Config)
	}{
		// A fills hold.max_spans on its own (no smaller tenant bound).
		{"A fills max_spans", func(c *Config) { c.Hold.MaxSpans = 4 }},
		// A at hold.max_spans_per_tenant, far below max_spans.
		{"A at max_spans_per_tenant", func(c *Config) { c.Hold.MaxSpans = 100; c.Hold.MaxSpansPerTenant = 4 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := createDefaultConfig()
				tc.cfg(cfg)
				h, sink := newHoldHarness(t, cfg)
				a1 := h.async(context.Background(), frag(tenantA, 1))
				a2 := h.async(context.Background(), frag(tenantA, 2))
				synctest.Wait()
				require.False(t, a1.returned())
				require.False(t, a2.returned())
				err := h.p.ConsumeTraces(context.Background(), frag(tenantA, 3))
				require.ErrorIs(t, err, errHoldFull, "A at its bound is refused")
				assert.False(t, consumererror.IsPermanent(err), "A retries")

				b := h.async(context.Background(), frag(tenantB, 4))
				synctest.Wait()
				require.False(t, b.returned(), "B's fragment is held, not refused")
				assert.Zero(t, h.counter(t, MetricRefused, tenantB))
				time.Sleep(cfg.Hold.Wait)
				synctest.Wait()
				for _, c := range []*call{a1, a2, b} {
					require.True(t, c.returned())
					require.NoError(t, c.err)
				}
				_, s, ok := sink.find("cccccccccccccccc")
				require.True(t, ok)
				assert.Equal(t, "unmatched", repairAttr(s))
				assert.Equal(t, 6, sinkSpans(sink), "A's two fragments and B's")
				assert.Equal(t, 0, h.p.heldSpans)
				require.NoError(t, h.p.Shutdown(context.Background()))
			})
		})
	}
}

func sinkSpans(s *tenantSink) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.got {
		n += d.td.SpanCount()
	}
	return n
}
