package tenantauthextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

type tenantsSpec = tenants.Spec

func settings() extension.Settings { return extensiontest.NewNopSettings(Type) }

func newTestExtension(t *testing.T, defaultTenant string) *Extension {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Tenants = []tenants.Spec{
		{ID: "west-pipeline-01", TokenSHA256: []string{tenants.HashToken("w-token")}},
		{ID: "east-pipeline-02", TokenSHA256: []string{tenants.HashToken("e-token")}},
	}
	cfg.DefaultTenant = defaultTenant
	e, err := newExtension(cfg, settings())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

func TestDecide(t *testing.T) {
	e := newTestExtension(t, "")
	for _, c := range []struct {
		name    string
		headers map[string][]string
		status  int
		tenant  string
	}{
		{"token", map[string][]string{"Authorization": {"Bearer w-token"}}, 200, "west-pipeline-01"},
		{"grpc keys", map[string][]string{"authorization": {"Bearer e-token"}, "x-scada-tenant": {"east-pipeline-02"}}, 200, "east-pipeline-02"},
		{"matching header", map[string][]string{"Authorization": {"Bearer w-token"}, "X-Scada-Tenant": {"west-pipeline-01"}}, 200, "west-pipeline-01"},
		{"no token", map[string][]string{"X-Scada-Tenant": {"west-pipeline-01"}}, 401, ""},
		{"unknown token", map[string][]string{"Authorization": {"Bearer x"}}, 401, ""},
		{"basic scheme", map[string][]string{"Authorization": {"Basic dzp0b2tlbg=="}}, 401, ""},
		{"empty token", map[string][]string{"Authorization": {"Bearer "}}, 401, ""},
		{"token with NUL", map[string][]string{"Authorization": {"Bearer w-token\x00"}}, 401, ""},
		{"two auth keys", map[string][]string{"Authorization": {"Bearer w-token"}, "authorization": {"Bearer w-token"}}, 401, ""},
		{"mismatch", map[string][]string{"Authorization": {"Bearer w-token"}, "X-Scada-Tenant": {"east-pipeline-02"}}, 403, "west-pipeline-01"},
		{"trailing space", map[string][]string{"Authorization": {"Bearer w-token"}, "X-Scada-Tenant": {"west-pipeline-01 "}}, 403, "west-pipeline-01"},
		{"present, no value", map[string][]string{"Authorization": {"Bearer w-token"}, "X-Scada-Tenant": nil}, 403, "west-pipeline-01"},
		{"two header keys", map[string][]string{"Authorization": {"Bearer w-token"}, "X-Scada-Tenant": {"west-pipeline-01"}, "x-scada-tenant": {"west-pipeline-01"}}, 403, "west-pipeline-01"},
	} {
		d := e.decide(c.headers)
		if d.status != c.status || (c.status == 200 && d.tenant != c.tenant) {
			t.Errorf("%s: got %d %q (%s), want %d %q", c.name, d.status, d.tenant, d.reason, c.status, c.tenant)
		}
		if d.status != 200 && (d.reason == "" || strings.Contains(d.reason, "\n")) {
			t.Errorf("%s: reason %q is not one line", c.name, d.reason)
		}
	}
}

func TestAuthenticateGRPCAndHTTP(t *testing.T) {
	e := newTestExtension(t, "")
	// What a gRPC server puts on a call's context (grpc.Method reads it).
	grpcCtx := grpc.NewContextWithServerTransportStream(context.Background(), serverStream{})
	mismatch := map[string][]string{"authorization": {"Bearer w-token"}, "x-scada-tenant": {"east-pipeline-02"}}

	_, err := e.Authenticate(grpcCtx, mismatch)
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC mismatch: %v", err)
	}
	_, err = e.Authenticate(grpcCtx, map[string][]string{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC no token: %v", err)
	}
	// HTTP: the mismatch is deferred as a Refusal without a tenant.
	ctx, err := e.Authenticate(context.Background(), mismatch)
	if err != nil {
		t.Fatal(err)
	}
	if tenants.FromContext(ctx) != "" {
		t.Error("a refused request must carry no tenant")
	}
	if reason, ok := tenants.RefusalFromContext(ctx); !ok || !strings.Contains(reason, "does not match") {
		t.Errorf("refusal = %q %v", reason, ok)
	}
	if _, err := e.Authenticate(context.Background(), map[string][]string{"Authorization": {"Bearer nope"}}); err == nil {
		t.Error("HTTP unknown token accepted")
	}
	ctx, err = e.Authenticate(context.Background(), map[string][]string{"Authorization": {"Bearer e-token"}})
	if err != nil || tenants.FromContext(ctx) != "east-pipeline-02" {
		t.Fatalf("accepted: %q %v", tenants.FromContext(ctx), err)
	}
	if got := client.FromContext(ctx).Metadata.Get(tenants.MetadataKey); len(got) != 1 || got[0] != "east-pipeline-02" {
		t.Errorf("client metadata %s = %v", tenants.MetadataKey, got)
	}
}

func TestMiddleware(t *testing.T) {
	e := newTestExtension(t, "")
	h := e.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("tenant=" + tenants.FromContext(r.Context())))
	}))
	for _, c := range []struct {
		headers map[string]string
		code    int
		body    string
	}{
		{nil, 401, "missing bearer token"},
		{map[string]string{"Authorization": "Bearer nope"}, 401, "unknown bearer token"},
		{map[string]string{"Authorization": "Bearer w-token", "X-SCADA-Tenant": "east-pipeline-02"}, 403, "does not match"},
		{map[string]string{"Authorization": "Bearer w-token"}, 200, "tenant=west-pipeline-01"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%v: %d %q, want %d %q", c.headers, rec.Code, rec.Body.String(), c.code, c.body)
		}
		if c.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
}

func TestDefaultTenant(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	cfg := createDefaultConfig().(*Config)
	cfg.DefaultTenant = "local"
	set := settings()
	set.Logger = zap.New(core)
	e, err := newExtension(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Shutdown(context.Background()) }()
	if logs.FilterMessageSnippet("UNAUTHENTICATED").Len() != 1 {
		t.Error("default_tenant must be logged at Warn")
	}
	if d := e.decide(map[string][]string{}); d.status != 200 || d.tenant != "local" {
		t.Errorf("no token with default tenant: %+v", d)
	}
	if d := e.decide(map[string][]string{"X-Scada-Tenant": {"other"}}); d.status != 403 {
		t.Errorf("header mismatch with default tenant: %+v", d)
	}
	if d := e.decide(map[string][]string{"Authorization": {"Bearer wrong"}}); d.status != 401 {
		t.Errorf("a wrong token must still be refused with a default tenant: %+v", d)
	}
	// Off by default: no default tenant means 401.
	if d := newTestExtension(t, "").decide(map[string][]string{}); d.status != 401 {
		t.Errorf("default: %+v", d)
	}
}

// serverStream is the transport stream a gRPC server gives each call; only
// its method name is read.
type serverStream struct{ grpc.ServerTransportStream }

func (serverStream) Method() string {
	return "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
}
