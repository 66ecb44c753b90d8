// Package traceindex is the appliance's own index of what each tenant has
// sent as traces: tenant → services → operations (with span kind), and a
// compact set of the tenant's trace ids. The tenantstamp processor feeds it
// (it sees every span, after the tenant is stamped and before anything is
// stored); the tenant_trace_query extension owns it and answers service and
// operation lists from it, and uses it to answer "not yours" exactly like
// "missing" without asking Jaeger.
//
// The two components meet through the Recorder interface, found with
// RecordersFromHost among the service's extensions: neither package reaches
// into the other.
package traceindex

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Recorder receives every span of a tenant on the ingest path. RecordTraces
// must be cheap, must not block on I/O and must not keep td.
type Recorder interface {
	RecordTraces(tenant string, td ptrace.Traces)
}

// RecordersFromHost returns every extension of the service that is a
// Recorder, in a stable order.
func RecordersFromHost(host component.Host) []Recorder {
	exts := host.GetExtensions()
	ids := make([]component.ID, 0, len(exts))
	for id, ext := range exts {
		if _, ok := ext.(Recorder); ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	out := make([]Recorder, len(ids))
	for i, id := range ids {
		out[i] = exts[id].(Recorder)
	}
	return out
}

// Config bounds the index.
type Config struct {
	// MaxServices per tenant; services over it are counted, not kept.
	MaxServices int
	// MaxOperations per service of a tenant; over it counted, not kept.
	MaxOperations int
	// MaxTraceIDs per tenant over Lookback; over it the oldest ids are
	// forgotten early (counted) and lookups of unknown ids ask Jaeger
	// until those ids are older than Lookback.
	MaxTraceIDs int
	// Lookback is how long a service, operation or trace id is remembered
	// after it was last seen (the trace store's retention).
	Lookback time.Duration
}

// Operation is one operation of a service, as Jaeger lists it.
type Operation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

// Stats are one tenant's figures, for self-metrics.
type Stats struct {
	Services          int
	ServicesRefused   int64 // new services not kept: the tenant was at MaxServices
	OperationsRefused int64 // new operations not kept: the service was at MaxOperations
	TraceIDsForgotten int64 // trace id generations dropped early (MaxTraceIDs reached)
}

// Index is safe for concurrent use.
type Index struct {
	cfg  Config
	now  func() time.Time
	keys [2]uint64 // trace id hash keys (kept with the index on disk)

	mu      sync.RWMutex
	tenants map[string]*tenantIndex
	// uncertainUntil (unix ns): until then a trace id not in a tenant's
	// set may still be in the trace store (the index started after data
	// was stored), so lookups ask Jaeger.
	uncertainUntil atomic.Int64
	dirty          atomic.Bool
}

type tenantIndex struct {
	mu       sync.RWMutex
	services map[string]*serviceIndex
	// servicesFullAt (unix s) is when a service was last refused at
	// MaxServices: until that is past the lookback, unknown names may be
	// stored services of the tenant.
	servicesFullAt atomic.Int64
	ids            idSet

	servicesRefused   atomic.Int64
	operationsRefused atomic.Int64
}

type serviceIndex struct {
	lastSeen int64 // unix seconds
	ops      map[Operation]int64
	opsFull  bool
}

// New returns an empty index. keys are the trace id hash keys (random for
// a new index, loaded with a saved one).
func New(cfg Config, now func() time.Time) *Index {
	if now == nil {
		now = time.Now
	}
	return &Index{cfg: cfg, now: now, keys: newKeys(), tenants: map[string]*tenantIndex{}}
}

// SetUncertainUntil makes lookups of unknown trace ids ask the trace store
// until t (the index was started with data already stored).
func (x *Index) SetUncertainUntil(t time.Time) {
	for {
		cur := x.uncertainUntil.Load()
		if t.UnixNano() <= cur || x.uncertainUntil.CompareAndSwap(cur, t.UnixNano()) {
			break
		}
	}
	x.dirty.Store(true)
}

// Dirty reports (and clears) whether the index changed since the last call.
func (x *Index) Dirty() bool { return x.dirty.Swap(false) }

func (x *Index) tenant(id string, create bool) *tenantIndex {
	x.mu.RLock()
	t := x.tenants[id]
	x.mu.RUnlock()
	if t != nil || !create {
		return t
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if t = x.tenants[id]; t == nil {
		t = &tenantIndex{services: map[string]*serviceIndex{}}
		t.ids.init(x.cfg)
		x.tenants[id] = t
	}
	return t
}

// refresh is how stale a last-seen time may get before a span updates it:
// a coarse clock keeps the common case on the read lock.
func (x *Index) refresh() int64 { return max(int64(x.cfg.Lookback/time.Second)/1000, 60) }

// RecordTraces adds td's services, operations and trace ids to tenant's
// index. Each distinct (service, operation, kind) of the request is looked
// up once; the write lock is taken only when something is new or stale.
func (x *Index) RecordTraces(tenant string, td ptrace.Traces) {
	b := getBatch()
	defer putBatch(b)
	b.collect(td)
	if len(b.entries) == 0 {
		return
	}
	x.record(tenant, b)
}

func (x *Index) record(tenant string, b *batch) {
	t := x.tenant(tenant, true)
	now := x.now()
	sec := now.Unix()
	stale := sec - x.refresh()
	t.ids.rotateIfDue(now, x.cfg, &x.dirty)
	t.mu.RLock()
	needWrite, refused := false, int64(0)
	for _, e := range b.entries {
		s := t.services[e.service]
		if s == nil {
			if len(t.services) >= x.cfg.MaxServices {
				refused++
				continue
			}
			needWrite = true
			break
		}
		if s.lastSeen < stale {
			needWrite = true
			break
		}
		if seen, ok := s.ops[e.op()]; !ok && !s.opsFull || ok && seen < stale {
			needWrite = true
			break
		}
	}
	added := t.ids.add(b.ids, x.keys, now)
	t.mu.RUnlock()
	if added {
		x.dirty.Store(true)
	}
	if !needWrite {
		if refused > 0 { // over the bound: counted, never blocking ingest
			t.servicesFullAt.Store(sec)
			t.servicesRefused.Add(refused)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range b.entries {
		s := t.services[e.service]
		if s == nil {
			if len(t.services) >= x.cfg.MaxServices {
				t.servicesFullAt.Store(sec)
				t.servicesRefused.Add(1)
				continue
			}
			s = &serviceIndex{ops: map[Operation]int64{}}
			t.services[e.service] = s
		}
		if s.lastSeen < stale {
			s.lastSeen = sec
		}
		if seen, ok := s.ops[e.op()]; ok {
			if seen < stale {
				s.ops[e.op()] = sec
			}
		} else if len(s.ops) >= x.cfg.MaxOperations {
			s.opsFull = true
			t.operationsRefused.Add(1)
		} else {
			s.ops[e.op()] = sec
		}
	}
	x.dirty.Store(true)
}

func (x *Index) cutoff() int64 { return x.now().Add(-x.cfg.Lookback).Unix() }

// Services lists tenant's services seen within the lookback, sorted.
func (x *Index) Services(tenant string) []string {
	out := []string{}
	t := x.tenant(tenant, false)
	if t == nil {
		return out
	}
	cut := x.cutoff()
	t.mu.RLock()
	for name, s := range t.services {
		if s.lastSeen >= cut {
			out = append(out, name)
		}
	}
	t.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Operations lists the operations of tenant's service seen within the
// lookback, of span kind kind ("" = any), sorted by name then kind.
func (x *Index) Operations(tenant, service, kind string) []Operation {
	out := []Operation{}
	t := x.tenant(tenant, false)
	if t == nil {
		return out
	}
	cut := x.cutoff()
	t.mu.RLock()
	if s := t.services[service]; s != nil {
		for op, seen := range s.ops {
			if seen >= cut && (kind == "" || kind == op.SpanKind) {
				out = append(out, op)
			}
		}
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].SpanKind < out[j].SpanKind
	})
	return out
}

// MayHaveService reports whether tenant may have spans of service in the
// trace store: false means certainly not (it was never seen within the
// lookback and the tenant never went over MaxServices).
func (x *Index) MayHaveService(tenant, service string) bool {
	if x.now().UnixNano() < x.uncertainUntil.Load() {
		return true
	}
	t := x.tenant(tenant, false)
	if t == nil {
		return false
	}
	cut := x.cutoff()
	if full := t.servicesFullAt.Load(); full != 0 && full >= cut {
		return true
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := t.services[service]
	return s != nil && s.lastSeen >= cut
}

// MayHaveTrace reports whether tenant may have spans of trace id in the
// trace store. false means certainly not; true may be a false positive
// (about 1.2 % at capacity) or an id older than what the set still remembers.
func (x *Index) MayHaveTrace(tenant string, id [16]byte) bool {
	now := x.now()
	if now.UnixNano() < x.uncertainUntil.Load() {
		return true
	}
	t := x.tenant(tenant, false)
	if t == nil {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ids.mayContain(id, x.keys, now)
}

// Stats returns every tenant's figures.
func (x *Index) Stats() map[string]Stats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[string]Stats, len(x.tenants))
	for id, t := range x.tenants {
		t.mu.RLock()
		out[id] = Stats{Services: len(t.services), ServicesRefused: t.servicesRefused.Load(),
			OperationsRefused: t.operationsRefused.Load(), TraceIDsForgotten: t.ids.forgotten.Load()}
		t.mu.RUnlock()
	}
	return out
}

// Prune drops services and operations not seen within the lookback.
func (x *Index) Prune() {
	cut := x.cutoff()
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, t := range x.tenants {
		t.mu.Lock()
		for name, s := range t.services {
			if s.lastSeen < cut {
				delete(t.services, name)
				continue
			}
			for op, seen := range s.ops {
				if seen < cut {
					delete(s.ops, op)
					s.opsFull = false
				}
			}
		}
		t.mu.Unlock()
	}
}
