//go:build e2e

package iec104receiver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

const (
	e2eToken   = "west-iec104-token-7d21"
	otherToken = "east-iec104-token-40b9"
)

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// outstationCtl drives the testbench's outstation through its control endpoint.
type outstationCtl string

func (c outstationCtl) post(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Post("http://"+string(c)+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s %s", path, resp.Status, b)
	}
}

func (c outstationCtl) stat(t *testing.T, name string) int {
	t.Helper()
	resp, err := http.Get("http://" + string(c) + "/stats?os=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no %s in %s", name, b)
	return 0
}

func instant(t *testing.T, p promv1.API, q string, at time.Time) model.Vector {
	t.Helper()
	v, _, err := p.Query(context.Background(), q, at)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		t.Fatalf("%s: %T", q, v)
	}
	return vec
}

// TestEndToEndThroughBinary runs the real scadaotel binary against the
// testbench's simulated outstation: iec104 -> memory_limiter -> tenantstamp
// -> victoriametrics (embedded), read back through the tenant's Prometheus
// query API, as a user would.
func TestEndToEndThroughBinary(t *testing.T) {
	const (
		t1       = 2 * time.Second
		interval = time.Second // status_interval
	)
	ctl := outstationCtl(e2e.FreeAddr(t))
	osAddr := e2e.FreeAddr(t)
	_, port, _ := net.SplitHostPort(osAddr)
	e2e.Start(t, "testbench", e2e.TestbenchBinary(t), []string{"iec104", "--outstations", "1", "--points", "10",
		"--interval", "0", "--base-port", port, "--control", string(ctl)})
	e2e.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + string(ctl) + "/stats?os=0")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})

	query := e2e.FreeAddr(t)
	var points strings.Builder
	for i := range 10 {
		kind := "pressure"
		if i%5 == 4 {
			kind = "valve"
		}
		fmt.Fprintf(&points, "          - {name: p%d, kind: %s, ioa: %d, unit: bar}\n", 1000+i, kind, 1000+i)
	}
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: %[1]s}}
  tenantauth:
    tenants:
      - {id: west-pipeline-01, token_sha256: [%[2]s]}
      - {id: east-pipeline-02, token_sha256: [%[8]s]}
  prometheus_query:
    endpoint: %[3]s
    auth: {authenticator: tenantauth}
receivers:
  iec104:
    t1: %[4]s
    t2: 1s
    t3: 5s
    status_interval: %[5]s
    reconnect: {initial_interval: 200ms, max_interval: 1s, jitter: 0.2}
    outstations:
      - name: rtu-e2e
        endpoint: tcp://%[6]s
        tenant: west-pipeline-01
        station: compressor-9
        common_address: 1
        points:
%[7]sprocessors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  tenantstamp: {}
exporters:
  victoriametrics:
    directory: ${env:SCADAOTEL_DATA_DIR}/metrics
    memory_limit_mib: 128
service:
  extensions: [healthcheckv2, tenantauth, prometheus_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [iec104], processors: [memory_limiter, tenantstamp], exporters: [victoriametrics]}
`, e2e.FreeAddr(t), tenants.HashToken(e2eToken), query, t1, interval, osAddr, points.String(), tenants.HashToken(otherToken))
	dataDir := t.TempDir()
	e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+dataDir)
	c, err := api.NewClient(api.Config{Address: "http://" + query, RoundTripper: bearer(e2eToken)})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(c)

	// 1. The interrogation fills every configured point.
	e2e.Eventually(t, 30*time.Second, func() error {
		p := instant(t, prom, `count(scada_pressure_gauge{station="compressor-9",quality="good",unit="bar"})`, time.Now())
		v := instant(t, prom, `count(scada_valve_state{station="compressor-9",quality="good"})`, time.Now())
		if len(p) != 1 || p[0].Value != 8 || len(v) != 1 || v[0].Value != 2*4 {
			return fmt.Errorf("pressures %v valves %v, want 8 and 2×4 statuses", p, v)
		}
		return nil
	})
	if n := ctl.stat(t, "interrogations"); n != 1 {
		t.Fatalf("interrogations %d", n)
	}
	// The outstation's tenant owns its series: another tenant sees none.
	oc, err := api.NewClient(api.Config{Address: "http://" + query, RoundTripper: bearer(otherToken)})
	if err != nil {
		t.Fatal(err)
	}
	if v := instant(t, promv1.NewAPI(oc), `count({__name__=~"scada_.*"})`, time.Now()); len(v) != 0 {
		t.Errorf("another tenant sees %v", v)
	}

	// 2. A spontaneous change with a CP56Time2a is queryable, stored at the
	// source time (a minute before now: older than the interrogation's sample).
	src := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ctl.post(t, "/set?os=0&ca=1&ioa=1001&type=36&value=123.25&time="+src.UTC().Format(time.RFC3339Nano))
	e2e.Eventually(t, 15*time.Second, func() error {
		at := src.Add(2 * time.Second)
		v := instant(t, prom, `last_over_time(scada_pressure_gauge{point="p1001",quality="good"}[3s])`, at)
		ts := instant(t, prom, `tlast_over_time(scada_pressure_gauge{point="p1001",quality="good"}[3s])`, at)
		if len(v) != 1 || v[0].Value != 123.25 || len(ts) != 1 {
			return fmt.Errorf("value %v ts %v", v, ts)
		}
		if got := time.UnixMilli(int64(float64(ts[0].Value)*1000 + 0.5)); !got.Equal(src) {
			return fmt.Errorf("stored at %v, the source time is %v", got, src)
		}
		return nil
	})

	// Change → queryable latency, reported (not asserted): 10 changes of a
	// point without time tag, each polled every 10 ms until visible.
	var lats []time.Duration
	for i := range 10 {
		want := 500 + float64(i)
		start := time.Now()
		ctl.post(t, fmt.Sprintf("/set?os=0&ca=1&ioa=1002&type=13&value=%g", want))
		e2e.EventuallyEvery(t, 15*time.Second, 10*time.Millisecond, func() error {
			v := instant(t, prom, `scada_pressure_gauge{point="p1002",quality="good"}`, time.Now())
			if len(v) != 1 || float64(v[0].Value) != want {
				return fmt.Errorf("p1002 %v, want %g", v, want)
			}
			return nil
		})
		lats = append(lats, time.Since(start))
	}
	slices.Sort(lats)
	t.Logf("change → queryable through the binary: p50 %v, max of 10 %v", lats[len(lats)/2], lats[len(lats)-1])

	// 3. A link drop: the outstation then never confirms STARTDT, so the
	// link stays down; comm_lost (scada_rtu_up 0, the good series ended)
	// within t1 + one interval; then it recovers with a fresh interrogation.
	ctl.post(t, "/fault?os=0&name=no_startdt&on=true")
	dropped := time.Now()
	ctl.post(t, "/drop?os=0")
	by := dropped.Add(t1 + interval)
	e2e.Eventually(t, 15*time.Second, func() error {
		if time.Now().Before(by.Add(time.Second)) {
			return fmt.Errorf("waiting past t1 + interval")
		}
		up := instant(t, prom, fmt.Sprintf(`min_over_time(scada_rtu_up{rtu="rtu-e2e"}[%ds])`, int((t1+interval)/time.Second)), by)
		if len(up) != 1 || up[0].Value != 0 {
			return fmt.Errorf("scada_rtu_up within t1+interval of the drop: %v", up)
		}
		good := instant(t, prom, `scada_pressure_gauge{station="compressor-9",quality="good"}`, by)
		if len(good) != 0 {
			return fmt.Errorf("%d good pressure series still visible after the drop", len(good))
		}
		return nil
	})
	ctl.post(t, "/fault?os=0&name=no_startdt&on=false")
	e2e.Eventually(t, 30*time.Second, func() error {
		if n := ctl.stat(t, "interrogations"); n != 2 {
			return fmt.Errorf("interrogations %d, want a fresh one", n)
		}
		p := instant(t, prom, `count(scada_pressure_gauge{station="compressor-9",quality="good"})`, time.Now())
		up := instant(t, prom, `scada_rtu_up{rtu="rtu-e2e"}`, time.Now())
		if len(p) != 1 || p[0].Value != 8 || len(up) != 1 || up[0].Value != 1 {
			return fmt.Errorf("after recovery: pressures %v, up %v", p, up)
		}
		return nil
	})
}
