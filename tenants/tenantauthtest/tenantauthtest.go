// Package tenantauthtest starts a real tenantauth extension for the tests
// of components that authenticate or look tenants up through it, instead of
// a stand-in authenticator per package.
package tenantauthtest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/tenants"
)

// ID is the id the extension is registered under in Host.
var ID = component.MustNewID("tenantauth")

// SelfTokens declares one tenant per id whose bearer token is the id
// itself ("Authorization: Bearer north" authenticates as north).
func SelfTokens(ids ...string) []tenants.Spec {
	specs := make([]tenants.Spec, 0, len(ids))
	for _, id := range ids {
		specs = append(specs, tenants.Spec{ID: id, TokenSHA256: []string{tenants.HashToken(id)}})
	}
	return specs
}

// Host returns a host holding a started tenantauth extension with specs
// under ID; it is shut down when the test ends.
func Host(t testing.TB, specs []tenants.Spec) component.Host {
	t.Helper()
	f := tenantauthextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*tenantauthextension.Config)
	cfg.Tenants = specs
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	return host{ext: map[component.ID]component.Component{ID: ext}}
}

type host struct {
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }
