//go:build e2e

package tenants_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

type v1Traces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
			Tags        []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"processes"`
	} `json:"data"`
}

func decodeV1(t *testing.T, body string) v1Traces {
	t.Helper()
	var v v1Traces
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("cannot decode %q: %v", body, err)
	}
	return v
}

// TestTenantIsolation runs the real binary with two tenants in front of a
// real Jaeger and tries to break isolation on write (HTTP and gRPC) and on
// read (the tenant-scoped Jaeger API). Every case must fail closed.
func TestTenantIsolation(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken

	t.Run("HTTP write refusals", func(t *testing.T) {
		td := traces(t, "probe", "probe", newTraceID(t), 1, nil, nil)
		for _, c := range []struct {
			name    string
			headers []string
			code    int
			reason  string
		}{
			{"no token", nil, 401, "missing bearer token"},
			{"wrong token", []string{"Authorization", "Bearer not-a-token"}, 401, "unknown bearer token"},
			{"other tenant's token hash as token", []string{"Authorization", "Bearer " + tenants.HashToken(westToken)}, 401, "unknown bearer token"},
			{"scheme case trick", []string{"Authorization", "BEARER " + westToken}, 401, "Bearer"},
			{"token whitespace trick", []string{"Authorization", "Bearer " + westToken + " x"}, 401, "malformed"},
			{"two tokens", []string{"Authorization", bearerW, "Authorization", bearerE}, 401, "more than one"},
			{"right token, other tenant's header", []string{"Authorization", bearerW, "X-SCADA-Tenant", eastID}, 403, "does not match"},
			{"header case trick", []string{"Authorization", bearerW, "X-SCADA-Tenant", "WEST-PIPELINE-01"}, 403, "does not match"},
			{"header whitespace trick", []string{"Authorization", bearerW, "X-SCADA-Tenant", westID + "\t,"}, 403, "does not match"},
			{"header name case", []string{"Authorization", bearerW, "x-sCaDa-tenant", eastID}, 403, "does not match"},
			{"empty header", []string{"Authorization", bearerW, "X-SCADA-Tenant", ""}, 403, "does not match"},
			{"over-long id", []string{"Authorization", bearerW, "X-SCADA-Tenant", strings.Repeat("w", 300)}, 403, "does not match"},
			{"header twice", []string{"Authorization", bearerW, "X-SCADA-Tenant", westID, "X-SCADA-Tenant", eastID}, 403, "once"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := a.postHTTP(t, td, c.headers...)
				if r.code != c.code || !strings.Contains(r.body, c.reason) {
					t.Errorf("got %d %q, want %d with %q", r.code, r.body, c.code, c.reason)
				}
				if strings.Count(strings.TrimSpace(r.body), "\n") != 0 {
					t.Errorf("reason is not one line: %q", r.body)
				}
			})
		}
	})

	t.Run("gRPC write refusals", func(t *testing.T) {
		td := traces(t, "probe", "probe", newTraceID(t), 1, nil, nil)
		for _, c := range []struct {
			name string
			kv   []string
			code codes.Code
		}{
			{"no token", nil, codes.Unauthenticated},
			{"wrong token", []string{"authorization", "Bearer nope"}, codes.Unauthenticated},
			{"right token, other tenant's metadata", []string{"authorization", bearerW, "x-scada-tenant", eastID}, codes.PermissionDenied},
			{"case trick", []string{"authorization", bearerW, "x-scada-tenant", "West-Pipeline-01"}, codes.PermissionDenied},
			{"whitespace trick", []string{"authorization", bearerW, "x-scada-tenant", " " + westID}, codes.PermissionDenied},
			{"empty metadata", []string{"authorization", bearerW, "x-scada-tenant", ""}, codes.PermissionDenied},
			{"over-long id", []string{"authorization", bearerW, "x-scada-tenant", strings.Repeat("e", 300)}, codes.PermissionDenied},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := status.Code(a.exportGRPC(td, c.kv...)); got != c.code {
					t.Errorf("got %v, want %v", got, c.code)
				}
			})
		}
	})

	// Data: both tenants use service "plc-gateway" (a collision); east also
	// spoofs scada.tenant=west on its resource and spans, and injects a span
	// into west's trace id.
	westTrace, eastTrace, westOnly, eastOnly := newTraceID(t), newTraceID(t), newTraceID(t), newTraceID(t)
	spoof := map[string]string{tenants.ResourceAttribute: westID}
	if r := a.postHTTP(t, traces(t, "plc-gateway", "west-read", westTrace, 2, nil, nil), "Authorization", bearerW, "X-SCADA-Tenant", westID); r.code != 200 {
		t.Fatalf("west HTTP write: %d %s", r.code, r.body)
	}
	if err := a.exportGRPC(traces(t, "west-only-svc", "west-op", westOnly, 1, nil, nil), "authorization", bearerW); err != nil {
		t.Fatalf("west gRPC write: %v", err)
	}
	if err := a.exportGRPC(traces(t, "plc-gateway", "east-secret-op", eastTrace, 2, spoof, spoof), "authorization", bearerE, "x-scada-tenant", eastID); err != nil {
		t.Fatalf("east gRPC write: %v", err)
	}
	if r := a.postHTTP(t, traces(t, "east-only-svc", "east-op", eastOnly, 1, spoof, spoof), "Authorization", bearerE); r.code != 200 {
		t.Fatalf("east HTTP write: %d %s", r.code, r.body)
	}
	if r := a.postHTTP(t, traces(t, "plc-gateway", "east-injected", westTrace, 1, spoof, nil), "Authorization", bearerE); r.code != 200 {
		t.Fatalf("east injection write: %d %s", r.code, r.body)
	}

	base := "http://" + a.queryAddr
	// Wait until Jaeger has everything (read directly, unscoped).
	e2e.Eventually(t, 30*time.Second, func() error {
		for _, id := range []string{hexID(westTrace), hexID(eastTrace), hexID(westOnly), hexID(eastOnly)} {
			code, body := query(t, jaeger.QueryURL, "/api/traces/"+id, nil)
			if code != 200 {
				return fmt.Errorf("trace %s not in Jaeger yet: %d", id, code)
			}
			if id == hexID(westTrace) && len(decodeV1(t, body).Data[0].Spans) != 3 {
				return fmt.Errorf("west trace not complete yet")
			}
		}
		return nil
	})

	t.Run("spoofed scada.tenant is overwritten", func(t *testing.T) {
		_, body := query(t, jaeger.QueryURL, "/api/traces/"+hexID(eastTrace), nil)
		found := 0
		for _, pr := range decodeV1(t, body).Data[0].Processes {
			for _, tag := range pr.Tags {
				if tag.Key == tenants.ResourceAttribute {
					found++
					if tag.Value != eastID {
						t.Errorf("stored resource says scada.tenant=%v, want %s", tag.Value, eastID)
					}
				}
			}
		}
		if found == 0 {
			t.Errorf("stored resource has no scada.tenant: %s", body)
		}
	})

	t.Run("read API authentication", func(t *testing.T) {
		if code, _ := query(t, base, "/api/services", nil); code != 401 {
			t.Errorf("no token: %d", code)
		}
		if code, _ := query(t, base, "/api/services", nil, "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("wrong token: %d", code)
		}
		if code, body := query(t, base, "/api/traces/"+hexID(eastTrace), nil, "Authorization", bearerW, "X-SCADA-Tenant", eastID); code != 403 {
			t.Errorf("west token with east header: %d %s", code, body)
		}
		if code, _ := query(t, base, "/api/dependencies", nil, "Authorization", bearerW); code != 404 {
			t.Errorf("unproxied path: %d, want 404", code)
		}
	})

	t.Run("services list only the tenant's services", func(t *testing.T) {
		for _, c := range []struct {
			token string
			want  []string
		}{{bearerW, []string{"plc-gateway", "west-only-svc"}}, {bearerE, []string{"east-only-svc", "plc-gateway"}}} {
			_, body := query(t, base, "/api/services", nil, "Authorization", c.token)
			var v struct{ Data []string }
			_ = json.Unmarshal([]byte(body), &v)
			if !slices.Equal(v.Data, c.want) {
				t.Errorf("v1 services = %v, want %v", v.Data, c.want)
			}
			_, body = query(t, base, "/api/v3/services", nil, "Authorization", c.token)
			var v3 struct{ Services []string }
			_ = json.Unmarshal([]byte(body), &v3)
			if !slices.Equal(v3.Services, c.want) {
				t.Errorf("v3 services = %v, want %v", v3.Services, c.want)
			}
		}
	})

	t.Run("operations of a colliding service name", func(t *testing.T) {
		_, body := query(t, base, "/api/services/plc-gateway/operations", nil, "Authorization", bearerW)
		if strings.Contains(body, "east") || !strings.Contains(body, "west-read") {
			t.Errorf("west sees %s", body)
		}
		_, body = query(t, base, "/api/operations", url.Values{"service": {"plc-gateway"}}, "Authorization", bearerE)
		if strings.Contains(body, "west-read") || !strings.Contains(body, "east-secret-op") {
			t.Errorf("east sees %s", body)
		}
		_, body = query(t, base, "/api/v3/operations", url.Values{"service": {"plc-gateway"}}, "Authorization", bearerW)
		if strings.Contains(body, "east") || !strings.Contains(body, "west-read") {
			t.Errorf("west v3 sees %s", body)
		}
	})

	t.Run("other tenant's trace id answers like a missing one", func(t *testing.T) {
		missing := hexID(newTraceID(t))
		for _, prefix := range []string{"/api/traces/", "/api/v3/traces/"} {
			codeMissing, bodyMissing := query(t, base, prefix+missing, nil, "Authorization", bearerW)
			codeOther, bodyOther := query(t, base, prefix+hexID(eastTrace), nil, "Authorization", bearerW)
			if codeMissing != 404 || codeOther != 404 || bodyMissing != bodyOther {
				t.Errorf("%s: missing %d %q, other tenant's %d %q: must be identical 404s", prefix, codeMissing, bodyMissing, codeOther, bodyOther)
			}
			codeOther, bodyOther = query(t, base, prefix+hexID(westOnly), nil, "Authorization", bearerE)
			if codeOther != 404 || bodyOther != bodyMissing {
				t.Errorf("%s: east reading west's trace: %d %q", prefix, codeOther, bodyOther)
			}
			if code, _ := query(t, base, prefix+hexID(eastTrace), nil, "Authorization", bearerE); code != 200 {
				t.Errorf("%s: east reading its own trace: %d", prefix, code)
			}
		}
		// By-id search parameter of the v1 search endpoint.
		_, body := query(t, base, "/api/traces", url.Values{"traceID": {hexID(eastTrace), hexID(westTrace)}}, "Authorization", bearerW)
		v := decodeV1(t, body)
		if len(v.Data) != 1 || v.Data[0].TraceID != hexID(westTrace) {
			t.Errorf("traceID search as west returned %s", body)
		}
	})

	t.Run("injected span in another tenant's trace is not shown", func(t *testing.T) {
		_, body := query(t, base, "/api/traces/"+hexID(westTrace), nil, "Authorization", bearerW)
		v := decodeV1(t, body)
		if len(v.Data) != 1 || len(v.Data[0].Spans) != 2 {
			t.Fatalf("west's trace: %s", body)
		}
		for _, s := range v.Data[0].Spans {
			if s.OperationName != "west-read" {
				t.Errorf("west sees span %q", s.OperationName)
			}
		}
		_, body = query(t, base, "/api/v3/traces/"+hexID(westTrace), nil, "Authorization", bearerW)
		if strings.Contains(body, "east-injected") || !strings.Contains(body, "west-read") {
			t.Errorf("v3 west trace: %s", body)
		}
	})

	t.Run("search with a colliding service name", func(t *testing.T) {
		q := url.Values{"service": {"plc-gateway"}, "limit": {"100"},
			"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)},
			"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)},
			// A client-sent tenant tag must not widen the search.
			"tags": {`{"scada.tenant":"` + eastID + `"}`}}
		_, body := query(t, base, "/api/traces", q, "Authorization", bearerW)
		v := decodeV1(t, body)
		if len(v.Data) != 1 || v.Data[0].TraceID != hexID(westTrace) {
			t.Errorf("west search: %s", body)
		}
		q3 := url.Values{"query.service_name": {"plc-gateway"},
			"query.start_time_min": {time.Now().Add(-time.Hour).Format(time.RFC3339Nano)},
			"query.start_time_max": {time.Now().Add(time.Minute).Format(time.RFC3339Nano)}}
		code, body := query(t, base, "/api/v3/traces", q3, "Authorization", bearerE)
		if code != 200 || strings.Contains(body, "west-read") || !strings.Contains(body, "east-secret-op") {
			t.Errorf("east v3 search: %d %s", code, body)
		}
	})

	t.Run("metrics write and query API", func(t *testing.T) { testMetricsQueryIsolation(t, a) })

	t.Run("malformed ids", func(t *testing.T) {
		for _, id := range []string{"zz", strings.Repeat("a", 33), "..%2F..%2Fapi%2Fservices"} {
			if code, _ := query(t, base, "/api/traces/"+id, nil, "Authorization", bearerW); code != http.StatusBadRequest && code != http.StatusNotFound {
				t.Errorf("id %q: %d", id, code)
			}
		}
	})
}
