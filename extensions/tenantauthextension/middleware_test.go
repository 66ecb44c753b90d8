package tenantauthextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/scadaotel/scadaotel/tenants"
)

// limitedExtension has west limited to 100 spans/s and records telemetry.
func limitedExtension(t *testing.T) (*Extension, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := settings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.Tenants = []tenants.Spec{
		{ID: "west-pipeline-01", TokenSHA256: []string{tenants.HashToken("w-token")}, Limits: tenants.Limits{SpansPerSecond: 100}},
		{ID: "east-pipeline-02", TokenSHA256: []string{tenants.HashToken("e-token")}},
	}
	e, err := newExtension(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	return e, tel
}

// TestMiddlewareRefusesBlockedTenantUnread: after a rate-limit refusal the
// tenant's next OTLP/HTTP request is answered 429 with Retry-After and an
// OTLP Status body, and the handler (the receiver's decoding) never runs;
// other tenants, and the same tenant once the hint has passed, reach it.
// In a synctest bubble: the wait for the hint takes no real time.
func TestMiddlewareRefusesBlockedTenantUnread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, tel := limitedExtension(t)
		wrap, err := e.GetHTTPHandler(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		reached := 0
		h, err := wrap(context.Background(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
		if err != nil {
			t.Fatal(err)
		}
		send := func(tenant string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, "/v1/traces", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(tenants.NewContext(r.Context(), tenant))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		if w := send("west-pipeline-01"); w.Code != 200 || reached != 1 {
			t.Fatalf("before any refusal: %d, handler reached %d times", w.Code, reached)
		}
		lim := e.registry.Limiter()
		now := time.Now()
		if err := lim.Admit("west-pipeline-01", tenants.Usage{Spans: 100}, now); err != nil {
			t.Fatal(err)
		}
		if err := lim.Admit("west-pipeline-01", tenants.Usage{Spans: 100}, now); err == nil {
			t.Fatal("over the limit admitted")
		}
		w := send("west-pipeline-01")
		if w.Code != http.StatusTooManyRequests || reached != 1 {
			t.Fatalf("blocked tenant: %d, handler reached %d times; want 429 unread", w.Code, reached)
		}
		if ra := w.Header().Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1", ra)
		}
		var st spb.Status
		if err := protojson.Unmarshal(w.Body.Bytes(), &st); err != nil || codes.Code(st.GetCode()) != codes.ResourceExhausted ||
			!strings.Contains(st.GetMessage(), "spans_per_second") {
			t.Errorf("body %q (%v): want an OTLP Status ResourceExhausted naming spans_per_second", w.Body.String(), err)
		}
		if w := send("east-pipeline-02"); w.Code != 200 || reached != 2 {
			t.Errorf("other tenant while west is blocked: %d", w.Code)
		}
		// Remote write (samples) is not blocked by a spans refusal.
		r := httptest.NewRequest(http.MethodPost, "/api/v1/write", strings.NewReader("x"))
		r = r.WithContext(tenants.NewContext(r.Context(), "west-pipeline-01"))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if reached != 3 {
			t.Errorf("remote write blocked by a spans refusal")
		}

		// The refusal is counted with the tenant and the limit.
		m, err := tel.GetMetric(MetricRateLimitedRequests)
		if err != nil {
			t.Fatal(err)
		}
		sum := m.Data.(metricdata.Sum[int64])
		want := attribute.NewSet(attribute.String("tenant", "west-pipeline-01"), attribute.String("limit", tenants.LimitSpans))
		got := int64(0)
		for _, dp := range sum.DataPoints {
			if dp.Attributes.Equals(&want) {
				got += dp.Value
			}
		}
		if got != 1 {
			t.Errorf("%s{west, spans_per_second} = %d, want 1 (%+v)", MetricRateLimitedRequests, got, sum.DataPoints)
		}

		// synctest: the bubble's clock moves on at once, no real wait.
		time.Sleep(time.Until(now.Add(time.Second + 10*time.Millisecond)))
		if w := send("west-pipeline-01"); w.Code != 200 || reached != 4 {
			t.Errorf("after the retry hint: %d", w.Code)
		}
	})
}

// TestTapRefusesBlockedTenant: the gRPC tap handle refuses a blocked
// tenant's call from its headers, and leaves wrong tokens to the auth
// interceptor.
func TestTapRefusesBlockedTenant(t *testing.T) {
	e, _ := limitedExtension(t)
	info := func(token string) *tap.Info {
		return &tap.Info{FullMethodName: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
			Header: metadata.Pairs("authorization", "Bearer "+token)}
	}
	if _, err := e.tap(context.Background(), info("w-token")); err != nil {
		t.Fatalf("before any refusal: %v", err)
	}
	lim := e.registry.Limiter()
	_ = lim.Admit("west-pipeline-01", tenants.Usage{Spans: 100}, time.Now())
	if err := lim.Admit("west-pipeline-01", tenants.Usage{Spans: 100}, time.Now()); err == nil {
		t.Fatal("over the limit admitted")
	}
	_, err := e.tap(context.Background(), info("w-token"))
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "spans_per_second") {
		t.Errorf("blocked tenant: %v, want ResourceExhausted naming spans_per_second", err)
	}
	if _, err := e.tap(context.Background(), info("e-token")); err != nil {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := e.tap(context.Background(), info("nope")); err != nil {
		t.Errorf("unknown token must be left to the auth interceptor, got %v", err)
	}
	metricsCall := &tap.Info{FullMethodName: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
		Header: metadata.Pairs("authorization", "Bearer w-token")}
	if _, err := e.tap(context.Background(), metricsCall); err != nil {
		t.Errorf("metrics blocked by a spans refusal: %v", err)
	}
}
