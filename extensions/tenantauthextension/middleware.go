package tenantauthextension

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/scadaotel/scadaotel/tenants"
)

// The extension is also a server middleware (the receivers' `middlewares:`
// key): once a tenant has been refused by a rate limit, its requests are
// refused before their bodies are read or decoded, until its Retry-After
// has passed (tenants.Limiter.Blocked). Without this, a tenant flooding
// far past its limit still costs the appliance the decoding of every
// request, which is what other tenants' latency pays for.
var (
	_ extensionmiddleware.HTTPServer = (*Extension)(nil)
	_ extensionmiddleware.GRPCServer = (*Extension)(nil)
)

// GetHTTPHandler implements extensionmiddleware.HTTPServer. confighttp runs
// middlewares after authentication and before the body is read, so the
// tenant is already on the request context.
func (e *Extension) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tenant := tenants.FromContext(r.Context()); tenant != "" {
				if refusal := e.registry.Limiter().Blocked(tenant, signalOfPath(r.URL.Path), time.Now()); refusal != nil {
					e.countLimited(r.Context(), refusal)
					writeHTTPRefusal(w, r, refusal)
					return
				}
			}
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}

// GetGRPCServerOptions implements extensionmiddleware.GRPCServer with a tap
// handle: it runs when a stream's headers arrive, before its message is
// read. Only while some tenant is blocked does it authenticate the headers
// (the auth interceptor still authenticates every call afterwards).
func (e *Extension) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.InTapHandle(e.tap)}, nil
}

func (e *Extension) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	now := time.Now()
	limiter := e.registry.Limiter()
	if !limiter.AnyBlocked(now) {
		return ctx, nil
	}
	d := e.decide(info.Header)
	if d.status != http.StatusOK {
		return ctx, nil // the auth interceptor answers with its reason
	}
	if refusal := limiter.Blocked(d.tenant, signalOfMethod(info.FullMethodName), now); refusal != nil {
		e.countLimited(ctx, refusal)
		return ctx, refusal.GRPCStatus().Err()
	}
	return ctx, nil
}

func signalOfPath(path string) tenants.Signal {
	switch {
	case strings.HasSuffix(path, "/traces"):
		return tenants.SignalSpans
	case strings.HasSuffix(path, "/logs"):
		return tenants.SignalLogs
	default: // OTLP /v1/metrics, Prometheus remote write
		return tenants.SignalSamples
	}
}

func signalOfMethod(method string) tenants.Signal {
	switch {
	case strings.Contains(method, ".trace."):
		return tenants.SignalSpans
	case strings.Contains(method, ".logs."):
		return tenants.SignalLogs
	default:
		return tenants.SignalSamples
	}
}

// writeHTTPRefusal answers 429 with Retry-After, the body an OTLP Status
// in the request's encoding (as the OTLP receiver itself answers), plain
// text for anything else (Prometheus remote write).
func writeHTTPRefusal(w http.ResponseWriter, r *http.Request, refusal *tenants.LimitError) {
	w.Header().Set("Retry-After", strconv.Itoa(int(refusal.RetryHint()/time.Second)))
	st := refusal.GRPCStatus().Proto()
	var body []byte
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		body, _ = protojson.Marshal(st)
		ct = "application/json"
	case strings.HasPrefix(ct, "application/x-protobuf") && isOTLPPath(r.URL.Path):
		body, _ = proto.Marshal(st)
		ct = "application/x-protobuf"
	default:
		body = []byte(refusal.Error() + "\n")
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}

func isOTLPPath(path string) bool {
	return strings.HasSuffix(path, "/v1/traces") || strings.HasSuffix(path, "/v1/metrics") || strings.HasSuffix(path, "/v1/logs")
}

func (e *Extension) countLimited(ctx context.Context, refusal *tenants.LimitError) {
	e.limited.Add(ctx, 1, metric.WithAttributes(
		tenants.SelfMetricTenant(refusal.Tenant), attribute.String("limit", refusal.Limit)))
}
