package tenantstampprocessor

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

func pcommonTime(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// TestOTLPHTTPStatusCodes drives the real v0.165 OTLP HTTP receiver: the
// tenantauth/tenantstamp refusals come out as 401, 403 and 429 (with a
// Retry-After header), and accepted data carries the token's tenant.
func TestOTLPHTTPStatusCodes(t *testing.T) {
	p := startPipeline(t, true, authConfig(""), nil)
	bearer := func(tok string) string { return "Bearer " + tok }
	cases := []struct {
		name    string
		headers map[string]string
		code    int
		reason  string
	}{
		{"no token", nil, 401, "missing bearer token"},
		{"wrong token", map[string]string{"Authorization": bearer("nope")}, 401, "unknown bearer token"},
		{"lower-case scheme", map[string]string{"Authorization": "bearer " + westToken}, 401, "Bearer"},
		{"double space", map[string]string{"Authorization": "Bearer  " + westToken}, 401, "malformed"},
		{"other tenant header", map[string]string{"Authorization": bearer(westToken), "X-Scada-Tenant": "east-pipeline-02"}, 403, "does not match"},
		{"header case trick", map[string]string{"Authorization": bearer(westToken), "X-Scada-Tenant": "West-Pipeline-01"}, 403, "does not match"},
		{"header whitespace trick", map[string]string{"Authorization": bearer(westToken), "X-Scada-Tenant": "west-pipeline-01\t."}, 403, "does not match"},
		{"empty header", map[string]string{"Authorization": bearer(westToken), "X-Scada-Tenant": ""}, 403, "does not match"},
		{"over-long id", map[string]string{"Authorization": bearer(westToken), "X-Scada-Tenant": strings.Repeat("w", 200)}, 403, "does not match"},
		{"lower-case header name", map[string]string{"Authorization": bearer(westToken), "x-scada-tenant": "east-pipeline-02"}, 403, "does not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := p.postHTTP(t, testTraces(1, "svc", ""), c.headers)
			if resp.StatusCode != c.code || !strings.Contains(body, c.reason) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, body, c.code, c.reason)
			}
		})
	}
	if n := p.sink.SpanCount(); n != 0 {
		t.Fatalf("%d spans got through refused requests", n)
	}

	resp, body := p.postHTTP(t, testTraces(10, "svc", "east-pipeline-02"), map[string]string{
		"Authorization": bearer(westToken), "X-Scada-Tenant": "west-pipeline-01"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid request: %d %s", resp.StatusCode, body)
	}
	all := p.sink.AllTraces()
	if len(all) != 1 {
		t.Fatalf("sink has %d batches", len(all))
	}
	if got := tenants.FromResource(all[0].ResourceSpans().At(0).Resource()); got != "west-pipeline-01" {
		t.Errorf("spoofed scada.tenant survived: %q", got)
	}

	// A request bigger than a whole second's budget can never pass: 400
	// (and blocks nothing).
	resp, body = p.postHTTP(t, testTraces(101, "svc", ""), map[string]string{"Authorization": bearer(westToken)})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "spans_per_second") {
		t.Errorf("oversized: %d %q, want 400", resp.StatusCode, body)
	}
	// west has 100 spans/s: 10 sent, 95 more exceed the bucket.
	resp, body = p.postHTTP(t, testTraces(95, "svc", ""), map[string]string{"Authorization": bearer(westToken)})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "spans_per_second") {
		t.Errorf("over limit: %d %q, want 429 naming spans_per_second", resp.StatusCode, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
	// Until that hint has passed, west's next request is refused before
	// its body is read (tenantauth middleware), even a small one.
	resp, body = p.postHTTP(t, testTraces(1, "svc", ""), map[string]string{"Authorization": bearer(westToken)})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "before reading") || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("while blocked: %d %q Retry-After %q, want 429 refused before reading", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// east has no limit and is unaffected.
	resp, body = p.postHTTP(t, testTraces(95, "svc", ""), map[string]string{"Authorization": bearer(eastToken)})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("east: %d %s", resp.StatusCode, body)
	}
}

// TestOTLPGRPCStatusCodes: the same through the real OTLP gRPC receiver.
func TestOTLPGRPCStatusCodes(t *testing.T) {
	p := startPipeline(t, true, authConfig(""), nil)
	cases := []struct {
		name string
		kv   []string
		code codes.Code
	}{
		{"no token", nil, codes.Unauthenticated},
		{"wrong token", []string{"authorization", "Bearer nope"}, codes.Unauthenticated},
		{"other tenant header", []string{"authorization", "Bearer " + westToken, "x-scada-tenant", "east-pipeline-02"}, codes.PermissionDenied},
		{"case trick", []string{"authorization", "Bearer " + westToken, "x-scada-tenant", "WEST-PIPELINE-01"}, codes.PermissionDenied},
		{"two header values", []string{"authorization", "Bearer " + westToken, "x-scada-tenant", "west-pipeline-01", "x-scada-tenant", "east-pipeline-02"}, codes.PermissionDenied},
		{"empty header", []string{"authorization", "Bearer " + westToken, "x-scada-tenant", ""}, codes.PermissionDenied},
		{"two tokens", []string{"authorization", "Bearer " + westToken, "authorization", "Bearer " + eastToken}, codes.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := p.exportGRPC(testTraces(1, "svc", ""), c.kv...)
			if got := status.Code(err); got != c.code {
				t.Errorf("got %v (%v), want %v", got, err, c.code)
			}
		})
	}
	if n := p.sink.SpanCount(); n != 0 {
		t.Fatalf("%d spans got through refused requests", n)
	}
	if err := p.exportGRPC(testTraces(50, "svc", "east-pipeline-02"), "authorization", "Bearer "+westToken, "x-scada-tenant", "west-pipeline-01"); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if got := tenants.FromResource(p.sink.AllTraces()[0].ResourceSpans().At(0).Resource()); got != "west-pipeline-01" {
		t.Errorf("tenant on stored data = %q", got)
	}
	err := p.exportGRPC(testTraces(80, "svc", ""), "authorization", "Bearer "+westToken)
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "spans_per_second") {
		t.Errorf("over limit: %v, want ResourceExhausted naming spans_per_second", err)
	}
	// Blocked: the next call is refused from its headers (tap handle),
	// with the retry hint.
	st, _ = status.FromError(p.exportGRPC(testTraces(1, "svc", ""), "authorization", "Bearer "+westToken))
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "before reading") {
		t.Errorf("while blocked: %v, want ResourceExhausted refused before reading", st)
	}
	// A wrong token while someone is blocked still gets the auth answer.
	if got := status.Code(p.exportGRPC(testTraces(1, "svc", ""), "authorization", "Bearer nope")); got != codes.Unauthenticated {
		t.Errorf("wrong token while a tenant is blocked: %v", got)
	}
	if err := p.exportGRPC(testTraces(10, "svc", ""), "authorization", "Bearer "+eastToken); err != nil {
		t.Errorf("east while west is blocked: %v", err)
	}
}
