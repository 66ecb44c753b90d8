package tracequeryextension

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/tenants"
)

type queryExtension struct {
	cfg    *Config
	set    extension.Settings
	proxy  *proxy
	server *httpserver.Server
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
	e.server = httpserver.Start("tenant_trace_query", &http.Server{
		Handler:           auth.Middleware(e.proxy.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      2 * e.cfg.Timeout,
		IdleTimeout:       time.Minute,
	}, ln, host, e.set.Logger)
	e.set.Logger.Info("Tenant-scoped trace query API listening", zap.String("endpoint", ln.Addr().String()),
		zap.String("jaeger_endpoint", e.cfg.JaegerEndpoint))
	return nil
}

func (e *queryExtension) Shutdown(ctx context.Context) error {
	return e.server.Shutdown(ctx)
}
