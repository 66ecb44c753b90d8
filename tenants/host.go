package tenants

import (
	"context"
	"errors"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/audit"
	"net/http"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
)

// Provider is implemented by the extension that owns the process's tenant
// registry (tenantauth). Components find it with RegistryFromHost.
type Provider interface {
	TenantRegistry() *Registry
}

// HTTPAuthenticator is implemented by tenantauth: Middleware authenticates
// every request of an HTTP API the same way the OTLP receivers do (401/403
// with a one-line reason) and calls next with the tenant on the context
// (read it with FromContext).
type HTTPAuthenticator interface {
	Middleware(next http.Handler) http.Handler
}

// AuditProvider is an extension that keeps the audit trail (tenantauth).
type AuditProvider interface {
	AuditLog() *audit.Log
}

// AuditLogFromHost returns the audit trail of extension id, or nil when it
// keeps none.
func AuditLogFromHost(host component.Host, id component.ID) *audit.Log {
	if p, ok := host.GetExtensions()[id].(AuditProvider); ok {
		return p.AuditLog()
	}
	return nil
}

// ErrExtensionNotFound is wrapped by RegistryFromHost and
// AuthenticatorFromHost when the host has no extension of that id.
var ErrExtensionNotFound = errors.New("not found")

// RegistryFromHost returns the registry of extension id (e.g. "tenantauth").
func RegistryFromHost(host component.Host, id component.ID) (*Registry, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %q %w: add it to service.extensions", id, ErrExtensionNotFound)
	}
	p, ok := ext.(Provider)
	if !ok {
		return nil, fmt.Errorf("extension %q does not hold a tenant registry (want a tenantauth extension)", id)
	}
	return p.TenantRegistry(), nil
}

// AuthenticatorFromHost returns the HTTP authenticator of extension id.
func AuthenticatorFromHost(host component.Host, id component.ID) (HTTPAuthenticator, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %q %w: add it to service.extensions", id, ErrExtensionNotFound)
	}
	a, ok := ext.(HTTPAuthenticator)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a tenant HTTP authenticator (want a tenantauth extension)", id)
	}
	return a, nil
}

// Refusal is the client.AuthData of a request whose token was valid but
// whose X-SCADA-Tenant header did not match it. The collector's HTTP server
// turns every authenticator error into 401, so tenantauth lets such a
// request through carrying a Refusal instead of a tenant, and the stamping
// processor refuses it with PermissionDenied (HTTP 403). FromContext sees no
// tenant on it, so any tenant-aware component refuses it too.
type Refusal string

// GetAttribute implements client.AuthData; a Refusal has no tenant.
func (Refusal) GetAttribute(string) any { return nil }

// GetAttributeNames implements client.AuthData.
func (Refusal) GetAttributeNames() []string { return nil }

// RefusalFromContext returns the reason of a deferred refusal, if any.
func RefusalFromContext(ctx context.Context) (string, bool) {
	r, ok := client.FromContext(ctx).Auth.(Refusal)
	return string(r), ok
}

// Challenge is the WWW-Authenticate value every 401 of the appliance's
// HTTP APIs carries (RFC 9110 §11.6.1; the scheme of RFC 6750).
const Challenge = `Bearer realm="scadaotel"`

// SetChallenge adds the WWW-Authenticate challenge to h when code is 401.
func SetChallenge(h http.Header, code int) {
	if code == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", Challenge)
	}
}

// NoTenantStatus is the HTTP answer of an API reached by a request without
// an authenticated tenant (confighttp `auth:` defers a tenant header
// mismatch as a Refusal): 403 with the refusal's one-line reason, else 401.
func NoTenantStatus(ctx context.Context) (int, string) {
	if reason, ok := RefusalFromContext(ctx); ok {
		return http.StatusForbidden, reason
	}
	return http.StatusUnauthorized, "no authenticated tenant on the request"
}
