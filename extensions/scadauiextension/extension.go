package scadauiextension

import (
	"cmp"
	"slices"

	"context"
	"encoding/json"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/audit"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/tenants"
)

// csp allows only this origin: no inline script or style, no outside host,
// no framing, no plugins.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

type uiExtension struct {
	cfg      *Config
	set      extension.Settings
	auth     tenants.HTTPAuthenticator
	sessions *sessions
	limiter  *loginLimiter
	scraper  *scraper // nil when the Appliance view is off
	registry *tenants.Registry
	auditLog *audit.Log // nil when tenantauth keeps no audit trail
	full     fullCache
	stop     context.CancelFunc
	client   *http.Client
	server   *httpserver.Server
	addr     string // the address listened on
	wg       sync.WaitGroup
	now      func() time.Time

	mRequests metric.Int64Counter
	mLogins   metric.Int64Counter
}

func newExtension(cfg *Config, set extension.Settings) (*uiExtension, error) {
	e := &uiExtension{
		cfg:      cfg,
		set:      set,
		sessions: newSessions(cfg.SessionTTL, cfg.SessionIdleTimeout, cfg.MaxSessions, cfg.MaxSessionsPerTenant),
		limiter:  newLoginLimiter(cfg.LoginLimit),
		client:   upstreamClient(cfg),
		now:      time.Now,
	}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/extensions/scadauiextension")
	var err error
	if e.mRequests, err = m.Int64Counter(MetricRequests, metric.WithDescription("UI API requests by HTTP status class."), metric.WithUnit("{request}")); err != nil {
		return nil, fmt.Errorf("scada_ui: self-metrics: %w", err)
	}
	if e.mLogins, err = m.Int64Counter(MetricLogins, metric.WithDescription("Login attempts by outcome (accepted, refused, limited)."), metric.WithUnit("{login}")); err != nil {
		return nil, fmt.Errorf("scada_ui: self-metrics: %w", err)
	}
	return e, nil
}

func (e *uiExtension) Start(ctx context.Context, host component.Host) error {
	auth, err := tenants.AuthenticatorFromHost(host, e.cfg.Authenticator)
	if err != nil {
		return fmt.Errorf("scada_ui: authenticator: %w", err)
	}
	e.auth = auth
	if e.registry, err = tenants.RegistryFromHost(host, e.cfg.Authenticator); err != nil {
		return fmt.Errorf("scada_ui: authenticator: %w", err)
	}
	e.auditLog = tenants.AuditLogFromHost(host, e.cfg.Authenticator)
	ln, err := httpserver.Listen(ctx, e.cfg.Endpoint, e.cfg.TLS)
	if err != nil {
		return fmt.Errorf("scada_ui: endpoint %s: %w", e.cfg.Endpoint, err)
	}
	e.addr = ln.Addr().String()
	e.server = httpserver.Start("scada_ui", &http.Server{
		Handler:           e.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      2*e.cfg.Timeout + 30*time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, ln, host, e.set.Logger)
	if e.cfg.TelemetryEndpoint != "" {
		e.scraper = &scraper{fetch: httpFetch(e.client, e.cfg.TelemetryEndpoint), interval: e.cfg.TelemetryInterval,
			paths: e.diskPaths, logger: e.set.Logger}
		ctx, cancel := context.WithCancel(context.Background())
		e.stop = cancel
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.scraper.run(ctx) }()
	}
	e.set.Logger.Info("Operator web UI listening", zap.String("url", httpserver.Scheme(e.cfg.TLS)+"://"+ln.Addr().String()+"/"))
	return nil
}

// upstreamClient calls the trace and alert APIs and the self-metrics. When
// the UI serves TLS, its https upstreams are listeners of this process
// serving the same certificate (listener_tls): it trusts exactly that one
// and presents it under mTLS (httpserver.SelfClientTLS).
func upstreamClient(cfg *Config) *http.Client {
	c := &http.Client{Timeout: cfg.Timeout}
	if cfg.TLS.HasValue() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = httpserver.SelfClientTLS(*cfg.TLS.Get())
		c.Transport = t
	}
	return c
}

func (e *uiExtension) Shutdown(ctx context.Context) error {
	if e.server == nil {
		return nil
	}
	err := e.server.Shutdown(ctx) // waits for the server's goroutine
	if e.stop != nil {
		e.stop()
	}
	e.wg.Wait()
	return err
}

// handler is the whole UI: security headers on everything, the JSON API
// under /ui/api/, and the embedded assets elsewhere.
func (e *uiExtension) handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST /ui/api/login", e.login)
	api.HandleFunc("POST /ui/api/logout", e.logout)
	api.HandleFunc("GET /ui/api/me", e.meOrAnonymous)
	api.Handle("GET /ui/api/overview", e.authed(e.overview))
	api.Handle("GET /ui/api/station", e.authed(e.station))
	api.Handle("GET /ui/api/services", e.authed(e.services))
	api.Handle("GET /ui/api/alerts", e.authed(e.alerts))
	api.Handle("GET /ui/api/alarms", e.authed(e.alarmRead("/api/v1/alarms", "active", "limit", "offset", "station")))
	api.Handle("GET /ui/api/alarm-kpis", e.authed(e.alarmRead("/api/v1/alarm-kpis")))
	api.Handle("GET /ui/api/alarm-journal", e.authed(e.alarmRead("/api/v1/alarm-journal", "limit")))
	api.Handle("POST /ui/api/alarms/{id}/{action}", e.authed(e.alarmAction))
	api.Handle("GET /ui/api/traces/", e.authed(e.traces))
	api.Handle("GET /ui/api/appliance", e.authedOrAdministrator(e.appliance))
	api.Handle("GET /ui/api/audit", e.authedOrAdministrator(e.auditTrail))
	api.Handle("GET /ui/api/tokens", e.authedOrAdministrator(e.tokensList))
	api.Handle("POST /ui/api/tokens", e.authedOrAdministrator(e.tokensAdd))
	api.Handle("POST /ui/api/tokens/{name}/rotate", e.authedOrAdministrator(e.tokensRotate))
	api.Handle("DELETE /ui/api/tokens/{name}", e.authedOrAdministrator(e.tokensRemove))
	api.HandleFunc("/ui/api/", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "unknown UI API path"})
	})
	assets := assetHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if strings.HasPrefix(r.URL.Path, "/ui/api/") {
			// Tenant data: never stored by the browser or a proxy.
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
			rec := httpjson.NewStatusRecorder(w)
			api.ServeHTTP(rec, r)
			e.mRequests.Add(r.Context(), 1, metric.WithAttributes(attribute.Int("code", rec.Class())))
			return
		}
		assets.ServeHTTP(w, r)
	})
}

// identity is who a UI API request acts for: a tenant, or (only where
// authedOrAdministrator allows it) an appliance administrator.
type identity struct {
	tenant string
	token  string
	admin  string
	role   string // the administrator's role
}

// resolveToken asks the tenant authenticator which tenant token selects,
// exactly as every other API of the appliance would ("" when refused).
func (e *uiExtension) resolveToken(r *http.Request, token string) (string, int, string) {
	probe, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	if err != nil {
		return "", http.StatusInternalServerError, "internal error"
	}
	probe.Header.Set("Authorization", "Bearer "+token)
	var tenant string
	rec := &captureWriter{header: http.Header{}, code: http.StatusOK}
	e.auth.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		tenant = tenants.FromContext(r.Context())
	})).ServeHTTP(rec, probe)
	if tenant == "" || !tenants.ValidID(tenant) {
		code := rec.code
		if code < 400 {
			code = http.StatusUnauthorized
		}
		return "", code, strings.TrimSpace(rec.body.String())
	}
	return tenant, http.StatusOK, ""
}

type captureWriter struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) WriteHeader(code int)        { c.code = code }
func (c *captureWriter) Write(p []byte) (int, error) { return c.body.Write(p) }

// authed runs next with the caller's identity: the session cookie, or the
// same bearer token any other API accepts. A tenant id sent by the browser
// (header, parameter, path) is never used.
func (e *uiExtension) authed(next func(http.ResponseWriter, *http.Request, identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			// Exactly the tenantauth decision, including its 401/403 reasons.
			e.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r2 *http.Request) {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				next(w, r2, identity{tenant: tenants.FromContext(r2.Context()), token: tok})
			})).ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(cookieName)
		if err != nil {
			httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": "not logged in"})
			return
		}
		ses := e.sessions.get(c.Value)
		if ses == nil {
			clearCookie(w)
			httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": "session expired or unknown: log in again"})
			return
		}
		if ses.admin != "" {
			httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "an administrator's session opens no tenant's data"})
			return
		}
		// The token is checked again on every request, so a token revoked
		// in the tenants file ends its sessions at the registry's next reload.
		if t, _, _ := e.resolveToken(r, ses.token); t != ses.tenant {
			e.sessions.remove(c.Value)
			clearCookie(w)
			httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": "the token of this session is no longer accepted: log in again"})
			return
		}
		next(w, r, identity{tenant: ses.tenant, token: ses.token})
	})
}

// authedOrAdministrator is authed, except that an administrator
// (tenants file, `administrators`) is accepted too, with no tenant: by
// bearer token or by the session its token logged in. Only handlers that
// serve appliance-wide figures, the audit trail or who the caller is use it.
func (e *uiExtension) authedOrAdministrator(next func(http.ResponseWriter, *http.Request, identity)) http.Handler {
	tenantOnly := e.authed(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && e.registry != nil {
			if a, ok := e.registry.LookupAdministrator(tok); ok {
				e.asAdministrator(w, r, a, next)
				return
			}
		}
		if r.Header.Get("Authorization") == "" {
			if c, err := r.Cookie(cookieName); err == nil {
				if ses := e.sessions.get(c.Value); ses != nil && ses.admin != "" {
					// Checked again on every request, like a tenant's token.
					a, ok := Administrator{}, false
					if e.registry != nil {
						a, ok = e.registry.LookupAdministrator(ses.token)
					}
					if !ok || a.Name != ses.admin || a.Role != ses.role {
						e.sessions.remove(c.Value)
						clearCookie(w)
						httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": "the token of this session is no longer accepted: log in again"})
						return
					}
					e.asAdministrator(w, r, a, next)
					return
				}
			}
		}
		tenantOnly.ServeHTTP(w, r)
	})
}

// Administrator is who an administrator's token names.
type Administrator = tenants.Administrator

// asAdministrator runs next for administrator a if its role may use the
// path (requiredRole), else answers 403 and records the refusal.
func (e *uiExtension) asAdministrator(w http.ResponseWriter, r *http.Request, a Administrator, next func(http.ResponseWriter, *http.Request, identity)) {
	if want := requiredRole(r.URL.Path); !slices.Contains(want, a.Role) {
		e.audit(audit.Record{Actor: "admin:" + a.Name, Source: r.RemoteAddr, Action: "role_refused", Object: r.URL.Path,
			Outcome: audit.Refused, Detail: "role " + a.Role})
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
			"the %s role may not read %s (it needs the %s role)", a.Role, r.URL.Path, strings.Join(want, " or "))})
		return
	}
	next(w, r, identity{admin: a.Name, role: a.Role})
}

// requiredRole: which administrator roles may read a path (separation of
// duties: the audit role reads the audit trail and nothing else).
func requiredRole(path string) []string {
	switch path {
	case "/ui/api/audit":
		return []string{tenants.RoleAudit}
	case "/ui/api/me":
		return []string{tenants.RoleSystem, tenants.RoleSecurity, tenants.RoleAudit}
	}
	if path == "/ui/api/tokens" || strings.HasPrefix(path, "/ui/api/tokens/") {
		return []string{tenants.RoleSecurity}
	}
	return []string{tenants.RoleSystem, tenants.RoleSecurity}
}

// audit writes r to the audit trail, if there is one.
func (e *uiExtension) audit(r audit.Record) {
	if e.auditLog == nil {
		return
	}
	if _, err := e.auditLog.Append(r); err != nil {
		e.set.Logger.Error("Cannot write the audit trail", zap.String("action", r.Action), zap.Error(err))
	}
}

// auditTrail serves the audit records (audit role only; requiredRole):
// ?from=<seq> (default 1), ?limit= (default 100, at most 1000).
func (e *uiExtension) auditTrail(w http.ResponseWriter, r *http.Request, id identity) {
	if id.role != tenants.RoleAudit {
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "the audit trail is read by administrators with the audit role only"})
		return
	}
	if e.auditLog == nil {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "no audit trail is kept (tenantauth audit.directory is empty)"})
		return
	}
	from, err := strconv.ParseUint(cmp.Or(r.URL.Query().Get("from"), "1"), 10, 64)
	limit, err2 := strconv.Atoi(cmp.Or(r.URL.Query().Get("limit"), "100"))
	if err != nil || err2 != nil || limit < 1 || limit > 1000 {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "from: a record number; limit: 1..1000"})
		return
	}
	recs, err := audit.Read(e.auditLog.Dir(), from, limit)
	if err != nil {
		httpjson.Write(w, http.StatusInternalServerError, map[string]string{"error": "cannot read the audit trail"})
		e.set.Logger.Error("Cannot read the audit trail", zap.Error(err))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"records": recs})
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// sameOrigin refuses cross-site POSTs (a second line behind SameSite=Strict).
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return false
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	return true
}

func (e *uiExtension) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "cross-origin login refused"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		httpjson.Write(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the token as JSON {\"token\": \"...\"}"})
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Token == "" {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "send the token as JSON {\"token\": \"...\"}"})
		return
	}
	// Every attempt from an address counts, before its token is checked:
	// a limited client learns nothing about the tokens it tries.
	now := e.now()
	if wait := e.limiter.byAddress.take(clientAddress(r), now); wait > 0 {
		e.tooManyLogins(w, r, wait, fmt.Sprintf("too many login attempts from this address: at most login_limit.per_address=%d per %s",
			e.cfg.LoginLimit.PerAddress, e.cfg.LoginLimit.Period))
		return
	}
	if e.registry != nil {
		if a, ok := e.registry.LookupAdministrator(body.Token); ok {
			e.loginAdministrator(w, r, a, body.Token, now)
			return
		}
	}
	tenant, code, reason := e.resolveToken(r, body.Token)
	if tenant != "" {
		if wait := e.limiter.byTenant.take(tenant, now); wait > 0 {
			e.tooManyLogins(w, r, wait, fmt.Sprintf("too many logins of this tenant: at most login_limit.per_tenant=%d per %s",
				e.cfg.LoginLimit.PerTenant, e.cfg.LoginLimit.Period))
			return
		}
	}
	if tenant == "" {
		e.audit(audit.Record{Actor: tenants.TokenActor(body.Token), Source: r.RemoteAddr, Action: "login", Outcome: audit.Refused, Detail: reason})
		e.mLogins.Add(r.Context(), 1, metric.WithAttributes(attribute.String("outcome", "refused")))
		e.set.Logger.Info("UI login refused", zap.String("remote", r.RemoteAddr), zap.String("reason", reason))
		msg := "token not accepted"
		if code == http.StatusForbidden {
			msg = reason // a valid token without the viewer role: say which roles it has
		}
		httpjson.Write(w, code, map[string]string{"error": msg})
		return
	}
	id, exp := e.sessions.create(tenant, body.Token)
	e.audit(audit.Record{Actor: tenants.TokenActor(body.Token), Tenant: tenant, Source: r.RemoteAddr, Action: "login", Outcome: audit.Success})
	e.mLogins.Add(r.Context(), 1, metric.WithAttributes(attribute.String("outcome", "accepted")))
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/", Expires: exp, MaxAge: int(e.cfg.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	httpjson.Write(w, http.StatusOK, map[string]any{"tenant": tenant, "expires": exp.UTC().Format(time.RFC3339)})
}

// loginAdministrator opens a session for an administrator's token: it
// shows the views of the administrator's role only (the audit role: the
// audit trail; system and security: the Appliance view).
func (e *uiExtension) loginAdministrator(w http.ResponseWriter, r *http.Request, a Administrator, token string, now time.Time) {
	if wait := e.limiter.byTenant.take(adminPool+a.Name, now); wait > 0 {
		e.tooManyLogins(w, r, wait, fmt.Sprintf("too many logins of this administrator: at most login_limit.per_tenant=%d per %s",
			e.cfg.LoginLimit.PerTenant, e.cfg.LoginLimit.Period))
		return
	}
	id, exp := e.sessions.createAdmin(a.Name, a.Role, token)
	e.audit(audit.Record{Actor: "admin:" + a.Name, Source: r.RemoteAddr, Action: "login", Outcome: audit.Success, Detail: "role " + a.Role})
	e.mLogins.Add(r.Context(), 1, metric.WithAttributes(attribute.String("outcome", "accepted")))
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/", Expires: exp, MaxAge: int(e.cfg.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	httpjson.Write(w, http.StatusOK, map[string]any{"administrator": a.Name, "role": a.Role, "expires": exp.UTC().Format(time.RFC3339)})
}

// tooManyLogins answers 429 with Retry-After (whole seconds) and the limit.
func (e *uiExtension) tooManyLogins(w http.ResponseWriter, r *http.Request, wait time.Duration, msg string) {
	secs := retryAfterSeconds(wait)
	e.mLogins.Add(r.Context(), 1, metric.WithAttributes(attribute.String("outcome", "limited")))
	e.set.Logger.Info("UI login rate-limited", zap.String("remote", r.RemoteAddr), zap.String("limit", msg))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpjson.Write(w, http.StatusTooManyRequests, map[string]any{"error": msg, "retry_after_s": secs})
}

func (e *uiExtension) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "cross-origin logout refused"})
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		if ses := e.sessions.get(c.Value); ses != nil && ses.admin != "" {
			e.audit(audit.Record{Actor: "admin:" + ses.admin, Source: r.RemoteAddr, Action: "logout", Outcome: audit.Success})
		} else if ses != nil {
			e.audit(audit.Record{Actor: tenants.TokenActor(ses.token), Tenant: ses.tenant, Source: r.RemoteAddr, Action: "logout", Outcome: audit.Success})
		}
		e.sessions.remove(c.Value)
	}
	clearCookie(w)
	httpjson.Write(w, http.StatusOK, map[string]string{})
}

// meOrAnonymous answers 200 {"tenant": ""} to a browser that is not logged
// in (the page then shows the login form without a failed request), else
// who the caller is.
func (e *uiExtension) meOrAnonymous(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		c, err := r.Cookie(cookieName)
		if err != nil || e.sessions.get(c.Value) == nil {
			if err == nil {
				clearCookie(w)
			}
			httpjson.Write(w, http.StatusOK, map[string]any{"tenant": ""})
			return
		}
	}
	e.authedOrAdministrator(e.me).ServeHTTP(w, r)
}

func (e *uiExtension) me(w http.ResponseWriter, _ *http.Request, id identity) {
	if id.admin != "" {
		// An administrator: the views of its role only.
		httpjson.Write(w, http.StatusOK, map[string]any{
			"tenant":        "",
			"administrator": id.admin,
			"role":          id.role,
			"actor":         "admin:" + id.admin,
			"token":         id.admin,
			"roles":         []string{id.role},
			"views": map[string]bool{
				"audit":     id.role == tenants.RoleAudit && e.auditLog != nil,
				"appliance": id.role != tenants.RoleAudit && e.cfg.TelemetryEndpoint != "",
			},
		})
		return
	}
	// Who is logged in: the token's name ("" for a token_sha256 one), how
	// the audit trail names it, and its roles, for the page to show and to
	// hide what they may not do.
	var ti tenants.TokenInfo
	if e.registry != nil {
		ti, _ = e.registry.LookupToken(id.token)
	}
	roles := ti.Roles.Names()
	if roles == nil {
		roles = []string{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"tenant": id.tenant,
		"token":  ti.Name,
		"actor":  ti.Actor(id.token),
		"roles":  roles,
		"views": map[string]bool{
			"alerts":    e.cfg.AlertsEndpoint != "",
			"alarms":    e.cfg.AlarmsEndpoint != "",
			"traces":    e.cfg.TraceQueryEndpoint != "",
			"appliance": e.cfg.TelemetryEndpoint != "",
			"audit":     false,
		},
	})
}
