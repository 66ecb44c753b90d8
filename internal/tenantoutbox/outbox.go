// Package tenantoutbox is the per-tenant outbox of a connector's records
// waiting for its logs pipeline (errorfanout's alert events, the alarm
// connector's transitions): each tenant's records in order, handed out
// round robin a batch at a time, so one tenant's backlog or refusal never
// holds another's records back by more than one request.
package tenantoutbox

import "sync"

// Outbox holds records of type T per tenant. The zero value is empty and
// ready.
type Outbox[T any] struct {
	mu       sync.Mutex
	byTenant map[string][]T
	ring     []string // tenants with records, in round-robin order
}

// Add appends records of one tenant, in order.
func (o *Outbox[T]) Add(tenant string, items ...T) {
	if len(items) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byTenant == nil {
		o.byTenant = map[string][]T{}
	}
	if len(o.byTenant[tenant]) == 0 {
		o.ring = append(o.ring, tenant)
	}
	o.byTenant[tenant] = append(o.byTenant[tenant], items...)
}

// Len is how many records of tenant wait.
func (o *Outbox[T]) Len(tenant string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byTenant[tenant])
}

// Total is how many records wait, all tenants together.
func (o *Outbox[T]) Total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, items := range o.byTenant {
		n += len(items)
	}
	return n
}

// Each calls fn with every tenant's waiting records, in round-robin order,
// under the outbox's lock (fn must not call the outbox).
func (o *Outbox[T]) Each(fn func(tenant string, items []T)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range o.ring {
		fn(t, o.byTenant[t])
	}
}

// Remove takes the first record of tenant that match says is the one out
// of the outbox (a record whose action could not be saved), if a Drain did
// not take it already; it says whether it did.
func (o *Outbox[T]) Remove(tenant string, match func(T) bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.byTenant[tenant]
	for i, it := range q {
		if !match(it) {
			continue
		}
		if q = append(q[:i:i], q[i+1:]...); len(q) > 0 {
			o.byTenant[tenant] = q
			return true
		}
		o.dropLocked(tenant)
		return true
	}
	return false
}

// dropLocked forgets a tenant with no records left.
func (o *Outbox[T]) dropLocked(tenant string) {
	delete(o.byTenant, tenant)
	for i, t := range o.ring {
		if t == tenant {
			o.ring = append(o.ring[:i:i], o.ring[i+1:]...)
			return
		}
	}
}

// Drain hands the records out: round robin over the tenants, up to batch
// records of one tenant per send, each tenant's in order. A tenant whose
// send fails keeps its records and is skipped until the next Drain; the
// others go on. After a successful send the batch leaves the outbox, then
// sent is called with it (nil: nothing to do). Records added meanwhile
// are drained in the same call.
func (o *Outbox[T]) Drain(batch int, send func(tenant string, items []T) error, sent func(tenant string, items []T)) {
	refused := map[string]bool{}
	for {
		o.mu.Lock()
		var tenant string
		var items []T
		for i, t := range o.ring {
			if !refused[t] {
				tenant = t
				items = o.byTenant[t][:min(len(o.byTenant[t]), batch)]
				// The tenant goes to the back of the ring.
				o.ring = append(append(o.ring[:i:i], o.ring[i+1:]...), t)
				break
			}
		}
		o.mu.Unlock()
		if items == nil {
			return
		}
		if err := send(tenant, items); err != nil {
			refused[tenant] = true
			continue
		}
		o.mu.Lock()
		rest := o.byTenant[tenant][len(items):]
		if len(rest) == 0 {
			o.dropLocked(tenant)
		} else {
			o.byTenant[tenant] = rest
		}
		o.mu.Unlock()
		if sent != nil {
			sent(tenant, items)
		}
	}
}
