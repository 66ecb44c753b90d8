package traffic

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestTrafficSendsTenantsWithSchedule sends two tenants' traffic to a real
// OTLP/HTTP endpoint and checks headers, span counts, the error schedule and
// the ground truth file.
func TestTrafficSendsTenantsWithSchedule(t *testing.T) {
	var mu sync.Mutex
	got := map[string]map[string][2]int{} // tenant -> service -> spans, errors
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tenant := r.Header.Get("X-SCADA-Tenant")
		if r.Header.Get("Authorization") != "Bearer tok-"+tenant {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		td := req.Traces()
		mu.Lock()
		defer mu.Unlock()
		if got[tenant] == nil {
			got[tenant] = map[string][2]int{}
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			c := got[tenant][svc.Str()]
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					c[0]++
					if ss.At(k).Status().Code() == ptrace.StatusCodeError {
						c[1]++
					}
				}
			}
			got[tenant][svc.Str()] = c
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	truthFile := filepath.Join(t.TempDir(), "truth.json")
	res, err := Run(t.Context(), Config{Endpoint: srv.URL, Duration: 1500 * time.Millisecond, TruthFile: truthFile, Tenants: []TenantConfig{
		{ID: "west-pipeline-01", Token: "tok-west-pipeline-01", Rate: 20,
			Bursts: []Burst{{Service: "dispatch-service", At: 0, For: time.Hour, Rate: 1}}},
		{ID: "east-pipeline-02", Token: "tok-east-pipeline-02", Rate: 10},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.SendError != "" {
		t.Fatal(res.SendError)
	}
	west, east := res.Tenants["west-pipeline-01"], res.Tenants["east-pipeline-02"]
	if west.Requests != 30 || east.Requests != 15 {
		t.Errorf("requests west %d east %d, want 30 and 15", west.Requests, east.Requests)
	}
	mu.Lock()
	defer mu.Unlock()
	for tenant, tr := range res.Tenants {
		total := 0
		for svc, c := range got[tenant] {
			total += c[0]
			if c[0] != tr.PerService[svc].Spans || c[1] != tr.PerService[svc].Errors {
				t.Errorf("%s/%s: received %v, sent %+v", tenant, svc, c, tr.PerService[svc])
			}
		}
		if total != tr.Spans || total == 0 {
			t.Errorf("%s: received %d spans, sent %d", tenant, total, tr.Spans)
		}
	}
	if c := got["west-pipeline-01"]["dispatch-service"]; c[0] == 0 || c[1] != c[0] {
		t.Errorf("burst at 100%%: dispatch-service %v", c)
	}
	if c := got["west-pipeline-01"]["rtu-gateway"]; c[0] == 0 || c[1] != 0 {
		t.Errorf("no baseline: rtu-gateway %v", c)
	}
	if len(got["east-pipeline-02"]) != 4 {
		t.Errorf("east services %v, want the four of the request path", got["east-pipeline-02"])
	}
	var truth Result
	b, err := os.ReadFile(truthFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	if len(truth.Requests) != 45 || truth.Requests[0].Original == "" || len(truth.Requests[0].LegacySpans) == 0 {
		t.Errorf("truth file: %d requests, first %+v", len(truth.Requests), truth.Requests[0])
	}
}
