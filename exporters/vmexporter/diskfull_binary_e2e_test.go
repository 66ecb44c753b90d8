//go:build e2e

package vmexporter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestE2EApplianceOn128MiBVolumeSurvivesAFullDisk is the scenario
// with the real binary: data directory on a 128 MiB filesystem, the disk
// filled. OTLP answers 503 (retryable), the process keeps running well past
// the 10 s after which the embedded storage used to die, /status shows a
// recoverable error for the exporter; after kill -9 it starts again on the
// full volume; once space is freed OTLP answers 200 without a restart and
// every acknowledged sample is queryable.
func TestE2EApplianceOn128MiBVolumeSurvivesAFullDisk(t *testing.T) {
	vol := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", vol).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a 128 MiB tmpfs at %s (needs root and mount(8)): %v: %s", vol, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", vol).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", vol, err, out)
		}
	})
	health, otlp, query := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %s}}
  tenantauth:
    tenants: [{id: west, token_sha256: [%s]}]
  prometheus_query: {endpoint: %s, auth: {authenticator: tenantauth}}
receivers:
  otlp: {protocols: {http: {endpoint: %s, auth: {authenticator: tenantauth}}}}
processors:
  tenantstamp: {}
exporters:
  victoriametrics:
    directory: ${env:SCADAOTEL_DATA_DIR}/metrics
    memory_limit_mib: 256
    wal: {checkpoint_interval: 1s}
service:
  extensions: [healthcheckv2, tenantauth, prometheus_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp], processors: [tenantstamp], exporters: [victoriametrics]}
`, health, tenants.HashToken(westToken), query, otlp)
	a := &appliance{otlp: otlp, query: query}
	a.Collector = e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+vol)

	base := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	const perBatch = 500
	acked := map[int]bool{}
	next := 0
	send := func() int {
		id := next
		next++
		md := pmetric.NewMetrics()
		g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("disk.probe")
		dps := g.SetEmptyGauge().DataPoints()
		for j := 0; j < perBatch; j++ {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(j) * 100 * time.Millisecond)))
			dp.SetDoubleValue(float64(j))
			dp.Attributes().PutStr("batch", fmt.Sprint(id))
		}
		code, err := a.send(md, westToken)
		require.NoError(t, err)
		if code == http.StatusOK {
			acked[id] = true
		}
		return code
	}
	for i := 0; i < 20; i++ {
		require.Equal(t, http.StatusOK, send())
	}

	// Fill the volume to 6 MiB free: inside the 16 MiB default reserve.
	ballast := filepath.Join(vol, "ballast")
	f, err := os.Create(ballast)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for {
		var st unix.Statfs_t
		require.NoError(t, unix.Statfs(vol, &st))
		free := st.Bavail * uint64(st.Bsize)
		if free <= 6<<20 {
			break
		}
		_, err := f.Write(chunk[:min(uint64(len(chunk)), free-6<<20)])
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		code := send()
		if time.Until(deadline) < 14*time.Second { // the guard rereads the volume every 250 ms
			require.Equal(t, http.StatusServiceUnavailable, code, "inside the reserve: retryable refusal")
		}
		require.False(t, a.Exited(), "the appliance died on a full disk:\n%s", a.Output())
		time.Sleep(250 * time.Millisecond)
	}
	status := get(t, "http://"+health+"/status?verbose")
	assert.Contains(t, status, "StatusRecoverableError")
	assert.Contains(t, status, "reserve")

	// kill -9 and start again on the full volume: it starts and refuses.
	a.Kill(t)
	a.Collector = a.Restart(t, "SCADAOTEL_DATA_DIR="+vol)
	require.Equal(t, http.StatusServiceUnavailable, send())
	require.Contains(t, get(t, "http://"+health+"/status?verbose"), "StatusRecoverableError")

	// Space returns: accepted again, no restart.
	require.NoError(t, os.Remove(ballast))
	freed := time.Now()
	require.Eventually(t, func() bool { return send() == http.StatusOK }, 20*time.Second, 250*time.Millisecond)
	t.Logf("OTLP answered 200 again %s after the space was freed", time.Since(freed).Round(100*time.Millisecond))
	require.Eventually(t, func() bool {
		return !strings.Contains(get(t, "http://"+health+"/status?verbose"), "StatusRecoverableError")
	},
		10*time.Second, 250*time.Millisecond)
	for i := 0; i < 5; i++ {
		require.Equal(t, http.StatusOK, send())
	}

	west := a.prom(t, westToken)
	var got map[int]bool
	require.Eventually(t, func() bool {
		v, _, err := west.Query(context.Background(), `count_over_time(disk_probe[2h])`, time.Now())
		if err != nil {
			return false
		}
		got = map[int]bool{}
		for _, s := range v.(model.Vector) {
			var id int
			_, _ = fmt.Sscan(string(s.Metric["batch"]), &id)
			if float64(s.Value) == perBatch {
				got[id] = true
			}
		}
		return len(got) == len(acked)
	}, 15*time.Second, 250*time.Millisecond)
	assert.Equal(t, acked, got, "every acknowledged batch complete, no refused one")
	t.Logf("%d batches (%d samples) acknowledged, %d refused", len(acked), len(acked)*perBatch, next-len(acked))
}

func get(t *testing.T, url string) string {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
