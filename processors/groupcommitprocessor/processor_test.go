package groupcommitprocessor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
	"github.com/scadaotel/scadaotel/tenants"
)

// gatedSink records every downstream write; each write blocks until the
// test releases it, like a queue waiting for its fsync.
type gatedSink struct {
	mu      sync.Mutex
	writes  []write
	entered chan struct{}
	release chan error
}

type write struct {
	tenant string // from the context
	data   []string
	spans  int
}

func newGatedSink() *gatedSink {
	return &gatedSink{entered: make(chan struct{}, 100), release: make(chan error)}
}

func (s *gatedSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	w := write{tenant: tenants.FromContext(ctx), spans: td.SpanCount()}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		w.data = append(w.data, tenants.FromResource(td.ResourceSpans().At(i).Resource()))
	}
	s.mu.Lock()
	s.writes = append(s.writes, w)
	s.mu.Unlock()
	s.entered <- struct{}{}
	return <-s.release
}

func (s *gatedSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func traces(tenant string, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), tenant)
	for i := 0; i < spans; i++ {
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("poll")
	}
	return td
}

func start(t *testing.T, cfg *Config, sink *gatedSink) *groupCommit {
	t.Helper()
	p, err := newProcessor(processortest.NewNopSettings(componentType), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRequestsArrivingDuringAWriteGoTogether: while the first request is
// being written, nine more arrive; they go down as one write, and no caller
// returns before its own write has returned.
func TestRequestsArrivingDuringAWriteGoTogether(t *testing.T) {
	sink := newGatedSink()
	p := start(t, createDefaultConfig(), sink)
	ctx := tenants.NewContext(context.Background(), "west")
	results := make(chan error, 10)
	go func() { results <- p.ConsumeTraces(ctx, traces("west", 10)) }()
	<-sink.entered // the first write is in progress
	var wg sync.WaitGroup
	for i := 0; i < 9; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results <- p.ConsumeTraces(ctx, traces("west", 10)) }()
	}
	waitGroupSize(t, p, "west", 9)
	select {
	case err := <-results:
		t.Fatalf("a caller returned (%v) before its write was done", err)
	default:
	}
	sink.release <- nil // first write done
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	<-sink.entered // the nine, together
	select {
	case err := <-results:
		t.Fatalf("a caller of the second group returned (%v) before its write was done", err)
	case <-time.After(20 * time.Millisecond):
	}
	sink.release <- nil
	wg.Wait()
	for i := 0; i < 9; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.writes) != 2 || sink.writes[0].spans != 10 || sink.writes[1].spans != 90 {
		t.Fatalf("writes = %+v, want 10 spans then 90 spans", sink.writes)
	}
}

// TestWriteErrorReachesEveryMember: a failed write fails every caller whose
// data was in it, so each of them retries (nothing acknowledged is lost).
func TestWriteErrorReachesEveryMember(t *testing.T) {
	sink := newGatedSink()
	p := start(t, createDefaultConfig(), sink)
	ctx := tenants.NewContext(context.Background(), "west")
	results := make(chan error, 4)
	go func() { results <- p.ConsumeTraces(ctx, traces("west", 1)) }()
	<-sink.entered
	for i := 0; i < 3; i++ {
		go func() { results <- p.ConsumeTraces(ctx, traces("west", 1)) }()
	}
	waitGroupSize(t, p, "west", 3)
	sink.release <- nil
	<-sink.entered
	boom := errors.New("queue full")
	sink.release <- boom
	ok, failed := 0, 0
	for i := 0; i < 4; i++ {
		if err := <-results; errors.Is(err, boom) {
			failed++
		} else if err == nil {
			ok++
		}
	}
	if ok != 1 || failed != 3 {
		t.Fatalf("ok %d, failed %d; want the first ok and the three of the failed write failed", ok, failed)
	}
}

// TestTenantsNeverShareAWrite: each tenant has its own groups, and each
// write carries its tenant on the context.
func TestTenantsNeverShareAWrite(t *testing.T) {
	sink := newGatedSink()
	p := start(t, createDefaultConfig(), sink)
	results := make(chan error, 4)
	for _, tenant := range []string{"west", "east", "west", "east"} {
		go func() {
			results <- p.ConsumeTraces(tenants.NewContext(context.Background(), tenant), traces(tenant, 1))
		}()
	}
	go func() {
		for range sink.entered {
			sink.release <- nil
		}
	}()
	for i := 0; i < 4; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	close(sink.entered) // every write is done: ends the releasing goroutine
	sink.mu.Lock()
	defer sink.mu.Unlock()
	spans := 0
	for _, w := range sink.writes {
		spans += w.spans
		for _, d := range w.data {
			if d != w.tenant {
				t.Errorf("write for %q carries %q's data: %+v", w.tenant, d, w)
			}
		}
	}
	if spans != 4 {
		t.Errorf("%d spans written, want 4", spans)
	}
}

// TestFullGroupClosesEarly: a group stops taking requests at max_spans.
func TestFullGroupClosesEarly(t *testing.T) {
	sink := newGatedSink()
	p := start(t, &Config{MaxSpans: 20}, sink)
	ctx := tenants.NewContext(context.Background(), "west")
	results := make(chan error, 4)
	go func() { results <- p.ConsumeTraces(ctx, traces("west", 5)) }()
	<-sink.entered
	for i := 0; i < 3; i++ {
		go func() { results <- p.ConsumeTraces(ctx, traces("west", 10)) }()
	}
	go func() {
		for range sink.entered {
			sink.release <- nil
		}
	}()
	sink.release <- nil
	for i := 0; i < 4; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	close(sink.entered) // every write is done: ends the releasing goroutine
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, w := range sink.writes {
		if w.spans > 20 {
			t.Errorf("a write of %d spans, max_spans is 20", w.spans)
		}
	}
}

func TestConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("groupcommit")
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil || cfg.MaxSpans != 4096 {
		t.Fatalf("%v %+v", err, cfg)
	}
	if err := (&Config{MaxSpans: 0}).Validate(); err == nil {
		t.Error("max_spans 0 accepted")
	}
	readmeconfig.Check(t, "README.md", "processors", TypeStr, func() component.Config { return createDefaultConfig() })
}

// waitGroupSize waits until tenant's open group holds n requests.
func waitGroupSize(t *testing.T, p *groupCommit, tenant string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		l := p.lanes[tenant]
		got := 0
		if l != nil && l.open != nil {
			got = l.open.requests
		}
		p.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the open group never held %d requests", n)
}

// TestMaxWaitGathersSequentialRequests: with max_wait, requests that come
// one after another within it share one write, acknowledged when it is
// done; a full group does not wait; the wait is virtual time (synctest).
func TestMaxWaitGathersSequentialRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newGatedSink()
		go func() {
			for range sink.entered {
				sink.release <- nil
			}
		}()
		p := start(t, &Config{MaxSpans: 100, MaxWait: 50 * time.Millisecond}, sink)
		ctx := tenants.NewContext(context.Background(), "west")
		var wg sync.WaitGroup
		acked := make([]time.Duration, 3)
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.ConsumeTraces(ctx, traces("west", 10)); err != nil {
					t.Error(err)
				}
				acked[i] = time.Since(t0)
			}()
			time.Sleep(10 * time.Millisecond)
		}
		wg.Wait()
		sink.mu.Lock()
		if len(sink.writes) != 1 || sink.writes[0].spans != 30 {
			t.Errorf("writes = %+v, want one of 30 spans", sink.writes)
		}
		sink.mu.Unlock()
		for i, d := range acked {
			if d != 50*time.Millisecond {
				t.Errorf("request %d acknowledged after %v, want 50ms (the first one's max_wait)", i, d)
			}
		}

		// A group that reaches max_spans is written at once.
		t1 := time.Now()
		if err := p.ConsumeTraces(ctx, traces("west", 100)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t1); d != 0 {
			t.Errorf("a full group waited %v", d)
		}
		close(sink.entered) // ends the releasing goroutine
	})
}
