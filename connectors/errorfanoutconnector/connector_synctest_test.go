package errorfanoutconnector

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/scadaotel/scadaotel/tenants"
)

var traceSeq uint64

// makeTraces returns one request of n spans (nErr with status Error), each
// its own trace, for one tenant and service.
func makeTraces(tenant, service string, n, nErr int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), tenant)
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("scada.station", "station-"+service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		traceSeq++
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[8:], traceSeq)
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{1})
		s.SetName("poll")
		if i < nErr {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

type sinks struct {
	store, alert *tenantSink
	logs         *consumertest.LogsSink
	logTenants   []string
	metrics      *consumertest.MetricsSink
}

// tenantSink records the tenant of the context of every request.
type tenantSink struct {
	consumertest.TracesSink
	tenants []string
}

func (s *tenantSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	s.tenants = append(s.tenants, tenants.FromContext(ctx))
	return s.TracesSink.ConsumeTraces(ctx, td)
}

type ctxLogs struct {
	*consumertest.LogsSink
	s *sinks
}

func (c ctxLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	c.s.logTenants = append(c.s.logTenants, tenants.FromContext(ctx))
	return c.LogsSink.ConsumeLogs(ctx, ld)
}

type fanout struct {
	traces, logs, metrics connector.Traces
	down                  bool
}

func (f *fanout) consume(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, f.traces.ConsumeTraces(context.Background(), td))
	require.NoError(t, f.logs.ConsumeTraces(context.Background(), td))
	require.NoError(t, f.metrics.ConsumeTraces(context.Background(), td))
}

func (f *fanout) shutdown(t *testing.T) {
	t.Helper()
	if f.down {
		return
	}
	f.down = true
	for _, c := range []component.Component{f.metrics, f.logs, f.traces} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
}

func newFanout(t *testing.T, cfg *Config) (*fanout, *sinks) {
	t.Helper()
	s := &sinks{store: &tenantSink{}, alert: &tenantSink{}, logs: &consumertest.LogsSink{}, metrics: &consumertest.MetricsSink{}}
	router := connector.NewTracesRouter(map[pipeline.ID]consumer.Traces{
		pipeline.NewIDWithName(pipeline.SignalTraces, "store"): s.store,
		pipeline.NewIDWithName(pipeline.SignalTraces, "alert"): s.alert,
	})
	f := NewFactory()
	set := connectortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, t.Name())
	ctx := context.Background()
	tc, err := f.CreateTracesToTraces(ctx, set, cfg, router)
	require.NoError(t, err)
	lc, err := f.CreateTracesToLogs(ctx, set, cfg, ctxLogs{s.logs, s})
	require.NoError(t, err)
	mc, err := f.CreateTracesToMetrics(ctx, set, cfg, s.metrics)
	require.NoError(t, err)
	for _, c := range []component.Component{tc, lc, mc} {
		require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	}
	fo := &fanout{traces: tc, logs: lc, metrics: mc}
	t.Cleanup(func() { fo.shutdown(t) })
	return fo, s
}

type alertRec map[string]any

func alertEvents(s *sinks) []alertRec {
	var out []alertRec
	for _, ld := range s.logs.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					m := alertRec{"resource_tenant": tenants.FromResource(rls.At(i).Resource())}
					lrs.At(k).Attributes().Range(func(key string, v pcommon.Value) bool {
						m[key[len(AttrPrefix):]] = v.AsRaw()
						return true
					})
					out = append(out, m)
				}
			}
		}
	}
	return out
}

func TestConnectorRoutingAndAlertEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Window = 10 * time.Second
		cfg.Buckets = 5
		cfg.IdleTimeout = time.Hour
		f, s := newFanout(t, cfg)
		const ta, tb = "west-pipeline-01", "east-pipeline-02"

		// Baseline 1 % on both tenants for 20 s: everything to store only.
		for i := 0; i < 10; i++ {
			f.consume(t, makeTraces(ta, "plc-gateway", 100, 1))
			f.consume(t, makeTraces(tb, "plc-gateway", 100, 1))
			time.Sleep(2 * time.Second)
		}
		synctest.Wait()
		assert.Equal(t, 2000, s.store.SpanCount())
		assert.Zero(t, s.alert.SpanCount())
		assert.Empty(t, alertEvents(s))

		// Burst 20 % on tenant a, a request every 500 ms: the window (400
		// spans at 1 % in 4 buckets + this bucket) crosses 5 % on the second
		// request (600 spans, 44 errors) and fires on that very request.
		burstStart := time.Now()
		f.consume(t, makeTraces(ta, "plc-gateway", 100, 20))
		synctest.Wait()
		assert.Empty(t, alertEvents(s))
		assert.Zero(t, s.alert.SpanCount())
		time.Sleep(500 * time.Millisecond)
		firedAt := time.Now()
		f.consume(t, makeTraces(ta, "plc-gateway", 100, 20))
		synctest.Wait()
		evs := alertEvents(s)
		require.Len(t, evs, 1, "fires on the request that crosses the threshold")
		assert.Equal(t, 500*time.Millisecond, firedAt.Sub(burstStart))
		assert.Equal(t, "firing", evs[0]["state"])
		assert.Equal(t, ta, evs[0]["tenant"])
		assert.Equal(t, ta, evs[0]["resource_tenant"])
		assert.Equal(t, "plc-gateway", evs[0]["service"])
		assert.Equal(t, "station-plc-gateway", evs[0]["station"])
		assert.Equal(t, ta, s.logTenants[0], "alert event carries the tenant in its context")
		assert.Len(t, evs[0]["trace_ids"], 10, "max_trace_ids sample ids")
		assert.Equal(t, firedAt.UTC().Format(time.RFC3339Nano), evs[0]["started_at"])
		assert.InDelta(t, 44.0/600, evs[0]["error_rate"], 1e-9)
		assert.EqualValues(t, 600, evs[0]["spans"])
		assert.Equal(t, 100, s.alert.SpanCount(), "the crossing request goes to alert")
		assert.Equal(t, 2200, s.store.SpanCount(), "and to store")

		// While firing: a's traces to both; b's only to store.
		for i := 0; i < 5; i++ {
			f.consume(t, makeTraces(ta, "plc-gateway", 100, 20))
			f.consume(t, makeTraces(tb, "plc-gateway", 100, 1))
			time.Sleep(2 * time.Second)
		}
		assert.Equal(t, 600, s.alert.SpanCount())
		for _, tn := range s.alert.tenants {
			assert.Equal(t, ta, tn)
		}
		assert.Equal(t, 3200, s.store.SpanCount())

		// Recovery at 1 %: resolves once the window is below 4 % for 10 s.
		recovered := time.Now()
		for i := 0; i < 25; i++ {
			f.consume(t, makeTraces(ta, "plc-gateway", 100, 1))
			time.Sleep(time.Second)
		}
		synctest.Wait()
		evs = alertEvents(s)
		require.Len(t, evs, 2)
		assert.Equal(t, "resolved", evs[1]["state"])
		assert.Equal(t, evs[0]["alert_id"], evs[1]["alert_id"])
		resolvedAt, err := time.Parse(time.RFC3339Nano, evs[1]["resolved_at"].(string))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, resolvedAt.Sub(recovered), 10*time.Second, "hysteresis: a full window below")
		assert.LessOrEqual(t, resolvedAt.Sub(recovered), 22*time.Second)
		alertBefore := s.alert.SpanCount()
		f.consume(t, makeTraces(ta, "plc-gateway", 100, 1))
		assert.Equal(t, alertBefore, s.alert.SpanCount(), "resolved: no more traces to alert")

		// Store saw every span, each request under its tenant.
		assert.Equal(t, 3200+2500+100, s.store.SpanCount())
		for _, tn := range s.store.tenants {
			assert.Contains(t, []string{ta, tb}, tn)
		}

		// Ratio metrics: per tenant resource, per service, with the threshold.
		mds := s.metrics.AllMetrics()
		require.NotEmpty(t, mds)
		seen := map[string]bool{}
		for _, md := range mds {
			rm := md.ResourceMetrics().At(0)
			tn := tenants.FromResource(rm.Resource())
			seen[tn] = true
			ms := rm.ScopeMetrics().At(0).Metrics()
			require.Equal(t, "scada_service_error_ratio", ms.At(0).Name())
			require.Equal(t, "scada_service_error_threshold", ms.At(1).Name())
			assert.Equal(t, 0.05, ms.At(1).Gauge().DataPoints().At(0).DoubleValue())
			svc, _ := ms.At(0).Gauge().DataPoints().At(0).Attributes().Get("service")
			assert.Equal(t, "plc-gateway", svc.Str())
		}
		assert.True(t, seen[ta] && seen[tb])
		f.shutdown(t)
	})
}

func TestConnectorStoreWhileFiringOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.StoreWhileFiring = false
		f, s := newFanout(t, cfg)
		f.consume(t, makeTraces("t1", "svc", 100, 50))
		synctest.Wait()
		assert.Zero(t, s.store.SpanCount())
		assert.Equal(t, 100, s.alert.SpanCount())
		f.shutdown(t)
	})
}

func TestConnectorMixedTenantsSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, s := newFanout(t, testConfig())
		td := makeTraces("t1", "svc", 100, 50)
		makeTraces("t2", "svc", 10, 0).ResourceSpans().At(0).CopyTo(td.ResourceSpans().AppendEmpty())
		f.consume(t, td)
		synctest.Wait()
		assert.Equal(t, 110, s.store.SpanCount())
		assert.Equal(t, 100, s.alert.SpanCount())
		// Two tenants never share a request.
		for _, td := range append(s.store.AllTraces(), s.alert.AllTraces()...) {
			first := tenants.FromResource(td.ResourceSpans().At(0).Resource())
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				assert.Equal(t, first, tenants.FromResource(td.ResourceSpans().At(i).Resource()))
			}
		}
		assert.ElementsMatch(t, []string{"t1", "t2"}, s.store.tenants)
		f.shutdown(t)
	})
}

// A refused alert event waits (in order) and is retried on the next tick.
func TestConnectorRetriesRefusedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.History.Directory = t.TempDir()
		f, s := newFanout(t, cfg)
		co := f.traces.(*tracesConnector).shared.Value()
		failing := consumertest.NewErr(assertErr("queue full"))
		co.setLogs(failing)
		f.consume(t, makeTraces("t1", "svc", 100, 50))
		synctest.Wait()
		assert.Equal(t, 1, co.pendingEvents())
		eps := co.hist.forTenant("t1")
		require.Len(t, eps, 1)
		assert.Equal(t, DeliveryPending, eps[0].Events[0].Delivery)
		co.setLogs(ctxLogs{s.logs, s})
		time.Sleep(cfg.evalInterval())
		synctest.Wait()
		assert.Zero(t, co.pendingEvents())
		require.Len(t, alertEvents(s), 1)
		assert.Equal(t, DeliveryQueued, co.hist.forTenant("t1")[0].Events[0].Delivery)
		f.shutdown(t)
	})
}

type assertErr string

func (e assertErr) Error() string { return string(e) }

// The history survives a restart, a firing key keeps its alert_id, and an
// event still pending at shutdown is delivered after the restart.
func TestHistorySurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.History.Directory = t.TempDir()
		f, s := newFanout(t, cfg)
		f.consume(t, makeTraces("t1", "svc", 100, 50))
		synctest.Wait()
		first := alertEvents(s)
		require.Len(t, first, 1)
		f.shutdown(t)

		f2, s2 := newFanout(t, cfg)
		co := f2.traces.(*tracesConnector).shared.Value()
		eps := co.hist.forTenant("t1")
		require.Len(t, eps, 1)
		assert.Equal(t, StateFiring, eps[0].State)
		// The restored key is firing: traces go to alert, then it resolves
		// with the same alert_id once healthy for a full window.
		f2.consume(t, makeTraces("t1", "svc", 100, 0))
		assert.Equal(t, 100, s2.alert.SpanCount())
		time.Sleep(cfg.Window + 2*cfg.evalInterval())
		synctest.Wait()
		evs := alertEvents(s2)
		require.Len(t, evs, 1)
		assert.Equal(t, "resolved", evs[0]["state"])
		assert.Equal(t, first[0]["alert_id"], evs[0]["alert_id"])
		f2.shutdown(t)

		f3, _ := newFanout(t, cfg)
		eps = f3.traces.(*tracesConnector).shared.Value().hist.forTenant("t1")
		require.Len(t, eps, 1)
		assert.Equal(t, StateResolved, eps[0].State)
		require.NotNil(t, eps[0].ResolvedAt)
		require.Len(t, eps[0].Events, 2)
		for _, e := range eps[0].Events {
			assert.Equal(t, DeliveryQueued, e.Delivery)
		}
		f3.shutdown(t)
	})
}

func TestHistoryAPITenantScoped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxKeys = 10
		f, _ := newFanout(t, cfg)
		f.consume(t, makeTraces("t1", "svc-a", 100, 50))
		f.consume(t, makeTraces("t2", "svc-b", 100, 50))
		synctest.Wait()
		h := f.traces.(*tracesConnector).shared.Value().hist.handler()

		get := func(ctx context.Context, url string) (int, historyResponse) {
			req := httptest.NewRequest(http.MethodGet, url, nil).WithContext(ctx)
			req.Header.Set(tenants.Header, "t2") // a header never selects the tenant
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body historyResponse
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			return rec.Code, body
		}
		code, _ := get(context.Background(), "/api/v1/alerts?tenant=t2")
		assert.Equal(t, http.StatusUnauthorized, code)
		code, body := get(tenants.NewContext(context.Background(), "t1"), "/api/v1/alerts?tenant=t2")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "t1", body.Tenant)
		require.Len(t, body.Episodes, 1)
		assert.Equal(t, "svc-a", body.Episodes[0].Service)
		code, body = get(tenants.NewContext(context.Background(), "t1"), "/api/v1/alerts?service=svc-b")
		assert.Equal(t, http.StatusOK, code)
		assert.Empty(t, body.Episodes)
		f.shutdown(t)
	})
}

// Issue 19, point 3: one tenant's backlog of alert events does not hold
// another tenant's event back. A's 600 events and then B's one wait (the
// logs pipeline refuses); once it accepts, B's event is in the first or
// second request, each request holds one tenant's events in their order,
// and A's 600 take a few requests, not 600. On main the outbox was one
// global queue handed over one event at a time: B's was the 601st request.
func TestFlushIsFairBetweenTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.History.Directory = t.TempDir()
		f, _ := newFanout(t, cfg)
		co := f.traces.(*tracesConnector).shared.Value()
		co.setLogs(consumertest.NewErr(assertErr("queue full")))
		storm := ptrace.NewTraces()
		for i := 0; i < 600; i++ {
			makeTraces("tenant-a", fmt.Sprintf("a-%03d", i), 20, 20).ResourceSpans().MoveAndAppendTo(storm.ResourceSpans())
		}
		f.consume(t, storm)
		f.consume(t, makeTraces("tenant-b", "plc-gateway", 20, 20))
		synctest.Wait()
		require.Equal(t, 601, co.pendingEvents())

		var calls [][]string // per request: "tenant/service" of each event
		rec := &recordingLogs{calls: &calls}
		co.setLogs(rec)
		time.Sleep(cfg.evalInterval())
		synctest.Wait()
		require.Zero(t, co.pendingEvents())
		bAt := -1
		var aOrder []string
		for i, c := range calls {
			tenant := strings.SplitN(c[0], "/", 2)[0]
			for _, k := range c {
				assert.True(t, strings.HasPrefix(k, tenant+"/"), "request %d mixes tenants: %v", i, c)
				if tenant == "tenant-a" {
					aOrder = append(aOrder, k)
				}
			}
			if tenant == "tenant-b" && bAt < 0 {
				bAt = i
			}
		}
		require.GreaterOrEqual(t, bAt, 0, "B's event delivered")
		assert.LessOrEqual(t, bAt, 1, "B's event waits for at most one request of A (requests: %d)", len(calls))
		require.Len(t, aOrder, 600)
		for i, k := range aOrder {
			assert.Equal(t, fmt.Sprintf("tenant-a/a-%03d", i), k, "A's events in order")
		}
		assert.LessOrEqual(t, len(calls), 5, "A's events are batched per request")
		for _, ep := range co.hist.forTenant("tenant-a") {
			assert.Equal(t, DeliveryQueued, ep.Events[0].Delivery)
		}
	})
}

// recordingLogs records, per ConsumeLogs call, the alert events' keys.
type recordingLogs struct{ calls *[][]string }

func (recordingLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (r *recordingLogs) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	var keys []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			a := lrs.At(k).Attributes()
			tn, _ := a.Get(AttrPrefix + "tenant")
			sv, _ := a.Get(AttrPrefix + "service")
			keys = append(keys, tn.Str()+"/"+sv.Str())
		}
	}
	*r.calls = append(*r.calls, keys)
	return nil
}
