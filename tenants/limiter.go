package tenants

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ActiveSeriesWindow is how long a series counts as active after its last
// sample, for the active_series limit.
const ActiveSeriesWindow = 10 * time.Minute

// Limit names, as they appear in refusals and in the refusal metric.
const (
	LimitSamples      = "samples_per_second"
	LimitSpans        = "spans_per_second"
	LimitBytes        = "bytes_per_second"
	LimitActiveSeries = "active_series"
)

// Limiter enforces each tenant's limits with token buckets (burst: one
// second's worth) shared by every pipeline of the process, so a tenant's
// traces, metrics and logs draw on the same bytes_per_second budget.
type Limiter struct {
	reg *Registry
	mu  sync.Mutex
	per map[string]*tenantLimits
	// blockedUntil is the latest end of any tenant's block (unix ns), so
	// that Blocked costs one atomic load while no tenant is over a limit.
	blockedUntil atomic.Int64
}

type tenantLimits struct {
	mu      sync.Mutex
	limits  Limits
	samples *rate.Limiter
	spans   *rate.Limiter
	bytes   *rate.Limiter
	series  map[uint64]time.Time
	swept   time.Time
	// oldest is the oldest last-seen time at the last sweep: never later
	// than the true oldest, so the retry hint it gives is never too long,
	// and a refusal costs no scan of every series.
	oldest time.Time
	// After a rate-limit refusal, requests of the same limit are refused
	// before they are read until the refused request would have fitted
	// (see Blocked). Indexed like Admit's takes: samples, spans, bytes.
	blocked    [3]time.Time
	blockedErr [3]LimitError
}

// Signal is the kind of data a request carries: which rate limit it draws
// on besides bytes_per_second.
type Signal int

// Signals.
const (
	SignalSpans Signal = iota
	SignalSamples
	SignalLogs
)

func newLimiter(r *Registry) *Limiter { return &Limiter{reg: r, per: map[string]*tenantLimits{}} }

// Usage is what one request asks of its tenant's limits.
type Usage struct {
	Samples int
	Spans   int
	Bytes   int
	// Series are hashes of the request's metric series (only needed when the
	// tenant has an active_series limit; see Limiter.NeedsSeries).
	Series []uint64
}

// NeedsSeries reports whether tenant has an active_series limit, so that
// callers hash series only when it matters.
func (l *Limiter) NeedsSeries(tenant string) bool {
	t, ok := l.reg.Tenant(tenant)
	return ok && t.Limits.ActiveSeries > 0
}

// Limited reports whether tenant has any limit at all.
func (l *Limiter) Limited(tenant string) bool {
	t, ok := l.reg.Tenant(tenant)
	return ok && t.Limits != (Limits{})
}

func (l *Limiter) get(tenant string) *tenantLimits {
	t, ok := l.reg.Tenant(tenant)
	if !ok || t.Limits == (Limits{}) {
		return nil
	}
	l.mu.Lock()
	tl := l.per[tenant]
	if tl == nil {
		tl = &tenantLimits{series: map[uint64]time.Time{}}
		l.per[tenant] = tl
	}
	l.mu.Unlock()
	tl.mu.Lock()
	if tl.limits != t.Limits || tl.samples == nil { // first use, or changed by a reload
		tl.limits = t.Limits
		tl.samples = bucket(t.Limits.SamplesPerSecond)
		tl.spans = bucket(t.Limits.SpansPerSecond)
		tl.bytes = bucket(t.Limits.BytesPerSecond)
		tl.blocked = [3]time.Time{}
	}
	tl.mu.Unlock()
	return tl
}

func bucket(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), int(math.Max(1, math.Ceil(perSecond))))
}

// Admit takes u from tenant's buckets, or takes nothing and returns a
// *LimitError naming the first limit that refuses. Tenants without limits
// (or unknown to the registry, e.g. a default tenant) are always admitted.
func (l *Limiter) Admit(tenant string, u Usage, now time.Time) error {
	tl := l.get(tenant)
	if tl == nil {
		return nil
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	type take struct {
		name  string
		limit float64
		b     *rate.Limiter
		n     int
	}
	var reserved [3]*rate.Reservation
	takes := [3]take{
		{LimitSamples, tl.limits.SamplesPerSecond, tl.samples, u.Samples},
		{LimitSpans, tl.limits.SpansPerSecond, tl.spans, u.Spans},
		{LimitBytes, tl.limits.BytesPerSecond, tl.bytes, u.Bytes},
	}
	cancel := func() {
		for _, r := range reserved {
			if r != nil {
				r.CancelAt(now)
			}
		}
	}
	for i, tk := range takes {
		if tk.limit <= 0 || tk.n == 0 {
			continue
		}
		if tk.n > tk.b.Burst() {
			cancel()
			return &LimitError{Tenant: tenant, Limit: tk.name, Value: tk.limit, Requested: tk.n, TooLarge: true}
		}
		r := tk.b.ReserveN(now, tk.n)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			cancel()
			refusal := LimitError{Tenant: tenant, Limit: tk.name, Value: tk.limit, Requested: tk.n, RetryAfter: d}
			tl.block(l, i, now.Add(d), refusal)
			return &refusal
		}
		reserved[i] = r
	}
	if tl.limits.ActiveSeries > 0 && len(u.Series) > 0 {
		// A request refused for its new series keeps its charge on the
		// rate limits: it was read and decoded all the same, so a tenant
		// resending it without pause is held to its rates (and then
		// refused before its bodies are read) instead of making the
		// appliance decode without bound.
		if err := tl.admitSeries(tenant, u.Series, now); err != nil {
			return err
		}
	}
	return nil
}

func (tl *tenantLimits) block(l *Limiter, i int, until time.Time, refusal LimitError) {
	tl.blocked[i] = until
	tl.blockedErr[i] = refusal
	for {
		cur := l.blockedUntil.Load()
		if until.UnixNano() <= cur || l.blockedUntil.CompareAndSwap(cur, until.UnixNano()) {
			return
		}
	}
}

// AnyBlocked reports whether some tenant may be blocked at now (one atomic
// load), so callers can skip authenticating for Blocked.
func (l *Limiter) AnyBlocked(now time.Time) bool { return now.UnixNano() < l.blockedUntil.Load() }

// Blocked reports whether a request of tenant carrying signal is to be
// refused before its body is read or decoded, so that a tenant flooding
// far past its limit costs the appliance (and so the other tenants) as
// little as possible. After Admit refuses a request by a rate limit, the
// tenant's requests drawing on that limit are refused until the bucket
// has refilled enough for the refused request: the time its Retry-After
// named. A smaller request in that window, which Admit might have taken,
// is refused too; clients retry it after the hint. Bytes refusals block
// every signal. Returns nil (one atomic load) while no tenant is blocked.
func (l *Limiter) Blocked(tenant string, signal Signal, now time.Time) *LimitError {
	if !l.AnyBlocked(now) {
		return nil
	}
	l.mu.Lock()
	tl := l.per[tenant]
	l.mu.Unlock()
	if tl == nil {
		return nil
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	idx := []int{2}
	switch signal {
	case SignalSamples:
		idx = []int{0, 2}
	case SignalSpans:
		idx = []int{1, 2}
	}
	for _, i := range idx {
		if now.Before(tl.blocked[i]) {
			refusal := tl.blockedErr[i]
			refusal.RetryAfter = tl.blocked[i].Sub(now)
			refusal.Requested = 0
			refusal.Early = true
			return &refusal
		}
	}
	return nil
}

func (tl *tenantLimits) admitSeries(tenant string, series []uint64, now time.Time) error {
	if now.Sub(tl.swept) > ActiveSeriesWindow/10 {
		tl.oldest = now
		for h, seen := range tl.series {
			if now.Sub(seen) > ActiveSeriesWindow {
				delete(tl.series, h)
			} else if seen.Before(tl.oldest) {
				tl.oldest = seen
			}
		}
		tl.swept = now
	}
	newSeries := 0
	for _, h := range series {
		if seen, ok := tl.series[h]; !ok || now.Sub(seen) > ActiveSeriesWindow {
			newSeries++
		}
	}
	if newSeries > 0 && len(tl.series)+newSeries > tl.limits.ActiveSeries {
		return &LimitError{Tenant: tenant, Limit: LimitActiveSeries, Value: float64(tl.limits.ActiveSeries),
			Requested: newSeries, RetryAfter: max(time.Second, tl.oldest.Add(ActiveSeriesWindow).Sub(now))}
	}
	for _, h := range series {
		tl.series[h] = now
	}
	return nil
}

// LimitError is a refusal by a tenant limit. It carries a gRPC status, so
// the OTLP receiver answers gRPC ResourceExhausted (HTTP 429 with a
// Retry-After header) for a rate limit; a single request larger than a
// whole second's budget can never pass and is InvalidArgument (HTTP 400).
type LimitError struct {
	Tenant     string
	Limit      string
	Value      float64
	Requested  int
	RetryAfter time.Duration
	TooLarge   bool
	// Early marks a refusal before the request was read (see Blocked).
	Early bool
}

// RetryHint is the whole-second retry delay sent to the client
// (Retry-After, gRPC RetryInfo): never less than one second.
func (e *LimitError) RetryHint() time.Duration { return e.retrySeconds() }

func (e *LimitError) retrySeconds() time.Duration {
	d := e.RetryAfter.Round(time.Second)
	if d < e.RetryAfter {
		d += time.Second
	}
	return max(d, time.Second)
}

func (e *LimitError) Error() string {
	if e.TooLarge {
		return fmt.Sprintf("tenant %q: request of %d exceeds the whole %s limit of %g; send smaller requests",
			e.Tenant, e.Requested, e.Limit, e.Value)
	}
	if e.Early {
		return fmt.Sprintf("tenant %q is over its %s limit of %g (request refused before reading it); retry after %s",
			e.Tenant, e.Limit, e.Value, e.retrySeconds())
	}
	return fmt.Sprintf("tenant %q is over its %s limit of %g (request of %d refused); retry after %s",
		e.Tenant, e.Limit, e.Value, e.Requested, e.retrySeconds())
}

// GRPCStatus lets status.FromError (used by the OTLP receiver for both gRPC
// and HTTP) see the right code and the retry hint.
func (e *LimitError) GRPCStatus() *status.Status {
	if e.TooLarge {
		return status.New(codes.InvalidArgument, e.Error())
	}
	st := status.New(codes.ResourceExhausted, e.Error())
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.retrySeconds())}); err == nil {
		return withInfo
	}
	return st
}
