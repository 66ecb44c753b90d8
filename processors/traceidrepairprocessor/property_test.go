package traceidrepairprocessor

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/testbench/mqbridge"
)

// truthChecker checks every span the processor emits against the
// generator's ground truth as it arrives (nothing is kept but counts).
type truthChecker struct {
	mu         sync.Mutex
	truth      *mqbridge.Truth
	legacy     map[int]int // request index -> legacy spans that landed in their original trace
	wrong      int         // spans in a trace that is neither their original nor their own fragment
	badPar     int         // repaired roots not under a producer span of their trace
	earlierPar int         // repaired roots under the trace's earlier producer
	touched    int         // non-legacy spans the processor marked
	spans      int
}

func (c *truthChecker) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *truthChecker) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		tenant := tenants.FromResource(rss.At(i).Resource())
		if ct := tenants.FromContext(ctx); ct != "" && ct != tenant {
			c.wrong++ // released under another tenant's context
		}
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				c.spans++
				ri, ok := c.truth.Legacy(tenant, s.SpanID())
				if !ok {
					if _, marked := s.Attributes().Get(AttrRepair); marked {
						c.touched++
					}
					continue
				}
				req := &c.truth.Requests[ri]
				switch s.TraceID() {
				case req.Original:
					c.legacy[ri]++
					if s.SpanID() == req.LegacySpans[0] {
						switch s.ParentSpanID() {
						case req.BridgeSpan:
						case req.DispatchSpan:
							c.earlierPar++ // the bridge's producer span had not arrived yet
						default:
							c.badPar++
						}
					}
				case req.Fragment:
				default:
					c.wrong++
				}
			}
		}
	}
	return nil
}

// run feeds cfg's traffic through a default processor under synctest and
// returns the checker; it checks precision and accounting on the way.
func runGroundTruth(t *testing.T, cfg mqbridge.Config) (*truthChecker, *mqbridge.Truth) {
	h, _ := newHoldHarness(t, createDefaultConfig())
	gen, err := mqbridge.New(cfg)
	require.NoError(t, err)
	checker := &truthChecker{truth: gen.Truth(), legacy: map[int]int{}}
	h.p.next = checker
	// Each batch is its own request, as a receiver serves them: a call
	// holding a fragment blocks until the fragment is released, while later
	// batches (which may bring its original) go on. synctest.Wait lets each
	// call run until it returns or blocks, so delivery order is kept.
	var calls sync.WaitGroup
	var failed atomic.Int64
	require.NoError(t, gen.Run(func(b mqbridge.Batch) error {
		calls.Go(func() {
			if err := h.p.ConsumeTraces(context.Background(), b.Traces); err != nil {
				failed.Add(1)
			}
		})
		synctest.Wait()
		return nil
	}))
	require.NoError(t, h.p.Shutdown(context.Background()))
	calls.Wait()
	assert.Zero(t, failed.Load(), "no call failed")
	truth := gen.Truth()
	require.Len(t, truth.Requests, cfg.Requests)
	spans := 0
	for _, r := range truth.Requests {
		spans += 6 + len(r.LegacySpans)
	}
	assert.Equal(t, spans, checker.spans, "every span comes out exactly once")
	assert.Zero(t, checker.wrong, "precision: no span lands in a wrong trace")
	assert.Zero(t, checker.badPar, "repaired roots hang under a producer span of their own trace")
	assert.Zero(t, checker.touched, "spans outside fragments are never marked")
	assert.Zero(t, h.p.heldSpans)
	return checker, truth
}

// In order, every repaired root hangs under the bridge span.
func TestGroundTruthInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checker, truth := runGroundTruth(t, mqbridge.Config{Seed: 7, Requests: 5000, Tenants: []string{tenantA, tenantB}, CollideLowHalves: true})
		n := 0
		for i, r := range truth.Requests {
			if r.Damage.Recoverable() {
				require.Equal(t, len(r.LegacySpans), checker.legacy[i], "request %d (%s) not repaired", i, r.Damage)
				n++
			}
		}
		assert.Greater(t, n, 4000)
		assert.Zero(t, checker.earlierPar)
	})
}

func TestPropertyMQBridgeGroundTruth(t *testing.T) {
	requests := 100_000
	if testing.Short() {
		requests = 10_000
	}
	synctest.Test(t, func(t *testing.T) {
		checker, truth := runGroundTruth(t, mqbridge.Config{
			Seed:              20261125,
			Requests:          requests,
			Tenants:           []string{tenantA, tenantB},
			CollideLowHalves:  true,
			Reorder:           24,
			ResourcesPerBatch: 3,
		})
		byDamage := map[mqbridge.Damage][2]int{} // recovered, total
		for i, r := range truth.Requests {
			if r.Damage == mqbridge.Intact || r.Damage == mqbridge.Lost {
				continue
			}
			x := byDamage[r.Damage]
			x[1]++
			if checker.legacy[i] == len(r.LegacySpans) {
				x[0]++
			}
			byDamage[r.Damage] = x
		}
		t.Logf("repaired roots under the dispatch producer because the bridge span came later: %d", checker.earlierPar)
		var rec, tot int
		for d, x := range byDamage {
			t.Logf("%-16s recovered %d of %d", d, x[0], x[1])
			if d.Recoverable() {
				rec += x[0]
				tot += x[1]
			}
		}
		require.Positive(t, tot)
		recall := float64(rec) / float64(tot)
		t.Logf("recall %.5f over %d recoverable fragments (%d requests)", recall, tot, requests)
		assert.GreaterOrEqual(t, recall, 0.999)
		// Lost fragments are never repaired.
		for i, r := range truth.Requests {
			if r.Damage == mqbridge.Lost {
				require.Zero(t, checker.legacy[i], "a lost fragment was joined to a trace")
			}
		}
	})
}
