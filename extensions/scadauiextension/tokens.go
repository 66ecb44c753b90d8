package scadauiextension

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/client"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/tenants"
)

// The token API (issue 22): a tenant-admin token lists, creates, rotates
// and removes its own tenant's named tokens; the security administrator
// any tenant's (?tenant=<id>); nobody else (403 with the reason, in the
// audit trail as role_refused). Changes go through tenants.ChangeToken,
// the code of `scadaotel tokens`, into the tenants file the registry
// re-reads; each is recorded once in the audit trail with its actor.
//
//	GET    /ui/api/tokens                 {"tenant", "tokens": [{"name", "roles"}]}  (never a hash)
//	POST   /ui/api/tokens {name, roles}   201 {"tenant", "name", "roles", "token"}  (the token, shown once)
//	POST   /ui/api/tokens/{name}/rotate   {"tenant", "name", "token"}
//	DELETE /ui/api/tokens/{name}          {"tenant", "name"}
//
// A name the caller's tenant does not have, another tenant's included,
// answers 404 with the same body.

// tokenCaller is whose tokens a request may manage and how the audit trail
// names who asks.
type tokenCaller struct {
	tenant string
	actor  string
}

// tokenScope decides who may manage which tenant's tokens; ok false: the
// answer is written.
func (e *uiExtension) tokenScope(w http.ResponseWriter, r *http.Request, id identity) (tokenCaller, bool) {
	if e.registry == nil || e.registry.File() == "" {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "tokens are managed in the tenants file, and this appliance has none (tenantauth tenants_file)"})
		return tokenCaller{}, false
	}
	if id.admin != "" { // the security role only (requiredRole)
		t := r.URL.Query().Get("tenant")
		if !tenants.ValidID(t) {
			httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "name the tenant: ?tenant=<id>"})
			return tokenCaller{}, false
		}
		return tokenCaller{tenant: t, actor: "admin:" + id.admin}, true
	}
	// A tenant's token: tenant-admin, for its own tenant only (a tenant
	// named in the request is ignored).
	ti, _ := e.registry.LookupToken(id.token)
	if ti.Tenant != id.tenant {
		httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": "the token is no longer accepted"})
		return tokenCaller{}, false
	}
	ctx := r.Context()
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		info := client.FromContext(ctx)
		info.Addr = a // the source of the refusal in the audit trail
		ctx = client.NewContext(ctx, info)
	}
	if code, reason := tenants.CheckRole(tenants.NewTokenContext(ctx, ti), tenants.RoleTenantAdmin); code != http.StatusOK {
		httpjson.Write(w, code, map[string]string{"error": reason})
		return tokenCaller{}, false
	}
	return tokenCaller{tenant: id.tenant, actor: ti.Actor(id.token)}, true
}

func (e *uiExtension) tokensList(w http.ResponseWriter, r *http.Request, id identity) {
	c, ok := e.tokenScope(w, r, id)
	if !ok {
		return
	}
	toks, err := tenants.ListTokens(e.registry.File(), c.tenant)
	if err != nil {
		e.tokenError(w, err, "")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tenant": c.tenant, "tokens": toks})
}

func (e *uiExtension) tokensAdd(w http.ResponseWriter, r *http.Request, id identity) {
	if !e.tokenWrite(w, r) {
		return
	}
	c, ok := e.tokenScope(w, r, id)
	if !ok {
		return
	}
	var body struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": `send {"name": "...", "roles": ["viewer", ...]}`})
		return
	}
	if err := tenants.CheckTokenName(body.Name); err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if _, err := tenants.ParseRoles(body.Roles); err != nil || len(body.Roles) == 0 {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "roles: one or more of ingest, viewer, operator, tenant-admin"})
		return
	}
	ch := tenants.TokenChange{Op: tenants.TokenAdd, Tenant: c.tenant, Name: body.Name, Roles: body.Roles}
	token, err := tenants.ChangeToken(e.registry.File(), ch)
	if err != nil {
		e.tokenError(w, err, body.Name)
		return
	}
	e.audit(ch.AuditRecord(c.actor, r.RemoteAddr))
	httpjson.Write(w, http.StatusCreated, map[string]any{"tenant": c.tenant, "name": body.Name, "roles": body.Roles, "token": token})
}

func (e *uiExtension) tokensRotate(w http.ResponseWriter, r *http.Request, id identity) {
	e.tokenChange(w, r, id, tenants.TokenRotate)
}

func (e *uiExtension) tokensRemove(w http.ResponseWriter, r *http.Request, id identity) {
	e.tokenChange(w, r, id, tenants.TokenRemove)
}

func (e *uiExtension) tokenChange(w http.ResponseWriter, r *http.Request, id identity, op string) {
	if !e.tokenWrite(w, r) {
		return
	}
	c, ok := e.tokenScope(w, r, id)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if tenants.CheckTokenName(name) != nil {
		e.tokenError(w, tenants.ErrTokenNotFound, name)
		return
	}
	ch := tenants.TokenChange{Op: op, Tenant: c.tenant, Name: name}
	token, err := tenants.ChangeToken(e.registry.File(), ch)
	if err != nil {
		e.tokenError(w, err, name)
		return
	}
	e.audit(ch.AuditRecord(c.actor, r.RemoteAddr))
	answer := map[string]any{"tenant": c.tenant, "name": name}
	if token != "" {
		answer["token"] = token
	}
	httpjson.Write(w, http.StatusOK, answer)
}

// tokenWrite: a change is refused cross-site, like login and alarm actions.
func (e *uiExtension) tokenWrite(w http.ResponseWriter, r *http.Request) bool {
	if !sameOrigin(r) {
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "cross-origin token change refused"})
		return false
	}
	if r.Method == http.MethodPost && r.URL.Path == "/ui/api/tokens" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		httpjson.Write(w, http.StatusUnsupportedMediaType, map[string]string{"error": `send {"name": "...", "roles": [...]} as JSON`})
		return false
	}
	return true
}

// tokenError answers a failed change or list: a missing token or tenant
// 404 (the same body whether the name is another tenant's or nobody's),
// a duplicate 409, anything else 500 (logged; the file's path is not told).
func (e *uiExtension) tokenError(w http.ResponseWriter, err error, name string) {
	switch {
	case errors.Is(err, tenants.ErrTokenNotFound) && name == "":
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "this tenant's tokens are not in the tenants file"})
	case errors.Is(err, tenants.ErrTokenNotFound):
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no token named %q in this tenant", name)})
	case errors.Is(err, tenants.ErrTokenExists):
		httpjson.Write(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("this tenant already has a token named %q (rotate it, or remove it first)", name)})
	default:
		e.set.Logger.Error("Cannot change the tenants file", zap.Error(err))
		httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": "cannot change the tenants file (see the appliance's log)"})
	}
}
