package tenantauthextension

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

// Extension is the tenantauth extension.
type Extension struct {
	cfg      *Config
	logger   *zap.Logger
	registry *tenants.Registry
	requests metric.Int64Counter
	limited  metric.Int64Counter
	attrs    sync.Map // outcome/tenant -> metric.AddOption
	audit    *auditor // nil when the audit trail is off
	certs    *certWatch
}

var (
	_ extension.Extension       = (*Extension)(nil)
	_ extensionauth.Server      = (*Extension)(nil)
	_ tenants.Provider          = (*Extension)(nil)
	_ tenants.HTTPAuthenticator = (*Extension)(nil)
)

func newExtension(cfg *Config, set extension.Settings) (*Extension, error) {
	reg, err := tenants.NewRegistryWithDefaults(cfg.Tenants, cfg.TenantsFile, cfg.ReloadInterval, set.Logger, cfg.DefaultLimits)
	if err != nil {
		return nil, err
	}
	requests, err := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/extensions/tenantauthextension").Int64Counter(
		MetricRequests,
		metric.WithDescription("Authentication decisions by outcome (accepted, unauthenticated, forbidden) and tenant."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	limited, err := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/extensions/tenantauthextension").Int64Counter(
		MetricRateLimitedRequests,
		metric.WithDescription("Requests of a tenant over a rate limit refused (429 / ResourceExhausted) before their bodies were read, by tenant and limit."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	aud, err := newAuditor(cfg.Audit, set.Logger)
	if err != nil {
		return nil, err
	}
	if aud != nil && cfg.TenantsFile != "" {
		reg.OnReload(aud.reloaded(cfg.TenantsFile))
	}
	if aud != nil {
		reg.OnRoleRefused(aud.roleRefused)
	}
	return &Extension{cfg: cfg, logger: set.Logger, registry: reg, requests: requests, limited: limited, audit: aud}, nil
}

// Start begins watching the tenants file.
func (e *Extension) Start(context.Context, component.Host) error {
	if e.cfg.DefaultTenant != "" {
		e.logger.Warn("UNAUTHENTICATED ACCESS ENABLED: requests without a bearer token are accepted as the default tenant; use only for local setups",
			zap.String("default_tenant", e.cfg.DefaultTenant))
	}
	e.registry.StartWatching()
	if e.audit != nil && len(e.cfg.Audit.CertificateFiles) > 0 {
		e.certs = newCertWatch(e.audit, e.cfg.Audit.CertificateFiles)
		go e.certs.run(time.Second)
	}
	return nil
}

// Shutdown stops watching the tenants file.
func (e *Extension) Shutdown(context.Context) error {
	e.registry.StopWatching()
	e.certs.halt()
	e.audit.stop()
	return nil
}

// TenantRegistry implements tenants.Provider.
func (e *Extension) TenantRegistry() *tenants.Registry { return e.registry }

// Authenticate implements extensionauth.Server. A mismatching tenant header
// is refused with PermissionDenied on gRPC; on HTTP (where the collector
// answers every authenticator error with 401) it is deferred as a
// tenants.Refusal that the tenantstamp processor turns into 403.
func (e *Extension) Authenticate(ctx context.Context, sources map[string][]string) (context.Context, error) {
	d := e.decide(sources)
	e.count(ctx, d)
	if d.status != http.StatusOK && e.audit != nil {
		e.audit.refused(d, addrOf(client.FromContext(ctx).Addr))
	}
	// grpc.Method is a context lookup; metadata.FromIncomingContext would
	// copy every header of every call just to tell gRPC from HTTP.
	_, isGRPC := grpc.Method(ctx)
	switch d.status {
	case http.StatusOK:
		// The roles travel with the tenant: each API checks the one its
		// action needs (tenantstamp ingest, the read APIs viewer).
		return tenants.NewTokenContext(ctx, d.token), nil
	case http.StatusForbidden:
		if isGRPC {
			return ctx, status.Error(codes.PermissionDenied, d.reason)
		}
		info := client.FromContext(ctx)
		info.Auth = tenants.Refusal(d.reason)
		return client.NewContext(ctx, info), nil
	default:
		if isGRPC {
			return ctx, status.Error(codes.Unauthenticated, d.reason)
		}
		return ctx, errors.New(d.reason)
	}
}

// Middleware authenticates an HTTP API request: 401 (with
// WWW-Authenticate) or 403 with a one-line plain-text reason, else next
// runs with the tenant on the request context (tenants.FromContext).
func (e *Extension) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := e.decide(r.Header)
		e.count(r.Context(), d)
		// In-process checks (the UI re-checking a session's token) carry
		// no address and are not client attempts.
		if d.status != http.StatusOK && r.RemoteAddr != "" {
			e.audit.refused(d, r.RemoteAddr)
		}
		switch d.status {
		case http.StatusOK:
			ctx := r.Context()
			if info := client.FromContext(ctx); info.Addr == nil && r.RemoteAddr != "" {
				// The source of a role refusal in the audit trail.
				if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
					info.Addr = a
					ctx = client.NewContext(ctx, info)
				}
			}
			ctx = tenants.NewTokenContext(ctx, d.token)
			// Every API behind the middleware reads (trace API, UI).
			if code, reason := tenants.CheckRole(ctx, tenants.RoleViewer); code != http.StatusOK {
				http.Error(w, reason, code)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="scadaotel"`)
			http.Error(w, d.reason, d.status)
		default:
			http.Error(w, d.reason, d.status)
		}
	})
}

func (e *Extension) count(ctx context.Context, d decision) {
	outcome := "accepted"
	switch d.status {
	case http.StatusUnauthorized:
		outcome = "unauthenticated"
	case http.StatusForbidden:
		outcome = "forbidden"
	}
	// Only registry-selected tenants become attribute values (bounded).
	// Attribute sets are built once per (outcome, tenant): building them per
	// request was a visible share of the authentication cost.
	key := outcome + "/" + d.tenant
	opt, ok := e.attrs.Load(key)
	if !ok {
		opt, _ = e.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("outcome", outcome), tenants.SelfMetricTenant(d.tenant))))
	}
	e.requests.Add(ctx, 1, opt.(metric.AddOption))
}

func addrOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
