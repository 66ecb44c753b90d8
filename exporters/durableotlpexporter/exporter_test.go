package durableotlpexporter

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/tenants"
)

// traceStore is a real OTLP gRPC server with a receive limit, like Jaeger's.
type traceStore struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string

	mu       sync.Mutex
	spans    map[string]int // span name -> times received
	requests int
	down     bool
	refuse   func(td ptrace.Traces) error
}

func startTraceStore(t *testing.T, maxRecv int) *traceStore {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &traceStore{addr: ln.Addr().String(), spans: map[string]int{}}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecv))
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *traceStore) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.down {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "store restarting")
	}
	if s.refuse != nil {
		if err := s.refuse(req.Traces()); err != nil {
			return ptraceotlp.NewExportResponse(), err
		}
	}
	forEachSpan(req.Traces(), func(sp ptrace.Span) { s.spans[sp.Name()]++ })
	return ptraceotlp.NewExportResponse(), nil
}

func (s *traceStore) received() (distinct, dup int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.spans {
		distinct++
		dup += n - 1
	}
	return
}

func forEachSpan(td ptrace.Traces, fn func(ptrace.Span)) {
	for i := range td.ResourceSpans().Len() {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := range sss.Len() {
			for k := range sss.At(j).Spans().Len() {
				fn(sss.At(j).Spans().At(k))
			}
		}
	}
}

// traces makes n spans of about attrBytes each, spread over resources of
// the given tenants, named span-<first+i>.
func traces(first, n, attrBytes int, tenantIDs ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	pad := strings.Repeat("x", attrBytes)
	for i := range n {
		t := tenantIDs[i%len(tenantIDs)]
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr(tenants.ResourceAttribute, t)
		rs.Resource().Attributes().PutStr("service.name", "pump-control")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName("span-" + itoa(first+i))
		sp.SetTraceID(pcommon.TraceID{1, byte(i >> 8), byte(i)})
		sp.SetSpanID(pcommon.SpanID{2, byte(i >> 8), byte(i)})
		sp.Attributes().PutStr("pad", pad)
	}
	return td
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return string(b[p:])
}

func newTestExporter(t *testing.T, endpoint string, maxBytes int) *durableExporter {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig = configgrpc.NewDefaultClientConfig()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.ClientConfig.TLS = configtls.ClientConfig{Insecure: true}
	cfg.MaxRequestBytes = maxBytes
	cfg.DeadLetter.Directory = t.TempDir()
	set := exportertest.NewNopSettings(Type)
	e, err := newExporter(set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

// The backlog case: a backlog batch of ~700-byte spans larger than the
// store's 4 MiB limit. Every span arrives once, in requests under the limit.
func TestBacklogBatchOverDestinationLimitIsSplitNotDropped(t *testing.T) {
	store := startTraceStore(t, JaegerMaxRecvBytes)
	e := newTestExporter(t, store.addr, DefaultMaxRequestBytes)
	td := traces(0, 8200, 600, "west-pipeline-01")
	if sz := sizer.TracesSize(td); sz <= JaegerMaxRecvBytes {
		t.Fatalf("test batch is %d bytes, must exceed the 4 MiB limit", sz)
	}
	if err := e.pushTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	distinct, dup := store.received()
	if distinct != 8200 || dup != 0 {
		t.Fatalf("store holds %d distinct spans (%d duplicates), want 8200 and 0", distinct, dup)
	}
}

// A destination whose limit is lower than max_request_bytes refuses with
// ResourceExhausted: the halves are retried until everything fits.
func TestTooLargeRefusalSplitsAndRetriesHalves(t *testing.T) {
	store := startTraceStore(t, 256<<10)
	e := newTestExporter(t, store.addr, DefaultMaxRequestBytes)
	if err := e.pushTraces(context.Background(), traces(0, 3000, 3000, "a", "b")); err != nil {
		t.Fatal(err)
	}
	if distinct, dup := store.received(); distinct != 3000 || dup != 0 {
		t.Fatalf("store holds %d distinct spans (%d duplicates), want 3000 and 0", distinct, dup)
	}
	if files, _ := deadletter.Files(e.dead.Dir()); len(files) != 0 {
		t.Fatalf("nothing should be dead-lettered: %v", files)
	}
}

// One span over the store's limit cannot be split: it is kept in the
// dead-letter area, the rest is delivered, and replay delivers it once the
// limit is raised.
func TestSingleSpanTooLargeGoesToDeadLetterAndReplays(t *testing.T) {
	store := startTraceStore(t, 64<<10)
	e := newTestExporter(t, store.addr, DefaultMaxRequestBytes)
	td := traces(0, 10, 1000, "west-pipeline-01")
	big := traces(10, 1, 100<<10, "east-pipeline-02")
	big.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	if err := e.pushTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if distinct, _ := store.received(); distinct != 10 {
		t.Fatalf("store holds %d spans, want the 10 that fit", distinct)
	}
	var out bytes.Buffer
	if err := listDeadLetter(&out, e.dead.Dir()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "east-pipeline-02") || !strings.Contains(out.String(), "resource_exhausted") && !strings.Contains(out.String(), "too_large") {
		t.Fatalf("list output:\n%s", out.String())
	}
	// The operator raises the store's limit and replays.
	fixed := startTraceStore(t, 1<<20)
	out.Reset()
	if err := replay(context.Background(), &out, replayOptions{dir: e.dead.Dir(), endpoint: fixed.addr, insecure: true, maxBytes: DefaultMaxRequestBytes, timeout: 5e9}); err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	if fixed.spans["span-10"] != 1 || len(fixed.spans) != 1 {
		t.Fatalf("replayed spans %v", fixed.spans)
	}
	// A second replay sends nothing again.
	if err := replay(context.Background(), &out, replayOptions{dir: e.dead.Dir(), endpoint: fixed.addr, insecure: true, maxBytes: DefaultMaxRequestBytes, timeout: 5e9}); err != nil {
		t.Fatal(err)
	}
	if fixed.spans["span-10"] != 1 {
		t.Fatalf("replay twice sent span-10 %d times", fixed.spans["span-10"])
	}
}

// A permanent refusal (here InvalidArgument for one tenant's spans) is
// dead-lettered per tenant; the same request's other parts are delivered.
func TestPermanentRefusalIsDeadLetteredPerTenant(t *testing.T) {
	store := startTraceStore(t, JaegerMaxRecvBytes)
	store.refuse = func(td ptrace.Traces) error {
		if firstTenant(td) == "bad-tenant" {
			return status.Error(codes.InvalidArgument, "span attribute not accepted")
		}
		return nil
	}
	e := newTestExporter(t, store.addr, 64<<10)
	td := traces(0, 100, 1000, "bad-tenant")
	traces(100, 100, 1000, "good-tenant").ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	if err := e.pushTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if distinct, _ := store.received(); distinct != 100 {
		t.Fatalf("store got %d spans, want good-tenant's 100", distinct)
	}
	stored := e.tel.stored
	if stored["bad-tenant"] != 100 || stored["good-tenant"] != 0 {
		t.Fatalf("dead-letter by tenant: %v", stored)
	}
	// The figure survives a restart: a new exporter reads it from disk.
	if got := storedSpans(e.dead.Dir(), e.logger); got["bad-tenant"] != 100 {
		t.Fatalf("after restart: %v", got)
	}
}

// A store that is down gives a retryable error that carries exactly the
// spans not yet delivered: a retry never duplicates.
func TestRetryableErrorCarriesOnlyWhatIsLeft(t *testing.T) {
	store := startTraceStore(t, JaegerMaxRecvBytes)
	e := newTestExporter(t, store.addr, 64<<10)
	calls := 0
	store.refuse = func(ptrace.Traces) error {
		calls++
		if calls > 3 {
			return status.Error(codes.Unavailable, "restarting")
		}
		return nil
	}
	td := traces(0, 600, 1000, "a")
	err := e.pushTraces(context.Background(), td)
	var te consumererror.Traces
	if !errors.As(err, &te) || consumererror.IsPermanent(err) {
		t.Fatalf("want a retryable partial error, got %v", err)
	}
	delivered, _ := store.received()
	if delivered+te.Data().SpanCount() != 600 {
		t.Fatalf("delivered %d + left %d != 600", delivered, te.Data().SpanCount())
	}
	store.refuse = nil
	if err := e.pushTraces(context.Background(), te.Data()); err != nil {
		t.Fatal(err)
	}
	if distinct, dup := store.received(); distinct != 600 || dup != 0 {
		t.Fatalf("after retry: %d distinct, %d duplicates", distinct, dup)
	}
}

func TestDeadLetterOnFullDiskIsRetryable(t *testing.T) {
	store := startTraceStore(t, JaegerMaxRecvBytes)
	store.refuse = func(ptrace.Traces) error { return status.Error(codes.PermissionDenied, "no") }
	e := newTestExporter(t, store.addr, 64<<10)
	e.dead, _ = deadletter.Open(deadletter.Config{Directory: t.TempDir(), DiskReserve: fullReserve})
	err := e.pushTraces(context.Background(), traces(0, 10, 100, "a"))
	var te consumererror.Traces
	if err == nil || consumererror.IsPermanent(err) || !errors.As(err, &te) || te.Data().SpanCount() != 10 {
		t.Fatalf("want a retryable error keeping all 10 spans, got %v", err)
	}
}
