//go:build e2e

package vmexporter_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/exporters/vmexporter"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// startRemoteAppliance runs the real binary in remote mode: OTLP/HTTP with
// tenantauth, tenantstamp, and the victoriametrics exporter writing to vm
// through a persistent sending queue (file_storage).
func startRemoteAppliance(t *testing.T, vmAddr string) *appliance {
	t.Helper()
	a := &appliance{otlp: e2e.FreeAddr(t)}
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %s}}
  tenantauth:
    tenants:
      - {id: west, token_sha256: [%s]}
      - {id: east, token_sha256: [%s]}
  file_storage/vmqueue:
    directory: ${env:SCADAOTEL_DATA_DIR}/vmqueue
    create_directory: true
receivers:
  otlp:
    protocols:
      http: {endpoint: %s, auth: {authenticator: tenantauth}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 1024}
  tenantstamp: {}
exporters:
  victoriametrics:
    mode: remote
    remote:
      # single-node server: the account goes into extra_label so the test
      # can see where each tenant's series were routed
      endpoint: "http://%s/api/v1/write?extra_label=vm_account_id={account_id}"
      tenant_account_ids: {west: 11, east: 12}
      timeout: 2s
      dead_letter:
        directory: ${env:SCADAOTEL_DATA_DIR}/deadletter/victoriametrics
      sending_queue:
        storage: file_storage/vmqueue
        num_consumers: 2
      retry_on_failure:
        initial_interval: 100ms
        max_interval: 300ms
        max_elapsed_time: 0s
service:
  extensions: [healthcheckv2, tenantauth, file_storage/vmqueue]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp], processors: [memory_limiter, tenantstamp], exporters: [victoriametrics]}
`, e2e.FreeAddr(t), tenants.HashToken(westToken), tenants.HashToken(eastToken), a.otlp, vmAddr)
	a.Collector = e2e.StartCollector(t, cfg)
	return a
}

// gaugeBatch is batch n of a tenant: 10 samples of outage_probe, values
// n*10+j (+1000 for east), 1 ms apart.
func gaugeBatch(base time.Time, n int, east bool) (pmetric.Metrics, map[int64]float64) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "outage-writer")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("outage.probe")
	dps := g.SetEmptyGauge().DataPoints()
	want := map[int64]float64{}
	off := 0.0
	if east {
		off = 1000
	}
	for j := 0; j < 10; j++ {
		ts := base.Add(time.Duration(n*10+j) * time.Millisecond)
		v := off + float64(n*10+j)
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(v)
		want[ts.UnixMilli()] = v
	}
	return md, want
}

// TestE2ERemoteModeSurvivesServerOutageAndRestarts: data acknowledged
// while the VictoriaMetrics server is down waits in the persistent queue,
// survives a kill -9 and a graceful stop of the appliance, and arrives,
// under the right account and tenant, once the server is back.
func TestE2ERemoteModeSurvivesServerOutageAndRestarts(t *testing.T) {
	vm := vmexporter.StartVMServer(t, t.TempDir())
	a := startRemoteAppliance(t, vm.Addr)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	want := map[string]map[int64]float64{"west": {}, "east": {}}
	sendBatch := func(n int) {
		t.Helper()
		for tenant, token := range map[string]string{"west": westToken, "east": eastToken} {
			md, w := gaugeBatch(base, n, tenant == "east")
			code, err := a.send(md, token)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "batch %d of %s not acknowledged", n, tenant)
			for k, v := range w {
				want[tenant][k] = v
			}
		}
	}
	check := func(timeout time.Duration) {
		t.Helper()
		e2e.Eventually(t, timeout, func() error {
			got, err := vm.Export(t, `outage_probe`)
			if err != nil {
				return err
			}
			if len(got) != 2 {
				return fmt.Errorf("want 2 series (west, east), got %d", len(got))
			}
			for _, s := range got {
				tenant := s.Metric[tenants.MetricLabel]
				if acc := map[string]string{"west": "11", "east": "12"}[tenant]; s.Metric["vm_account_id"] != acc {
					return fmt.Errorf("series %s: account %q, want %q", s.Key(), s.Metric["vm_account_id"], acc)
				}
				if len(s.Values) != len(want[tenant]) {
					return fmt.Errorf("%s: %d samples, want %d", tenant, len(s.Values), len(want[tenant]))
				}
				for i, ts := range s.Timestamps {
					if w, ok := want[tenant][ts]; !ok || w != s.Values[i] || math.IsNaN(s.Values[i]) {
						return fmt.Errorf("%s: unexpected sample %d@%d", tenant, int64(s.Values[i]), ts)
					}
				}
			}
			return nil
		})
	}

	sendBatch(0)
	check(10 * time.Second)

	vm.Stop(t) // outage
	sendBatch(1)
	sendBatch(2)
	a.Kill(t) // crash while the data waits in the queue
	a.Collector = a.Restart(t)
	sendBatch(3)
	code, took := a.Stop(t) // graceful stop with the server still down
	assert.Equal(t, 0, code)
	assert.Less(t, took, 10*time.Second, "shutdown must not hang on retries")

	vm.Start(t)
	a.Collector = a.Restart(t)
	check(20 * time.Second)
	sendBatch(4)
	check(10 * time.Second)
	t.Logf("%d samples per tenant acknowledged across an outage, a kill -9 and a graceful stop; all delivered", len(want["west"]))
}
