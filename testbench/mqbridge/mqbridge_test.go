package mqbridge

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/tenants"
)

func collect(t *testing.T, cfg Config) (*Truth, []Batch) {
	t.Helper()
	var out []Batch
	truth, err := Generate(cfg, func(b Batch) error { out = append(out, b); return nil })
	require.NoError(t, err)
	return truth, out
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 3, Requests: 200, Tenants: []string{"a", "b"}, Reorder: 10, ResourcesPerBatch: 3}
	t1, b1 := collect(t, cfg)
	t2, b2 := collect(t, cfg)
	assert.Equal(t, t1.Requests, t2.Requests)
	require.Equal(t, len(b1), len(b2))
	var m ptrace.ProtoMarshaler
	for i := range b1 {
		x, _ := m.MarshalTraces(b1[i].Traces)
		y, _ := m.MarshalTraces(b2[i].Traces)
		require.Equal(t, x, y, "batch %d", i)
	}
}

func TestDamageAndTruth(t *testing.T) {
	truth, batches := collect(t, Config{Seed: 9, Requests: 800, Tenants: []string{"a", "b"}, CollideLowHalves: true, Reorder: 16, ResourcesPerBatch: 2})
	spans := map[pcommon.SpanID]ptrace.Span{}
	for _, b := range batches {
		rss := b.Traces.ResourceSpans()
		require.LessOrEqual(t, rss.Len(), 2)
		for i := 0; i < rss.Len(); i++ {
			require.Equal(t, b.Tenant, tenants.FromResource(rss.At(i).Resource()), "one tenant per batch, stamped on each resource")
			ss := rss.At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < ss.Len(); k++ {
				spans[ss.At(k).SpanID()] = ss.At(k)
			}
		}
	}
	require.Len(t, spans, 800*(6+3), "every span delivered once")
	seen := map[Damage]int{}
	lows := map[uint64]map[string]bool{}
	for i, r := range truth.Requests {
		seen[r.Damage]++
		k := binary.BigEndian.Uint64(r.Original[8:])
		if lows[k] == nil {
			lows[k] = map[string]bool{}
		}
		lows[k][r.Tenant] = true
		root := spans[r.LegacySpans[0]]
		require.Equal(t, r.Fragment, root.TraceID())
		ri, ok := truth.Legacy(r.Tenant, r.LegacySpans[1])
		require.True(t, ok)
		assert.Equal(t, i, ri)
		var zero [8]byte
		switch r.Damage {
		case Intact:
			assert.Equal(t, r.Original, r.Fragment)
		case ZeroPadLeft:
			assert.Equal(t, zero[:], r.Fragment[:8])
			assert.Equal(t, r.Original[:8], r.Fragment[8:])
		case ZeroPadRight:
			assert.Equal(t, r.Original[8:], r.Fragment[8:])
			assert.Equal(t, zero[:], r.Fragment[:8])
		case ZeroPadSuffix:
			assert.Equal(t, r.Original[:8], r.Fragment[:8])
			assert.Equal(t, zero[:], r.Fragment[8:])
		case TruncLeft, TruncRight:
			v, ok := root.Attributes().Get(r.Carrier)
			require.True(t, ok)
			assert.Len(t, v.Str(), 16)
			assert.Contains(t, r.Original.String(), v.Str())
			assert.True(t, root.ParentSpanID().IsEmpty())
		case Dropped:
			_, ok := root.Attributes().Get(AttrMessageID)
			assert.True(t, ok)
		case Lost:
			assert.Equal(t, 1, root.Attributes().Len(), "only messaging.system: no carrier, no correlation id")
		}
		_, bridge := spans[r.BridgeSpan]
		assert.True(t, bridge)
	}
	assert.Len(t, seen, len(AllDamages))
	shared := 0
	for _, ts := range lows {
		if len(ts) == 2 {
			shared++
		}
	}
	assert.Greater(t, shared, 350, "tenants share low halves")
}

func TestConfigErrors(t *testing.T) {
	_, err := New(Config{Requests: -1})
	assert.Error(t, err)
	_, err = New(Config{Tenants: []string{"Bad Tenant"}})
	assert.Error(t, err)
	_, err = ParseDamage("nope")
	assert.Error(t, err)
	d, err := ParseDamage("trunc_left")
	require.NoError(t, err)
	assert.Equal(t, TruncLeft, d)
	n := 0
	_, err = Generate(Config{Requests: 10}, func(Batch) error { n++; return ErrStop })
	assert.NoError(t, err)
	assert.Equal(t, 1, n)
}
