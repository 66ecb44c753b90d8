package scadauiextension

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/tenants"
)

func TestBucketsRefillAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBuckets(3, time.Minute) // 3 per minute: one token every 20 s
		for i := range 3 {
			assert.Zero(t, b.take("a", time.Now()), "attempt %d", i)
		}
		assert.Equal(t, 20*time.Second, b.take("a", time.Now()), "empty bucket: wait for one token")
		assert.Zero(t, b.take("b", time.Now()), "another key has its own bucket")
		time.Sleep(15 * time.Second)
		assert.Equal(t, 5*time.Second, b.take("a", time.Now()), "a refused take takes nothing")
		time.Sleep(5 * time.Second)
		assert.Zero(t, b.take("a", time.Now()))
		assert.Equal(t, 20*time.Second, b.take("a", time.Now()))
		time.Sleep(10 * time.Minute)
		for range 3 {
			assert.Zero(t, b.take("a", time.Now()), "refilled to the capacity, not beyond")
		}
		assert.NotZero(t, b.take("a", time.Now()))
	})
}

func TestBucketsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBuckets(2, time.Minute)
		for i := range maxBuckets + 10 {
			b.take("k"+strconv.Itoa(i), time.Now())
			b.take("k"+strconv.Itoa(i), time.Now())
		}
		assert.LessOrEqual(t, len(b.m), maxBuckets)
		// The newest key is still remembered (and empty).
		assert.NotZero(t, b.take("k"+strconv.Itoa(maxBuckets+9), time.Now()))
	})
}

func TestClientAddress(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:5555":             "127.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"[::ffff:10.0.0.1]:80":       "10.0.0.1",
		"not an address":             "not an address",
	} {
		r := httptest.NewRequest(http.MethodPost, "/ui/api/login", nil)
		r.RemoteAddr = remote
		assert.Equal(t, want, clientAddress(r), remote)
	}
}

// TestLoginRateLimited drives the real login handler with the real
// tenantauth extension in virtual time.
func TestLoginRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		defer func() { _ = auth.Shutdown(context.Background()) }()

		cfg := createDefaultConfig().(*Config)
		cfg.TraceQueryEndpoint, cfg.AlertsEndpoint = "", ""
		cfg.LoginLimit = LoginLimitConfig{PerAddress: 5, PerTenant: 3, Period: time.Minute}
		require.NoError(t, cfg.Validate())
		ext, err := newExtension(cfg, extensiontest.NewNopSettings(Type))
		require.NoError(t, err)
		ext.auth, err = tenants.AuthenticatorFromHost(h, authID)
		require.NoError(t, err)
		handler := ext.handler()

		try := func(remote, token string) *httptest.ResponseRecorder {
			body, _ := json.Marshal(map[string]string{"token": token})
			r := httptest.NewRequest(http.MethodPost, "/ui/api/login", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = remote
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			return w
		}

		// Per address: 5 attempts a minute, right or wrong.
		const attacker, operator = "192.0.2.7:40000", "192.0.2.8:40000"
		for i := range 5 {
			assert.Equal(t, http.StatusUnauthorized, try(attacker, "guess-"+strconv.Itoa(i)).Code)
		}
		w := try(attacker, "guess-6")
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "12", w.Header().Get("Retry-After"), "one attempt every 60/5 s")
		var body map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Contains(t, body["error"], "login_limit.per_address=5")
		assert.EqualValues(t, 12, body["retry_after_s"])
		assert.Empty(t, w.Result().Cookies())
		// Even the right token is refused while limited: no oracle.
		assert.Equal(t, http.StatusTooManyRequests, try(attacker, "north-token").Code)
		// Another address is not affected.
		assert.Equal(t, http.StatusOK, try(operator, "south-token").Code)
		// After Retry-After, one more attempt is allowed.
		time.Sleep(12 * time.Second)
		assert.Equal(t, http.StatusOK, try(attacker, "north-token").Code)
		assert.Equal(t, http.StatusTooManyRequests, try(attacker, "north-token").Code)

		// Per tenant: north has 3 logins a minute wherever they come from
		// (one used above).
		time.Sleep(time.Hour)
		assert.Equal(t, http.StatusOK, try("198.51.100.1:1", "north-token").Code)
		assert.Equal(t, http.StatusOK, try("198.51.100.2:1", "north-token").Code)
		assert.Equal(t, http.StatusOK, try("198.51.100.3:1", "north-token").Code)
		w = try("198.51.100.4:1", "north-token")
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "20", w.Header().Get("Retry-After"))
		assert.Contains(t, w.Body.String(), "login_limit.per_tenant=3")
		assert.Empty(t, w.Result().Cookies(), "no session beyond the tenant's limit")
		// Wrong tokens from many addresses never use up a tenant's logins,
		// and another tenant is not affected.
		for i := range 20 {
			assert.Equal(t, http.StatusUnauthorized, try("203.0.113."+strconv.Itoa(i)+":1", "north-guess").Code)
		}
		assert.Equal(t, http.StatusOK, try("198.51.100.5:1", "south-token").Code)
		time.Sleep(20 * time.Second)
		assert.Equal(t, http.StatusOK, try("198.51.100.6:1", "north-token").Code)
	})
}
