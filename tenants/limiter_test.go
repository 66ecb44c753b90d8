package tenants

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func limiterFor(t *testing.T, l Limits) *Limiter {
	t.Helper()
	reg, err := NewRegistry([]Spec{{ID: "a", Limits: l}, {ID: "b"}}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Limiter()
}

func TestLimiterSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiterFor(t, Limits{SpansPerSecond: 100})
		if err := l.Admit("a", Usage{Spans: 100}, time.Now()); err != nil {
			t.Fatalf("first second's budget refused: %v", err)
		}
		err := l.Admit("a", Usage{Spans: 50}, time.Now())
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != LimitSpans {
			t.Fatalf("over budget: err = %v, want a spans_per_second LimitError", err)
		}
		st, _ := status.FromError(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "spans_per_second") {
			t.Errorf("status = %v", st)
		}
		var hint *errdetails.RetryInfo
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				hint = ri
			}
		}
		if hint == nil || hint.GetRetryDelay().AsDuration() != time.Second {
			t.Errorf("retry hint = %v, want 1s", hint)
		}
		// Another tenant is not affected.
		if err := l.Admit("b", Usage{Spans: 1_000_000}, time.Now()); err != nil {
			t.Errorf("unlimited tenant refused: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := l.Admit("a", Usage{Spans: 50}, time.Now()); err != nil {
			t.Errorf("after refill: %v", err)
		}
	})
}

func TestLimiterRefusalTakesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiterFor(t, Limits{SpansPerSecond: 100, BytesPerSecond: 1000})
		// Spans fit, bytes do not: the spans must not be consumed.
		if err := l.Admit("a", Usage{Spans: 60, Bytes: 2000}, time.Now()); err == nil {
			t.Fatal("2000 bytes passed a 1000 B/s limit")
		}
		if err := l.Admit("a", Usage{Spans: 100, Bytes: 10}, time.Now()); err != nil {
			t.Errorf("refused request consumed tokens: %v", err)
		}
	})
}

func TestLimiterTooLarge(t *testing.T) {
	l := limiterFor(t, Limits{BytesPerSecond: 1000})
	err := l.Admit("a", Usage{Bytes: 5000}, time.Now())
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "bytes_per_second") {
		t.Errorf("oversized request: %v", err)
	}
	_ = http.StatusBadRequest
}

func TestLimiterActiveSeries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiterFor(t, Limits{ActiveSeries: 3})
		if err := l.Admit("a", Usage{Series: []uint64{1, 2, 3}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := l.Admit("a", Usage{Series: []uint64{1, 2, 3}}, time.Now()); err != nil {
			t.Errorf("known series refused: %v", err)
		}
		err := l.Admit("a", Usage{Series: []uint64{4}}, time.Now())
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != LimitActiveSeries {
			t.Fatalf("4th series: err = %v", err)
		}
		time.Sleep(ActiveSeriesWindow + time.Second)
		if err := l.Admit("a", Usage{Series: []uint64{4}}, time.Now()); err != nil {
			t.Errorf("after the window expired: %v", err)
		}
	})
}

// Issue 19, point 9: a request refused for new series still costs its
// samples on the rate limit (it was decoded), so a tenant resending it
// without pause is soon refused by its samples rate, and then before its
// bodies are read (Blocked), instead of making the appliance decode
// without bound.
func TestRefusedNewSeriesStillCountAgainstTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiterFor(t, Limits{ActiveSeries: 3, SamplesPerSecond: 1000})
		if err := l.Admit("a", Usage{Samples: 3, Series: []uint64{1, 2, 3}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		refusals := map[string]int{}
		for range 20 {
			err := l.Admit("a", Usage{Samples: 100, Series: []uint64{4, 5, 6, 7}}, time.Now())
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("new series over the bound admitted: %v", err)
			}
			refusals[le.Limit]++
		}
		if refusals[LimitActiveSeries] == 0 || refusals[LimitSamples] == 0 {
			t.Fatalf("refusals by limit: %v; want active_series first, then samples_per_second", refusals)
		}
		if b := l.Blocked("a", SignalSamples, time.Now()); b == nil {
			t.Error("a tenant past its samples rate is not refused before its bodies are read")
		}
		if b := l.Blocked("b", SignalSamples, time.Now()); b != nil {
			t.Errorf("another tenant blocked: %v", b)
		}
	})
}

func TestLimiterFollowsReload(t *testing.T) {
	l := limiterFor(t, Limits{SpansPerSecond: 1})
	now := time.Now()
	if err := l.Admit("a", Usage{Spans: 1}, now); err != nil {
		t.Fatal(err)
	}
	// Simulate a reload raising the limit.
	snap, _ := buildSnapshot([]Spec{{ID: "a", Limits: Limits{SpansPerSecond: 1000}}}, fileShape{}, Limits{})
	l.reg.snap.Store(snap)
	if err := l.Admit("a", Usage{Spans: 500}, now); err != nil {
		t.Errorf("new limit not applied: %v", err)
	}
}

func TestLimiterBlockedAfterRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiterFor(t, Limits{SpansPerSecond: 100, BytesPerSecond: 1000})
		if err := l.Blocked("a", SignalSpans, time.Now()); err != nil {
			t.Fatalf("blocked before any refusal: %v", err)
		}
		if err := l.Admit("a", Usage{Spans: 100}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := l.Admit("a", Usage{Spans: 50}, time.Now()); err == nil {
			t.Fatal("over budget admitted")
		}
		// 50 spans need 500 ms of refill: until then a spans request is
		// refused unread, naming the limit; metrics and other tenants are not.
		le := l.Blocked("a", SignalSpans, time.Now())
		if le == nil || le.Limit != LimitSpans || !le.Early || le.RetryAfter != 500*time.Millisecond {
			t.Fatalf("Blocked = %+v, want spans_per_second for 500ms", le)
		}
		if st, _ := status.FromError(le); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "before reading") {
			t.Errorf("status = %v", st)
		}
		if le := l.Blocked("a", SignalSamples, time.Now()); le != nil {
			t.Errorf("samples blocked by a spans refusal: %v", le)
		}
		if le := l.Blocked("b", SignalSpans, time.Now()); le != nil {
			t.Errorf("other tenant blocked: %v", le)
		}
		time.Sleep(499 * time.Millisecond)
		if l.Blocked("a", SignalSpans, time.Now()) == nil {
			t.Fatal("block ended early")
		}
		time.Sleep(time.Millisecond)
		if le := l.Blocked("a", SignalSpans, time.Now()); le != nil {
			t.Fatalf("still blocked after the refill: %v", le)
		}
		if err := l.Admit("a", Usage{Spans: 50}, time.Now()); err != nil {
			t.Fatalf("the refused request does not fit after its hint: %v", err)
		}

		// A bytes refusal blocks every signal; a reload that changes the
		// limits lifts the block.
		if err := l.Admit("a", Usage{Bytes: 1000}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := l.Admit("a", Usage{Bytes: 10}, time.Now()); err == nil {
			t.Fatal("over bytes budget admitted")
		}
		for _, sig := range []Signal{SignalSpans, SignalSamples, SignalLogs} {
			if le := l.Blocked("a", sig, time.Now()); le == nil || le.Limit != LimitBytes {
				t.Errorf("signal %d after a bytes refusal: %v", sig, le)
			}
		}
		// A request too large for any second is refused but blocks nothing.
		l2 := limiterFor(t, Limits{SpansPerSecond: 10})
		if err := l2.Admit("a", Usage{Spans: 11}, time.Now()); err == nil {
			t.Fatal("too large admitted")
		}
		if le := l2.Blocked("a", SignalSpans, time.Now()); le != nil {
			t.Errorf("too-large refusal blocked the tenant: %v", le)
		}
	})
}
