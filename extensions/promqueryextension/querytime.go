package promqueryextension

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// queryTime is each tenant's budget of query time: a token bucket of
// seconds, refilled at rate per second up to burst. A query waits while
// its tenant's bucket is below zero and is charged its duration when done,
// so a tenant running heavy queries without pause gets rate seconds of
// the engine per second in the long run, whatever its slots, and the
// cores stay with the other tenants the rest of the time.
type queryTime struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*timeBucket
}

type timeBucket struct {
	level float64
	at    time.Time
}

// errQueryTimeSpent: the tenant spent its query time; retry after the hint.
type errQueryTimeSpent struct{ wait time.Duration }

func (e errQueryTimeSpent) Error() string {
	return fmt.Sprintf("this tenant's queries used their query time (retry in %s)", e.wait.Round(time.Millisecond))
}

func newQueryTime(rate, burst float64) *queryTime {
	return &queryTime{rate: rate, burst: burst, now: time.Now, buckets: map[string]*timeBucket{}}
}

// refillLocked brings tenant's bucket to now and returns it.
func (q *queryTime) refillLocked(tenant string) *timeBucket {
	now := q.now()
	b := q.buckets[tenant]
	if b == nil {
		if len(q.buckets) > 10_000 {
			for k, v := range q.buckets { // full buckets carry no state worth keeping
				if min(q.burst, v.level+q.rate*now.Sub(v.at).Seconds()) >= q.burst {
					delete(q.buckets, k)
				}
			}
		}
		b = &timeBucket{level: q.burst, at: now}
		q.buckets[tenant] = b
	}
	b.level = min(q.burst, b.level+q.rate*now.Sub(b.at).Seconds())
	b.at = now
	return b
}

// wait returns once tenant may start a query, or errQueryTimeSpent at once
// if that is further off than maxWait.
func (q *queryTime) wait(ctx context.Context, tenant string, maxWait time.Duration) error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	b := q.refillLocked(tenant)
	need := time.Duration(-b.level / q.rate * float64(time.Second))
	q.mu.Unlock()
	if need <= 0 {
		return nil
	}
	if need > maxWait {
		return errQueryTimeSpent{wait: need}
	}
	timer := time.NewTimer(need)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// charge takes a finished query's duration from tenant's bucket.
func (q *queryTime) charge(tenant string, d time.Duration) {
	if q == nil {
		return
	}
	q.mu.Lock()
	q.refillLocked(tenant).level -= d.Seconds()
	q.mu.Unlock()
}
