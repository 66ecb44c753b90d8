//go:build e2e

package alarmconnector

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/freeport"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestDefaultConfigAlarmsFromOTLPAndRemoteWrite runs the binary with its
// embedded default config (no --config): the alarm connector is wired
// after tenantstamp on the metrics pipeline and its records reach Kafka
// (topic scada.alarms, read by kcat) through logs/alarms and kafka_alerts,
// for samples sent over OTLP/HTTP and over Prometheus remote write alike.
func TestDefaultConfigAlarmsFromOTLPAndRemoteWrite(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat (Debian package kcat, installed by scripts/install-test-deps.sh) reads the records")
	}
	broker, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(broker)
	port, _ := strconv.Atoi(portStr)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "scada.alarms", "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()

	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte("tenants:\n  - id: west-pipeline-01\n    token_sha256: ["+tenants.HashToken(e2eTokenA)+"]\n"+
		"  - id: east-pipeline-02\n    token_sha256: ["+tenants.HashToken(e2eTokenB)+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defsFile := filepath.Join(dir, "alarms.yaml")
	if err := os.WriteFile(defsFile, []byte(`tenants:
  west-pipeline-01:
    alarms:
      - {id: OTLP-PT, series: 'scada_pressure_gauge{station="ST-09", point="PT-901"}', limits: {h: 70}, priority: high, message: {en: "otlp {value}", zh-CN: "otlp {value}"}}
      - {id: RW-PT, series: 'pipeline_pressure_bar{station="ST-09"}', limits: {hh: 90}, priority: critical, message: {en: "rw {value}", zh-CN: "rw {value}"}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	// No trace store: this test is about the metrics path (traces wait in
	// their queue).
	health, otlpHTTP, rw, alarmsAPI, query := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	_, metricsPort, _ := net.SplitHostPort(e2e.FreeAddr(t))
	env := []string{
		"SCADAOTEL_OTLP_GRPC_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_OTLP_HTTP_ENDPOINT=" + otlpHTTP,
		"SCADAOTEL_HEALTH_ENDPOINT=" + health,
		"SCADAOTEL_METRICS_PORT=" + metricsPort,
		"SCADAOTEL_QUERY_ENDPOINT=" + query,
		"SCADAOTEL_TRACE_QUERY_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_UI_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_ALERTS_ENDPOINT=" + e2e.FreeAddr(t),
		"SCADAOTEL_ALARMS_ENDPOINT=" + alarmsAPI,
		"SCADAOTEL_REMOTE_WRITE_ENDPOINT=" + rw,
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT=127.0.0.1:1",
		"SCADAOTEL_JAEGER_QUERY_URL=http://127.0.0.1:1",
		"SCADAOTEL_KAFKA_BROKERS=" + broker,
		"SCADAOTEL_TENANTS_FILE=" + tenantsFile,
		"SCADAOTEL_ALARMS_FILE=" + defsFile,
		"SCADAOTEL_DATA_DIR=" + dataDir,
	}
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, health, env...)

	// OTLP/HTTP: a gauge with the scada series' attributes.
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "rtu-gateway")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("scada_pressure_gauge")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetDoubleValue(72.5)
	dp.Attributes().PutStr("station", "ST-09")
	dp.Attributes().PutStr("point", "PT-901")
	dp.Attributes().PutStr("unit", "bar")
	dp.Attributes().PutStr("quality", "good")
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+otlpHTTP+"/v1/metrics", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+e2eTokenA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OTLP/HTTP: %d", resp.StatusCode)
	}

	// Remote write: a series of its own name.
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "pipeline_pressure_bar"}, {Name: "station", Value: "ST-09"}},
		Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 93}},
	}}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", "http://"+rw+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+e2eTokenA)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("remote write: %d", resp.StatusCode)
	}

	var recs []Record
	deadline := time.Now().Add(30 * time.Second)
	for len(recs) < 2 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		recs = kcatRecords(t, kcat, broker, "scada.alarms")
	}
	got := strings.Join(transitions(recs), ", ")
	if len(recs) != 2 || !strings.Contains(got, "OTLP-PT:H raise active_unacked") || !strings.Contains(got, "RW-PT:HH raise active_unacked") {
		t.Fatalf("records: %s\n%s", got, app.Output())
	}
	for _, r := range recs {
		if r.Tenant != "west-pipeline-01" {
			t.Fatalf("tenant %q", r.Tenant)
		}
	}
	if code, body := call(t, "GET", "http://"+alarmsAPI+"/api/v1/alarms?active=true", e2eTokenA, ""); code != 200 || !strings.Contains(body, "RW-PT:HH") {
		t.Fatalf("alarm API of the default config: %d %s", code, body)
	}

	// The alarm figures are stored series of the tenant (series_interval
	// 15 s in the default config), read through its Prometheus query API
	// with client_golang as Grafana would.
	promFor := func(token string) promv1.API {
		c, err := api.NewClient(api.Config{Address: "http://" + query, RoundTripper: bearer(token)})
		if err != nil {
			t.Fatal(err)
		}
		return promv1.NewAPI(c)
	}
	prom := promFor(e2eTokenA)
	want := map[string]float64{"critical": 1, "high": 1, "medium": 0, "low": 0}
	var vec model.Vector
	deadline = time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		v, _, err := prom.Query(context.Background(), `scada_alarms_active`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if vec = v.(model.Vector); len(vec) == len(want) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(vec) != len(want) {
		t.Fatalf("scada_alarms_active of the tenant: %v, want one series per priority\n%s", vec, app.Output())
	}
	for _, s := range vec {
		if p := string(s.Metric["priority"]); float64(s.Value) != want[p] {
			t.Errorf("scada_alarms_active{priority=%q} = %v, want %v", p, s.Value, want[p])
		}
		if _, ok := s.Metric["scada_tenant"]; ok {
			t.Errorf("the tenant label is in the answer: %v", s.Metric)
		}
	}
	v, _, err := prom.Query(context.Background(), `scada_alarm_rate_10m`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 2 {
		t.Errorf("scada_alarm_rate_10m: %v, want 2 raises in the last 10 minutes", vec)
	}
	// Tenant B has no definitions and sees none of A's figures.
	v, _, err = promFor(e2eTokenB).Query(context.Background(), `{__name__=~"scada_alarm.*"}`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 0 {
		t.Errorf("tenant B reads alarm series: %v", vec)
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}
