package groupcommitprocessor

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// group is the requests of one tenant that go downstream as one.
type group struct {
	ctx      context.Context // the first member's, so the tenant stays on it
	td       ptrace.Traces
	spans    int
	requests int
	done     chan struct{}
	full     chan struct{} // closed when the group reaches max_spans (max_wait only)
	err      error
}

// lane serializes one tenant's writes: while one group is being written,
// the next one fills.
type lane struct {
	writing chan struct{} // one slot: held while a group is written
	open    *group        // the group new requests join, nil if none
}

type groupCommit struct {
	cfg  *Config
	next consumer.Traces

	mu    sync.Mutex
	lanes map[string]*lane

	groupRequests metric.Int64Histogram
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces) (*groupCommit, error) {
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/processors/groupcommitprocessor")
	h, err := m.Int64Histogram(MetricGroupRequests,
		metric.WithDescription("Requests merged into one downstream write, by tenant: how many callers one disk write acknowledged."),
		metric.WithUnit("{request}"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128))
	if err != nil {
		return nil, err
	}
	return &groupCommit{cfg: cfg, next: next, lanes: map[string]*lane{}, groupRequests: h}, nil
}

func (*groupCommit) Start(context.Context, component.Host) error { return nil }

// Shutdown has nothing to flush: a group only exists while its callers
// wait in ConsumeTraces.
func (*groupCommit) Shutdown(context.Context) error { return nil }

// Capabilities: requests are moved into the group.
func (*groupCommit) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeTraces joins td to its tenant's open group and returns when that
// group has been written downstream, with the write's result. The first
// member of a group waits until the tenant's previous group is written,
// then writes its own; everything that arrived meanwhile goes with it.
func (p *groupCommit) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	tenant := tenants.FromContext(ctx)
	p.mu.Lock()
	l := p.lanes[tenant]
	if l == nil {
		l = &lane{writing: make(chan struct{}, 1)}
		p.lanes[tenant] = l
	}
	g := l.open
	leader := g == nil
	if leader {
		// Not canceled with the first caller: the others wait on this write.
		g = &group{ctx: context.WithoutCancel(ctx), td: ptrace.NewTraces(), done: make(chan struct{})}
		if p.cfg.MaxWait > 0 {
			g.full = make(chan struct{})
		}
		l.open = g
	}
	td.ResourceSpans().MoveAndAppendTo(g.td.ResourceSpans())
	g.spans += n
	g.requests++
	if g.spans >= p.cfg.MaxSpans {
		l.open = nil // full: later requests start the next group
		if g.full != nil {
			close(g.full)
			g.full = nil
		}
	}
	p.mu.Unlock()

	if !leader {
		<-g.done
		return g.err
	}
	if p.cfg.MaxWait > 0 {
		p.gather(g)
	}
	l.writing <- struct{}{} // wait for the tenant's previous group
	p.mu.Lock()
	if l.open == g {
		l.open = nil
	}
	p.mu.Unlock()
	g.err = p.next.ConsumeTraces(g.ctx, g.td)
	<-l.writing
	p.groupRequests.Record(ctx, int64(g.requests), metric.WithAttributes(tenants.SelfMetricTenant(tenant)))
	close(g.done)
	return g.err
}

// gather lets others join g for up to max_wait, or until it is full.
func (p *groupCommit) gather(g *group) {
	p.mu.Lock()
	full := g.full
	p.mu.Unlock()
	if full == nil {
		return // filled up already
	}
	t := time.NewTimer(p.cfg.MaxWait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-full:
	}
}
