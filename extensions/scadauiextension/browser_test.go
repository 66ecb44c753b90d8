//go:build e2e

package scadauiextension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/tenants"
)

// rtu is a simulated RTU: a real Modbus TCP server whose holding register 0
// is a pressure (int16, 0.1 bar) and register 10 a valve state.
type rtu struct {
	mu      sync.Mutex
	holding [32]uint16
	srv     *modbus.ModbusServer
	addr    string
}

func (r *rtu) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (r *rtu) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (r *rtu) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}
func (r *rtu) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(r.holding) {
		return nil, modbus.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(r.holding[req.Addr:], req.Args)
		return nil, nil
	}
	return append([]uint16(nil), r.holding[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func startRTU(t *testing.T, pressure uint16, valve uint16) *rtu {
	t.Helper()
	r := &rtu{addr: e2e.FreeAddr(t)}
	r.holding[0], r.holding[10] = pressure, valve
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + r.addr, Timeout: 30 * time.Second,
		MaxClients: 4, Logger: log.New(io.Discard, "", 0)}, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("modbus server %s: %v", r.addr, err)
	}
	r.srv = srv
	t.Cleanup(func() { _ = srv.Stop() })
	return r
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type overviewJSON struct {
	Stations []struct {
		Station string `json:"station"`
		State   string `json:"state"`
	} `json:"stations"`
}

func uiOverview(t *testing.T, base, token string) (overviewJSON, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/ui/api/overview", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return overviewJSON{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return overviewJSON{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var o overviewJSON
	return o, json.NewDecoder(resp.Body).Decode(&o)
}

// TestBrowser runs the real binary (scada receiver polling simulated RTUs
// of two tenants into the embedded store, tenantauth, scada_ui) and drives
// the UI in Debian's Chromium with playwright-core (ui/web/test/ui.mjs).
func TestBrowser(t *testing.T) {
	node, web := e2e.BrowserTools(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat (Debian package kcat, installed by scripts/install-test-deps.sh) reads the alarm records: a Kafka client this project did not write")
	}
	const (
		tokenA   = "token-west-0123456789"
		tokenB   = "token-east-9876543210"
		tenantA  = "west-pipeline-01"
		tenantB  = "east-pipeline-02"
		xss      = `<img src=x onerror=alert(1)>`
		lostName = "meter-3"
	)
	a1 := startRTU(t, 1234, 1) // compressor-7: 123.4 bar, valve open
	a2 := startRTU(t, 567, 0)  // the XSS-named station: 56.7 bar, closed
	a3 := startRTU(t, 890, 2)  // meter-3: stopped below -> comm lost
	b1 := startRTU(t, 420, 1)  // tenant B's valve-yard-2
	health, uiAddr, otlpAddr, alertsAddr, traceAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	telemetryAddr := e2e.FreeAddr(t)
	telemetryHost, telemetryPort, _ := strings.Cut(telemetryAddr, ":")
	jaeger := e2e.StartJaeger(t)
	stationJSON, _ := json.Marshal(xss)
	// Process alarms: limits on compressor-7's discharge pressure (tenant
	// A) and on valve-yard-2's (tenant B), records to a kfake broker.
	alarmsAddr, broker := e2e.FreeAddr(t), e2e.FreeAddr(t)
	_, brokerPort, _ := strings.Cut(broker, ":")
	port, err := strconv.Atoi(brokerPort)
	if err != nil {
		t.Fatal(err)
	}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "scada.alarms", "scada.alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	dataDir := t.TempDir()
	defsFile := filepath.Join(dataDir, "alarms.yaml")
	if err := os.WriteFile(defsFile, []byte(browserAlarmDefinitions), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
  tenantauth:
    tenants:
      - {id: %[2]s, token_sha256: [%[3]s]}
      - {id: %[4]s, token_sha256: [%[5]s]}
  scada_ui:
    endpoint: %[6]s
    trace_query_endpoint: http://%[15]s
    alerts_endpoint: http://%[14]s
    alarms_endpoint: http://%[21]s
    telemetry_endpoint: http://%[18]s/metrics
    telemetry_interval: 1s
    shared_figures: true # one operator, both views: the test reads queues and exports
    stale_after: 5s
  log_storage:
    directory: %[23]s/queue-log
  tenant_trace_query:
    endpoint: %[15]s
    jaeger_endpoint: %[16]s
receivers:
  otlp:
    protocols:
      http: {endpoint: %[13]s, auth: {authenticator: tenantauth}}
  scada:
    poll_groups: {pressure: 500ms, valve: 1s}
    rtus:
      - {name: rtu-a1, endpoint: tcp://%[7]s, unit_id: 1, tenant: %[2]s, station: compressor-7, timeout: 300ms, point_sets: [ps]}
      - {name: rtu-a2, endpoint: tcp://%[8]s, unit_id: 1, tenant: %[2]s, station: %[11]s, timeout: 300ms, point_sets: [ps]}
      - {name: rtu-a3, endpoint: tcp://%[9]s, unit_id: 1, tenant: %[2]s, station: %[12]s, timeout: 300ms, point_sets: [ps]}
      - {name: rtu-b1, endpoint: tcp://%[10]s, unit_id: 1, tenant: %[4]s, station: valve-yard-2, timeout: 300ms, point_sets: [ps]}
    point_sets:
      ps:
        - {name: discharge, kind: pressure, register: holding, address: 0, type: int16, scale: 0.1, unit: bar}
        - {name: inlet_valve, kind: valve, register: holding, address: 10, type: uint16, states: {"0": closed, "1": open, "2": travel, "3": fault}}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  tenantstamp: {}
  traceidrepair: {}
connectors:
  errorfanout:
    store: [traces/store]
    alert: []
    window: 10s
    buckets: 5
    min_spans: 10
    threshold: 0.05
    http: {endpoint: %[14]s, auth: {authenticator: tenantauth}}
  alarm:
    definitions_file: %[22]s
    state: {directory: %[23]s/alarms}
    tick_interval: 100ms
    http: {endpoint: %[21]s, auth: {authenticator: tenantauth}}
exporters:
  victoriametrics: {}
  kafka_alerts:
    brokers: [%[24]s]
    topic: scada.alerts
    authenticator: tenantauth
    sending_queue: {storage: log_storage, sizer: bytes, queue_size: 67108864, num_consumers: 1}
  otlp_http/jaeger: {endpoint: "http://%[17]s", tls: {insecure: true}}
service:
  extensions: [healthcheckv2, tenantauth, log_storage, tenant_trace_query, scada_ui]
  telemetry:
    metrics:
      level: normal
      readers: [{pull: {exporter: {prometheus: {host: %[19]s, port: %[20]s}}}}]
  pipelines:
    metrics: {receivers: [scada], processors: [memory_limiter], exporters: [victoriametrics, alarm]}
    logs/alarms: {receivers: [alarm], exporters: [kafka_alerts]}
    traces: {receivers: [otlp], processors: [memory_limiter, tenantstamp, traceidrepair], exporters: [errorfanout]}
    traces/store: {receivers: [errorfanout], exporters: [otlp_http/jaeger]}
    metrics/ratio: {receivers: [errorfanout], exporters: [victoriametrics]}
`, health, tenantA, sha(tokenA), tenantB, sha(tokenB), uiAddr, a1.addr, a2.addr, a3.addr, b1.addr, stationJSON, lostName, otlpAddr, alertsAddr, traceAddr, jaeger.QueryURL, jaeger.OTLPHTTP, telemetryAddr, telemetryHost, telemetryPort,
		alarmsAddr, defsFile, dataDir, broker)
	col := e2e.StartCollector(t, cfg)
	base := "http://" + uiAddr

	// One trace of tenant A across an MQ bridge: a span named like a
	// script, and a legacy-side span marked repaired with its original id.
	e2e.Eventually(t, 20*time.Second, func() error { return sendRepairedTrace(t, otlpAddr, tokenA) })
	// A producer span, then a fragment of its trace whose id lost its high
	// half on the MQ bridge: the traceidrepair processor repairs it (the
	// Appliance view shows tenant A one repaired fragment).
	e2e.Eventually(t, 20*time.Second, func() error { return sendFragment(otlpAddr, tokenA, fragmentOrigin, "mq-send", 4) })
	e2e.Eventually(t, 20*time.Second, func() error {
		return sendFragment(otlpAddr, tokenA, "0000000000000000"+fragmentOrigin[16:], "legacy-post", 5)
	})

	// Traffic: tenant A's plc-gateway at compressor-7 in an error burst
	// (50 % errors), tenant B's historian-sync healthy, every 500 ms.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			sendSpans(ctx, t, otlpAddr, tokenA, "plc-gateway", "compressor-7", i, 20, 10)
			sendSpans(ctx, t, otlpAddr, tokenB, "historian-sync", "valve-yard-2", i, 20, 0)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	// Wait until every station is up. The browser script then has the RTU
	// of one station stopped (through the control server below) and times
	// how long the overview takes to show it comm lost.
	e2e.Eventually(t, 60*time.Second, func() error {
		o, err := uiOverview(t, base, tokenA)
		if err != nil {
			return err
		}
		up := 0
		for _, s := range o.Stations {
			if s.State == "up" {
				up++
			}
		}
		if up != 3 {
			return fmt.Errorf("want 3 stations up, got %+v", o.Stations)
		}
		return nil
	})
	// The station chart's points are the stored samples: 123.4 bar.
	e2e.Eventually(t, 20*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, base+"/ui/api/station?station=compressor-7&range=300", nil)
		req.Header.Set("Authorization", "Bearer "+tokenA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var st stationDetail
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || len(st.Pressure) != 1 {
			return fmt.Errorf("station API: %v %+v", err, st.Pressure)
		}
		n := 0
		for _, v := range st.Pressure[0].Values {
			if v != nil {
				n++
				if *v != 123.4 {
					t.Errorf("chart point %v, want 123.4", *v)
				}
			}
		}
		if n < 3 || st.Pressure[0].Unit != "bar" || st.Pressure[0].Point != "discharge" {
			return fmt.Errorf("station API: %d points, %+v", n, st.Pressure[0])
		}
		return nil
	})

	art := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	// The burst fires an alert and its error rate reaches the store.
	e2e.Eventually(t, 30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, base+"/ui/api/services?range=300", nil)
		req.Header.Set("Authorization", "Bearer "+tokenA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var sd servicesDetail
		err = json.NewDecoder(resp.Body).Decode(&sd)
		resp.Body.Close()
		if err != nil || len(sd.Services) == 0 || sd.Services[0].Service != "plc-gateway" || !sd.Services[0].Above {
			var names []string
			for _, sv := range sd.Services {
				names = append(names, fmt.Sprintf("%s above=%v", sv.Service, sv.Above))
			}
			return fmt.Errorf("services: %v %v", err, names)
		}
		return nil
	})
	runCtx, runCancel := context.WithTimeout(ctx, 3*time.Minute)
	defer runCancel()
	// The control server lets the browser script stop the RTU of the lost
	// station at the moment it chooses (it answers when, in ms, it
	// stopped), set compressor-7's pressure (register value, 0.1 bar), and
	// read an alarm's Kafka records with kcat.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stop-rtu":
			at := time.Now()
			_ = a3.srv.Stop()
			httpjson.Write(w, http.StatusOK, map[string]int64{"stopped_ms": at.UnixMilli()})
		case "/set-pressure":
			var v uint16
			if _, err := fmt.Sscan(r.URL.Query().Get("value"), &v); err != nil {
				http.Error(w, "value", http.StatusBadRequest)
				return
			}
			a1.mu.Lock()
			a1.holding[0] = v
			a1.mu.Unlock()
			httpjson.Write(w, http.StatusOK, map[string]uint16{"value": v})
		case "/alarm-records":
			httpjson.Write(w, http.StatusOK, alarmRecords(t, kcat, broker, r.URL.Query().Get("alarm")))
		default:
			http.NotFound(w, r)
		}
	}))
	defer control.Close()
	for _, script := range []string{filepath.Join(web, "test", "ui.mjs")} {
		cmd := exec.CommandContext(runCtx, node, script)
		cmd.Dir = web
		cmd.Env = append(os.Environ(),
			"UI_URL="+base,
			"TOKEN_A="+tokenA, "TOKEN_B="+tokenB,
			"TENANT_A="+tenantA, "TENANT_B="+tenantB,
			"STATIONS_A="+strings.Join([]string{"compressor-7", xss, lostName}, "\n"),
			"STATIONS_B=valve-yard-2",
			"XSS_STATION="+xss, "LOST_STATION="+lostName,
			"SCRIPT_SPAN="+scriptSpan, "REPAIRED_TRACE="+repairedTrace, "ORIGINAL_ID="+originalID,
			"SERVICE_A=plc-gateway", "SERVICE_B=historian-sync", "FIRING_STATION=compressor-7",
			"ARTIFACTS="+art, "CONTROL_URL="+control.URL,
			"POLL_INTERVAL_MS=500",
			"ALARM_A=C7-discharge:H", "ALARM_A_HH=C7-discharge:HH", "ALARM_B=VY2-discharge:L",
			"ACTOR_A="+tenants.TokenActor(tokenA),
		)
		out, err := cmd.CombinedOutput()
		t.Logf("%s:\n%s", filepath.Base(script), out)
		if err != nil {
			t.Fatalf("%s failed: %v", filepath.Base(script), err)
		}
	}
	shots, _ := filepath.Glob(filepath.Join(art, "*.png"))
	t.Logf("screenshots in %s: %d files", art, len(shots))
	if len(shots) < 4 {
		t.Errorf("want screenshots of every view, got %v", shots)
	}
	// Keep two for the README when asked (UI_DOCS_SCREENSHOTS=1).
	if os.Getenv("UI_DOCS_SCREENSHOTS") == "1" {
		for _, n := range []string{"overview-en.png", "station-zh-CN.png", "appliance-en.png", "alarms-bar-en.png", "alarms-zh-CN.png"} {
			b, err := os.ReadFile(filepath.Join(art, n))
			if err == nil {
				err = os.WriteFile(filepath.Join(e2e.RepoRoot(t), "extensions", "scadauiextension", "docs", n), b, 0o644)
			}
			if err != nil {
				t.Errorf("copy %s to extensions/scadauiextension/docs: %v", n, err)
			}
		}
	}
	cancel()
	wg.Wait()
	if code, _ := col.Stop(t); code != 0 {
		t.Errorf("collector exit code %d", code)
	}
}

// browserAlarmDefinitions: H and HH on compressor-7's discharge (tenant
// A, message with HTML that must stay text), L on valve-yard-2's (tenant B).
const browserAlarmDefinitions = `tenants:
  west-pipeline-01:
    alarms:
      - id: C7-discharge
        series: 'scada_pressure_gauge{station="compressor-7", point="discharge"}'
        limits: {h: 150, hh: 200}
        priorities: {hh: critical}
        priority: high
        deadband: 1
        message:
          en: "Compressor-7 <i>discharge</i> {level}: {value} {unit} (limit {limit})"
          zh-CN: "7号压缩机 <i>出口</i>压力{level}：{value} {unit}（限值 {limit}）"
  east-pipeline-02:
    alarms:
      - id: VY2-discharge
        series: 'scada_pressure_gauge{station="valve-yard-2", point="discharge"}'
        limits: {l: 10}
        priority: medium
        message: {en: "Valve yard 2 discharge low", zh-CN: "2号阀场出口压力低"}
`

// alarmRecord is what the browser script checks of an alarm's records.
type alarmRecord struct {
	AlarmID    string  `json:"alarm_id"`
	Tenant     string  `json:"tenant"`
	Transition string  `json:"transition"`
	State      string  `json:"state"`
	Seq        int     `json:"seq"`
	Actor      *string `json:"actor"`
	Reason     *string `json:"reason"`
	RecordID   string  `json:"record_id"`
}

// alarmRecords reads scada.alarms from the beginning with kcat (a Kafka
// client this project did not write) and keeps alarm's records.
func alarmRecords(t *testing.T, kcat, broker, alarm string) []alarmRecord {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", "scada.alarms", "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
	if err != nil {
		t.Logf("kcat: %v", err)
		return []alarmRecord{}
	}
	recs := []alarmRecord{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r alarmRecord
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("alarm record %q: %v", line, err)
			continue
		}
		if r.AlarmID == alarm {
			recs = append(recs, r)
		}
	}
	return recs
}

// sendSpans posts n spans (errs of them with status Error) of service at
// station over OTLP/HTTP JSON with token.
func sendSpans(ctx context.Context, t *testing.T, addr, token, service, station string, round, n, errs int) {
	type kv = map[string]any
	spans := make([]kv, 0, n)
	now := time.Now()
	for i := range n {
		code := 1
		if i < errs {
			code = 2
		}
		spans = append(spans, kv{
			"traceId":           fmt.Sprintf("%016x%08x%08x", now.UnixNano(), round, i),
			"spanId":            fmt.Sprintf("%08x%08x", round, i+1),
			"name":              "poll",
			"kind":              2,
			"startTimeUnixNano": fmt.Sprint(now.Add(-time.Millisecond).UnixNano()),
			"endTimeUnixNano":   fmt.Sprint(now.UnixNano()),
			"status":            kv{"code": code},
		})
	}
	body, _ := json.Marshal(kv{"resourceSpans": []kv{{
		"resource": kv{"attributes": []kv{
			{"key": "service.name", "value": kv{"stringValue": service}},
			{"key": "scada.station", "value": kv{"stringValue": station}},
		}},
		"scopeSpans": []kv{{"scope": kv{"name": "ui-test"}, "spans": spans}},
	}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/traces", strings.NewReader(string(body)))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // the collector stopping at the end of the test
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && ctx.Err() == nil {
		t.Errorf("OTLP export for %s: HTTP %d", service, resp.StatusCode)
	}
}

const (
	scriptSpan    = "<script>window.__xss=1;alert(1)</script>"
	repairedTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	originalID    = "0000000000000000a3ce929d0e0e4736"
)

const fragmentOrigin = "7a11bee5c0de00425ca1ab1e0ddba11a"

// sendFragment posts one span of plc-gateway (compressor-7) in trace id.
func sendFragment(addr, token, id, name string, kind int) error {
	type kv = map[string]any
	now := time.Now()
	str := func(k, v string) kv { return kv{"key": k, "value": kv{"stringValue": v}} }
	body, _ := json.Marshal(kv{"resourceSpans": []kv{{
		"resource": kv{"attributes": []kv{str("service.name", "plc-gateway"), str("scada.station", "compressor-7")}},
		"scopeSpans": []kv{{"scope": kv{"name": "ui-test"}, "spans": []kv{{
			"traceId": id, "spanId": fmt.Sprintf("%016x", now.UnixNano()), "name": name, "kind": kind,
			"startTimeUnixNano": fmt.Sprint(now.Add(-2 * time.Millisecond).UnixNano()), "endTimeUnixNano": fmt.Sprint(now.UnixNano()),
			"status": kv{"code": 1},
		}}}},
	}}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP export: HTTP %d", resp.StatusCode)
	}
	return nil
}

// sendRepairedTrace posts one trace of two services: plc-gateway's
// mq-publish and a script-named child, and cobol-batch's legacy span that
// the repair step re-linked (scada.traceid.repair=repaired and the
// original, truncated id).
func sendRepairedTrace(t *testing.T, addr, token string) error {
	type kv = map[string]any
	now := time.Now()
	ns := func(d time.Duration) string { return fmt.Sprint(now.Add(d).UnixNano()) }
	str := func(k, v string) kv { return kv{"key": k, "value": kv{"stringValue": v}} }
	rs := func(service string, spans ...kv) kv {
		return kv{"resource": kv{"attributes": []kv{str("service.name", service), str("scada.station", "compressor-7")}},
			"scopeSpans": []kv{{"scope": kv{"name": "ui-test"}, "spans": spans}}}
	}
	body, _ := json.Marshal(kv{"resourceSpans": []kv{
		rs("plc-gateway",
			kv{"traceId": repairedTrace, "spanId": "1000000000000001", "name": "mq-publish", "kind": 4,
				"startTimeUnixNano": ns(-50 * time.Millisecond), "endTimeUnixNano": ns(-40 * time.Millisecond), "status": kv{"code": 1}},
			kv{"traceId": repairedTrace, "spanId": "1000000000000002", "parentSpanId": "1000000000000001", "name": scriptSpan, "kind": 1,
				"startTimeUnixNano": ns(-48 * time.Millisecond), "endTimeUnixNano": ns(-45 * time.Millisecond), "status": kv{"code": 1}}),
		rs("cobol-batch",
			kv{"traceId": repairedTrace, "spanId": "2000000000000001", "parentSpanId": "1000000000000001", "name": "BATCH-POST", "kind": 5,
				"startTimeUnixNano": ns(-30 * time.Millisecond), "endTimeUnixNano": ns(-5 * time.Millisecond), "status": kv{"code": 1},
				"attributes": []kv{str("scada.traceid.repair", "repaired"), str("scada.traceid.original", originalID)}}),
	}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP export: HTTP %d", resp.StatusCode)
	}
	return nil
}
