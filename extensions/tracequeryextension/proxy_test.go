package tracequeryextension

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
	"github.com/scadaotel/scadaotel/tenants"
)

func TestConfigExamples(t *testing.T) {
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub("tenant_trace_query")
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	def := createDefaultConfig().(*Config)
	if cfg.Endpoint != def.Endpoint || cfg.ServicesLookback != 168*time.Hour || cfg.SearchDepth != 100 {
		t.Errorf("example: %+v", cfg)
	}
	if !strings.HasPrefix(def.Endpoint, "127.0.0.1:") {
		t.Errorf("default endpoint %q is not loopback", def.Endpoint)
	}

	readmeconfig.Check(t, "README.md", "extensions", "tenant_trace_query", createDefaultConfig)
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	for key, mutate := range map[string]func(*Config){
		"endpoint":             func(c *Config) { c.Endpoint = "nope" },
		"jaeger_endpoint":      func(c *Config) { c.JaegerEndpoint = "ftp://x" },
		"services_lookback":    func(c *Config) { c.ServicesLookback = 0 },
		"search_depth":         func(c *Config) { c.SearchDepth = 0 },
		"timeout":              func(c *Config) { c.Timeout = 0 },
		"authenticator":        func(c *Config) { c.Authenticator = component.ID{} },
		"index.max_services":   func(c *Config) { c.Index.MaxServices = 0 },
		"index.max_operations": func(c *Config) { c.Index.MaxOperations = -1 },
		"index.max_trace_ids":  func(c *Config) { c.Index.MaxTraceIDs = 10 },
		"index.flush_interval": func(c *Config) { c.Index.FlushInterval = 0 },
	} {
		c := createDefaultConfig().(*Config)
		mutate(c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func TestStartNeedsTheAuthenticator(t *testing.T) {
	f := NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err == nil || !strings.Contains(err.Error(), "tenantauth") {
		t.Errorf("Start without tenantauth: %v", err)
	}
}

const sampleTrace = `{"traceID":"0af7651916cd43dd8448eb211c80319c","spans":[
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"01","operationName":"west-op","processID":"p1","tags":[{"key":"span.kind","type":"string","value":"server"}]},
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"02","operationName":"east-op","processID":"p2","tags":[{"key":"scada.tenant","type":"string","value":"west"}]},
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"03","operationName":"untenanted","processID":"p3"}],
 "processes":{
  "p1":{"serviceName":"plc","tags":[{"key":"scada.tenant","type":"string","value":"west"},{"key":"big","type":"int64","value":9007199254740993}]},
  "p2":{"serviceName":"plc","tags":[{"key":"scada.tenant","type":"string","value":"east"}]},
  "p3":{"serviceName":"plc","tags":[]}},
 "warnings":null}`

// TestFilterV1 keeps only spans whose process carries the tenant: a span
// attribute saying scada.tenant=west (client-controlled) does not count.
func TestFilterV1(t *testing.T) {
	var tr v1Trace
	if err := json.Unmarshal([]byte(sampleTrace), &tr); err != nil {
		t.Fatal(err)
	}
	got, ok, _ := filterV1(tr, "west")
	if !ok || len(got.Spans) != 1 || len(got.Processes) != 1 {
		t.Fatalf("west: %+v", got)
	}
	out, _ := json.Marshal(got)
	if strings.Contains(string(out), "east") || !strings.Contains(string(out), "9007199254740993") {
		t.Errorf("filtered trace %s", out)
	}
	if _, ok, _ := filterV1(tr, "north"); ok {
		t.Error("a tenant with no spans must get nothing")
	}
	if _, ok, _ := filterV1(tr, ""); ok {
		t.Error("the empty tenant must not match untagged processes")
	}
}

func TestFilterV3(t *testing.T) {
	const west = `{"key":"scada.tenant","value":{"stringValue":"west"}}`
	rs := func(resource, scope, spans string) json.RawMessage {
		return json.RawMessage(`{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"plc"}}` + resource +
			`]},"scopeSpans":[{"scope":{"name":"s","attributes":[` + scope + `]},"spans":[` + spans + `]}],"schemaUrl":"x"}`)
	}
	clean := `{"name":"mine","attributes":[]}`
	tagged := `{"name":"forged","attributes":[` + west + `]}`
	if out, ok := filterV3(rs(","+west, "", clean), "west"); !ok || !strings.Contains(string(out), "mine") || !strings.Contains(string(out), "schemaUrl") {
		t.Errorf("own resource: %s %v", out, ok)
	}
	if _, ok := filterV3(rs(","+west, "", clean), "east"); ok {
		t.Error("another tenant's resource shown")
	}
	if _, ok := filterV3(rs(","+west+","+west, "", clean), "west"); ok {
		t.Error("a resource with scada.tenant twice must not be shown (readers require one value)")
	}
	if _, ok := filterV3(rs(`,{"key":"scada.tenant","value":{"intValue":"1"}}`, "", clean), ""); ok {
		t.Error("non-string tenant shown")
	}
	out, ok := filterV3(rs(","+west, "", clean+","+tagged), "west")
	if !ok || !strings.Contains(string(out), "mine") || strings.Contains(string(out), "forged") {
		t.Errorf("span with its own scada.tenant: %s", out)
	}
	if _, ok := filterV3(rs(","+west, west, clean), "west"); ok {
		t.Error("a scope carrying scada.tenant must not be shown")
	}
}

// TestFilterV1ReadersRequireAgreement: a process with scada.tenant twice
// (even both equal to the caller) or a span carrying scada.tenant itself is
// not shown: tenantstamp leaves exactly one value, on the resource only.
func TestFilterV1ReadersRequireAgreement(t *testing.T) {
	const tr = `{"traceID":"01","spans":[
 {"spanID":"01","operationName":"dup","processID":"p1","tags":[]},
 {"spanID":"02","operationName":"own","processID":"p2","tags":[]},
 {"spanID":"03","operationName":"spanTagged","processID":"p2","tags":[{"key":"scada.tenant","type":"string","value":"west"}]}],
 "processes":{
  "p1":{"serviceName":"x","tags":[{"key":"scada.tenant","type":"string","value":"west"},{"key":"scada.tenant","type":"string","value":"west"}]},
  "p2":{"serviceName":"y","tags":[{"key":"scada.tenant","type":"string","value":"west"}]}}}`
	var v v1Trace
	if err := json.Unmarshal([]byte(tr), &v); err != nil {
		t.Fatal(err)
	}
	got, ok, _ := filterV1(v, "west")
	if !ok || len(got.Spans) != 1 || len(got.Processes) != 1 || !strings.Contains(string(got.Spans[0]), `"own"`) {
		t.Errorf("kept %d spans %d processes: %s", len(got.Spans), len(got.Processes), got.Spans)
	}
}

// TestRoutesRefuseWithoutTenant: mounted without the authenticator, the
// proxy fails closed instead of matching untenanted data.
func TestRoutesRefuseWithoutTenant(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	p := newProxy(mustURL(t, "http://127.0.0.1:1"), cfg, nil)
	rec := httptest.NewRecorder()
	p.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/services", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("got %d", rec.Code)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != tenants.Challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, tenants.Challenge)
	}
}
