//go:build e2e

package scadareceiver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// otlpSink is an OTLP/HTTP metrics endpoint that keeps what it receives.
type otlpSink struct {
	mu      sync.Mutex
	batches []batch
	srv     *http.Server
	addr    string
}

func startOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &otlpSink{addr: ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/metrics" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		md := pmetric.NewMetrics()
		req.Metrics().CopyTo(md)
		s.mu.Lock()
		s.batches = append(s.batches, batch{md: md, at: time.Now()})
		s.mu.Unlock()
		out, _ := pmetricotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = io.Copy(w, bytes.NewReader(out))
	})}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *otlpSink) all() []batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]batch(nil), s.batches...)
}

// TestEndToEndThroughBinary runs the real scadaotel binary: scada receiver
// polling two simulated RTUs -> memory_limiter -> otlp_http exporter -> an
// OTLP/HTTP sink in this test.
func TestEndToEndThroughBinary(t *testing.T) {
	const interval = 200 * time.Millisecond
	a, b := startSim(t), startSim(t)
	a.set(func(u func(uint8) *image) {
		u(1).holding[0] = 1234 // int16 * 0.1 = 123.4 bar
		u(1).holding[10] = 1   // valve open
	})
	b.set(func(u func(uint8) *image) { u(1).input[0], u(1).input[1] = 0x4148, 0x0000 }) // float32 12.5 kPa
	sink := startOTLPSink(t)
	health := e2e.FreeAddr(t)
	cfg := fmt.Sprintf(`
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: %[1]s}
receivers:
  scada:
    poll_groups: {pressure: 200ms, valve: 400ms}
    rtus:
      - name: rtu-a
        endpoint: tcp://%[2]s
        unit_id: 1
        tenant: west-pipeline-01
        station: compressor-7
        timeout: 500ms
        points:
          - {name: discharge, kind: pressure, register: holding, address: 0, type: int16, scale: 0.1, unit: bar}
          - {name: inlet_valve, kind: valve, register: holding, address: 10, type: uint16, states: {"0": closed, "1": open, "2": travel, "3": fault}}
      - name: rtu-b
        endpoint: tcp://%[3]s
        unit_id: 1
        tenant: east-pipeline-02
        station: meter-3
        points:
          - {name: suction, kind: pressure, register: input, address: 0, type: float32, unit: kPa}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
exporters:
  otlp_http:
    endpoint: http://%[4]s
    tls: {insecure: true}
service:
  extensions: [healthcheckv2]
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [scada], processors: [memory_limiter], exporters: [otlp_http]}
`, health, a.addr, b.addr, sink.addr)
	col := e2e.StartCollector(t, cfg)

	e2e.Eventually(t, 30*time.Second, func() error {
		pts := flatten(sink.all())
		for _, want := range []struct {
			metric string
			attrs  map[string]any
		}{
			{metricPressure, map[string]any{"point": "discharge"}},
			{metricPressure, map[string]any{"point": "suction"}},
			{metricValve, map[string]any{"valve_id": "inlet_valve", "status": "open"}},
		} {
			if _, ok := find(pts, want.metric, want.attrs); !ok {
				return fmt.Errorf("no %s %v yet (%d points)", want.metric, want.attrs, len(pts))
			}
		}
		return nil
	})
	// Move the valve at T: the first sample showing it must be stamped
	// within one poll interval of the valve group after T.
	changed := time.Now()
	a.set(func(u func(uint8) *image) { u(1).holding[10] = 3 })
	e2e.Eventually(t, 10*time.Second, func() error {
		if p, ok := find(flatten(sink.all()), metricValve, map[string]any{"valve_id": "inlet_valve", "status": "fault"}); !ok || p.value != 1 {
			return fmt.Errorf("valve not yet fault")
		}
		return nil
	})
	time.Sleep(time.Second)
	if code, _ := col.Stop(t); code != 0 {
		t.Errorf("collector exit code %d", code)
	}

	bs := sink.all()
	pts := flatten(bs)
	var firstFault time.Time
	for _, p := range pts {
		if p.metric == metricValve && p.attrs["status"] == "fault" && p.value == 1 && (firstFault.IsZero() || p.ts.Before(firstFault)) {
			firstFault = p.ts
		}
	}
	if d := firstFault.Sub(changed); d < -5*time.Millisecond || d > 400*time.Millisecond+100*time.Millisecond {
		t.Errorf("valve change at %v first sampled at %v (%v later), want within one 400ms poll interval", changed, firstFault, d)
	}

	check := func(metric string, attrs map[string]any, want float64, unit string, res map[string]any) {
		t.Helper()
		p, ok := find(pts, metric, attrs)
		if !ok {
			t.Errorf("missing %s %v", metric, attrs)
			return
		}
		if math.Abs(p.value-want) > 1e-9 || p.unit != "" || unit != "" && p.attrs["unit"] != unit || p.attrs["quality"] != "good" {
			t.Errorf("%s %v = %v metric unit %q unit attr %v quality %v, want %v, unit attribute %q, good", metric, attrs, p.value, p.unit, p.attrs["unit"], p.attrs["quality"], want, unit)
		}
		for k, v := range res {
			if p.resource[k] != v {
				t.Errorf("%s %v resource %s = %v, want %v", metric, attrs, k, p.resource[k], v)
			}
		}
	}
	resA := map[string]any{"scada.tenant": "west-pipeline-01", "scada.station": "compressor-7", "scada.rtu": "rtu-a"}
	resB := map[string]any{"scada.tenant": "east-pipeline-02", "scada.station": "meter-3", "scada.rtu": "rtu-b"}
	check(metricPressure, map[string]any{"point": "discharge", "station": "compressor-7", "unit": "bar"}, 123.4, "bar", resA)
	check(metricPressure, map[string]any{"point": "suction", "station": "meter-3", "unit": "kPa"}, 12.5, "kPa", resB)
	check(metricValve, map[string]any{"valve_id": "inlet_valve", "status": "fault"}, 1, "", resA)
	check(metricValve, map[string]any{"valve_id": "inlet_valve", "status": "open"}, 0, "", resA)
	check(metricRTUUp, map[string]any{"rtu": "rtu-b"}, 1, "", resB)

	// Timestamps: each sample within one poll interval of its arrival at
	// the sink, and successive pressure samples one interval apart.
	var tsB []time.Time
	for _, b := range bs {
		for _, p := range flatten([]batch{b}) {
			if d := b.at.Sub(p.ts); d < -interval || d > interval+time.Second {
				t.Fatalf("%s sampled at %v arrived %v later", p.metric, p.ts, d)
			}
			if p.metric == metricPressure && p.resource["scada.rtu"] == "rtu-b" {
				tsB = append(tsB, p.ts)
			}
		}
	}
	slices.SortFunc(tsB, func(a, b time.Time) int { return a.Compare(b) })
	if len(tsB) < 5 {
		t.Fatalf("only %d rtu-b pressure samples", len(tsB))
	}
	for i := 1; i < len(tsB); i++ {
		if gap := tsB[i].Sub(tsB[i-1]); gap < interval/2 || gap > 2*interval {
			t.Errorf("pressure samples %d and %d are %v apart, want ~%v", i-1, i, gap, interval)
		}
	}
}
