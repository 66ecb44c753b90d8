package tenantauthextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/scadaotel/scadaotel/tenants"
)

var benchHeaders = map[string][]string{
	"authorization":  {"Bearer e-token"},
	"x-scada-tenant": {"east-pipeline-02"},
	"content-type":   {"application/grpc"},
	"user-agent":     {"OTel-OTLP-Exporter-Go/1.47.0"},
}

// BenchmarkAuthenticateBaseline: what a receiver without auth does (nothing).
func BenchmarkAuthenticateBaseline(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = ctx
	}
}

// BenchmarkAuthenticate: one request, 10 tenants with 2 tokens each.
func BenchmarkAuthenticate(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		cfg.Tenants = append(cfg.Tenants, tenants.Spec{ID: id, TokenSHA256: []string{tenants.HashToken(id + "1"), tenants.HashToken(id + "2")}})
	}
	cfg.Tenants = append(cfg.Tenants, tenants.Spec{ID: "east-pipeline-02", TokenSHA256: []string{tenants.HashToken("e-token")}})
	e, err := newExtension(cfg, settings())
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Shutdown(context.Background()) }()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Authenticate(ctx, benchHeaders); err != nil {
			b.Fatal(err)
		}
	}
}
