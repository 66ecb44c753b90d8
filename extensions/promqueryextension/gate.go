package promqueryextension

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errGateFull: the tenant already has its queries running and its queue
// full; errGateTimeout: a queued query waited queue_timeout for a slot.
var (
	errGateFull    = errors.New("too many concurrent queries of this tenant")
	errGateTimeout = errors.New("waited too long for one of this tenant's query slots")
)

// tenantGate bounds each tenant's concurrent queries and queued ones, so a
// tenant running heavy queries in a loop holds at most its own slots of
// the engine and never makes another tenant's queries wait behind its own.
type tenantGate struct {
	running, queued int
	timeout         time.Duration

	mu    sync.Mutex
	gates map[string]*gate
}

type gate struct {
	slots   chan struct{}
	waiting int
	holders int // running plus waiting: the entry is dropped at 0
}

func newTenantGate(running, queued int, timeout time.Duration) *tenantGate {
	return &tenantGate{running: running, queued: queued, timeout: timeout, gates: map[string]*gate{}}
}

// acquire takes one of tenant's query slots, waiting in the tenant's queue
// if its slots are busy; release gives it back.
func (t *tenantGate) acquire(ctx context.Context, tenant string) (release func(), err error) {
	t.mu.Lock()
	g := t.gates[tenant]
	if g == nil {
		g = &gate{slots: make(chan struct{}, t.running)}
		t.gates[tenant] = g
	}
	select {
	case g.slots <- struct{}{}:
		g.holders++
		t.mu.Unlock()
		return func() { t.release(tenant, g) }, nil
	default:
	}
	if g.waiting >= t.queued {
		t.mu.Unlock()
		return nil, errGateFull
	}
	g.waiting++
	g.holders++
	t.mu.Unlock()

	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		t.mu.Lock()
		g.waiting--
		t.mu.Unlock()
		return func() { t.release(tenant, g) }, nil
	case <-timer.C:
		err = errGateTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	t.mu.Lock()
	g.waiting--
	t.dropLocked(tenant, g)
	t.mu.Unlock()
	return nil, err
}

func (t *tenantGate) release(tenant string, g *gate) {
	<-g.slots
	t.mu.Lock()
	t.dropLocked(tenant, g)
	t.mu.Unlock()
}

func (t *tenantGate) dropLocked(tenant string, g *gate) {
	if g.holders--; g.holders == 0 {
		delete(t.gates, tenant)
	}
}
