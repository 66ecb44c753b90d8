//go:build e2e

package tenants_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// TestApplianceConfigSnippet runs testdata/appliance.yaml (the tenant parts
// proposed for the default appliance config) through the real binary with
// Jaeger: everyone is refused until the tenants file appears in the data
// directory, then the tenant's traces reach Jaeger stamped and are readable
// through the tenant-scoped API only with its token.
func TestApplianceConfigSnippet(t *testing.T) {
	cfg, err := os.ReadFile("testdata/appliance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jaeger := e2e.StartJaeger(t)
	dataDir := t.TempDir()
	a := &appliance{grpcAddr: e2e.FreeAddr(t), httpAddr: e2e.FreeAddr(t), queryAddr: e2e.FreeAddr(t)}
	// e2e.StartCollector reads the health endpoint from the YAML text.
	text := strings.Replace(string(cfg), "${env:SCADAOTEL_HEALTH_ENDPOINT:-127.0.0.1:13133}", e2e.FreeAddr(t), 1)
	a.Collector = e2e.StartCollector(t, text,
		"SCADAOTEL_DATA_DIR="+dataDir,
		"SCADAOTEL_OTLP_GRPC_ENDPOINT="+a.grpcAddr,
		"SCADAOTEL_OTLP_HTTP_ENDPOINT="+a.httpAddr,
		"SCADAOTEL_TRACE_QUERY_ENDPOINT="+a.queryAddr,
		"SCADAOTEL_JAEGER_QUERY_URL="+jaeger.QueryURL,
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT="+jaeger.OTLPGRPC,
	)
	id := newTraceID(t)
	td := traces(t, "plc-gateway", "read", id, 3, map[string]string{tenants.ResourceAttribute: eastID}, nil)
	if r := a.postHTTP(t, td, "Authorization", "Bearer "+westToken); r.code != 401 {
		t.Fatalf("before the tenants file exists: %d %s", r.code, r.body)
	}
	writeTenants(t, filepath.Join(dataDir, "tenants.yaml"), tenantsYAML("spans_per_second: 1000", eastToken))
	e2e.Eventually(t, 5*time.Second, func() error {
		if r := a.postHTTP(t, td, "Authorization", "Bearer "+westToken); r.code != 200 {
			return fmt.Errorf("west: %d %s", r.code, r.body)
		}
		return nil
	})
	base := "http://" + a.queryAddr
	e2e.Eventually(t, 30*time.Second, func() error {
		code, body := query(t, base, "/api/traces/"+hexID(id), nil, "Authorization", "Bearer "+westToken)
		if code != 200 {
			return fmt.Errorf("west reading its trace: %d %s", code, body)
		}
		return nil
	})
	if code, _ := query(t, base, "/api/traces/"+hexID(id), nil, "Authorization", "Bearer "+eastToken); code != 404 {
		t.Errorf("east reading west's trace (spoofed as east): %d, want 404", code)
	}
}
