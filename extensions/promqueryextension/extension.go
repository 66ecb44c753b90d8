package promqueryextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

type queryExtension struct {
	cfg    *Config
	set    extension.Settings
	server *httpserver.Server
	gate   *tenantGate
	budget *queryTime // nil: unbounded

	mRequests metric.Int64Counter
}

func newExtension(cfg *Config, set extension.Settings) (*queryExtension, error) {
	e := &queryExtension{cfg: cfg, set: set,
		gate: newTenantGate(cfg.Concurrency.perTenant(), cfg.Concurrency.QueuedPerTenant, cfg.Concurrency.QueueTimeout)}
	if cfg.Concurrency.SecondsPerSecond > 0 {
		e.budget = newQueryTime(cfg.Concurrency.SecondsPerSecond, cfg.Concurrency.BurstSeconds)
	}
	var err error
	e.mRequests, err = set.MeterProvider.Meter("github.com/scadaotel/scadaotel/extensions/promqueryextension").
		Int64Counter(MetricRequests, metric.WithDescription("Query API requests by HTTP status class."), metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("prometheus_query: cannot create self-metrics: %w", err)
	}
	return e, nil
}

func (e *queryExtension) Start(ctx context.Context, host component.Host) error {
	if err := vmstore.SetLatencyOffset(e.cfg.LatencyOffset); err != nil {
		return fmt.Errorf("prometheus_query: latency_offset: %w", err)
	}
	if err := vmstore.SetQueryCache(e.cfg.QueryCache); err != nil {
		return fmt.Errorf("prometheus_query: query_cache: %w", err)
	}
	// One tenant's queries together use at most half the cores: the other
	// half stays for every other tenant's.
	if err := vmstore.SetMaxWorkersPerQuery(max(1, runtime.GOMAXPROCS(0)/(2*e.gate.running))); err != nil {
		return fmt.Errorf("prometheus_query: query_concurrency: %w", err)
	}
	ln, err := httpserver.ListenHTTP(ctx, &e.cfg.ServerConfig)
	if err != nil {
		return fmt.Errorf("prometheus_query: endpoint %s: %w", e.cfg.NetAddr.Endpoint, err)
	}
	srv, err := e.cfg.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings, http.HandlerFunc(e.serve),
		confighttp.WithErrorHandler(writeServerError))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("prometheus_query: %w", err)
	}
	e.server = httpserver.Start("prometheus_query", srv, ln, host, e.set.Logger)
	e.set.Logger.Info("Tenant-scoped Prometheus query API listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (e *queryExtension) serve(w http.ResponseWriter, r *http.Request) {
	rec := httpjson.NewStatusRecorder(w)
	defer func() {
		e.mRequests.Add(r.Context(), 1, metric.WithAttributes(attribute.Int("code", rec.Class())))
	}()
	st := vmstore.Current()
	if st == nil {
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusServiceUnavailable)
		_, _ = rec.Write([]byte(`{"status":"error","errorType":"unavailable","error":"the metrics store is not open: add the victoriametrics exporter to a metrics pipeline"}`))
		return
	}
	tenant := tenants.FromContext(r.Context())
	if tenant == "" {
		code, reason := tenants.NoTenantStatus(r.Context())
		errType := "unauthorized"
		if code == http.StatusForbidden {
			errType = "forbidden"
		}
		writeAPIError(rec, code, errType, reason)
		return
	}
	if code, reason := tenants.CheckRole(r.Context(), tenants.RoleViewer); code != http.StatusOK {
		writeAPIError(rec, code, "forbidden", reason)
		return
	}
	// A tenant that spent its query time waits before it takes a slot, so
	// it never holds one idle; only it waits.
	if err := e.budget.wait(r.Context(), tenant, e.cfg.Concurrency.QueueTimeout); err != nil {
		var spent errQueryTimeSpent
		retry := 1
		if errors.As(err, &spent) {
			retry = int(spent.wait/time.Second) + 1
		}
		rec.Header().Set("Retry-After", strconv.Itoa(retry))
		writeAPIError(rec, http.StatusTooManyRequests, "unavailable",
			fmt.Sprintf("%v (query_concurrency.seconds_per_second=%v, burst_seconds=%v)", err, e.cfg.Concurrency.SecondsPerSecond, e.cfg.Concurrency.BurstSeconds))
		return
	}
	release, err := e.gate.acquire(r.Context(), tenant)
	if err != nil {
		// The tenant's own queries hold its slots: only it waits.
		rec.Header().Set("Retry-After", "1")
		writeAPIError(rec, http.StatusTooManyRequests, "unavailable",
			fmt.Sprintf("%v (query_concurrency.per_tenant=%d, queued_per_tenant=%d): retry later", err, e.gate.running, e.gate.queued))
		return
	}
	start := time.Now()
	defer func() {
		release()
		e.budget.charge(tenant, time.Since(start))
	}()
	st.ServeAPI(rec, r, tenant)
}

func (e *queryExtension) Shutdown(ctx context.Context) error {
	return e.server.Shutdown(ctx)
}

// writeServerError answers the errors confighttp produces before the API
// handler runs (the authenticator's 401, a bad request encoding) in the
// Prometheus API's JSON error format, like the API's own 401 and 403.
func writeServerError(w http.ResponseWriter, _ *http.Request, msg string, code int) {
	errType := "bad_data"
	switch {
	case code == http.StatusUnauthorized:
		errType = "unauthorized"
	case code == http.StatusForbidden:
		errType = "forbidden"
	case code >= 500:
		errType = "internal"
	}
	writeAPIError(w, code, errType, msg)
}

// writeAPIError writes a Prometheus API error; a 401 carries the bearer
// challenge (WWW-Authenticate).
func writeAPIError(w http.ResponseWriter, code int, errType, msg string) {
	tenants.SetChallenge(w.Header(), code)
	httpjson.Write(w, code, map[string]string{"status": "error", "errorType": errType, "error": msg})
}
