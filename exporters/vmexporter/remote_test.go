//go:build e2e

package vmexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// remoteTestConfig writes to endpoint with fast retries. The single-node
// server has no /insert/<accountID>/ paths, so the tests route the account
// into its extra_label query arg: the placeholder is substituted exactly as
// in a cluster path, and the server records where each series was sent.
func remoteTestConfig(t *testing.T, endpoint string, accounts map[string]uint32) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Mode = ModeRemote
	cfg.Remote.Endpoint = endpoint
	cfg.Remote.TenantAccountIDs = accounts
	cfg.Remote.BackOffConfig.InitialInterval = 50 * time.Millisecond
	cfg.Remote.BackOffConfig.MaxInterval = 200 * time.Millisecond
	cfg.Remote.BackOffConfig.RandomizationFactor = 0
	cfg.Remote.DeadLetter.Directory = t.TempDir()
	require.NoError(t, cfg.Validate())
	return cfg
}

func accountTemplate(addr string) string {
	return "http://" + addr + "/api/v1/write?extra_label=vm_account_id={account_id}&extra_label=vm_tenant={tenant}"
}

func startRemote(t *testing.T, cfg *Config, set exporter.Settings) exporter.Metrics {
	t.Helper()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	return exp
}

func twoTenants() pmetric.Metrics {
	md := fixture("west", 1)
	fixture("east", 5).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	return md
}

func TestRemoteWritesEachTenantToItsAccount(t *testing.T) {
	vm := StartVMServer(t, t.TempDir())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp := startRemote(t, remoteTestConfig(t, accountTemplate(vm.Addr), map[string]uint32{"west": 1, "east": 2}), set)

	require.NoError(t, exp.ConsumeMetrics(context.Background(), twoTenants()))
	// Shutdown drains the queue: everything is on the server afterwards.
	require.NoError(t, exp.Shutdown(context.Background()))

	var got []ExportedSeries
	e2e.Eventually(t, 10*time.Second, func() error {
		var err error
		got, err = vm.Export(t, `{scada_tenant!=""}`)
		if err == nil && len(got) < 2*8 {
			err = fmt.Errorf("%d series so far", len(got))
		}
		return err
	})
	byKey := map[string]ExportedSeries{}
	for _, s := range got {
		tenant := s.Metric[tenants.MetricLabel]
		want := map[string]string{"west": "1", "east": "2"}[tenant]
		require.NotEmpty(t, want, "series of unknown tenant: %s", s.Key())
		assert.Equal(t, want, s.Metric["vm_account_id"], "series %s went to the wrong account", s.Key())
		assert.Equal(t, tenant, s.Metric["vm_tenant"], "series %s: {tenant} placeholder", s.Key())
		byKey[s.Metric["__name__"]+"/"+tenant+"/"+s.Metric["le"]+s.Metric["vmrange"]] = s
	}

	// Exact values and timestamps, the staleness marker last; the forged
	// tenant label was overwritten.
	g, ok := byKey["pipeline_pressure_bar/east/"]
	require.True(t, ok, "gauge missing; got %v", keys(byKey))
	assert.Equal(t, "s1", g.Metric["station"])
	assert.Equal(t, "north", g.Metric["scada_site"])
	require.Len(t, g.Values, 4, "%s", g.RawValues)
	assert.Equal(t, []float64{5.5, 6.5, 7.5}, g.Values[:3])
	assert.True(t, math.IsNaN(g.Values[3]), "no-recorded-value point must arrive as a staleness marker: %s", g.RawValues[3])
	for i, ts := range g.Timestamps {
		assert.Equal(t, t0.Add(time.Duration(i)*time.Second).UnixMilli(), ts)
	}
	c := byKey["valve_operations_total/west/"]
	assert.Equal(t, []float64{10}, c.Values)
	assert.Equal(t, []float64{5}, byKey["poll_duration_seconds_bucket/west/1"].Values)
	assert.Equal(t, []float64{6}, byKey["poll_duration_seconds_bucket/west/+Inf"].Values)
	assert.Equal(t, []float64{5}, byKey["flow_rate_count/east/"].Values)
	assert.Equal(t, []float64{3}, byKey["flow_rate_bucket/east/4.000e+00...8.000e+00"].Values)

	// Metric metadata travels with the series.
	resp, err := http.Get("http://" + vm.Addr + "/api/v1/metadata?metric=pipeline_pressure_bar")
	require.NoError(t, err)
	defer resp.Body.Close()
	var meta struct {
		Data map[string][]struct{ Type, Help, Unit string } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	require.NotEmpty(t, meta.Data["pipeline_pressure_bar"], "metadata: %+v", meta)
	assert.Equal(t, "gauge", meta.Data["pipeline_pressure_bar"][0].Type)

	// Self-metrics: samples per tenant, requests by result.
	m, err := tel.GetMetric(MetricRemoteSamples)
	require.NoError(t, err)
	perTenant := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("tenant")
		perTenant[v.AsString()] += dp.Value
	}
	assert.Equal(t, perTenant["west"], perTenant["east"])
	assert.Positive(t, perTenant["west"])
	r, err := tel.GetMetric(MetricRemoteRequests)
	require.NoError(t, err)
	for _, dp := range r.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("result")
		assert.Equal(t, "ok", v.AsString())
		assert.Equal(t, int64(2), dp.Value, "one request per tenant")
	}
}

func keys(m map[string]ExportedSeries) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A tenant without an accountID, or no tenant, is refused before the
// queue: the sender sees the error, nothing is acknowledged and dropped.
func TestRemoteRefusesUnroutableDataBeforeTheQueue(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.String(), true)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	exp := startRemote(t, remoteTestConfig(t, srv.URL+"/insert/{account_id}/prometheus/api/v1/write", map[string]uint32{"west": 1}),
		exportertest.NewNopSettings(component.MustNewType(typeStr)))

	err := exp.ConsumeMetrics(context.Background(), twoTenants())
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), `tenant "east" has no entry in remote.tenant_account_ids`)
	err = exp.ConsumeMetrics(context.Background(), fixture("", 1))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))

	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("west", 1)))
	require.NoError(t, exp.Shutdown(context.Background()))
	var urls []string
	hits.Range(func(k, _ any) bool { urls = append(urls, k.(string)); return true })
	assert.Equal(t, []string{"/insert/1/prometheus/api/v1/write"}, urls, "only the routable batch is sent, to the cluster path of its account")
}

// When one tenant's write fails and the other's succeeds, only the failed
// tenant is retried. The fault (a 503 for one account) is injected by a
// proxy in front of the real server: a single-node server cannot fail
// for one account only.
func TestRemoteRetriesOnlyTheFailedTenant(t *testing.T) {
	vm := StartVMServer(t, t.TempDir())
	target, _ := url.Parse("http://" + vm.Addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc := strings.TrimPrefix(r.URL.Query()["extra_label"][0], "vm_account_id=")
		mu.Lock()
		calls[acc]++
		n := calls[acc]
		mu.Unlock()
		if acc == "2" && n <= 2 {
			http.Error(w, "storage busy", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	exp := startRemote(t, remoteTestConfig(t, accountTemplate(strings.TrimPrefix(srv.URL, "http://")), map[string]uint32{"west": 1, "east": 2}),
		exportertest.NewNopSettings(component.MustNewType(typeStr)))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), twoTenants()))
	e2e.Eventually(t, 10*time.Second, func() error {
		got, err := vm.Export(t, `pipeline_pressure_bar`)
		if err == nil && len(got) != 2 {
			err = fmt.Errorf("%d gauge series", len(got))
		}
		return err
	})
	require.NoError(t, exp.Shutdown(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"1": 1, "2": 3}, calls, "west sent once, east retried until accepted")
	got, err := vm.Export(t, `pipeline_pressure_bar`)
	require.NoError(t, err)
	for _, s := range got {
		assert.Len(t, s.Values, 4, "series %s: exact samples, none duplicated", s.Key())
	}
}

// A 4xx other than 429 cannot succeed on retry: it is kept in the
// dead-letter area (per tenant, for replay), not retried forever and never
// dropped.
func TestRemoteKeepsPermanentRefusalsInTheDeadLetterArea(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		http.Error(w, "cannot parse", http.StatusBadRequest)
	}))
	defer srv.Close()
	cfg := remoteTestConfig(t, srv.URL+"/api/v1/write", nil)
	cfg.Remote.QueueConfig.GetOrInsertDefault().WaitForResult = true
	exp := startRemote(t, cfg, exportertest.NewNopSettings(component.MustNewType(typeStr)))
	md := fixture("west", 1)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md), "refused for good, kept on disk: the request is done")
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, 1, n, "not retried")
	files, err := deadletter.Files(cfg.Remote.DeadLetter.Directory)
	require.NoError(t, err)
	require.Len(t, files, 1)
	var kept []deadletter.Entry
	require.NoError(t, deadletter.ReadFile(files[0], 0, func(_ int64, e deadletter.Entry) error { kept = append(kept, e); return nil }, nil))
	require.Len(t, kept, 1)
	assert.Equal(t, "west", kept[0].Tenant)
	assert.Equal(t, "metrics", kept[0].Signal)
	assert.Contains(t, kept[0].Detail, "HTTP 400: cannot parse")
	assert.Equal(t, md.DataPointCount(), kept[0].Items)
}

func TestRemoteConfigValidateNamesKeys(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown mode", func(c *Config) { c.Mode = "cluster" }, `mode: "cluster"`},
		{"no endpoint", func(c *Config) { c.Remote.Endpoint = "" }, "remote.endpoint: must be set"},
		{"no scheme", func(c *Config) { c.Remote.Endpoint = "vm:8428/api/v1/write" }, "remote.endpoint"},
		{"placeholder in host", func(c *Config) { c.Remote.Endpoint = "http://{tenant}.vm/insert/{account_id}/api/v1/write" }, "not the host"},
		{"unknown placeholder", func(c *Config) { c.Remote.Endpoint = "http://vm/insert/{project_id}/api/v1/write" }, "unknown placeholder"},
		{"account without map", func(c *Config) { c.Remote.TenantAccountIDs = nil }, "remote.tenant_account_ids: must map every tenant"},
		{"map without placeholder", func(c *Config) { c.Remote.Endpoint = "http://vm:8428/api/v1/write" }, "does not use {account_id}"},
		{"bad tenant id", func(c *Config) { c.Remote.TenantAccountIDs["West Pipeline"] = 9 }, `"West Pipeline" is not a valid tenant id`},
		{"shared account", func(c *Config) { c.Remote.TenantAccountIDs["east"] = 1 }, `tenants "east" and "west" share account_id 1`},
		{"tiny requests", func(c *Config) { c.Remote.MaxRequestBytes = 10 }, "remote.max_request_bytes"},
		{"compression", func(c *Config) { c.Remote.Compression = "gzip" }, "remote.compression"},
		{"no dead letter", func(c *Config) { c.Remote.DeadLetter.Directory = "" }, "remote.dead_letter.directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Mode = ModeRemote
			cfg.Remote.Endpoint = "http://vminsert:8480/insert/{account_id}/prometheus/api/v1/write"
			cfg.Remote.TenantAccountIDs = map[string]uint32{"west": 1}
			cfg.Remote.DeadLetter.Directory = "/var/lib/scadaotel/deadletter/vm"
			require.NoError(t, cfg.Validate())
			tc.edit(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	embedded := createDefaultConfig().(*Config)
	embedded.Remote.Endpoint = "http://vm:8428/api/v1/write"
	assert.ErrorContains(t, embedded.Validate(), "mode is embedded")
}
