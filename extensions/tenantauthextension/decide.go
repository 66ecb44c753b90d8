package tenantauthextension

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/scadaotel/scadaotel/tenants"
)

// maxTokenLen bounds what is hashed per request.
const maxTokenLen = 4096

// decision is the outcome of authenticating one request.
type decision struct {
	status int    // http.StatusOK, StatusUnauthorized or StatusForbidden
	tenant string // the selected tenant (also set on 403: the token was valid)
	reason string // one line, safe to show
	token  tenants.TokenInfo
}

// decide applies the rules to request headers (HTTP: canonical keys; gRPC
// metadata: lower-case keys; both matched case-insensitively). Anything
// unusual fails closed: several Authorization values, a scheme other than
// exactly "Bearer", spaces or control characters in the token, several
// tenant header values, or a tenant header that differs in any byte
// (case, whitespace, empty) from the token's tenant.
func (e *Extension) decide(sources map[string][]string) decision {
	var auth, hdr []string
	hdrPresent := false
	for k, v := range sources {
		switch {
		case strings.EqualFold(k, "authorization"):
			auth = append(auth, v...)
		case strings.EqualFold(k, tenants.MetadataKey):
			hdrPresent = true
			hdr = append(hdr, v...)
		}
	}

	var tenant string
	var ti tenants.TokenInfo
	switch {
	case len(auth) == 0 && e.cfg.DefaultTenant != "":
		tenant = e.cfg.DefaultTenant
		ti = tenants.TokenInfo{Tenant: tenant, Roles: tenants.LegacyRoles}
	case len(auth) == 0:
		return decision{status: http.StatusUnauthorized, reason: "missing bearer token (Authorization: Bearer <token>)"}
	case len(auth) > 1:
		return decision{status: http.StatusUnauthorized, reason: "more than one Authorization header"}
	default:
		token, ok := strings.CutPrefix(auth[0], "Bearer ")
		if !ok {
			return decision{status: http.StatusUnauthorized, reason: `Authorization must be "Bearer <token>"`}
		}
		if token == "" || len(token) > maxTokenLen || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return decision{status: http.StatusUnauthorized, reason: "malformed bearer token"}
		}
		if ti, ok = e.registry.LookupToken(token); !ok {
			return decision{status: http.StatusUnauthorized, reason: "unknown bearer token"}
		}
		tenant = ti.Tenant
	}

	if hdrPresent {
		if len(hdr) != 1 {
			return decision{status: http.StatusForbidden, tenant: tenant,
				reason: fmt.Sprintf("%s must be sent once, got %d values", tenants.Header, len(hdr))}
		}
		if hdr[0] != tenant {
			return decision{status: http.StatusForbidden, tenant: tenant,
				reason: fmt.Sprintf("%s %q does not match the tenant of the bearer token", tenants.Header, truncate(hdr[0], 80))}
		}
	}
	return decision{status: http.StatusOK, tenant: tenant, token: ti}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
