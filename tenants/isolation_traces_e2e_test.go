//go:build e2e

package tenants_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// Issue 19, points 1, 2, 6 and 7: trace reads cannot be steered or probed
// by another tenant. Each test runs the real binary in front of a real
// Jaeger with the two tenants of isolation_test.go. The attacker is west
// and the victim east where the attack needs the victim's id to sort
// before the attacker's (east-… < west-…), as Jaeger sorts tags.

// dupTenantTraces is one resource of service with scada.tenant=victim
// twice (OTLP allows a key twice; pdata keeps both copies, and so does the
// protobuf sent), the same on the scope and the spans, and spans of
// traceID.
func dupTenantTraces(t *testing.T, service string, traceID pcommon.TraceID, spans int, victim string) ptrace.Traces {
	t.Helper()
	attr := fmt.Sprintf(`{"key":"scada.tenant","value":{"stringValue":%q}}`, victim)
	dup := "[" + attr + "," + attr + "]"
	now := time.Now()
	var ss []string
	for i := 0; i < spans; i++ {
		ss = append(ss, fmt.Sprintf(`{"traceId":%q,"spanId":"%016x","name":"forged-op","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":%s}`,
			hexID(traceID), i+1, now.UnixNano(), now.Add(time.Millisecond).UnixNano(), dup))
	}
	js := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}},%s,%s]},
 "scopeSpans":[{"scope":{"name":"forger","attributes":%s},"spans":[%s]}]}]}`, service, attr, attr, dup, strings.Join(ss, ","))
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if n := td.ResourceSpans().At(0).Resource().Attributes().Len(); n != 3 {
		t.Fatalf("the forged resource has %d attributes, want service.name and scada.tenant twice", n)
	}
	return td
}

func servicesOf(t *testing.T, base, token string) (v1, v3 []string) {
	t.Helper()
	code, body := query(t, base, "/api/services", nil, "Authorization", token)
	var a struct{ Data []string }
	if code != 200 || json.Unmarshal([]byte(body), &a) != nil {
		t.Fatalf("/api/services: %d %s", code, body)
	}
	code, body = query(t, base, "/api/v3/services", nil, "Authorization", token)
	var b struct{ Services []string }
	if code != 200 || json.Unmarshal([]byte(body), &b) != nil {
		t.Fatalf("/api/v3/services: %d %s", code, body)
	}
	return a.Data, b.Services
}

func searchV1(t *testing.T, base, token, service string, limit int) v1Traces {
	t.Helper()
	q := url.Values{"service": {service}, "limit": {strconv.Itoa(limit)},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)},
		"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)}}
	code, body := query(t, base, "/api/traces", q, "Authorization", token)
	if code != 200 {
		t.Fatalf("search %s: %d %s", service, code, body)
	}
	return decodeV1(t, body)
}

func searchV3(t *testing.T, base, token, service string) (int, string) {
	t.Helper()
	q := url.Values{"query.service_name": {service},
		"query.start_time_min": {time.Now().Add(-time.Hour).Format(time.RFC3339Nano)},
		"query.start_time_max": {time.Now().Add(time.Minute).Format(time.RFC3339Nano)}}
	return query(t, base, "/api/v3/traces", q, "Authorization", token)
}

// waitInJaeger waits until Jaeger (read directly, unscoped) has spans of
// every id.
func waitInJaeger(t *testing.T, jaeger *e2e.Jaeger, ids ...pcommon.TraceID) {
	t.Helper()
	e2e.Eventually(t, 30*time.Second, func() error {
		for _, id := range ids {
			if code, _ := query(t, jaeger.QueryURL, "/api/traces/"+hexID(id), nil); code != 200 {
				return fmt.Errorf("trace %s not in Jaeger yet: %d", hexID(id), code)
			}
		}
		return nil
	})
}

// TestTraceInjectionDuplicateTenantKey (point 1): west sends a resource
// carrying scada.tenant=east twice (and on its scope and spans). Stamping
// removes every copy, so the stored process has exactly west, and east
// sees nothing of it: not the service, not the trace, not in a search, v1
// or v3.
func TestTraceInjectionDuplicateTenantKey(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	base := "http://" + a.queryAddr
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken

	forged, own := newTraceID(t), newTraceID(t)
	if r := a.postHTTP(t, traces(t, "east-own-svc", "east-op", own, 1, nil, nil), "Authorization", bearerE); r.code != 200 {
		t.Fatalf("east write: %d %s", r.code, r.body)
	}
	if r := a.postHTTP(t, dupTenantTraces(t, "forged-svc", forged, 3, eastID), "Authorization", bearerW); r.code != 200 {
		t.Fatalf("west forged write: %d %s", r.code, r.body)
	}
	waitInJaeger(t, jaeger, forged, own)

	t.Run("stored with exactly the sender's tenant", func(t *testing.T) {
		_, body := query(t, jaeger.QueryURL, "/api/traces/"+hexID(forged), nil)
		var raw struct {
			Data []struct {
				Spans []struct {
					Tags []struct {
						Key   string `json:"key"`
						Value any    `json:"value"`
					} `json:"tags"`
				} `json:"spans"`
				Processes map[string]struct {
					Tags []struct {
						Key   string `json:"key"`
						Value any    `json:"value"`
					} `json:"tags"`
				} `json:"processes"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Data) != 1 {
			t.Fatalf("%v %s", err, body)
		}
		for _, pr := range raw.Data[0].Processes {
			var vals []any
			for _, tag := range pr.Tags {
				if tag.Key == tenants.ResourceAttribute {
					vals = append(vals, tag.Value)
				}
			}
			if len(vals) != 1 || vals[0] != westID {
				t.Errorf("stored process scada.tenant values %v, want exactly [%s]", vals, westID)
			}
		}
		for _, s := range raw.Data[0].Spans {
			for _, tag := range s.Tags {
				if tag.Key == tenants.ResourceAttribute || strings.Contains(fmt.Sprint(tag.Value), eastID) {
					t.Errorf("stored span keeps %s=%v", tag.Key, tag.Value)
				}
			}
		}
	})

	t.Run("the victim sees none of it", func(t *testing.T) {
		v1, v3 := servicesOf(t, base, bearerE)
		if slices.Contains(v1, "forged-svc") || slices.Contains(v3, "forged-svc") || !slices.Contains(v1, "east-own-svc") {
			t.Errorf("east's services: v1 %v, v3 %v", v1, v3)
		}
		for _, prefix := range []string{"/api/traces/", "/api/v3/traces/"} {
			if code, body := query(t, base, prefix+hexID(forged), nil, "Authorization", bearerE); code != 404 {
				t.Errorf("east reads %s%s: %d %s", prefix, hexID(forged), code, body)
			}
		}
		if got := searchV1(t, base, bearerE, "forged-svc", 20); len(got.Data) != 0 {
			t.Errorf("east's v1 search finds %d forged traces", len(got.Data))
		}
		if code, body := searchV3(t, base, bearerE, "forged-svc"); code != 404 || strings.Contains(body, "forged-op") {
			t.Errorf("east's v3 search: %d %s", code, body)
		}
	})

	t.Run("the sender sees its own trace", func(t *testing.T) {
		v1, _ := servicesOf(t, base, bearerW)
		if !slices.Equal(v1, []string{"forged-svc"}) {
			t.Errorf("west's services %v", v1)
		}
		code, body := query(t, base, "/api/traces/"+hexID(forged), nil, "Authorization", bearerW)
		if code != 200 || len(decodeV1(t, body).Data[0].Spans) != 3 {
			t.Errorf("west reads its trace: %d %s", code, body)
		}
	})
}

// TestTraceServicesNotCrowdedOut (point 2): after east sent one trace of
// service shared2, west sends 105 traces of shared2 with the span
// attribute scada.tenant=east. East still lists shared2 and finds its
// trace, v1 and v3.
func TestTraceServicesNotCrowdedOut(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	base := "http://" + a.queryAddr
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken

	eastTrace := newTraceID(t)
	if r := a.postHTTP(t, traces(t, "shared2", "east-op", eastTrace, 1, nil, nil), "Authorization", bearerE); r.code != 200 {
		t.Fatalf("east write: %d %s", r.code, r.body)
	}
	time.Sleep(5 * time.Millisecond) // west's traces are the newer ones
	var last pcommon.TraceID
	for i := 0; i < 105; i++ {
		last = newTraceID(t)
		if r := a.postHTTP(t, traces(t, "shared2", "west-op", last, 1, nil, map[string]string{tenants.ResourceAttribute: eastID}),
			"Authorization", bearerW); r.code != 200 {
			t.Fatalf("west write %d: %d %s", i, r.code, r.body)
		}
	}
	waitInJaeger(t, jaeger, eastTrace, last)

	v1, v3 := servicesOf(t, base, bearerE)
	if !slices.Equal(v1, []string{"shared2"}) || !slices.Equal(v3, []string{"shared2"}) {
		t.Errorf("east's services: v1 %v, v3 %v, want [shared2]", v1, v3)
	}
	got := searchV1(t, base, bearerE, "shared2", 20)
	if len(got.Data) != 1 || got.Data[0].TraceID != hexID(eastTrace) {
		t.Errorf("east's v1 search for shared2 returned %d traces, want its one trace", len(got.Data))
	}
	code, ops := query(t, base, "/api/services/shared2/operations", nil, "Authorization", bearerE)
	if code != 200 || !strings.Contains(ops, "east-op") || strings.Contains(ops, "west-op") {
		t.Errorf("east's operations: %d %s", code, ops)
	}
	// v3 has no attribute filter upstream: with the colliding name, west's
	// 105 newer traces fill num_traces; east's search pages past them.
	q3 := url.Values{"query.service_name": {"shared2"}, "query.num_traces": {"20"},
		"query.start_time_min": {time.Now().Add(-time.Hour).Format(time.RFC3339Nano)},
		"query.start_time_max": {time.Now().Add(time.Minute).Format(time.RFC3339Nano)}}
	if code, body := query(t, base, "/api/v3/traces", q3, "Authorization", bearerE); code != 200 ||
		!strings.Contains(body, "east-op") || strings.Contains(body, "west-op") {
		t.Errorf("east's v3 search for shared2 behind 105 newer traces of west: %d %.300s", code, body)
	}
	// West's own search is not widened by its span attribute.
	if got := searchV1(t, base, bearerW, "shared2", 200); len(got.Data) != 105 {
		t.Errorf("west's search: %d traces, want 105", len(got.Data))
	}

	// Data stored before the stripping (written here straight to this
	// test's Jaeger, which has no OTLP secret): 105 newer traces of west's
	// process with the span attribute scada.tenant=east match east's
	// upstream tag filter; east's search pages past them.
	legacy := ptrace.NewTraces()
	for i := 0; i < 105; i++ {
		last = newTraceID(t)
		traces(t, "shared2", "legacy-op", last, 1, map[string]string{tenants.ResourceAttribute: westID},
			map[string]string{tenants.ResourceAttribute: eastID}).ResourceSpans().MoveAndAppendTo(legacy.ResourceSpans())
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(legacy).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+jaeger.OTLPHTTP+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("legacy write to Jaeger: %d", resp.StatusCode)
	}
	waitInJaeger(t, jaeger, last)
	got = searchV1(t, base, bearerE, "shared2", 20)
	if len(got.Data) != 1 || got.Data[0].TraceID != hexID(eastTrace) {
		t.Errorf("east's v1 search for shared2 behind 105 stored spans tagged scada.tenant=east: %d traces, want its one trace", len(got.Data))
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// timed runs GET base+path as token n times and returns the latencies; every
// answer must be want with the same body.
func timed(t *testing.T, base, path string, q url.Values, token string, n, want int) ([]time.Duration, string) {
	t.Helper()
	var lat []time.Duration
	var first string
	for i := 0; i < n; i++ {
		start := time.Now()
		code, body := query(t, base, path, q, "Authorization", token)
		lat = append(lat, time.Since(start))
		if code != want {
			t.Fatalf("%s: %d %s, want %d", path, code, body, want)
		}
		if i == 0 {
			first = body
		} else if body != first {
			t.Fatalf("%s: answers differ: %q then %q", path, first, body)
		}
	}
	return lat, first
}

// TestTraceTimingMissingVersusForeign (point 6): another tenant's trace id
// or service name costs what a missing one costs: median of 50 requests
// each, foreign ≤ 2 × missing + 2 ms, v1 and v3; the bodies are identical.
func TestTraceTimingMissingVersusForeign(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	base := "http://" + a.queryAddr
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken

	// East's trace is large, so fetching it is what a probe would time.
	eastTrace := newTraceID(t)
	for i := 0; i < 4; i++ {
		if r := a.postHTTP(t, traces(t, "east-secret-svc", "east-op", eastTrace, 500, nil, nil), "Authorization", bearerE); r.code != 200 {
			t.Fatalf("east write: %d %s", r.code, r.body)
		}
	}
	westTrace := newTraceID(t)
	if r := a.postHTTP(t, traces(t, "west-svc", "west-op", westTrace, 1, nil, nil), "Authorization", bearerW); r.code != 200 {
		t.Fatalf("west write: %d %s", r.code, r.body)
	}
	waitInJaeger(t, jaeger, eastTrace, westTrace)
	e2e.Eventually(t, 30*time.Second, func() error {
		_, body := query(t, jaeger.QueryURL, "/api/traces/"+hexID(eastTrace), nil)
		if n := len(decodeV1(t, body).Data[0].Spans); n != 2000 {
			return fmt.Errorf("east's trace has %d of 2000 spans in Jaeger", n)
		}
		return nil
	})
	// West's own trace is found (the index does not hide one's own data).
	if code, _ := query(t, base, "/api/traces/"+hexID(westTrace), nil, "Authorization", bearerW); code != 200 {
		t.Fatalf("west's own trace: %d", code)
	}

	const n = 50
	check := func(name string, missing, foreign []time.Duration) {
		t.Helper()
		pm, pf := median(missing), median(foreign)
		t.Logf("%s: missing p50 %v, another tenant's p50 %v", name, pm, pf)
		if pf > 2*pm+2*time.Millisecond {
			t.Errorf("%s: another tenant's p50 %v > 2 × missing p50 %v + 2 ms: existence is visible by timing", name, pf, pm)
		}
	}
	for _, prefix := range []string{"/api/traces/", "/api/v3/traces/"} {
		// Warm both paths, then interleave so load drifts over both alike.
		query(t, base, prefix+hexID(newTraceID(t)), nil, "Authorization", bearerW)
		query(t, base, prefix+hexID(eastTrace), nil, "Authorization", bearerW)
		var missing, foreign []time.Duration
		var bodyM, bodyF string
		for i := 0; i < n; i++ {
			m, bm := timed(t, base, prefix+hexID(newTraceID(t)), nil, bearerW, 1, 404)
			f, bf := timed(t, base, prefix+hexID(eastTrace), nil, bearerW, 1, 404)
			missing, foreign = append(missing, m...), append(foreign, f...)
			bodyM, bodyF = bm, bf
		}
		if bodyM != bodyF {
			t.Errorf("%s: bodies differ: missing %q, another tenant's %q", prefix, bodyM, bodyF)
		}
		check("trace by id "+prefix, missing, foreign)
	}

	var missing, foreign []time.Duration
	for i := 0; i < n; i++ {
		for _, c := range []struct {
			service string
			into    *[]time.Duration
		}{{"never-sent-svc", &missing}, {"east-secret-svc", &foreign}} {
			start := time.Now()
			code, body := searchV3(t, base, bearerW, c.service)
			*c.into = append(*c.into, time.Since(start))
			if code != 404 || strings.Contains(body, "east-op") {
				t.Fatalf("west's v3 search for %s: %d %.200s", c.service, code, body)
			}
		}
	}
	check("v3 search by service", missing, foreign)
}

// TestTraceServicesCostOwnServices (point 7): another tenant's 500
// one-span services do not slow a tenant's /api/services (v1 and v3), and
// it lists only its own.
func TestTraceServicesCostOwnServices(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	base := "http://" + a.queryAddr
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken

	td := ptrace.NewTraces()
	var lastID pcommon.TraceID
	for i := 0; i < 500; i++ {
		lastID = newTraceID(t)
		traces(t, fmt.Sprintf("east-svc-%03d", i), "op", lastID, 1, nil, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	if r := a.postHTTP(t, td, "Authorization", bearerE); r.code != 200 {
		t.Fatalf("east write: %d %s", r.code, r.body)
	}
	westTrace := newTraceID(t)
	for _, s := range []string{"west-a", "west-b"} {
		if r := a.postHTTP(t, traces(t, s, "op", westTrace, 1, nil, nil), "Authorization", bearerW); r.code != 200 {
			t.Fatalf("west write: %d %s", r.code, r.body)
		}
	}
	waitInJaeger(t, jaeger, lastID, westTrace)
	e2e.Eventually(t, 30*time.Second, func() error {
		_, body := query(t, jaeger.QueryURL, "/api/services", nil)
		if n := strings.Count(body, "east-svc-"); n != 500 {
			return fmt.Errorf("Jaeger lists %d of east's 500 services", n)
		}
		return nil
	})

	for _, path := range []string{"/api/services", "/api/v3/services"} {
		lat, body := timed(t, base, path, nil, bearerW, 20, 200)
		if !strings.Contains(body, `"west-a"`) || !strings.Contains(body, `"west-b"`) || strings.Contains(body, "east-svc") {
			t.Errorf("%s as west: %s", path, body)
		}
		t.Logf("%s as west with 500 services of east stored: p50 %v", path, median(lat))
		if p50 := median(lat); p50 > 20*time.Millisecond {
			t.Errorf("%s p50 %v with 2 own services: it grows with the other tenant's services", path, p50)
		}
	}
	v1, _ := servicesOf(t, base, bearerE)
	if len(v1) != 500 {
		t.Errorf("east lists %d of its 500 services", len(v1))
	}
}

// TestJaegerOTLPRequiresSecret (point 13, Jaeger's half): Jaeger started as
// `make run` starts it (tools/jaeger/otlp-auth.yaml) refuses spans sent
// straight to its OTLP port without the appliance's secret, over HTTP and
// gRPC, so nothing can be stored there with a forged scada.tenant; the
// appliance's durable_otlp/jaeger exporter, given the header as the
// default config gives it (SCADAOTEL_JAEGER_OTLP_AUTHORIZATION), stores.
func TestJaegerOTLPRequiresSecret(t *testing.T) {
	jaeger := e2e.StartJaegerWithOTLPAuth(t)
	forged := newTraceID(t)
	td := traces(t, "forged-direct", "forged-op", forged, 1, map[string]string{tenants.ResourceAttribute: eastID}, nil)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, auth string }{
		{"no credentials", ""},
		{"wrong secret", "Basic " + base64.StdEncoding.EncodeToString([]byte("scadaotel:guess"))},
		{"bearer", "Bearer x"},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+jaeger.OTLPHTTP+"/v1/traces", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("OTLP/HTTP to Jaeger with %s: %d, want 401", c.name, resp.StatusCode)
		}
	}
	conn, err := grpc.NewClient(jaeger.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("OTLP/gRPC to Jaeger without credentials: %v, want Unauthenticated", err)
	}

	// The appliance's exporter, configured as in the default config.
	grpcAddr, health := e2e.FreeAddr(t), e2e.FreeAddr(t)
	tenantsFile := filepath.Join(t.TempDir(), "tenants.yaml")
	writeTenants(t, tenantsFile, tenantsYAML("", eastToken))
	e2e.StartCollector(t, `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: `+health+`}}
  tenantauth: {tenants_file: `+tenantsFile+`}
  log_storage: {directory: "${env:SCADAOTEL_DATA_DIR}/queue-log"}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: `+grpcAddr+`, auth: {authenticator: tenantauth}}
processors:
  tenantstamp: {}
exporters:
  durable_otlp/jaeger:
    endpoint: `+jaeger.OTLPGRPC+`
    tls: {insecure: true}
    sending_queue: {storage: log_storage}
    dead_letter: {directory: "${env:SCADAOTEL_DATA_DIR}/deadletter/jaeger"}
    headers:
      authorization: ${env:SCADAOTEL_JAEGER_OTLP_AUTHORIZATION:-}
service:
  extensions: [healthcheckv2, tenantauth, log_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [tenantstamp], exporters: [durable_otlp/jaeger]}
`, "SCADAOTEL_JAEGER_OTLP_AUTHORIZATION="+jaeger.OTLPAuthorization)
	aconn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer aconn.Close()
	stored := newTraceID(t)
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+westToken)
	if _, err := ptraceotlp.NewGRPCClient(aconn).Export(actx, ptraceotlp.NewExportRequestFromTraces(traces(t, "west-svc", "op", stored, 1, nil, nil))); err != nil {
		t.Fatalf("appliance write: %v", err)
	}
	waitInJaeger(t, jaeger, stored)
	if code, _ := query(t, jaeger.QueryURL, "/api/traces/"+hexID(forged), nil); code != 404 {
		t.Errorf("the forged trace sent straight to Jaeger was stored: %d", code)
	}
}

// TestTraceIndexSurvivesRestart (points 6, 7): the index is saved at
// shutdown and loaded at start. After a restart, with Jaeger stopped, a
// tenant's services are still listed and another tenant's trace id still
// answers the 404 of a missing one: both come from the index, without a
// call to Jaeger (the tenant's own trace, which needs Jaeger, answers 502).
func TestTraceIndexSurvivesRestart(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	grpcAddr, health, queryAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	tenantsFile := filepath.Join(t.TempDir(), "tenants.yaml")
	writeTenants(t, tenantsFile, tenantsYAML("", eastToken))
	col := e2e.StartCollector(t, `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: `+health+`}}
  tenantauth: {tenants_file: `+tenantsFile+`}
  tenant_trace_query:
    endpoint: `+queryAddr+`
    jaeger_endpoint: `+jaeger.QueryURL+`
    timeout: 2s
    index: {directory: "${env:SCADAOTEL_DATA_DIR}/trace-index"}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: `+grpcAddr+`, auth: {authenticator: tenantauth}}
processors:
  tenantstamp: {}
exporters:
  otlp_grpc/jaeger: {endpoint: `+jaeger.OTLPGRPC+`, tls: {insecure: true}}
service:
  extensions: [healthcheckv2, tenantauth, tenant_trace_query]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [tenantstamp], exporters: [otlp_grpc/jaeger]}
`)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	eastTrace := newTraceID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ectx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+eastToken)
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ectx, ptraceotlp.NewExportRequestFromTraces(traces(t, "east-svc", "east-op", eastTrace, 1, nil, nil))); err != nil {
		t.Fatalf("east write: %v", err)
	}
	waitInJaeger(t, jaeger, eastTrace)

	if code, d := col.Stop(t); code != 0 {
		t.Fatalf("appliance exit %d after %v", code, d)
	}
	if _, err := os.Stat(filepath.Join(col.DataDir, "trace-index", "index.gob.gz")); err != nil {
		t.Fatalf("no saved index after shutdown: %v", err)
	}
	col.Restart(t)
	if code, d := jaeger.Stop(t); code != 0 {
		t.Logf("jaeger exit %d after %v", code, d)
	}

	base := "http://" + queryAddr
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken
	v1, v3 := servicesOf(t, base, bearerE)
	if !slices.Equal(v1, []string{"east-svc"}) || !slices.Equal(v3, []string{"east-svc"}) {
		t.Errorf("east's services after a restart, Jaeger down: v1 %v v3 %v", v1, v3)
	}
	code, body := query(t, base, "/api/services/east-svc/operations", nil, "Authorization", bearerE)
	if code != 200 || !strings.Contains(body, "east-op") {
		t.Errorf("east's operations: %d %s", code, body)
	}
	_, missing := query(t, base, "/api/traces/"+hexID(newTraceID(t)), nil, "Authorization", bearerW)
	if code, body := query(t, base, "/api/traces/"+hexID(eastTrace), nil, "Authorization", bearerW); code != 404 || body != missing {
		t.Errorf("west reading east's id with Jaeger down: %d %q, want the 404 of a missing id %q", code, body, missing)
	}
	if code, _ := query(t, base, "/api/traces/"+hexID(eastTrace), nil, "Authorization", bearerE); code != 502 {
		t.Errorf("east reading its own id with Jaeger down: %d, want 502 (it must ask Jaeger)", code)
	}
}
