package tracequeryextension

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/internal/traceindex"
	"github.com/scadaotel/scadaotel/tenants"
)

// indexFile is the saved index inside index.directory.
const indexFile = "index.gob.gz"

type queryExtension struct {
	cfg    *Config
	set    extension.Settings
	proxy  *proxy
	server *httpserver.Server

	stop chan struct{}
	done sync.WaitGroup
}

var _ traceindex.Recorder = (*queryExtension)(nil)

func newExtension(cfg *Config, set extension.Settings) (*queryExtension, error) {
	base, err := url.Parse(cfg.JaegerEndpoint)
	if err != nil {
		return nil, fmt.Errorf("jaeger_endpoint: %w", err)
	}
	p := newProxy(base, cfg, set.Logger)
	p.ix.Store(traceindex.New(cfg.indexConfig(), nil))
	p.legacy.Store(true) // until Start knows the index covers what Jaeger holds
	tel, err := newTelemetry(set.MeterProvider, p.indexStats)
	if err != nil {
		return nil, err
	}
	p.tel = tel
	return &queryExtension{cfg: cfg, set: set, proxy: p, stop: make(chan struct{})}, nil
}

func (c *Config) indexConfig() traceindex.Config {
	return traceindex.Config{MaxServices: c.Index.MaxServices, MaxOperations: c.Index.MaxOperations,
		MaxTraceIDs: c.Index.MaxTraceIDs, Lookback: c.ServicesLookback}
}

// RecordTraces implements traceindex.Recorder: tenantstamp hands every
// stamped trace request here.
func (e *queryExtension) RecordTraces(tenant string, td ptrace.Traces) {
	e.proxy.ix.Load().RecordTraces(tenant, td)
}

func (e *queryExtension) indexPath() string {
	if e.cfg.Index.Directory == "" {
		return ""
	}
	return filepath.Join(e.cfg.Index.Directory, indexFile)
}

func (e *queryExtension) Start(ctx context.Context, host component.Host) error {
	auth, err := tenants.AuthenticatorFromHost(host, e.cfg.Authenticator)
	if err != nil {
		return fmt.Errorf("tenant_trace_query: authenticator: %w", err)
	}
	fresh := true
	if path := e.indexPath(); path != "" {
		idx, err := traceindex.Load(path, e.cfg.indexConfig(), nil)
		switch {
		case err == nil:
			e.proxy.ix.Store(idx)
			fresh = false
		case errors.Is(err, traceindex.ErrNoIndex):
		default:
			// Not fatal: a damaged index is rebuilt from Jaeger, like a
			// first start, and replaced at the next save.
			e.set.Logger.Error("tenant_trace_query: cannot read the saved index; rebuilding it from the trace store",
				zap.String("path", path), zap.Error(err))
		}
	}
	ln, err := httpserver.Listen(ctx, e.cfg.Endpoint, e.cfg.TLS)
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
		zap.String("scheme", httpserver.Scheme(e.cfg.TLS)),
		zap.String("jaeger_endpoint", e.cfg.JaegerEndpoint))
	if !fresh {
		e.proxy.legacy.Store(false)
	}
	e.done.Add(1)
	go func() {
		defer e.done.Done()
		if fresh {
			e.rebuild()
		}
		e.flushLoop()
	}()
	return nil
}

// rebuild runs once when there is no saved index: if Jaeger already holds
// traces, they were stored before the index existed, so the services and
// operations are read from Jaeger once (the old per-service scan, up to
// search_depth traces each), and ids the index does not know are asked to
// Jaeger for one lookback. Until it is done, answers come from Jaeger as
// before the index.
func (e *queryExtension) rebuild() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for attempt := 0; ; attempt++ {
		err := e.proxy.rebuildIndex(ctx)
		if err == nil {
			e.proxy.legacy.Store(false)
			return
		}
		if attempt == 0 || attempt%30 == 0 {
			e.set.Logger.Warn("tenant_trace_query: cannot read the trace store to build the index yet; answering from Jaeger meanwhile",
				zap.Error(err))
		}
		select {
		case <-e.stop:
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (e *queryExtension) flushLoop() {
	path := e.indexPath()
	t := time.NewTicker(e.cfg.Index.FlushInterval)
	defer t.Stop()
	prune := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if time.Since(prune) > time.Hour {
			e.proxy.ix.Load().Prune()
			prune = time.Now()
		}
		if path != "" && e.proxy.ix.Load().Dirty() {
			if err := e.proxy.ix.Load().Save(path, false); err != nil {
				e.set.Logger.Error("tenant_trace_query: cannot save the index", zap.Error(err))
			}
		}
	}
}

func (e *queryExtension) Shutdown(ctx context.Context) error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.done.Wait()
	var err error
	if e.server != nil {
		err = e.server.Shutdown(ctx)
	}
	if path := e.indexPath(); path != "" && e.server != nil {
		e.proxy.ix.Load().Prune()
		if serr := e.proxy.ix.Load().Save(path, true); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return err
}
