package promqueryextension

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/tenants/tenantauthtest"
)

var store *vmstore.Store

func TestMain(m *testing.M) {
	// vmstore.Open parses flag.CommandLine when nobody has; parse the test
	// flags first so -v and -run still work.
	flag.Parse()
	dir, err := os.MkdirTemp("", "promquery-test-")
	if err != nil {
		panic(err)
	}
	store, err = vmstore.Open(vmstore.Config{Path: filepath.Join(dir, "data"), Retention: 48 * time.Hour, MemoryAllowedBytes: 128 << 20})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	store.Close()
	_ = os.RemoveAll(dir)
	if code == 0 {
		// goleak.VerifyTestMain, after the store is closed; the embedded
		// VictoriaMetrics leaves package-level workers running.
		if err := goleak.Find(leaktest.VictoriaMetrics()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startExtension(t *testing.T, offset time.Duration) string {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: tenantauthtest.ID}})
	cfg.LatencyOffset = offset
	require.NoError(t, cfg.Validate())
	ext, err := newExtension(cfg, extensiontest.NewNopSettings(component.MustNewType(typeStr)))
	require.NoError(t, err)
	h := tenantauthtest.Host(t, tenantauthtest.SelfTokens("north", "south"))
	// Bind first to learn the port, then hand the address to the server.
	ln, err := cfg.ToListener(context.Background())
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.NetAddr.Endpoint = addr
	require.NoError(t, ext.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return "http://" + addr
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b != "" {
		r.Header.Set("Authorization", "Bearer "+string(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func client(t *testing.T, url, tenant string) promv1.API {
	c, err := api.NewClient(api.Config{Address: url, RoundTripper: bearer(tenant)})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

func write(t *testing.T, name, tenant string, at time.Time, v float64) {
	raw, err := vmstore.MarshalName(nil, []vmstore.Label{{Name: "__name__", Value: name}, {Name: tenants.MetricLabel, Value: tenant}})
	require.NoError(t, err)
	require.NoError(t, store.Add([]vmstore.Row{{MetricNameRaw: raw, Timestamp: at.UnixMilli(), Value: v}}))
	store.Flush()
}

func TestQueriesAreScopedToTheAuthenticatedTenant(t *testing.T) {
	url := startExtension(t, time.Second)
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	write(t, "line_pressure", "north", at, 4.5)
	write(t, "line_pressure", "south", at, 9.5)
	ctx := context.Background()

	v, _, err := client(t, url, "north").Query(ctx, `{__name__=~".+"}`, at)
	require.NoError(t, err)
	vec := v.(model.Vector)
	require.Len(t, vec, 1)
	assert.Equal(t, model.SampleValue(4.5), vec[0].Value)
	assert.NotContains(t, vec[0].Metric, model.LabelName(tenants.MetricLabel)) // implicit, as in Mimir

	v, _, err = client(t, url, "south").Query(ctx, `line_pressure or {scada_tenant="north"}`, at)
	require.NoError(t, err)
	vec = v.(model.Vector)
	require.Len(t, vec, 1)
	assert.Equal(t, model.SampleValue(9.5), vec[0].Value)

	// No or a bad token: 401 from the collector's auth, nothing served.
	_, _, err = client(t, url, "").Query(ctx, `line_pressure`, at)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	// Both 401s (no token, unknown token) are Prometheus JSON errors with
	// the bearer challenge, like the API's 403s.
	for _, token := range []string{"", "not-a-known-token"} {
		req, err := http.NewRequest(http.MethodGet, url+"/api/v1/query?query=up", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, tenants.Challenge, resp.Header.Get("WWW-Authenticate"))
		assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
		assert.Contains(t, string(body), `"errorType":"unauthorized"`)
	}
}

func TestLatencyOffsetMakesFreshPointsVisible(t *testing.T) {
	url := startExtension(t, time.Second)
	now := time.Now()
	write(t, "fresh_point", "north", now.Add(-3*time.Second), 1)
	// An instant query at "now" without time= sees a point 3 s old only
	// because the offset is 1 s (the storage default of 30 s would hide it).
	v, _, err := client(t, url, "north").Query(context.Background(), `fresh_point`, time.Time{})
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
}

func TestConfigExampleLoadsAndValidates(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(typeStr)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "127.0.0.1:8428", cfg.NetAddr.Endpoint)
	assert.Equal(t, component.MustNewID("tenantauth"), cfg.Auth.Get().Config.AuthenticatorID)
	assert.Equal(t, time.Second, cfg.LatencyOffset)

	bad := createDefaultConfig().(*Config)
	bad.LatencyOffset = -time.Second
	err = bad.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "auth:")
	assert.Contains(t, err.Error(), "latency_offset")
}
