package traceidrepairprocessor

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/tenants"
)

// tenantSink records each delivery with the tenant of its context.
type tenantSink struct {
	mu  sync.Mutex
	got []delivery
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
	s.got = append(s.got, delivery{tenants.FromContext(ctx), td, time.Now()})
	return nil
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

func TestHoldUntilOriginalArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		const zeroPadded = "0000000000000000" + origHi
		h.send(t, fragment(tenantA, zeroPadded, "", nil))
		synctest.Wait()
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "the fragment is held, not passed on")
		assert.Equal(t, int64(1), h.counter(t, "traceidrepair.held", tenantA))
		assert.Equal(t, int64(2), h.counter(t, "traceidrepair.held.spans", tenantA))

		// A later batch of the held fragment joins it.
		h.send(t, batch(tenantA, sp{trace: zeroPadded, span: "eeeeeeeeeeeeeeee", parent: "cccccccccccccccc"}))
		time.Sleep(3 * time.Second)
		h.send(t, original(tenantA))
		synctest.Wait()
		for _, id := range []string{"cccccccccccccccc", "dddddddddddddddd", "eeeeeeeeeeeeeeee"} {
			d, s, ok := sink.find(id)
			require.True(t, ok, id)
			assert.Equal(t, origID, s.TraceID().String(), id)
			assert.Equal(t, "repaired", repairAttr(s), id)
			assert.Equal(t, tenantA, d.ctxTenant, "released data carries its tenant in the context")
			assert.Equal(t, 3*time.Second, d.at.Sub(start), "released as soon as the original arrived")
		}
		_, root, _ := sink.find("cccccccccccccccc")
		assert.Equal(t, bridgeID, root.ParentSpanID().String())
		assert.Equal(t, int64(0), h.counter(t, "traceidrepair.held.spans", tenantA))
		assert.Equal(t, int64(1), h.counter(t, "traceidrepair.repaired", tenantA))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

// A fragment whose original is known but whose producer span has not
// arrived yet waits for it, so that its root hangs under the bridge span.
func TestHoldWaitsForProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		start := time.Now()
		h.send(t, batch(tenantA, sp{trace: origID, span: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindServer}))
		h.send(t, fragment(tenantA, fragID, "", map[string]string{"X_B3_TraceId": origLo}))
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "held until the producer is known")
		time.Sleep(time.Second)
		h.send(t, batch(tenantA, sp{trace: origID, span: bridgeID, parent: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindProducer}))
		d, root, ok := sink.find("cccccccccccccccc")
		require.True(t, ok)
		assert.Equal(t, time.Second, d.at.Sub(start))
		assert.Equal(t, origID, root.TraceID().String())
		assert.Equal(t, bridgeID, root.ParentSpanID().String())

		// Without a producer it is still repaired when the wait ends, as a second root.
		h.send(t, batch(tenantA, sp{trace: "99999999999999998888888888888888", span: "0000000000000001"}))
		h.send(t, batch(tenantA, sp{trace: "00000000000000008888888888888888", span: "0000000000000002"}))
		time.Sleep(5 * time.Second)
		synctest.Wait()
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
		h.send(t, fragment(tenantB, "0000000000000000"+origLo, "", nil))
		time.Sleep(1999 * time.Millisecond)
		synctest.Wait()
		_, _, ok := sink.find("cccccccccccccccc")
		require.False(t, ok, "still held just before the wait ends")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		d, s, ok := sink.find("cccccccccccccccc")
		require.True(t, ok, "released when the wait ends")
		assert.Equal(t, 2*time.Second, d.at.Sub(start))
		assert.Equal(t, "unmatched", repairAttr(s))
		assert.Equal(t, "0000000000000000"+origLo, s.TraceID().String())
		assert.Equal(t, tenantB, d.ctxTenant)
		assert.Equal(t, tenantB, tenants.FromResource(d.td.ResourceSpans().At(0).Resource()))
		// An original arriving later does not change what was released.
		h.send(t, original(tenantB))
		assert.Equal(t, int64(1), h.counter(t, "traceidrepair.unmatched", tenantB))
		assert.Equal(t, int64(0), h.counter(t, "traceidrepair.repaired", tenantB))
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

func TestHoldIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig()
		cfg.Hold.MaxSpans = 3
		h, sink := newHoldHarness(t, cfg)
		h.send(t, fragment(tenantA, "00000000000000000000000000000001", "", nil)) // 2 spans: held
		h.send(t, batch(tenantA,                                                  // 2 more spans would exceed 3: released at once
			sp{trace: "00000000000000000000000000000002", span: "0000000000000021"},
			sp{trace: "00000000000000000000000000000002", span: "0000000000000022", parent: "0000000000000021"}))
		_, s, ok := sink.find("0000000000000021")
		require.True(t, ok, "a fragment that does not fit is not held")
		assert.Equal(t, "unmatched", repairAttr(s))
		_, _, ok = sink.find("cccccccccccccccc")
		assert.False(t, ok)
		// A later batch of the held fragment that does not fit ends the hold.
		h.send(t, batch(tenantA,
			sp{trace: "00000000000000000000000000000001", span: "0000000000000031", parent: "cccccccccccccccc"},
			sp{trace: "00000000000000000000000000000001", span: "0000000000000032", parent: "cccccccccccccccc"}))
		for _, id := range []string{"cccccccccccccccc", "dddddddddddddddd", "0000000000000031", "0000000000000032"} {
			_, s, ok := sink.find(id)
			require.True(t, ok, id)
			assert.Equal(t, "unmatched", repairAttr(s), id)
		}
		assert.Equal(t, 0, h.p.heldSpans)
		require.NoError(t, h.p.Shutdown(context.Background()))
	})
}

func TestShutdownFlushesHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, sink := newHoldHarness(t, createDefaultConfig())
		h.send(t, fragment(tenantA, fragID, "", map[string]string{"messaging.message.id": "m-unknown"}))
		h.send(t, fragment(tenantB, "0000000000000000"+origHi, "", nil))
		// tenantB's original arrives in a batch of a tenant whose fragment
		// waits; tenantA's fragment waits for another message.
		time.Sleep(time.Second)
		require.Len(t, sink.got, 0)
		require.NoError(t, h.p.Shutdown(context.Background()))
		require.Len(t, sink.got, 2, "shutdown released both held fragments")
		got := map[string]string{}
		for _, d := range sink.got {
			res := d.td.ResourceSpans().At(0)
			got[d.ctxTenant] = tenants.FromResource(res.Resource())
			s := res.ScopeSpans().At(0).Spans().At(0)
			assert.Equal(t, "unmatched", repairAttr(s))
		}
		assert.Equal(t, map[string]string{tenantA: tenantA, tenantB: tenantB}, got, "each release keeps its tenant")
		assert.Equal(t, int64(0), h.counter(t, "traceidrepair.held.spans", tenantA))
		// After shutdown nothing is held any more.
		h.send(t, fragment(tenantA, "0000000000000000"+origLo, "", nil))
		assert.Len(t, sink.got, 3)
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
	m, err := h.tel.GetMetric("traceidrepair.evicted")
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
