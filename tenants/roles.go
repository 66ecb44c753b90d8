package tenants

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/client"
)

// Role is what a tenant's token may do.
type Role string

// Tenant token roles (issue 22). operator includes viewer; tenant-admin
// includes viewer and operator; ingest includes nothing else.
const (
	// RoleIngest writes: OTLP, Prometheus remote write.
	RoleIngest Role = "ingest"
	// RoleViewer reads: the query, trace and alert history APIs, the UI.
	RoleViewer Role = "viewer"
	// RoleOperator is viewer plus acting on alerts and alarms.
	RoleOperator Role = "operator"
	// RoleTenantAdmin is operator plus administering the tenant.
	RoleTenantAdmin Role = "tenant-admin"
)

// Roles is a set of roles, with what each implies.
type Roles uint8

const (
	rIngest Roles = 1 << iota
	rViewer
	rOperator
	rTenantAdmin
)

// LegacyRoles are the roles of a token listed in token_sha256 (a tenants
// file written before named tokens): ingest, viewer and operator.
const LegacyRoles = rIngest | rViewer | rOperator

var roleBits = map[Role]Roles{
	RoleIngest:      rIngest,
	RoleViewer:      rViewer,
	RoleOperator:    rOperator | rViewer,
	RoleTenantAdmin: rTenantAdmin | rOperator | rViewer,
}

// ParseRoles turns role names into a set; an unknown name is an error.
func ParseRoles(names []string) (Roles, error) {
	var rs Roles
	for _, n := range names {
		b, ok := roleBits[Role(n)]
		if !ok {
			return 0, fmt.Errorf("unknown role %q (want ingest, viewer, operator or tenant-admin)", n)
		}
		rs |= b
	}
	return rs, nil
}

var ownBit = map[Role]Roles{RoleIngest: rIngest, RoleViewer: rViewer, RoleOperator: rOperator, RoleTenantAdmin: rTenantAdmin}

// Has reports whether the set allows role.
func (rs Roles) Has(role Role) bool {
	b := ownBit[role]
	return b != 0 && rs&b != 0
}

// Names lists the roles in the set (implied ones included), sorted.
func (rs Roles) Names() []string {
	var out []string
	for _, r := range []struct {
		name Role
		bit  Roles
	}{{RoleIngest, rIngest}, {RoleViewer, rViewer}, {RoleOperator, rOperator}, {RoleTenantAdmin, rTenantAdmin}} {
		if rs&r.bit != 0 {
			out = append(out, string(r.name))
		}
	}
	sort.Strings(out)
	return out
}

var tokenNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,62}$`)

// TokenSpec is one named token of a tenant: who or what holds it, the
// SHA-256 of the token, and what it may do.
type TokenSpec struct {
	Name   string   `mapstructure:"name" yaml:"name"`
	SHA256 string   `mapstructure:"sha256" yaml:"sha256"`
	Roles  []string `mapstructure:"roles" yaml:"roles"`
}

// validate checks one named token; prefix names where it sits.
func (t TokenSpec) validate(prefix string) error {
	if !tokenNamePattern.MatchString(t.Name) {
		return fmt.Errorf("%s.name: %q: want letters, digits, '.', '_', '@' or '-' (at most 63)", prefix, t.Name)
	}
	if _, err := parseHash(t.SHA256); err != nil {
		return fmt.Errorf("%s.sha256: %w", prefix, err)
	}
	if len(t.Roles) == 0 {
		return fmt.Errorf("%s.roles: at least one of ingest, viewer, operator, tenant-admin", prefix)
	}
	if _, err := ParseRoles(t.Roles); err != nil {
		return fmt.Errorf("%s.roles: %w", prefix, err)
	}
	return nil
}

// TokenInfo is what a bearer token selects.
type TokenInfo struct {
	Tenant string
	Name   string // "" for a token of token_sha256
	Roles  Roles
}

// Actor is how the audit trail names the token: its name, or (a token of
// token_sha256, which has none) token:<first 12 hex digits of its hash>.
func (ti TokenInfo) Actor(token string) string {
	if ti.Name != "" {
		return ti.Name
	}
	return "token:" + HashToken(token)[:12]
}

// processRegistry is the registry TokenActor asks for token names: the
// process has one (the tenantauth extension's), the last one built.
var processRegistry atomic.Pointer[Registry]

// roleAuth is the client.AuthData of a named token: its tenant, name and
// roles.
type roleAuth struct {
	tenant string
	name   string
	roles  Roles
}

// Auth attributes besides AuthAttribute.
const (
	// TokenNameAttribute is the token's name ("" for token_sha256 ones).
	TokenNameAttribute = "token_name"
	// RolesAttribute is the token's Roles.
	RolesAttribute = "roles"
)

func (a roleAuth) GetAttribute(name string) any {
	switch name {
	case AuthAttribute:
		return a.tenant
	case TokenNameAttribute:
		return a.name
	case RolesAttribute:
		return a.roles
	}
	return nil
}

func (a roleAuth) GetAttributeNames() []string {
	return []string{AuthAttribute, TokenNameAttribute, RolesAttribute}
}

// NewTokenContext is NewContext for a token with its name and roles.
func NewTokenContext(ctx context.Context, ti TokenInfo) context.Context {
	ctx = NewContext(ctx, ti.Tenant)
	if ti.Roles == LegacyRoles && ti.Name == "" {
		return ctx // the shared identity of the tenant
	}
	info := client.FromContext(ctx)
	info.Auth = roleAuth{tenant: ti.Tenant, name: ti.Name, roles: ti.Roles}
	return client.NewContext(ctx, info)
}

// RolesFromContext returns the roles of the request's token: a tenant put
// on the context without roles (token_sha256, default_tenant, or a
// component re-emitting data) has LegacyRoles; no tenant: none.
func RolesFromContext(ctx context.Context) Roles {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return 0
	}
	if rs, ok := info.Auth.GetAttribute(RolesAttribute).(Roles); ok {
		return rs
	}
	if FromContext(ctx) != "" {
		return LegacyRoles
	}
	return 0
}

// CheckRole answers whether the request's token may do what needs role:
// http.StatusOK, or 403 and a one-line reason naming the token's roles
// and the one needed. A request without a tenant is not decided here
// (NoTenantStatus).
func CheckRole(ctx context.Context, role Role) (int, string) {
	tenant := FromContext(ctx)
	if tenant == "" {
		return NoTenantStatus(ctx)
	}
	rs := RolesFromContext(ctx)
	if rs.Has(role) {
		return http.StatusOK, ""
	}
	info := client.FromContext(ctx)
	who, name := "this token", ""
	if n, _ := info.Auth.GetAttribute(TokenNameAttribute).(string); n != "" {
		who, name = fmt.Sprintf("token %q", n), n
	}
	reason := fmt.Sprintf("%s of tenant %s has the roles [%s]; this needs %s", who, tenant, strings.Join(rs.Names(), ", "), role)
	if r := processRegistry.Load(); r != nil && info.Addr != nil {
		if f := r.roleRefused.Load(); f != nil {
			(*f)(RoleRefusal{Tenant: tenant, Token: name, Source: info.Addr.String(), Needed: role, Reason: reason})
		}
	}
	return http.StatusForbidden, reason
}

// RoleRefusal is a valid token refused because it lacks a role: what the
// audit trail records (Registry.OnRoleRefused). In-process checks, which
// carry no client address, are not reported.
type RoleRefusal struct {
	Tenant, Token, Source string
	Needed                Role
	Reason                string
}
