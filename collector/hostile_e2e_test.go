//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// startDefaultAppliance runs the embedded default config (no --config)
// with Jaeger and a Kafka-protocol broker; with nofile > 0 under
// `prlimit --nofile=N:N`.
func startDefaultAppliance(t *testing.T, nofile int, extraEnv ...string) (applianceEnv, *e2e.Collector, *kfake.Cluster) {
	t.Helper()
	jaeger := e2e.StartJaeger(t)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kafka.Close)
	env := newApplianceEnv(t)
	env.dataDir = t.TempDir()
	vars := append(env.vars(jaeger, env.dataDir, kafka.ListenAddrs()[0]), extraEnv...)
	if nofile <= 0 {
		return env, e2e.StartCollectorArgs(t, nil, env.health, vars...), kafka
	}
	c := &e2e.Collector{}
	c.Process = e2e.Start(t, "scadaotel", "/usr/bin/prlimit",
		[]string{fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", e2e.Binary(t)}, vars...)
	c.HealthURL = "http://" + env.health + "/status"
	e2e.WaitHTTP(t, c.Process, c.HealthURL, 30*time.Second)
	return env, c, kafka
}

var rwClient = &http.Client{Timeout: 30 * time.Second}

// remoteWrite posts a remote-write body (snappy-marked when marked).
func remoteWrite(addr, token string, body []byte, marked bool) (int, string, error) {
	return remoteWriteWith(rwClient, addr, token, body, marked)
}

func remoteWriteWith(client *http.Client, addr, token string, body []byte, marked bool) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/write", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if marked {
		req.Header.Set("Content-Encoding", "snappy")
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg), nil
}

func openFDs(pid int) int {
	names, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(names)
}

func sampleWrite(t *testing.T, name string, v float64) []byte {
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: name}, {Name: "station", Value: "PS-07"}},
		Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: v}},
	}}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

// vmHWM is the process's peak resident set (VmHWM) in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// writeAndQuery writes one sample by remote write as west and reads it
// back through the tenant-scoped query API.
func writeAndQuery(env applianceEnv, name string, v float64, body []byte) error {
	code, msg, err := remoteWrite(env.remoteWrite, westToken, body, true)
	if err != nil {
		return err
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("remote write: HTTP %d %s", code, msg)
	}
	var res promResult
	q := url.Values{"query": {name}}
	if err := tryGetJSON("http://"+env.query+"/api/v1/query?"+q.Encode(), &res, westToken); err != nil {
		return err
	}
	if len(res.Data.Result) != 1 || res.Data.Result[0].Value[1] != fmt.Sprint(v) {
		return fmt.Errorf("query %s: %+v", name, res.Data.Result)
	}
	return nil
}

// TestHostileClientsCannotExhaustDescriptors (issue 19 point 5): under
// `ulimit -n 512`, an unauthenticated client opens 700 half-sent
// connections on every listener (OTLP gRPC and HTTP, remote write,
// prometheus_query, tenant_trace_query, the alert API, the UI, health,
// self-metrics) and keeps them open. The appliance stays up, the embedded
// storage logs no fatal error, and once the attacker is gone an
// authenticated client writes and queries again.
func TestHostileClientsCannotExhaustDescriptors(t *testing.T) {
	env, app, _ := startDefaultAppliance(t, 512)
	// Data the storage has to flush (it opens files to do so) while the
	// attack lasts.
	e2e.Eventually(t, 20*time.Second, func() error { return writeAndQuery(env, "before_attack", 1, sampleWrite(t, "before_attack", 1)) })

	// The appliance's open descriptors, sampled every millisecond: they must
	// never all be taken (the storage fails at the first open that finds
	// none).
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	samplingDone := make(chan struct{})
	go func() {
		defer close(samplingDone)
		for {
			select {
			case <-stopSampling:
				return
			default:
			}
			if n := int64(openFDs(app.Pid())); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	const perListener = 700
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	for _, addr := range env.listeners() {
		for w := 0; w < 20; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perListener; i += 20 {
					c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
					if err != nil {
						continue
					}
					// Half a request: headers never end (an HTTP/2 client
					// preface never ends, for gRPC).
					_, _ = c.Write([]byte("POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"))
					mu.Lock()
					held = append(held, c)
					mu.Unlock()
				}
			}()
		}
	}
	// Authenticated writes during the attack, on a connection opened
	// before it (keep-alive): new series every 50 ms, so the storage keeps
	// creating part files while the attacker holds every descriptor it can.
	writer := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	if code, msg, err := remoteWriteWith(writer, env.remoteWrite, westToken, sampleWrite(t, "writer_ready", 1), true); err != nil || code != http.StatusNoContent {
		t.Fatalf("writer: %d %s %v", code, msg, err)
	}
	stopWrites := make(chan struct{})
	writesDone := make(chan struct{})
	accepted := 0
	go func() {
		defer close(writesDone)
		for i := 0; ; i++ {
			select {
			case <-stopWrites:
				return
			default:
			}
			if code, _, _ := remoteWriteWith(writer, env.remoteWrite, westToken, sampleWrite(t, fmt.Sprintf("during_attack_%d", i), float64(i)), true); code == http.StatusNoContent {
				accepted++
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	t.Logf("attacker holds %d connections; the appliance has %d descriptors open", len(held), openFDs(app.Pid()))
	time.Sleep(12 * time.Second) // several storage flushes while the descriptors are taken
	t.Logf("after 12 s: %d descriptors open", openFDs(app.Pid()))
	close(stopWrites)
	<-writesDone
	close(stopSampling)
	<-samplingDone
	t.Logf("%d writes accepted during the attack; at most %d of 512 descriptors open", accepted, peak.Load())
	if peak.Load() >= 512 {
		t.Errorf("every descriptor was taken at some point (%d open): the storage could have failed", peak.Load())
	}
	if app.Exited() {
		t.Fatalf("the appliance exited under the attack:\n%s", tail(app.Output(), 40))
	}
	for _, c := range held {
		_ = c.Close()
	}

	// Recovered: health, an authenticated write and its query.
	e2e.Eventually(t, 60*time.Second, func() error {
		if app.Exited() {
			t.Fatalf("the appliance exited after the attack:\n%s", tail(app.Output(), 40))
		}
		return writeAndQuery(env, "after_attack", 2, sampleWrite(t, "after_attack", 2))
	})
	e2e.WaitHTTP(t, app.Process, app.HealthURL, 10*time.Second)
	out := app.Output()
	for _, bad := range []string{"panic:", "FATAL", "too many open files\n\tpanic"} {
		if strings.Contains(out, bad) {
			t.Fatalf("output has %q:\n%s", bad, tail(out, 40))
		}
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// TestRemoteWriteDecompressionBombsKeepMemoryBounded (issue 19 point 8):
// 16 parallel snappy bodies of about 6 MB that decode to 120 MiB each,
// sent without Content-Encoding (the path that decoded up to 128 MiB) and
// with it, are refused with 413 naming the limit, and the appliance's
// peak RSS grows by less than 256 MiB.
func TestRemoteWriteDecompressionBombsKeepMemoryBounded(t *testing.T) {
	env, app, _ := startDefaultAppliance(t, 0)
	e2e.Eventually(t, 20*time.Second, func() error { return writeAndQuery(env, "warm", 1, sampleWrite(t, "warm", 1)) })
	before := vmHWM(t, app.Pid())

	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "boom"}, {Name: "pad", Value: strings.Repeat("a", 120<<20)}},
		Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}},
	}}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bomb := snappy.Encode(nil, raw)
	raw, wr = nil, nil
	t.Logf("bomb: %d bytes on the wire, %d decoded", len(bomb), 120<<20)

	var wg sync.WaitGroup
	codes := make([]int, 32)
	msgs := make([]string, 32)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], msgs[i], _ = remoteWrite(env.remoteWrite, westToken, bomb, i%2 == 1)
		}()
	}
	wg.Wait()
	after := vmHWM(t, app.Pid())
	t.Logf("VmHWM %d MiB before, %d MiB after the bombs", before>>20, after>>20)
	for i, code := range codes {
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(msgs[i], "max_decoded_size") {
			t.Errorf("bomb %d (marked %v): HTTP %d %q, want 413 naming max_decoded_size", i, i%2 == 1, code, msgs[i])
		}
	}
	if grew := after - before; grew > 256<<20 {
		t.Errorf("peak RSS grew by %d MiB, want < 256 MiB", grew>>20)
	}
	if app.Exited() {
		t.Fatal("the appliance exited")
	}
	e2e.Eventually(t, 20*time.Second, func() error { return writeAndQuery(env, "after_bombs", 3, sampleWrite(t, "after_bombs", 3)) })
}

// TestTraceURLFromEnvironmentIsExact (issue 19 point 15): with
// SCADAOTEL_TRACE_URL set, the firing record's trace_url is the template
// with the trace id filled in, nothing more (no stray "}").
func TestTraceURLFromEnvironmentIsExact(t *testing.T) {
	const tmpl = "https://ops.example/#/trace/{trace_id}?tenant={tenant}"
	env, _, kafka := startDefaultAppliance(t, 0, "SCADAOTEL_TRACE_URL="+tmpl)
	traceID := "0af7651916cd43dd8448eb211c80319c"
	now := time.Now().UnixNano()
	var spans []string
	for i := range 30 {
		spans = append(spans, fmt.Sprintf(`{"traceId":%q,"spanId":"%016x","name":"read","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":{"code":2}}`,
			traceID, i+1, now, now+1e6))
	}
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rtu-gateway"}}]},"scopeSpans":[{"spans":[` +
		strings.Join(spans, ",") + `]}]}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+env.http+"/v1/traces", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+westToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: HTTP %d", resp.StatusCode)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ConsumeTopics("scada.alerts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no firing record on scada.alerts within 30 s")
		}
		var rec map[string]any
		found := false
		fs.EachRecord(func(r *kgo.Record) {
			if json.Unmarshal(r.Value, &rec) == nil && rec["state"] == "firing" {
				found = true
			}
		})
		if found {
			want := "https://ops.example/#/trace/" + traceID + "?tenant=west-pipeline-01"
			if rec["trace_url"] != want {
				t.Fatalf("trace_url = %q, want %q", rec["trace_url"], want)
			}
			return
		}
	}
}

// TestRemoteWriteRefusesWhatTheStorageWouldDrop (issue 19 point 11):
// far-future and far-past samples, a 5,000-label series, a 1 MB label
// value and the name "utf8_名前" were answered 204 and never stored (or
// stored as "utf8"); now 400 naming the reason, counted for the tenant.
func TestRemoteWriteRefusesWhatTheStorageWouldDrop(t *testing.T) {
	env, _, _ := startDefaultAppliance(t, 0)
	series := func(ts time.Time, extra ...prompb.Label) []byte {
		name := "bad_series"
		if len(extra) > 0 && extra[0].Name == "__name__" {
			name, extra = extra[0].Value, extra[1:]
		}
		wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  append([]prompb.Label{{Name: "__name__", Value: name}}, extra...),
			Samples: []prompb.Sample{{Timestamp: ts.UnixMilli(), Value: 1}},
		}}}
		raw, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return snappy.Encode(nil, raw)
	}
	var many []prompb.Label
	for i := range 5000 {
		many = append(many, prompb.Label{Name: fmt.Sprintf("l%04d", i), Value: "v"})
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"far future", series(now.Add(30 * 24 * time.Hour)), "outside the storage's window"},
		{"far past", series(now.Add(-400 * 24 * time.Hour)), "outside the storage's window"},
		{"5000 labels", series(now, many...), "at most 40"},
		{"1 MB label value", series(now, prompb.Label{Name: "big", Value: strings.Repeat("x", 1<<20)}), "at most 4096"},
		{"utf8_名前", series(now, prompb.Label{Name: "__name__", Value: "utf8_名前"}), "would not be stored under that name"},
	} {
		code, msg, err := remoteWrite(env.remoteWrite, westToken, tc.body, true)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: HTTP %d %q, want 400 with %q", tc.name, code, msg, tc.want)
		}
	}
	// Counted for the tenant on the self-metrics endpoint.
	e2e.Eventually(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + env.metrics + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "scadaotel_victoriametrics_rejected_samples") && strings.Contains(line, env.tenantLabel(t, "west-pipeline-01")) {
				return nil
			}
		}
		return fmt.Errorf("no scadaotel_victoriametrics_rejected_samples for west-pipeline-01")
	})
}

// metricLine finds a self-metric line with all the given substrings.
func metricLine(env applianceEnv, name string, subs ...string) error {
	resp, err := http.Get("http://" + env.metrics + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no %s line with %q", name, subs)
}

// TestDeeplyNestedSpanIsRefusedNotDropped (issue 19 point 11): an
// OTLP/JSON span with a 20,000-deep attribute was answered 200, then the
// disk queue could not decode it and dropped it, logging at debug only.
// Now it is refused with 400 naming the limit and counted for the tenant.
func TestDeeplyNestedSpanIsRefusedNotDropped(t *testing.T) {
	env, app, _ := startDefaultAppliance(t, 0)
	const depth = 20000
	var sb strings.Builder
	for range depth {
		sb.WriteString(`{"kvlistValue":{"values":[{"key":"d","value":`)
	}
	sb.WriteString(`{"stringValue":"x"}`)
	for range depth {
		sb.WriteString(`}]}}`)
	}
	now := time.Now().UnixNano()
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rtu-gateway"}}]},"scopeSpans":[{"spans":[`+
		`{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"deep","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[{"key":"deep","value":%s}]}]}]}]}`,
		now, now+1e6, sb.String())
	req, _ := http.NewRequest(http.MethodPost, "http://"+env.http+"/v1/traces", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+westToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "deeper than 32") {
		t.Fatalf("deep span: HTTP %d %.300s, want 400 naming the nesting limit", resp.StatusCode, msg)
	}
	e2e.Eventually(t, 10*time.Second, func() error {
		return metricLine(env, "scadaotel_tenantstamp_refused_requests", env.tenantLabel(t, "west-pipeline-01"), `reason="attribute_depth"`)
	})
	if strings.Contains(app.Output(), "cannot decode") {
		t.Fatalf("the queue met an undecodable item:\n%s", tail(app.Output(), 20))
	}
}

// TestOTLPMetricsRefusedWhatTheStorageWouldDrop (issue 19 point 11, OTLP
// path): a data point two weeks ahead was answered 200 over OTLP/HTTP and
// never stored; now 400 naming the storage's window.
func TestOTLPMetricsRefusedWhatTheStorageWouldDrop(t *testing.T) {
	env, _, _ := startDefaultAppliance(t, 0)
	at := time.Now().Add(14 * 24 * time.Hour).UnixNano()
	body := fmt.Sprintf(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rtu-gateway"}}]},`+
		`"scopeMetrics":[{"metrics":[{"name":"tank_level","gauge":{"dataPoints":[{"timeUnixNano":"%d","asDouble":1.5}]}}]}]}]}`, at)
	req, _ := http.NewRequest(http.MethodPost, "http://"+env.http+"/v1/metrics", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+westToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "outside the storage's window") {
		t.Fatalf("future data point over OTLP/HTTP: HTTP %d %.300s, want 400 naming the window", resp.StatusCode, msg)
	}
	e2e.Eventually(t, 10*time.Second, func() error {
		return metricLine(env, "scadaotel_victoriametrics_rejected_samples", env.tenantLabel(t, "west-pipeline-01"), `reason="timestamp_out_of_range"`)
	})
}
