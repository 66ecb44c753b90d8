//go:build e2e

package alarmconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/freeport"
	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
)

const (
	e2eTokenA = "alarm-west-token-5b1e"
	e2eTokenB = "alarm-east-token-9c0d"
	e2ePoints = 20
)

// startRTU is a simulated Modbus RTU (the testbench's) with points
// PT-00..PT-19 in holding registers 0..19, each at value.
func startRTU(t testing.TB, value uint16) (*rtusim.RTU, *rtusim.Bank) {
	t.Helper()
	bank := rtusim.NewBank(false)
	for i := 0; i < e2ePoints; i++ {
		bank.Set(1, rtusim.Holding, uint16(i), value)
	}
	r := rtusim.NewRTU("rtu", "127.0.0.1:0", []uint8{1}, bank)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r, bank
}

func e2eConfig(health, api, kafka, tenantsFile, defsFile, dataDir, rtuA, rtuB string) string {
	var pts strings.Builder
	for i := 0; i < e2ePoints; i++ {
		fmt.Fprintf(&pts, "          - {name: PT-%02d, kind: pressure, register: holding, address: %d, type: uint16, unit: bar}\n", i, i)
	}
	return fmt.Sprintf(`
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
  log_storage:
    directory: %[6]s/queue-log
  tenantauth:
    tenants_file: %[4]s
    audit:
      directory: %[6]s/audit
receivers:
  scada:
    poll_groups: {pressure: 200ms}
    point_sets:
      station:
%[9]s
    rtus:
      - {name: rtu-a, endpoint: "tcp://%[7]s", unit_id: 1, tenant: west-pipeline-01, station: ST-07, timeout: 300ms, point_sets: [station]}
      - {name: rtu-b, endpoint: "tcp://%[8]s", unit_id: 1, tenant: east-pipeline-02, station: ST-07, timeout: 300ms, point_sets: [station]}
    reconnect: {initial_interval: 100ms, max_interval: 500ms}
processors:
  memory_limiter: {check_interval: 100ms, limit_mib: 512}
  tenantstamp:
connectors:
  alarm:
    definitions_file: %[5]s
    state:
      directory: %[6]s/alarms
    tick_interval: 100ms
    http:
      endpoint: %[2]s
      auth:
        authenticator: tenantauth
exporters:
  kafka_alerts:
    brokers: [%[3]s]
    topic: scada.alerts
    authenticator: tenantauth
    sending_queue:
      storage: log_storage
      sizer: bytes
      queue_size: 67108864
      num_consumers: 1
service:
  extensions: [healthcheckv2, log_storage, tenantauth]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics:
      receivers: [scada]
      processors: [memory_limiter, tenantstamp]
      exporters: [alarm]
    logs/alarms:
      receivers: [alarm]
      exporters: [kafka_alerts]
`, health, api, kafka, tenantsFile, defsFile, dataDir, rtuA, rtuB, strings.TrimRight(pts.String(), "\n"))
}

func e2eDefinitions() string {
	var b strings.Builder
	b.WriteString("tenants:\n  west-pipeline-01:\n    alarms:\n")
	for i := 0; i < e2ePoints; i++ {
		fmt.Fprintf(&b, "      - {id: PT-%02d, series: 'scada_pressure_gauge{station=\"ST-07\", point=\"PT-%02d\"}', limits: {h: 70}, deadband: 2, priority: high, message: {en: \"PT-%02d high {value} {unit}\", zh-CN: \"PT-%02d 压力高 {value} {unit}\"}}\n", i, i, i, i)
	}
	// B watches the same series name and labels on its own RTU, under its own id.
	b.WriteString("  east-pipeline-02:\n    alarms:\n")
	b.WriteString("      - {id: B-PT-00, series: 'scada_pressure_gauge{station=\"ST-07\", point=\"PT-00\"}', limits: {h: 70}, priority: high, message: {en: \"B PT-00 high\", zh-CN: \"B PT-00 压力高\"}}\n")
	return b.String()
}

// kcatRecords reads every record of topic with kcat (a Kafka client we did
// not write); each must match the published schema.
func kcatRecords(t *testing.T, kcat, broker, topic string) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Logf("kcat: %v", err)
		return nil
	}
	var recs []Record
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		key, body, _ := strings.Cut(line, "\t")
		if err := CheckRecord("alarm-record.schema.json", []byte(body)); err != nil {
			t.Fatalf("record %s: %v", body, err)
		}
		var r Record
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		if key != r.Tenant+"/"+r.AlarmID {
			t.Fatalf("key %q for %s/%s", key, r.Tenant, r.AlarmID)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitRecords waits until topic holds want records and checks no more come
// within settle.
func waitRecords(t *testing.T, kcat, broker, topic string, want []string, settle time.Duration) []Record {
	t.Helper()
	var recs []Record
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs = kcatRecords(t, kcat, broker, topic)
		if len(recs) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(settle)
	recs = kcatRecords(t, kcat, broker, topic)
	if got := transitions(recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records on %s:\n%s\nwant:\n%s", topic, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return recs
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func alarmState(t *testing.T, api, token, id string) string {
	t.Helper()
	code, body := call(t, "GET", api+"/api/v1/alarms/"+id, token, "")
	if code != http.StatusOK {
		return fmt.Sprintf("HTTP %d", code)
	}
	var v View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.State
}

// TestAlarmsEndToEnd runs the real binary with simulated RTUs (the
// testbench's Modbus simulator), the alarm connector and kafka_alerts to a
// kfake broker read by kcat:
//   - a limit crossing gives exactly one record;
//   - kill -9 after the crossing: the state is kept and nothing is sent twice;
//   - acknowledging through the API gives one more record, with the actor,
//     and an audit record;
//   - tenant B cannot list, acknowledge or shelve A's alarms (404 like a
//     missing one), and B's definition on the same series name never sees
//     A's samples;
//   - comm loss of an RTU with 20 alarmed points gives exactly one
//     communication alarm and no value alarm.
func TestAlarmsEndToEnd(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat (Debian package kcat, installed by scripts/install-test-deps.sh) reads the records: a Kafka client this project did not write")
	}
	broker, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(broker)
	port, _ := strconv.Atoi(portStr)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "scada.alarms", "scada.alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()

	rtuA, bankA := startRTU(t, 50)
	rtuB, _ := startRTU(t, 50)
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte("tenants:\n"+
		"  - id: west-pipeline-01\n    token_sha256: ["+tenants.HashToken(e2eTokenA)+"]\n"+
		"  - id: east-pipeline-02\n    token_sha256: ["+tenants.HashToken(e2eTokenB)+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defsFile := filepath.Join(dir, "alarms.yaml")
	if err := os.WriteFile(defsFile, []byte(e2eDefinitions()), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	health, apiAddr := e2e.FreeAddr(t), e2e.FreeAddr(t)
	api := "http://" + apiAddr
	cfg := e2eConfig(health, apiAddr, broker, tenantsFile, defsFile, dataDir,
		strings.TrimPrefix(rtuA.Endpoint(), "tcp://"), strings.TrimPrefix(rtuB.Endpoint(), "tcp://"))
	col := e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+dataDir)

	// All normal: the list has the 20 alarms, nothing goes to Kafka.
	e2e.Eventually(t, 30*time.Second, func() error {
		code, body := call(t, "GET", api+"/api/v1/alarms", e2eTokenA, "")
		var l listResponse
		_ = json.Unmarshal([]byte(body), &l)
		if code != 200 || len(l.Alarms) != e2ePoints || l.Alarms[0].SampleTime == nil {
			return fmt.Errorf("list: %d %.200s", code, body)
		}
		return nil
	})

	// A limit crossing: exactly one record.
	bankA.Set(1, rtusim.Holding, 0, 75)
	recs := waitRecords(t, kcat, broker, "scada.alarms", []string{"PT-00:H raise active_unacked"}, 2*time.Second)
	if r := recs[0]; r.Tenant != "west-pipeline-01" || *r.Value != 75 || *r.Limit != 70 || *r.RTU != "rtu-a" || r.Message.ZhCN != "PT-00 压力高 75 bar" {
		t.Fatalf("record %+v", r)
	}

	// kill -9 between the crossing and the acknowledgement.
	col.Kill(t)
	col = col.Restart(t, "SCADAOTEL_DATA_DIR="+dataDir)
	e2e.Eventually(t, 30*time.Second, func() error {
		if s := alarmState(t, api, e2eTokenA, "PT-00:H"); s != "active_unacked" {
			return fmt.Errorf("PT-00:H after restart: %s", s)
		}
		return nil
	})
	waitRecords(t, kcat, broker, "scada.alarms", []string{"PT-00:H raise active_unacked"}, 2*time.Second)

	// Tenant B: its own alarm on the same series name stays normal; A's
	// alarms answer 404 exactly like missing ones.
	if s := alarmState(t, api, e2eTokenB, "B-PT-00:H"); s != "normal" {
		t.Fatalf("B's alarm saw A's sample: %s", s)
	}
	_, listB := call(t, "GET", api+"/api/v1/alarms", e2eTokenB, "")
	if strings.Contains(listB, `"PT-00:H"`) {
		t.Fatalf("B lists A's alarm: %s", listB)
	}
	for _, p := range []struct{ method, path, body string }{
		{"GET", "/api/v1/alarms/%s", ""},
		{"POST", "/api/v1/alarms/%s/ack", ""},
		{"POST", "/api/v1/alarms/%s/shelve", `{"duration":"1h","reason":"x"}`},
		{"POST", "/api/v1/alarms/%s/unshelve", ""},
	} {
		c1, b1 := call(t, p.method, api+fmt.Sprintf(p.path, "PT-00:H"), e2eTokenB, p.body)
		c2, b2 := call(t, p.method, api+fmt.Sprintf(p.path, "NO-SUCH:H"), e2eTokenB, p.body)
		if c1 != 404 || c2 != 404 || b1 != b2 {
			t.Fatalf("%s %s as B: %d %q; missing: %d %q", p.method, p.path, c1, b1, c2, b2)
		}
	}
	if code, body := call(t, "GET", api+"/api/v1/alarms", "wrong-token", ""); code != 401 {
		t.Fatalf("unknown token: %d %s", code, body)
	}

	// Acknowledge as A: one more record, with the actor.
	if code, body := call(t, "POST", api+"/api/v1/alarms/PT-00:H/ack", e2eTokenA, `{"reason":"crew dispatched"}`); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	recs = waitRecords(t, kcat, broker, "scada.alarms", []string{"PT-00:H raise active_unacked", "PT-00:H ack active_acked"}, 2*time.Second)
	if r := recs[1]; r.Actor == nil || *r.Actor != tenants.TokenActor(e2eTokenA) || *r.Reason != "crew dispatched" || *r.EpisodeID != *recs[0].EpisodeID {
		t.Fatalf("ack record %+v", r)
	}
	_, jb := call(t, "GET", api+"/api/v1/alarm-journal", e2eTokenA, "")
	if !strings.Contains(jb, tenants.TokenActor(e2eTokenA)) || !strings.Contains(jb, "crew dispatched") {
		t.Fatalf("journal: %s", jb)
	}
	if _, jbB := call(t, "GET", api+"/api/v1/alarm-journal", e2eTokenB, ""); strings.Contains(jbB, "crew dispatched") {
		t.Fatalf("B reads A's journal: %s", jbB)
	}
	auditFiles, _ := filepath.Glob(filepath.Join(dataDir, "audit", "audit-*.jsonl"))
	var auditText strings.Builder
	for _, f := range auditFiles {
		b, _ := os.ReadFile(f)
		auditText.Write(b)
	}
	if !strings.Contains(auditText.String(), `"action":"alarm_ack"`) || !strings.Contains(auditText.String(), `"object":"PT-00:H"`) {
		t.Fatalf("no alarm_ack in the audit trail:\n%s", auditText.String())
	}

	// Back to normal, then the RTU's link drops: one communication alarm,
	// no value alarm, however many polls fail.
	bankA.Set(1, rtusim.Holding, 0, 50)
	want := []string{"PT-00:H raise active_unacked", "PT-00:H ack active_acked", "PT-00:H clear normal"}
	waitRecords(t, kcat, broker, "scada.alarms", want, time.Second)
	if err := rtuA.SetFault(rtusim.Fault{Mode: rtusim.FaultRefuse}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "comm:rtu-a raise active_unacked")
	recs = waitRecords(t, kcat, broker, "scada.alarms", want, 3*time.Second)
	if r := recs[3]; r.Kind != "communication" || *r.RTU != "rtu-a" || r.Priority != "high" {
		t.Fatalf("comm record %+v", r)
	}
	code, body := call(t, "GET", api+"/api/v1/alarms", e2eTokenA, "")
	var l listResponse
	_ = json.Unmarshal([]byte(body), &l)
	suppressed := 0
	for _, v := range l.Alarms {
		if v.State == "suppressed" {
			suppressed++
		}
	}
	if code != 200 || suppressed != e2ePoints {
		t.Fatalf("%d of %d value alarms suppressed: %s", suppressed, e2ePoints, body)
	}
	// The link returns: the communication alarm returns to normal (unacknowledged).
	if err := rtuA.SetFault(rtusim.Fault{}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "comm:rtu-a rtn rtn_unacked")
	waitRecords(t, kcat, broker, "scada.alarms", want, 2*time.Second)
	// Nothing went to the alert topic.
	if got := kcatRecords(t, kcat, broker, "scada.alerts"); len(got) != 0 {
		t.Fatalf("alarm records on scada.alerts: %v", transitions(got))
	}
	if code, _ := col.Stop(t); code != 0 {
		t.Fatalf("exit code %d\n%s", code, col.Output())
	}
}
