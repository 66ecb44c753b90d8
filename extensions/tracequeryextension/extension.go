package tracequeryextension

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

type queryExtension struct {
	cfg    *Config
	set    extension.Settings
	proxy  *proxy
	server *http.Server
	wg     sync.WaitGroup
}

func newExtension(cfg *Config, set extension.Settings) (*queryExtension, error) {
	base, err := url.Parse(cfg.JaegerEndpoint)
	if err != nil {
		return nil, fmt.Errorf("jaeger_endpoint: %w", err)
	}
	tel, err := newTelemetry(set.MeterProvider)
	if err != nil {
		return nil, err
	}
	p := newProxy(base, cfg, set.Logger)
	p.tel = tel
	return &queryExtension{cfg: cfg, set: set, proxy: p}, nil
}

func (e *queryExtension) Start(_ context.Context, host component.Host) error {
	auth, err := tenants.AuthenticatorFromHost(host, e.cfg.Authenticator)
	if err != nil {
		return fmt.Errorf("tenant_trace_query: authenticator: %w", err)
	}
	ln, err := net.Listen("tcp", e.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("tenant_trace_query: endpoint %s: %w", e.cfg.Endpoint, err)
	}
	e.server = &http.Server{
		Handler:           auth.Middleware(e.proxy.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      2 * e.cfg.Timeout,
		IdleTimeout:       time.Minute,
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.set.Logger.Error("tenant_trace_query server failed", zap.Error(err))
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	e.set.Logger.Info("Tenant-scoped trace query API listening", zap.String("endpoint", ln.Addr().String()),
		zap.String("jaeger_endpoint", e.cfg.JaegerEndpoint))
	return nil
}

func (e *queryExtension) Shutdown(ctx context.Context) error {
	if e.server == nil {
		return nil
	}
	err := e.server.Shutdown(ctx)
	e.wg.Wait()
	return err
}
