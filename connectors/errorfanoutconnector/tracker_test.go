package errorfanoutconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Window = 30 * time.Second
	cfg.Buckets = 6
	return cfg
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestWindowArithmetic(t *testing.T) {
	w := newWindow(3) // 3 buckets of 10 s
	width := 10 * time.Second
	e := func(s int) int64 { return epochOf(t0.Add(time.Duration(s)*time.Second), width) }
	w.add(e(0), 10, 1)
	w.add(e(5), 10, 1) // same bucket
	w.add(e(12), 5, 5)
	spans, errs := w.sum(e(25))
	assert.Equal(t, uint64(25), spans)
	assert.Equal(t, uint64(7), errs)
	// At 30 s the window is (0 s, 30 s]: the first bucket [0,10) left it.
	spans, errs = w.sum(e(30))
	assert.Equal(t, uint64(5), spans)
	assert.Equal(t, uint64(5), errs)
	// Writing into a recycled slot resets it.
	w.add(e(31), 2, 0)
	spans, errs = w.sum(e(31))
	assert.Equal(t, uint64(7), spans)
	assert.Equal(t, uint64(5), errs)
	// After a full window of silence everything is gone.
	spans, errs = w.sum(e(60))
	assert.Zero(t, spans)
	assert.Zero(t, errs)
	assert.InDelta(t, 0.25, ratio(4, 1), 1e-12)
	assert.Zero(t, ratio(0, 0))
}

func TestTrackerMinSpans(t *testing.T) {
	tr := newTracker(testConfig())
	id := keyID{"west-pipeline-01", "plc-gateway"}
	// 19 spans, all errors: below min_spans (20), never fires.
	_, ev := tr.observe(t0, id, "", 19, 19, nil)
	assert.Nil(t, ev)
	assert.Empty(t, tr.evaluate(t0.Add(time.Second), nil, nil))
	// The 20th span makes the window eligible.
	firing, ev := tr.observe(t0.Add(2*time.Second), id, "st-7", 1, 1, nil)
	require.NotNil(t, ev)
	assert.True(t, firing)
	assert.Equal(t, StateFiring, ev.State)
	assert.Equal(t, uint64(20), ev.Spans)
	assert.Equal(t, uint64(20), ev.Errors)
	assert.Equal(t, "st-7", ev.Station)
	assert.Equal(t, 30.0, ev.WindowS)
}

func TestTrackerThresholdIsStrict(t *testing.T) {
	tr := newTracker(testConfig())
	id := keyID{"t1", "svc"}
	_, ev := tr.observe(t0, id, "", 100, 5, nil) // exactly 5 %: not above
	assert.Nil(t, ev)
	_, ev = tr.observe(t0, id, "", 0, 1, nil) // 6/100
	require.NotNil(t, ev)
	assert.InDelta(t, 0.06, ev.ErrorRate, 1e-9)
}

func TestTrackerHysteresis(t *testing.T) {
	cfg := testConfig() // window 30 s in 6 buckets of 5 s; resolve below 4 %
	tr := newTracker(cfg)
	id := keyID{"t1", "svc"}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	_, ev := tr.observe(at(0), id, "", 100, 20, []pcommon.TraceID{{1}, {2}})
	require.NotNil(t, ev)
	firstID := ev.AlertID
	assert.Equal(t, []string{"01000000000000000000000000000000", "02000000000000000000000000000000"}, ev.TraceIDs)

	// From 30 s on the burst has left the window. Traffic at 4.5 %: below the
	// threshold but above 80 % of it: stays firing however long it lasts.
	for s := 30; s <= 120; s += 5 {
		tr.observe(at(s), id, "", 200, 9, nil)
		assert.Empty(t, tr.evaluate(at(s), nil, nil), "at %d s", s)
	}
	// Now 1 %: below the resolve level, but not yet for a full window.
	var evs []*Event
	for s := 125; s < 185; s += 5 {
		tr.observe(at(s), id, "", 200, 2, nil)
		evs = tr.evaluate(at(s), evs, nil)
	}
	// At 125 s the window holds five 4.5 % buckets and one 1 % bucket:
	// 47/1200 = 3.9 %, first below 4 %; it stays below, so it resolves one
	// full window later, at 155 s, not before.
	require.Len(t, evs, 1)
	assert.Equal(t, StateResolved, evs[0].State)
	assert.Equal(t, firstID, evs[0].AlertID)
	assert.Equal(t, at(155), evs[0].ResolvedAt)
	assert.Equal(t, at(0), evs[0].StartedAt)

	// A brief spike back over 80 % of the threshold restarts the resolve clock.
	_, ev = tr.observe(at(300), id, "", 100, 10, nil)
	require.NotNil(t, ev)
	assert.NotEqual(t, firstID, ev.AlertID, "a new episode has a new alert_id")
	assert.Empty(t, tr.evaluate(at(330), nil, nil)) // window empty → below since 330
	tr.observe(at(340), id, "", 100, 5, nil)        // 5 %: not below 4 %
	assert.Empty(t, tr.evaluate(at(340), nil, nil)) // resets
	assert.Empty(t, tr.evaluate(at(369), nil, nil)) // bucket [340,345) still in the window
	evs = tr.evaluate(at(375), nil, nil)            // below since 375 (window now empty)
	assert.Empty(t, evs)
	assert.Empty(t, tr.evaluate(at(404), nil, nil))
	evs = tr.evaluate(at(405), nil, nil)
	require.Len(t, evs, 1)
	assert.Equal(t, StateResolved, evs[0].State)
}

func TestTrackerPerTenantKeys(t *testing.T) {
	tr := newTracker(testConfig())
	a := keyID{"west-pipeline-01", "plc-gateway"}
	b := keyID{"east-pipeline-02", "plc-gateway"}
	_, evA := tr.observe(t0, a, "", 100, 30, nil)
	_, evB := tr.observe(t0, b, "", 100, 0, nil)
	require.NotNil(t, evA)
	assert.Nil(t, evB, "the other tenant's healthy service must not fire")
	assert.Equal(t, 2, tr.len())
	assert.Equal(t, "west-pipeline-01", evA.Tenant)
	assert.False(t, tr.lookup(b).firing)
	// Errors of tenant b do not dilute or add to tenant a.
	_, evB = tr.observe(t0, b, "", 10, 4, nil)
	assert.Nil(t, evB, "110 spans, 4 errors in tenant b's own window: 3.6 %")
	spans, errs := tr.win(tr.find(b, tr.hashOf(b))).sum(epochOf(t0, tr.width))
	assert.Equal(t, [2]uint64{110, 4}, [2]uint64{spans, errs})
	assert.True(t, tr.lookup(a).firing)
}

func TestTrackerBoundedKeys(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = 3
	tr := newTracker(cfg)
	key := func(i int) keyID { return keyID{"t", string(rune('a' + i))} }
	_, ev := tr.observe(t0, key(0), "", 100, 50, nil) // a fires
	require.NotNil(t, ev)
	tr.observe(t0.Add(1*time.Second), key(1), "", 10, 0, nil)
	tr.observe(t0.Add(2*time.Second), key(2), "", 10, 0, nil)
	tr.observe(t0.Add(3*time.Second), key(3), "", 10, 0, nil) // evicts b (a is older but firing)
	assert.Equal(t, 3, tr.len())
	assert.Equal(t, uint64(1), tr.evicted)
	assert.NotNil(t, tr.lookup(key(0)))
	assert.Nil(t, tr.lookup(key(1)))
	// Recently seen keys survive: touch c, then add e → d is evicted.
	tr.observe(t0.Add(4*time.Second), key(2), "", 1, 0, nil)
	tr.observe(t0.Add(5*time.Second), key(4), "", 1, 0, nil)
	assert.NotNil(t, tr.lookup(key(2)))
	assert.Nil(t, tr.lookup(key(3)))
	assert.Equal(t, uint64(2), tr.evicted)
	for i := 0; i < 1000; i++ {
		tr.observe(t0.Add(6*time.Second), keyID{"t", "x" + string(rune(i))}, "", 1, 0, nil)
	}
	assert.Equal(t, 3, tr.len(), "never more than max_keys")
	assert.Len(t, tr.slots, 3, "slots are reused")

	// When every key fires, a new key is refused rather than dropping an alert.
	cfg2 := testConfig()
	cfg2.MaxKeys = 2
	tr2 := newTracker(cfg2)
	tr2.observe(t0, key(0), "", 100, 50, nil)
	tr2.observe(t0, key(1), "", 100, 50, nil)
	firing, ev := tr2.observe(t0, key(2), "", 100, 50, nil)
	assert.False(t, firing)
	assert.Nil(t, ev)
	assert.Equal(t, uint64(1), tr2.refused)
	assert.Equal(t, 2, tr2.len())
}

func TestTrackerIdleExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = time.Minute
	tr := newTracker(cfg)
	tr.observe(t0, keyID{"t", "quiet"}, "", 10, 0, nil)
	_, ev := tr.observe(t0, keyID{"t", "broken"}, "", 100, 50, nil)
	require.NotNil(t, ev)
	assert.Empty(t, tr.evaluate(t0.Add(30*time.Second), nil, nil)) // window empty: below since 30 s
	assert.Empty(t, tr.evaluate(t0.Add(59*time.Second), nil, nil))
	assert.Equal(t, 2, tr.len())
	// quiet expires; broken is firing and idle: it first resolves (no spans is
	// below the resolve level, for a full window), then expires too.
	evs := tr.evaluate(t0.Add(60*time.Second), nil, nil)
	require.Len(t, evs, 1)
	assert.Equal(t, StateResolved, evs[0].State)
	assert.Zero(t, tr.len())
	assert.Equal(t, uint64(2), tr.expired)
}

func TestOverridesPrecedence(t *testing.T) {
	cfg := testConfig()
	cfg.Overrides = []Override{
		{Tenant: "t1", Service: "svc", Threshold: 0.30},
		{Service: "svc", Threshold: 0.10, MinSpans: 5},
		{Tenant: "t1", Threshold: 0.20},
	}
	tr := newTracker(cfg)
	assert.Equal(t, limits{0.30, 5}, tr.limitsFor(keyID{"t1", "svc"}))
	assert.Equal(t, limits{0.20, 20}, tr.limitsFor(keyID{"t1", "other"}))
	assert.Equal(t, limits{0.10, 5}, tr.limitsFor(keyID{"t2", "svc"}))
	assert.Equal(t, limits{0.05, 20}, tr.limitsFor(keyID{"t2", "other"}))
	// 25 % fires under the default but not for t1/svc (30 %).
	_, ev := tr.observe(t0, keyID{"t1", "svc"}, "", 100, 25, nil)
	assert.Nil(t, ev)
	_, ev = tr.observe(t0, keyID{"t2", "svc"}, "", 5, 1, nil)
	require.NotNil(t, ev, "min_spans 5 and threshold 10 % from the service override")
	assert.Equal(t, 0.10, ev.Threshold)
}

// Keys whose 64-bit hashes collide stay distinct keys (the index holds one,
// the others live in the overflow map), through eviction and expiry.
func TestTrackerHashCollision(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = 3
	cfg.IdleTimeout = time.Minute
	tr := newTracker(cfg)
	tr.hashFn = func(keyID) uint64 { return 42 }
	a, b, c, d := keyID{"t1", "a"}, keyID{"t1", "b"}, keyID{"t2", "a"}, keyID{"t2", "b"}
	tr.observe(t0, a, "", 10, 0, nil)
	tr.observe(t0.Add(time.Second), b, "", 10, 0, nil)
	_, ev := tr.observe(t0.Add(2*time.Second), c, "", 100, 50, nil)
	require.NotNil(t, ev)
	assert.Equal(t, "t2", ev.Tenant)
	assert.Equal(t, "a", ev.Service)
	assert.Equal(t, 3, tr.len())
	assert.True(t, tr.lookup(c).firing)
	assert.False(t, tr.lookup(a).firing)
	// d evicts a (least recently seen, the indexed one); b stays findable.
	tr.observe(t0.Add(3*time.Second), d, "", 10, 0, nil)
	assert.Nil(t, tr.lookup(a))
	require.NotNil(t, tr.lookup(b))
	spans, _ := tr.win(tr.find(b, 42)).sum(epochOf(t0.Add(3*time.Second), tr.width))
	assert.Equal(t, uint64(10), spans, "b kept its own window")
	// a comes back as a new key, with an empty window.
	tr.observe(t0.Add(4*time.Second), a, "", 1, 0, nil)
	spans, _ = tr.win(tr.find(a, 42)).sum(epochOf(t0.Add(4*time.Second), tr.width))
	assert.Equal(t, uint64(1), spans)
	// Idle expiry of every non-firing key leaves c alone, still findable.
	tr.evaluate(t0.Add(10*time.Minute), nil, nil)
	assert.Nil(t, tr.lookup(a))
	assert.Nil(t, tr.lookup(b))
	assert.Nil(t, tr.lookup(d))
	require.NotNil(t, tr.lookup(c))
	assert.True(t, tr.lookup(c).firing)
	assert.Equal(t, 1, tr.len())
}

// A key seen all the time keeps its place even though it moves to the LRU
// front at most once a second: the key idle longer is the one evicted.
func TestTrackerBusyKeyNotEvicted(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys = 2
	tr := newTracker(cfg)
	a, b, c := keyID{"t", "busy"}, keyID{"t", "idle"}, keyID{"t", "new"}
	tr.observe(t0, a, "", 1, 0, nil)
	tr.observe(t0.Add(500*time.Millisecond), b, "", 1, 0, nil)
	for ms := 600; ms <= 3000; ms += 100 {
		tr.observe(t0.Add(time.Duration(ms)*time.Millisecond), a, "", 1, 0, nil)
	}
	tr.observe(t0.Add(3*time.Second), c, "", 1, 0, nil)
	assert.NotNil(t, tr.lookup(a), "busy key kept")
	assert.Nil(t, tr.lookup(b), "idle key evicted")
	assert.NotNil(t, tr.lookup(c))
}

// Issue 19, point 4: a tenant whose keys all fire (at max_keys, or at its
// own bound) never makes another tenant's new key refused; on main max_keys
// was one global bound and B's new service was refused.
func TestTrackerKeyBoundPerTenant(t *testing.T) {
	a := func(i int) keyID { return keyID{"tenant-a", fmt.Sprintf("svc-%d", i)} }
	b := keyID{"tenant-b", "plc-gateway"}

	t.Run("A fills max_keys with firing keys", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxKeys = 10
		cfg.MaxKeysPerTenant = 10
		tr := newTracker(cfg)
		for i := 0; i < 20; i++ {
			tr.observe(t0, a(i), "", 100, 50, nil)
		}
		assert.Equal(t, 10, tr.len(), "A keeps at most its bound")
		assert.Equal(t, uint64(10), tr.refusedBy["tenant-a"], "A's own extra keys are refused")
		firing, ev := tr.observe(t0, b, "", 100, 50, nil)
		assert.True(t, firing, "B's new key is tracked although every key of A fires at max_keys")
		require.NotNil(t, ev)
		assert.Equal(t, "tenant-b", ev.Tenant)
		assert.Zero(t, tr.refusedBy["tenant-b"])
		// B up to its fair share (max_keys / 2 tenants) is tracked too, not more.
		for i := 0; i < 10; i++ {
			tr.observe(t0, keyID{"tenant-b", fmt.Sprintf("b-%d", i)}, "", 100, 50, nil)
		}
		assert.Equal(t, 15, tr.len(), "B tracked up to its fair share of 5 over the cap")
		assert.Equal(t, uint64(6), tr.refusedBy["tenant-b"])
	})

	t.Run("A at max_keys_per_tenant evicts only its own keys", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxKeys = 100
		cfg.MaxKeysPerTenant = 5
		tr := newTracker(cfg)
		tr.observe(t0, b, "", 10, 0, nil) // B's idle key, the oldest of all
		for i := 0; i < 50; i++ {
			tr.observe(t0.Add(time.Duration(i+1)*time.Second), a(i), "", 10, 0, nil)
		}
		assert.NotNil(t, tr.lookup(b), "B's key is never evicted for A")
		assert.Equal(t, 6, tr.len())
		assert.Equal(t, uint64(45), tr.evicted)
		assert.NotNil(t, tr.lookup(a(49)))
		assert.Nil(t, tr.lookup(a(44)))
	})

	t.Run("at max_keys the tenant with most keys gives one up", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxKeys = 6
		cfg.MaxKeysPerTenant = 6
		tr := newTracker(cfg)
		tr.observe(t0, b, "", 10, 0, nil) // B's idle key, the oldest of all
		for i := 0; i < 5; i++ {
			tr.observe(t0.Add(time.Duration(i+1)*time.Second), a(i), "", 10, 0, nil)
		}
		tr.observe(t0.Add(10*time.Second), keyID{"tenant-b", "second"}, "", 10, 0, nil)
		assert.NotNil(t, tr.lookup(b), "B holds fewer keys than A: A's oldest idle key goes")
		assert.Nil(t, tr.lookup(a(0)))
		assert.Equal(t, 6, tr.len())
	})
}
