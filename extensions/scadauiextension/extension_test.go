package scadauiextension

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/tenants"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// startUI starts the real tenantauth extension (tenants north/south) and
// the UI on a free port; alertsURL may be "".
func startUI(t *testing.T, alertsURL string) string {
	t.Helper()
	return startUIWith(t, alertsURL, nil)
}

// startUIWith is startUI with the UI's config changed by edit.
func startUIWith(t *testing.T, alertsURL string, edit func(*Config)) string {
	t.Helper()
	authID := component.MustNewID("tenantauth")
	af := tenantauthextension.NewFactory()
	acfg := af.CreateDefaultConfig().(*tenantauthextension.Config)
	acfg.Tenants = []tenants.Spec{
		{ID: "north", TokenSHA256: []string{tenants.HashToken("north-token")}},
		{ID: "south", TokenSHA256: []string{tenants.HashToken("south-token")}},
	}
	auth, err := af.Create(context.Background(), extensiontest.NewNopSettings(af.Type()), acfg)
	require.NoError(t, err)
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{authID: auth}}
	require.NoError(t, auth.Start(context.Background(), h))
	t.Cleanup(func() { _ = auth.Shutdown(context.Background()) })

	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	cfg.AlertsEndpoint = alertsURL
	cfg.TraceQueryEndpoint = ""
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	ext, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return "http://" + ext.addr
}

func TestConfigExamplesLoadAndValidate(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, id := range []string{"scada_ui", "scada_ui/metrics-only"} {
		sub, err := cm.Sub(id)
		require.NoError(t, err)
		cfg := createDefaultConfig().(*Config)
		require.NoError(t, sub.Unmarshal(cfg), id)
		require.NoError(t, confmap.Validate(cfg), id)
	}
	bad := createDefaultConfig().(*Config)
	bad.Endpoint = "8080"
	bad.TraceQueryEndpoint = "ftp://x"
	bad.AlertsEndpoint = "http://u:p@127.0.0.1:1"
	bad.AlarmsEndpoint = "ftp://x"
	bad.SessionTTL = time.Second
	bad.SessionIdleTimeout = time.Second
	bad.MaxSessions = 0
	bad.MaxSessionsPerTenant = 0
	bad.StaleAfter = 0
	bad.Timeout = 0
	bad.Authenticator = component.ID{}
	bad.TelemetryEndpoint = "127.0.0.1:8888"
	bad.TelemetryInterval = 0
	bad.DiskPaths = []string{" "}
	bad.LoginLimit = LoginLimitConfig{PerAddress: 0, PerTenant: -1, Period: time.Millisecond}
	err = bad.Validate()
	require.Error(t, err)
	for _, key := range []string{"endpoint:", "authenticator:", "trace_query_endpoint:", "alerts_endpoint:", "alarms_endpoint:", "session_ttl:", "session_idle_timeout:", "max_sessions:", "max_sessions_per_tenant:", "stale_after:", "timeout:", "telemetry_endpoint:", "telemetry_interval:", "disk_paths[0]:", "login_limit.per_address:", "login_limit.per_tenant:", "login_limit.period:"} {
		assert.Contains(t, err.Error(), key)
	}
}

func TestStartFailsWithoutTenantAuth(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	ext, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
	require.NoError(t, err)
	err = ext.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tenantauth")
}

func login(t *testing.T, c *http.Client, base, token string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := c.Post(base+"/ui/api/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func getJSON(t *testing.T, c *http.Client, url string, hdr map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func TestLoginSessionAndHeaders(t *testing.T) {
	base := startUI(t, "")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	// Assets: strict CSP and nosniff, the page has no inline script.
	resp, err := c.Get(base + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'self'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.NotContains(t, string(page), "<script>")
	assert.NotContains(t, string(page), "<style")

	// Not logged in: me says so, the data APIs refuse.
	code, me, hdr := getJSON(t, c, base+"/ui/api/me", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "", me["tenant"])
	assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
	code, _, _ = getJSON(t, c, base+"/ui/api/overview", nil)
	assert.Equal(t, http.StatusUnauthorized, code)

	// Wrong token: refused, no cookie.
	r := login(t, c, base, "wrong-token")
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Empty(t, r.Cookies())

	// Right token: HttpOnly SameSite=Strict session cookie.
	r = login(t, c, base, "north-token")
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Len(t, r.Cookies(), 1)
	ck := r.Cookies()[0]
	assert.Equal(t, cookieName, ck.Name)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.Len(t, ck.Value, 64)
	assert.NotContains(t, ck.Value, "north")

	// The tenant comes from the session; headers and parameters naming
	// another tenant change nothing.
	code, me, hdr = getJSON(t, c, base+"/ui/api/me?tenant=south", map[string]string{tenants.Header: "south"})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "north", me["tenant"])
	assert.Equal(t, "no-store", hdr.Get("Cache-Control"))

	// The same bearer token works without a session; a mismatching tenant
	// header is refused exactly as tenantauth refuses it.
	plain := &http.Client{}
	code, me, _ = getJSON(t, plain, base+"/ui/api/me", map[string]string{"Authorization": "Bearer south-token"})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "south", me["tenant"])
	code, _, _ = getJSON(t, plain, base+"/ui/api/me", map[string]string{"Authorization": "Bearer south-token", tenants.Header: "north"})
	assert.Equal(t, http.StatusForbidden, code)
	code, _, _ = getJSON(t, plain, base+"/ui/api/me", map[string]string{"Authorization": "Bearer nope"})
	assert.Equal(t, http.StatusUnauthorized, code)

	// A cross-site login is refused even with a valid token.
	req, _ := http.NewRequest(http.MethodPost, base+"/ui/api/login", strings.NewReader(`{"token":"north-token"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = plain.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Logout ends the session server-side: the old cookie is refused.
	req, _ = http.NewRequest(http.MethodPost, base+"/ui/api/logout", nil)
	req.AddCookie(ck)
	resp, err = plain.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	code, _, _ = getJSON(t, plain, base+"/ui/api/overview", map[string]string{"Cookie": cookieName + "=" + ck.Value})
	assert.Equal(t, http.StatusUnauthorized, code)
	code, me, _ = getJSON(t, plain, base+"/ui/api/me", map[string]string{"Cookie": cookieName + "=" + ck.Value})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "", me["tenant"])
}

// TestAlertsForwardedWithTheCallersToken stands in for the alert history
// API to check what the UI sends it and that an answer for another tenant
// (an upstream fault) is refused.
func TestAlertsForwardedWithTheCallersToken(t *testing.T) {
	var gotAuth []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		tenant := map[string]string{"Bearer north-token": "north", "Bearer south-token": "north"}[r.Header.Get("Authorization")]
		_ = json.NewEncoder(w).Encode(alertHistory{Tenant: tenant, Episodes: []episode{{AlertID: "a1", Service: "svc", State: "firing"}}})
	}))
	defer up.Close()
	base := startUI(t, up.URL)
	c := &http.Client{}
	code, body, _ := getJSON(t, c, base+"/ui/api/alerts", map[string]string{"Authorization": "Bearer north-token"})
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "north", body["tenant"])
	code, _, _ = getJSON(t, c, base+"/ui/api/alerts", map[string]string{"Authorization": "Bearer south-token"})
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Equal(t, []string{"Bearer north-token", "Bearer south-token"}, gotAuth)
}

func TestSessionsExpireAndAreBounded(t *testing.T) {
	s := newSessions(time.Hour, time.Hour, 2, 2)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	a, _ := s.create("north", "t1")
	now = now.Add(time.Second)
	b, _ := s.create("north", "t1")
	now = now.Add(time.Second)
	c, _ := s.create("south", "t2")
	assert.Nil(t, s.get(a), "oldest session dropped at max_sessions")
	require.NotNil(t, s.get(b))
	require.NotNil(t, s.get(c))
	assert.Equal(t, "south", s.get(c).tenant)
	now = now.Add(time.Hour)
	assert.Nil(t, s.get(c), "expired")
	assert.Nil(t, s.get("short"))
}

// TestSessionsAreBoundedPerTenant: a tenant at its bound evicts only its own
// oldest session; with the pool full, the tenant holding the most pays.
func TestSessionsAreBoundedPerTenant(t *testing.T) {
	s := newSessions(time.Hour, time.Hour, 4, 3)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	b, _ := s.create("south", "t2")
	var north []string
	for range 10 {
		now = now.Add(time.Second)
		id, _ := s.create("north", "t1")
		north = append(north, id)
	}
	require.NotNil(t, s.get(b), "another tenant's logins never evict south's session")
	for i, id := range north {
		assert.Equal(t, i >= 7, s.get(id) != nil, "north keeps only its 3 newest sessions (session %d)", i)
	}
	// Pool full (3 north + 1 south): a new south login evicts north's oldest.
	b2, _ := s.create("south", "t2")
	require.NotNil(t, s.get(b))
	require.NotNil(t, s.get(b2))
	assert.Nil(t, s.get(north[7]))
	assert.Len(t, s.m, 4)
	s.remove(b)
	s.remove(b2)
	assert.Equal(t, map[string]int{"north": 2}, s.perTenant, "counts follow removals")
}

// TestOneTenantsLoginsKeepAnothersSessions logs in through the real HTTP
// path: tenant north logging in far more often than the session pool holds
// never logs out south's operator.
func TestOneTenantsLoginsKeepAnothersSessions(t *testing.T) {
	base := startUIWith(t, "", func(c *Config) {
		c.MaxSessions = 6
		c.MaxSessionsPerTenant = 3
		c.LoginLimit = LoginLimitConfig{PerAddress: 1000, PerTenant: 1000, Period: time.Minute}
	})
	jar, _ := cookiejar.New(nil)
	south := &http.Client{Jar: jar}
	require.Equal(t, http.StatusOK, login(t, south, base, "south-token").StatusCode)
	var norths []*http.Client
	for range 20 {
		j, _ := cookiejar.New(nil)
		c := &http.Client{Jar: j}
		require.Equal(t, http.StatusOK, login(t, c, base, "north-token").StatusCode)
		norths = append(norths, c)
	}
	me := func(c *http.Client) string {
		code, body, _ := getJSON(t, c, base+"/ui/api/me", nil)
		require.Equal(t, http.StatusOK, code)
		return body["tenant"].(string)
	}
	assert.Equal(t, "south", me(south), "south's session survives 20 logins of north")
	assert.Equal(t, "north", me(norths[19]), "north's newest session lives")
	assert.Equal(t, "", me(norths[0]), "north's oldest session was evicted by north's own logins")
}

// TestSessionsEndWhenIdle: a session used within session_idle_timeout lives
// on; one left alone that long ends, whatever its session_ttl.
func TestSessionsEndWhenIdle(t *testing.T) {
	s := newSessions(12*time.Hour, 15*time.Minute, 10, 10)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	a, _ := s.create("north", "t1")
	for range 8 { // two hours of use, every 14 minutes
		now = now.Add(14 * time.Minute)
		require.NotNil(t, s.get(a))
	}
	now = now.Add(15 * time.Minute)
	assert.Nil(t, s.get(a), "idle for 15 minutes")
}
