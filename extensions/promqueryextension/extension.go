package promqueryextension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

type queryExtension struct {
	cfg    *Config
	set    extension.Settings
	server *http.Server
	wg     sync.WaitGroup

	mRequests metric.Int64Counter
}

func newExtension(cfg *Config, set extension.Settings) (*queryExtension, error) {
	e := &queryExtension{cfg: cfg, set: set}
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
	ln, err := e.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("prometheus_query: endpoint %s: %w", e.cfg.NetAddr.Endpoint, err)
	}
	e.server, err = e.cfg.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings, http.HandlerFunc(e.serve))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("prometheus_query: %w", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.set.Logger.Error("prometheus_query server failed", zap.Error(err))
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	e.set.Logger.Info("Tenant-scoped Prometheus query API listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (e *queryExtension) serve(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		e.mRequests.Add(r.Context(), 1, metric.WithAttributes(attribute.Int("code", rec.code/100*100)))
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
		body, _ := json.Marshal(map[string]string{"status": "error", "errorType": errType, "error": reason})
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(code)
		_, _ = rec.Write(body)
		return
	}
	st.ServeAPI(rec, r, tenant)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (e *queryExtension) Shutdown(ctx context.Context) error {
	if e.server == nil {
		return nil
	}
	err := e.server.Shutdown(ctx)
	e.wg.Wait()
	return err
}
