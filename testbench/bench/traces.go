package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the collectors' otlp_grpc exporters send gzip
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/testbench/mqbridge"
)

// SpanSink is an OTLP gRPC trace server in the bench process that counts
// the spans it receives: the "trace store" of both sides.
type SpanSink struct {
	ptraceotlp.UnimplementedGRPCServer
	Addr  string
	spans atomic.Int64
	srv   *grpc.Server
}

// StartSpanSink listens on a free loopback port.
func StartSpanSink() (*SpanSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SpanSink{Addr: l.Addr().String(), srv: grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))}
	ptraceotlp.RegisterGRPCServer(s.srv, s)
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Export counts the spans.
func (s *SpanSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

// Spans is the count received so far.
func (s *SpanSink) Spans() int64 { return s.spans.Load() }

// Close stops the server.
func (s *SpanSink) Close() { s.srv.Stop() }

// spanPool is the load: OTLP export requests of about 100 spans each, made by
// the testbench's own MQ-bridge generator (gateway → dispatch → bridge →
// legacy batch, trace ids damaged by the bridge as in production), 1 % of
// spans with status Error.
type spanPool struct {
	reqs  []ptraceotlp.ExportRequest
	spans []int
}

func newSpanPool(requests int) (*spanPool, error) {
	p := &spanPool{}
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Now().Add(-time.Duration(requests) * time.Millisecond)
	_, err := mqbridge.Generate(mqbridge.Config{Seed: 42, Requests: requests, Tenants: []string{BenchTenant},
		ResourcesPerBatch: 44, Start: start}, func(b mqbridge.Batch) error {
		rss := b.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				sp := sss.At(j).Spans()
				for k := 0; k < sp.Len(); k++ {
					if rng.Float64() < 0.01 {
						sp.At(k).Status().SetCode(ptrace.StatusCodeError)
					}
				}
			}
		}
		p.reqs = append(p.reqs, ptraceotlp.NewExportRequestFromTraces(b.Traces))
		p.spans = append(p.spans, b.Traces.SpanCount())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(p.reqs) == 0 {
		return nil, fmt.Errorf("span pool: generator produced nothing")
	}
	return p, nil
}

func (p *spanPool) meanSpans() float64 {
	n := 0
	for _, s := range p.spans {
		n += s
	}
	return float64(n) / float64(len(p.spans))
}

// traceClient sends the pool's requests to one OTLP gRPC endpoint.
type traceClient struct {
	conn     *grpc.ClientConn
	client   ptraceotlp.GRPCClient
	md       metadata.MD
	pool     *spanPool
	next     atomic.Int64
	accepted atomic.Int64 // spans
	refused  atomic.Int64 // spans
	lastErr  atomic.Value
}

func newTraceClient(addr, token string, pool *spanPool) (*traceClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	md := metadata.Pairs("x-scada-tenant", BenchTenant)
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	return &traceClient{conn: conn, client: ptraceotlp.NewGRPCClient(conn), md: md, pool: pool}, nil
}

func (c *traceClient) send(ctx context.Context) {
	i := int(c.next.Add(1)-1) % len(c.pool.reqs)
	cctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, c.md), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	if _, err := c.client.Export(cctx, c.pool.reqs[i]); err != nil {
		if !expired(ctx) {
			c.refused.Add(int64(c.pool.spans[i]))
			c.lastErr.Store(fmt.Sprintf("%v (after %v)", err, time.Since(t0).Round(time.Millisecond)))
		}
		return
	}
	c.accepted.Add(int64(c.pool.spans[i]))
}

// expired reports whether ctx is done or past its deadline (on a loaded
// machine the deadline's timer can fire late, while gRPC already refuses
// calls past the deadline: those are not refusals by the target).
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// paced sends about rate spans/s for d: pacedWorkers senders share a token
// bucket of spans, so a target that answers slowly gets less than the rate
// (which then shows), never a pile-up of outstanding requests.
func (c *traceClient) paced(ctx context.Context, spansPerSec float64, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lim := rate.NewLimiter(rate.Limit(spansPerSec), 1000)
	lim.AllowN(time.Now(), 1000) // start with an empty bucket: no initial burst
	var wg sync.WaitGroup
	for range pacedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !expired(ctx) {
				i := int(c.next.Load()) % len(c.pool.reqs)
				if lim.WaitN(ctx, min(c.pool.spans[i], 1000)) != nil {
					return
				}
				c.send(ctx)
			}
		}()
	}
	wg.Wait()
}

// saturate sends with workers concurrent requests, each as soon as the last was answered.
func (c *traceClient) saturate(ctx context.Context, workers int, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !expired(ctx) {
				c.send(ctx)
			}
		}()
	}
	wg.Wait()
}

// traceRun is one side's figures of one run.
type traceRun struct {
	maxRate     float64 // sustained spans/s: delivered to the sink from the window start until the backlog drained
	accRate     float64 // spans/s acknowledged at saturation
	drain       float64 // seconds after the window until the sink had every acknowledged span
	undelivered int64
	satRate     float64  // saturation estimate: delivered/s until the backlog drained
	steps       []string // the verification steps
	delRate     float64  // spans/s delivered to the sink at saturation
	refused     int64    // spans refused during the saturation window
	cpuAt10k    float64  // % of one core at the fixed rate
	rssAt10k    float64  // MiB
	fixedRate   float64  // spans/s actually accepted at the fixed rate
	fixedRefus  int64
	lastErr     string
}

const (
	fixedSpanRate = 10000
	satWorkers    = 8
	pacedWorkers  = 16
)

// measureTraces runs the fixed-rate window and then the saturation window against addr.
func measureTraces(ctx context.Context, o *Options, pid int, addr, token string, sink *SpanSink, pool *spanPool) (traceRun, error) {
	var r traceRun
	sinkStart := sink.Spans()
	c, err := newTraceClient(addr, token, pool)
	if err != nil {
		return r, err
	}
	defer c.conn.Close()

	// Fixed rate: warm up, then measure CPU and RSS.
	c.paced(ctx, fixedSpanRate, o.Warmup)
	a0, f0 := c.accepted.Load(), c.refused.Load()
	m := StartMeter(pid)
	c.paced(ctx, fixedSpanRate, o.Window)
	u := m.Stop()
	r.cpuAt10k, r.rssAt10k = u.CPUPercent(), u.PeakRSSMiB
	r.fixedRate = float64(c.accepted.Load()-a0) / u.WallSeconds
	r.fixedRefus = c.refused.Load() - f0

	// Saturation: closed loop, warm up, then count accepted and delivered spans.
	done := make(chan struct{})
	go func() { c.saturate(ctx, satWorkers, o.Warmup+o.Window); close(done) }()
	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
	}
	a0, f0, s0, t0 := c.accepted.Load(), c.refused.Load(), sink.Spans(), time.Now()
	<-done
	wall := time.Since(t0).Seconds()
	r.accRate = float64(c.accepted.Load()-a0) / wall
	r.delRate = float64(sink.Spans()-s0) / wall
	r.refused = c.refused.Load() - f0
	// Sustained means delivered, not queued: wait until every acknowledged
	// span of this process reached the sink (a durable queue may hold a
	// backlog), and divide what arrived since the window start by that time.
	total := c.accepted.Load()
	last, lastChange := sink.Spans(), time.Now()
	for sink.Spans()-sinkStart < total && time.Since(lastChange) < 10*time.Second && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		if n := sink.Spans(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	r.drain = time.Since(t0).Seconds() - wall
	r.undelivered = max(0, total-(sink.Spans()-sinkStart))
	r.satRate = float64(sink.Spans()-s0) / time.Since(t0).Seconds()
	if e, ok := c.lastErr.Load().(string); ok {
		r.lastErr = e
	}

	// Verify: pace at that rate for a window (at most 3 steps down).
	target := r.satRate
	r.maxRate = math.NaN()
	for step := 0; step < 3 && ctx.Err() == nil && target > 0; step++ {
		a0, f0 := c.accepted.Load(), c.refused.Load()
		t0 := time.Now()
		c.paced(ctx, target, o.Window)
		wall := time.Since(t0).Seconds()
		acc, ref := float64(c.accepted.Load()-a0)/wall, c.refused.Load()-f0
		deadline := time.Now().Add(2 * time.Second)
		for sink.Spans()-sinkStart < c.accepted.Load() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		backlog := c.accepted.Load() - (sink.Spans() - sinkStart)
		// Sustained: no refusal and no backlog beyond a second's worth. The
		// figure is what was acknowledged in such a window (the paced
		// senders may give a little less than the target on a loaded
		// machine); with refusals or a backlog, step down 15 %.
		ok := ref == 0 && float64(backlog) <= target
		r.steps = append(r.steps, fmt.Sprintf("paced at %.0f spans/s: %.0f acknowledged/s, %d refused, backlog %d spans 2 s after: %s", target, acc, ref, max(backlog, 0), map[bool]string{true: "sustained", false: "not sustained"}[ok]))
		if ok {
			r.maxRate = acc
			break
		}
		target *= 0.85
	}
	if e, ok := c.lastErr.Load().(string); ok {
		r.lastErr = e
	}
	return r, ctx.Err()
}

func vanillaTraceConfig(otlp, health, sink, metricsPort string) string {
	return fmt.Sprintf(`# Vanilla OpenTelemetry Collector trace pipeline: otlp -> batch -> the bench's sink.
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
processors:
  batch:
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
service:
  extensions: [healthcheckv2]
%s  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc]
`, health, otlp, sink, telemetryYAML(metricsPort))
}

// durableTraceConfig is the peer a user who needs durability would pick: the
// vanilla pipeline with the exporter's persistent queue on file_storage,
// fsync on.
func durableTraceConfig(otlp, health, sink, metricsPort, dir string) string {
	return fmt.Sprintf(`# Vanilla OpenTelemetry Collector with a durable queue: otlp -> batch -> otlp_grpc (file_storage queue, fsync).
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %s
  file_storage:
    directory: %s
    create_directory: true
    fsync: true
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
processors:
  batch:
exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
    sending_queue:
      storage: file_storage
service:
  extensions: [healthcheckv2, file_storage]
%s  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc]
`, health, dir, otlp, sink, telemetryYAML(metricsPort))
}

// RunTraces is the traces pair against the vanilla in-memory collector, and
// a second pair with the same appliance runs against the durable peer.
func RunTraces(ctx context.Context, o *Options, env *Env) []Pair {
	start := time.Now()
	p := Pair{
		Name:      "traces",
		Appliance: "bin/scadaotel with its embedded default config: otlp (tenantauth) → memory_limiter → tenantstamp → traceidrepair → errorfanout → groupcommit → durable_otlp/jaeger (log_storage queue) to the sink; kafka_alerts to an in-process kfake broker",
		Peer:      "the same binary with a vanilla config: otlp → batch → otlp_grpc to the same sink",
		Input: "the testbench's MQ-bridge generator (testbench/mqbridge): gateway → dispatch → bridge → legacy batch requests, bridge-damaged trace ids, " +
			"1 % error spans, OTLP gRPC requests of ~100 spans, bearer token + x-scada-tenant on every request (ignored by the peer)",
		Method: []string{
			fmt.Sprintf("per run, per side: a fresh process; %v at %d spans/s to warm up, then CPU (%% of one core, from /proc/<pid>/stat) and peak RSS over %v at %d spans/s (paced by a token bucket shared by %d senders)", o.Warmup, fixedSpanRate, o.Window, fixedSpanRate, pacedWorkers),
			fmt.Sprintf("then a saturation estimate: %d closed-loop senders, %v warm-up, %v window; estimate = spans delivered to the sink per second from the window start until every acknowledged span had arrived (a durable queue's backlog counts against it)", satWorkers, o.Warmup, o.Window),
			fmt.Sprintf("figure (max sustained with no refusals): senders paced at the estimate for %v; if nothing was refused and at most a second's worth of spans was not yet at the sink 2 s after the window, the figure is the spans/s acknowledged in that window; otherwise the rate steps down 15 %% (3 steps at most; none sustained = no figure)", o.Window),
			"runs alternate appliance, peer, appliance, peer, ...; the load generator and the sink run in the bench process on the same cores",
		},
	}
	pool, err := newSpanPool(20000)
	if err != nil {
		p.Errors = append(p.Errors, "span pool: "+err.Error())
		return []Pair{p}
	}
	p.Input += fmt.Sprintf(" (%d requests, %.0f spans each on average)", len(pool.reqs), pool.meanSpans())
	var aRuns, pRuns, dRuns []traceRun
	for i := range o.Runs {
		for _, side := range []string{"appliance", "peer", "durable peer"} {
			if ctx.Err() != nil {
				p.Errors = append(p.Errors, ctx.Err().Error())
				break
			}
			dir := filepath.Join(env.Dir, fmt.Sprintf("traces-%s-%d", side, i+1))
			var proc *Proc
			var addr, token string
			if side == "appliance" {
				a, err := StartAppliance(ctx, o.Appliance, dir, env.Sink.Addr, env.Kafka)
				if err != nil {
					p.Errors = append(p.Errors, fmt.Sprintf("run %d %s: %v", i+1, side, err))
					aRuns = append(aRuns, failedTraceRun())
					continue
				}
				proc, addr, token = a.Proc, a.OTLPGRPC, a.Token
			} else {
				var err error
				var health, mport string
				if addr, err = FreeAddr(); err == nil {
					if health, err = FreeAddr(); err == nil {
						mport, err = FreeAddr()
					}
				}
				if err == nil {
					cfg := vanillaTraceConfig(addr, health, env.Sink.Addr, portOf(mport))
					if side == "durable peer" {
						cfg = durableTraceConfig(addr, health, env.Sink.Addr, portOf(mport), filepath.Join(dir, "queue"))
					}
					proc, err = StartCollectorConfig(ctx, "vanilla", o.Appliance, dir, cfg, health)
				}
				if err != nil {
					p.Errors = append(p.Errors, fmt.Sprintf("run %d %s: %v", i+1, side, err))
					if side == "peer" {
						pRuns = append(pRuns, failedTraceRun())
					} else {
						dRuns = append(dRuns, failedTraceRun())
					}
					continue
				}
			}
			o.logf("traces run %d/%d: %s", i+1, o.Runs, side)
			r, err := measureTraces(ctx, o, proc.Pid(), addr, token, env.Sink, pool)
			proc.Stop(15 * time.Second)
			if err != nil {
				p.Errors = append(p.Errors, fmt.Sprintf("run %d %s: %v", i+1, side, err))
			}
			o.logf("  %s: max sustained %.0f spans/s (saturation: %.0f delivered/s until drained, acknowledged %.0f/s, delivered %.0f/s in the window, %d refused), at 10k: %.0f spans/s accepted, CPU %.1f %%, RSS %.0f MiB", side, r.maxRate, r.satRate, r.accRate, r.delRate, r.refused, r.fixedRate, r.cpuAt10k, r.rssAt10k)
			if r.refused > 0 || r.fixedRefus > 0 {
				p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: %d spans refused at saturation, %d at the fixed rate (last error: %s)", i+1, side, r.refused, r.fixedRefus, r.lastErr))
			}
			p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: verification at a paced rate: %s", i+1, side, strings.Join(r.steps, "; ")))
			if r.fixedRate < 0.95*fixedSpanRate {
				p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: only %.0f spans/s accepted at the fixed %d spans/s (generator or target behind)", i+1, side, r.fixedRate, fixedSpanRate))
			}
			p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: saturation estimate %.0f spans/s; during the saturation window %.0f spans/s acknowledged, %.0f spans/s delivered to the sink; backlog drained %.1f s after it; %d acknowledged spans never arrived", i+1, side, r.satRate, r.accRate, r.delRate, r.drain, r.undelivered))
			switch side {
			case "appliance":
				aRuns = append(aRuns, r)
			case "peer":
				pRuns = append(pRuns, r)
			default:
				dRuns = append(dRuns, r)
			}
		}
	}
	col := func(rs []traceRun, f func(traceRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	p.Figures = []Figure{
		NewFigure("max sustained throughput", "spans/s", col(aRuns, func(r traceRun) float64 { return r.maxRate }), col(pRuns, func(r traceRun) float64 { return r.maxRate }),
			&Goal{Op: ">=", Bound: 0.7, Text: ">= 0.70"}),
		NewFigure("CPU at 10,000 spans/s", "% of one core", col(aRuns, func(r traceRun) float64 { return r.cpuAt10k }), col(pRuns, func(r traceRun) float64 { return r.cpuAt10k }),
			&Goal{Op: "<=", Bound: 1.5, Text: "<= 1.50"}),
		NewFigure("peak RSS at 10,000 spans/s", "MiB", col(aRuns, func(r traceRun) float64 { return r.rssAt10k }), col(pRuns, func(r traceRun) float64 { return r.rssAt10k }),
			&Goal{Op: "<=", Bound: 1.3, Text: "<= 1.30"}),
	}
	p.Seconds = time.Since(start).Seconds()
	d := Pair{
		Name:      "traces, durable peer",
		Appliance: p.Appliance + " (the same runs as the traces pair)",
		Peer:      "the same binary with the vanilla pipeline and a persistent queue: otlp → batch → otlp_grpc with sending_queue on file_storage, fsync: true",
		Input:     p.Input,
		Method:    []string{"as the traces pair; the durable peer's runs alternate with the other two sides"},
		Figures: []Figure{
			NewFigure("max sustained throughput", "spans/s", col(aRuns, func(r traceRun) float64 { return r.maxRate }), col(dRuns, func(r traceRun) float64 { return r.maxRate }),
				&Goal{Op: ">=", Bound: 3, Text: ">= 3.00"}),
			NewFigure("CPU at 10,000 spans/s", "% of one core", col(aRuns, func(r traceRun) float64 { return r.cpuAt10k }), col(dRuns, func(r traceRun) float64 { return r.cpuAt10k }), nil),
			NewFigure("peak RSS at 10,000 spans/s", "MiB", col(aRuns, func(r traceRun) float64 { return r.rssAt10k }), col(dRuns, func(r traceRun) float64 { return r.rssAt10k }), nil),
		},
	}
	return []Pair{p, d}
}

func failedTraceRun() traceRun {
	return traceRun{maxRate: math.NaN(), satRate: math.NaN(), cpuAt10k: math.NaN(), rssAt10k: math.NaN()}
}
