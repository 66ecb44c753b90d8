package traceidrepairprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	origID   = "4bf92f3577b34da6a3ce929d0e0e4736"
	origHi   = "4bf92f3577b34da6"
	origLo   = "a3ce929d0e0e4736"
	bridgeID = "00f067aa0ba902b7"
	fragID   = "11112222333344445555666677778888" // a fresh id the legacy side started
	tenantA  = "west-pipeline-01"
	tenantB  = "east-pipeline-02"
)

// original is a trace through the bridge: its producer span publishes
// message m-1 in conversation c-1 with business key order.id=42.
func original(tenant string) ptrace.Traces {
	return batch(tenant,
		sp{trace: origID, span: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindServer},
		sp{trace: origID, span: bridgeID, parent: "aaaaaaaaaaaaaaaa", kind: ptrace.SpanKindProducer,
			attrs: map[string]string{"messaging.message.id": "m-1", "messaging.message.conversation_id": "c-1", "order.id": "42"}},
	)
}

// fragment is the legacy side: a root carrying attrs and one child.
func fragment(tenant, trace, parent string, attrs map[string]string) ptrace.Traces {
	return batch(tenant,
		sp{trace: trace, span: "cccccccccccccccc", parent: parent, kind: ptrace.SpanKindConsumer, attrs: attrs},
		sp{trace: trace, span: "dddddddddddddddd", parent: "cccccccccccccccc", kind: ptrace.SpanKindInternal},
	)
}

func TestRepairCarrierForms(t *testing.T) {
	type want struct {
		result string // "" untouched
		trace  string
		parent string // expected parent of the root after processing
	}
	repaired := want{"repaired", origID, bridgeID}
	cases := []struct {
		name   string
		cfg    func(*Config)
		tenant string // of the fragment; default tenantA
		trace  string
		parent string
		attrs  map[string]string
		want   want
	}{
		{name: "leftmost 16 hex under X_B3_TraceId", trace: fragID, attrs: map[string]string{"X_B3_TraceId": origHi}, want: repaired},
		{name: "rightmost 16 hex under x_HYPHEN_b3_HYPHEN_traceid", trace: fragID, attrs: map[string]string{"x_HYPHEN_b3_HYPHEN_traceid": origLo}, want: repaired},
		{name: "x_$dash$_b3_$dash$_traceid", trace: fragID, attrs: map[string]string{"x_$dash$_b3_$dash$_traceid": origHi}, want: repaired},
		{name: "plain x-b3-traceid upper-case 0x value", trace: fragID, attrs: map[string]string{"x-b3-traceid": "0x" + "A3CE929D0E0E4736"}, want: repaired},
		{name: "header recorded with a prefix", trace: fragID, attrs: map[string]string{"messaging.header.X_B3_TraceId": origLo}, want: repaired},
		{name: "zero-padded 32 hex in the carrier", trace: fragID, attrs: map[string]string{"X-B3-TraceId": "0000000000000000" + origLo}, want: repaired},
		{name: "full 32 hex in the carrier", trace: fragID, attrs: map[string]string{"X-B3-TraceId": origID}, want: repaired},
		{name: "b3 single header gives the parent span", trace: fragID, attrs: map[string]string{"b3": origHi + "-0102030405060708-1"},
			want: want{"repaired", origID, "0102030405060708"}},
		{name: "traceparent", trace: fragID, attrs: map[string]string{"traceparent": "00-" + origID + "-0102030405060708-01"},
			want: want{"repaired", origID, "0102030405060708"}},
		{name: "uber-trace-id with 16 hex", trace: fragID, attrs: map[string]string{"uber-trace-id": origLo + ":0102030405060708:0:1"},
			want: want{"repaired", origID, "0102030405060708"}},
		{name: "trace id zero-padded left with the leftmost half", trace: "0000000000000000" + origHi, want: repaired},
		{name: "trace id zero-padded left with the rightmost half", trace: "0000000000000000" + origLo, want: repaired},
		{name: "trace id zero-padded right", trace: origHi + "0000000000000000", want: repaired},
		{name: "zero-padded id keeps the parent it has", trace: "0000000000000000" + origLo, parent: "0a0a0a0a0a0a0a0a",
			want: want{"repaired", origID, "0a0a0a0a0a0a0a0a"}},
		{name: "dropped: message id", trace: fragID, attrs: map[string]string{"messaging.message.id": "m-1"}, want: repaired},
		{name: "dropped: conversation id", trace: fragID, attrs: map[string]string{"messaging.message.conversation_id": "c-1"}, want: repaired},
		{name: "dropped: business key", trace: fragID, attrs: map[string]string{"order.id": "42"},
			cfg: func(c *Config) {
				c.Carriers.CorrelationAttributes = append(c.Carriers.CorrelationAttributes, "order.id")
			}, want: repaired},
		{name: "business key not configured", trace: fragID, attrs: map[string]string{"order.id": "42"}, want: want{"", fragID, ""}},
		{name: "zero_half off leaves zero-padded ids alone", trace: "0000000000000000" + origHi,
			cfg: func(c *Config) { c.Carriers.ZeroHalf = false }, want: want{"", "0000000000000000" + origHi, ""}},
		{name: "real id with a zero half and no original", trace: "0000000000000000" + "0123456789abcdef", want: want{"unmatched", "00000000000000000123456789abcdef", ""}},
		{name: "real id with a zero half, other half unrelated", trace: "fedcba98765432100000000000000000", want: want{"unmatched", "fedcba98765432100000000000000000", ""}},
		{name: "16 hex with no original", trace: fragID, attrs: map[string]string{"X_B3_TraceId": "0123456789abcdef"}, want: want{"unmatched", fragID, ""}},
		{name: "unknown message id", trace: fragID, attrs: map[string]string{"messaging.message.id": "m-404"}, want: want{"unmatched", fragID, ""}},
		{name: "clues that disagree are never guessed", trace: fragID, attrs: map[string]string{"X_B3_TraceId": "0123456789abcdef", "messaging.message.id": "m-1"},
			want: want{"unmatched", fragID, ""}},
		{name: "consumer in its own trace is intact", trace: origID, parent: bridgeID, attrs: map[string]string{"messaging.message.id": "m-1"}, want: want{"", origID, bridgeID}},
		{name: "other tenant's original never matches", tenant: tenantB, trace: fragID, attrs: map[string]string{"X_B3_TraceId": origHi}, want: want{"unmatched", fragID, ""}},
		{name: "other tenant's zero-padded id", tenant: tenantB, trace: "0000000000000000" + origLo, want: want{"unmatched", "0000000000000000" + origLo, ""}},
		{name: "spans without tenant never match a tenant's", tenant: "none", trace: fragID, attrs: map[string]string{"messaging.message.id": "m-1"}, want: want{"unmatched", fragID, ""}},
		{name: "garbage carrier value", trace: fragID, attrs: map[string]string{"X_B3_TraceId": "not-hex-at-all"}, want: want{"", fragID, ""}},
		{name: "carrier of zeros", trace: fragID, attrs: map[string]string{"X_B3_TraceId": "0000000000000000"}, want: want{"", fragID, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := noWait()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			h := newHarness(t, cfg)
			h.send(t, original(tenantA))
			tenant := tc.tenant
			switch tenant {
			case "":
				tenant = tenantA
			case "none":
				tenant = ""
			}
			h.send(t, fragment(tenant, tc.trace, tc.parent, tc.attrs))
			spans := h.spans()
			root, child := spans[sid("cccccccccccccccc")], spans[sid("dddddddddddddddd")]
			for _, s := range []ptrace.Span{root, child} {
				assert.Equal(t, tc.want.result, repairAttr(s), "repair attribute of %s", s.Name())
				assert.Equal(t, tc.want.trace, s.TraceID().String(), "trace id of %s", s.Name())
				orig, ok := s.Attributes().Get(AttrOriginal)
				if tc.want.result == "repaired" {
					require.True(t, ok, "%s keeps the original id", s.Name())
					assert.Equal(t, tc.trace, orig.Str())
				} else {
					assert.False(t, ok)
				}
			}
			assert.Equal(t, tc.want.parent, root.ParentSpanID().String(), "parent of the fragment root")
			assert.Equal(t, "cccccccccccccccc", child.ParentSpanID().String(), "child keeps its parent")
			// The original is never touched.
			assert.Equal(t, origID, spans[sid(bridgeID)].TraceID().String())
			assert.Equal(t, "", repairAttr(spans[sid(bridgeID)]))
			require.NoError(t, h.p.Shutdown(t.Context()))
		})
	}
}

func TestAmbiguousZeroHalf(t *testing.T) {
	const half = "0123456789abcdef"
	for _, action := range []string{AmbiguousLink, AmbiguousNone} {
		t.Run(action, func(t *testing.T) {
			cfg := noWait()
			cfg.AmbiguousAction = action
			h := newHarness(t, cfg)
			// Two originals share the half: one as its high, one as its low half.
			h.send(t, batch(tenantA,
				sp{trace: half + "1111111111111111", span: "0000000000000001", kind: ptrace.SpanKindProducer},
				sp{trace: "2222222222222222" + half, span: "0000000000000002"}))
			h.send(t, fragment(tenantA, "0000000000000000"+half, "", nil))
			spans := h.spans()
			root, child := spans[sid("cccccccccccccccc")], spans[sid("dddddddddddddddd")]
			for _, s := range []ptrace.Span{root, child} {
				assert.Equal(t, "ambiguous", repairAttr(s))
				assert.Equal(t, "0000000000000000"+half, s.TraceID().String(), "ambiguous keeps its id")
			}
			assert.Equal(t, 0, child.Links().Len(), "links go on the fragment root")
			if action == AmbiguousNone {
				assert.Equal(t, 0, root.Links().Len())
			} else {
				require.Equal(t, 2, root.Links().Len())
				got := map[string]string{}
				for i := 0; i < 2; i++ {
					l := root.Links().At(i)
					got[l.TraceID().String()] = l.SpanID().String()
				}
				assert.Equal(t, map[string]string{
					half + "1111111111111111": "0000000000000001", // its producer span
					"2222222222222222" + half: "",
				}, got)
			}
			require.NoError(t, h.p.Shutdown(t.Context()))
			assert.Equal(t, int64(1), h.counter(t, MetricAmbiguous, tenantA))
		})
	}
}

// A real id with a zero half is rewritten only when a unique original with
// that half exists.
func TestZeroHalfRealIDUniqueOriginal(t *testing.T) {
	h := newHarness(t, noWait())
	h.send(t, batch(tenantA, sp{trace: "0000000000000000abcdefabcdefabcd", span: "0000000000000009"}))
	assert.Equal(t, "unmatched", repairAttr(h.spans()[sid("0000000000000009")]))
	h.send(t, batch(tenantA, sp{trace: "abcdefabcdefabcd7777777777777777", span: "0000000000000010"}))
	h.send(t, batch(tenantA, sp{trace: "0000000000000000abcdefabcdefabcd", span: "0000000000000011"}))
	s := h.spans()[sid("0000000000000011")]
	assert.Equal(t, "repaired", repairAttr(s))
	assert.Equal(t, "abcdefabcdefabcd7777777777777777", s.TraceID().String())
	// Ids with a zero half are never indexed as originals.
	h.send(t, batch(tenantA, sp{trace: "00000000000000001234123412341234", span: "0000000000000012"}))
	h.send(t, batch(tenantA, sp{trace: "1234123412341234" + "0000000000000000", span: "0000000000000013"}))
	assert.Equal(t, "unmatched", repairAttr(h.spans()[sid("0000000000000013")]))
	require.NoError(t, h.p.Shutdown(t.Context()))
}

// Later batches of a repaired fragment follow it, even without clues.
func TestLaterBatchesFollowTheFragment(t *testing.T) {
	h := newHarness(t, noWait())
	h.send(t, original(tenantA))
	h.send(t, batch(tenantA, sp{trace: fragID, span: "cccccccccccccccc", kind: ptrace.SpanKindConsumer,
		attrs: map[string]string{"messaging.message.id": "m-1"}}))
	h.send(t, batch(tenantA, sp{trace: fragID, span: "eeeeeeeeeeeeeeee", parent: "cccccccccccccccc"}))
	e := h.spans()[sid("eeeeeeeeeeeeeeee")]
	assert.Equal(t, origID, e.TraceID().String())
	assert.Equal(t, "repaired", repairAttr(e))
	assert.Equal(t, "cccccccccccccccc", e.ParentSpanID().String())
	require.NoError(t, h.p.Shutdown(t.Context()))
	assert.Equal(t, int64(1), h.counter(t, MetricRepaired, tenantA))
	assert.Equal(t, int64(2), h.counter(t, MetricRepairedSpans, tenantA))
}

// Fragment and original in one batch.
func TestSameBatch(t *testing.T) {
	h := newHarness(t, noWait())
	td := fragment(tenantA, fragID, "", map[string]string{"X_B3_TraceId": origHi})
	original(tenantA).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	h.send(t, td)
	assert.Equal(t, origID, h.spans()[sid("dddddddddddddddd")].TraceID().String())
	require.NoError(t, h.p.Shutdown(t.Context()))
}
