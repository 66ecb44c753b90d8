package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
)

func TestEndpointCheck(t *testing.T) {
	good := []string{"127.0.0.1:4317", "localhost:0", "[::1]:4318", "http://127.0.0.1:14318", "https://jaeger.local",
		"unix:///run/scada.sock", "dns:///collector:4317"}
	for _, e := range good {
		if err := checkEndpoint(e); err != nil {
			t.Errorf("checkEndpoint(%q) = %v, want nil", e, err)
		}
	}
	bad := []string{"127.0.0.1", "127.0.0.1:notaport", "127.0.0.1:99999", "http://:80x", "http://", "127.0.0.1:-1", "http://host:"}
	for _, e := range bad {
		if err := checkEndpoint(e); err == nil {
			t.Errorf("checkEndpoint(%q) = nil, want error", e)
		}
	}
}

func TestEndpointCheckNamesKey(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"receivers": map[string]any{"otlp": map[string]any{"protocols": map[string]any{
			"grpc": map[string]any{"endpoint": "127.0.0.1:notaport"},
			"http": map[string]any{"endpoint": "127.0.0.1:4318"},
		}}},
	})
	err := endpointCheck{}.Convert(context.Background(), conf)
	if err == nil || !strings.Contains(err.Error(), "receivers::otlp::protocols::grpc::endpoint") || strings.Contains(err.Error(), "http::endpoint") {
		t.Fatalf("error = %v, want one naming the grpc endpoint key", err)
	}
}

// A bare port expands to a number: validate must refuse it (issue 20).
func TestEndpointCheckBarePort(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"extensions": map[string]any{"prometheus_query": map[string]any{"endpoint": 31428}},
	})
	err := endpointCheck{}.Convert(context.Background(), conf)
	if err == nil || !strings.Contains(err.Error(), "extensions::prometheus_query::endpoint") || !strings.Contains(err.Error(), "want host:port") {
		t.Fatalf("error = %v, want one naming the key and asking for host:port", err)
	}
}

func TestBrokersSplit(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"exporters": map[string]any{
			"kafka_alerts":   map[string]any{"brokers": []any{"k1:9092, k2:9093,", "k3:9094"}, "topic": "t"},
			"kafka_alerts/2": map[string]any{"brokers": []any{"k4:9092"}},
		},
	})
	if err := (endpointCheck{}).Convert(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	got := conf.Get("exporters::kafka_alerts::brokers")
	want := []any{"k1:9092", "k2:9093", "k3:9094"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("brokers = %#v, want %#v", got, want)
	}
	if got := conf.Get("exporters::kafka_alerts/2::brokers"); fmt.Sprint(got) != "[k4:9092]" {
		t.Errorf("untouched list = %#v", got)
	}
	if conf.Get("exporters::kafka_alerts::topic") != "t" {
		t.Error("sibling key lost")
	}
	bad := confmap.NewFromStringMap(map[string]any{
		"exporters": map[string]any{"kafka_alerts": map[string]any{"brokers": []any{"k1:9092,k2"}}},
	})
	if err := (endpointCheck{}).Convert(context.Background(), bad); err == nil || !strings.Contains(err.Error(), `broker "k2"`) {
		t.Errorf("error = %v, want one naming broker k2", err)
	}
}

// tlsConf is a config with the appliance's listeners on addr's host.
func tlsConf(host string, shared map[string]any) *confmap.Conf {
	m := map[string]any{
		"receivers": map[string]any{
			"otlp": map[string]any{"protocols": map[string]any{
				"grpc": map[string]any{"endpoint": host + ":4317"},
				"http": map[string]any{"endpoint": host + ":4318"},
			}},
			"prometheus_remote_write": map[string]any{"endpoint": host + ":9201"},
			"scada":                   map[string]any{"endpoint": "10.0.0.9:502"}, // a client: never checked
		},
		"extensions": map[string]any{
			"prometheus_query":   map[string]any{"endpoint": host + ":8428"},
			"tenant_trace_query": map[string]any{"endpoint": host + ":16687", "jaeger_endpoint": "http://10.0.0.2:16686"},
			"scada_ui": map[string]any{"endpoint": host + ":8080",
				"trace_query_endpoint": "http://" + host + ":16687", "alerts_endpoint": "http://" + host + ":8089", "alarms_endpoint": "http://" + host + ":8090",
				"telemetry_endpoint": "http://127.0.0.1:8888/metrics"},
			"healthcheckv2": map[string]any{"http": map[string]any{"endpoint": host + ":13133"}},
			"tenantauth":    map[string]any{"audit": map[string]any{"directory": "/var/lib/scadaotel/audit"}},
		},
		"connectors": map[string]any{
			"errorfanout": map[string]any{"http": map[string]any{"endpoint": host + ":8089"}},
			"alarm":       map[string]any{"http": map[string]any{"endpoint": host + ":8090"}},
		},
	}
	if shared != nil {
		m[listenerTLSKey] = shared
	}
	return confmap.NewFromStringMap(m)
}

var tlsListenerPrefixes = []string{
	"receivers::otlp::protocols::grpc", "receivers::otlp::protocols::http", "receivers::prometheus_remote_write",
	"extensions::prometheus_query", "extensions::tenant_trace_query", "extensions::scada_ui",
	"extensions::healthcheckv2::http", "connectors::errorfanout::http", "connectors::alarm::http",
}

// The self-metrics endpoint has no TLS in the collector: off loopback it is
// refused like a plaintext listener, unless listener_tls says insecure.
func TestSelfMetricsOffLoopbackRefused(t *testing.T) {
	withReader := func(host string, shared map[string]any) *confmap.Conf {
		conf := tlsConf("127.0.0.1", shared)
		if err := conf.Merge(confmap.NewFromStringMap(map[string]any{"service::telemetry::metrics::readers": []any{
			map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": host, "port": 8888}}}},
		}})); err != nil {
			t.Fatal(err)
		}
		return conf
	}
	for _, host := range []string{"0.0.0.0", "10.1.2.3", ""} {
		err := (endpointCheck{}).Convert(context.Background(), withReader(host, nil))
		if err == nil || !strings.Contains(err.Error(), "service::telemetry::metrics::readers[0]::pull::exporter::prometheus::host") {
			t.Errorf("self-metrics on %q: %v", host, err)
		}
	}
	if err := (endpointCheck{}).Convert(context.Background(), withReader("127.0.0.1", nil)); err != nil {
		t.Errorf("self-metrics on loopback: %v", err)
	}
	if err := (endpointCheck{}).Convert(context.Background(), withReader("0.0.0.0", map[string]any{"insecure": true})); err != nil {
		t.Errorf("self-metrics off loopback with listener_tls insecure: %v", err)
	}
}

func certFiles(t *testing.T) (cert, key, ca string) {
	dir := t.TempDir()
	for _, f := range []string{"server.pem", "server-key.pem", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "ca.pem")
}

// TestListenerTLSGoesToEveryListener: listener_tls is the one place; every
// listener gets it as its configtls server settings, the UI's upstream
// URLs become https, and the key itself is gone before the collector
// reads the config.
func TestListenerTLSGoesToEveryListener(t *testing.T) {
	cert, key, ca := certFiles(t)
	conf := tlsConf("0.0.0.0", map[string]any{"cert_file": cert, "key_file": key, "client_ca_file": ca,
		"reload_interval": "30s", "insecure": false})
	if err := (endpointCheck{}).Convert(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	for _, p := range tlsListenerPrefixes {
		got, _ := conf.Get(p + "::tls").(map[string]any)
		if got["cert_file"] != cert || got["key_file"] != key || got["client_ca_file"] != ca ||
			got["client_ca_file_reload"] != true || got["reload_interval"] != "30s" {
			t.Errorf("%s::tls = %v", p, got)
		}
	}
	if conf.IsSet(listenerTLSKey) {
		t.Error("listener_tls left in the config")
	}
	if conf.IsSet("receivers::scada::tls") {
		t.Error("a client (scada receiver) got server TLS")
	}
	if got := conf.Get("extensions::scada_ui::trace_query_endpoint"); got != "https://0.0.0.0:16687" {
		t.Errorf("trace_query_endpoint = %v", got)
	}
	if got := conf.Get("extensions::scada_ui::alarms_endpoint"); got != "https://0.0.0.0:8090" {
		t.Errorf("alarms_endpoint = %v", got)
	}
	if got := conf.Get("extensions::scada_ui::alerts_endpoint"); got != "https://0.0.0.0:8089" {
		t.Errorf("alerts_endpoint = %v", got)
	}
	if got := conf.Get("extensions::scada_ui::telemetry_endpoint"); got != "http://127.0.0.1:8888/metrics" {
		t.Errorf("telemetry_endpoint = %v (no TLS listener there)", got)
	}
	if got := fmt.Sprint(conf.Get("extensions::tenantauth::audit::certificate_files")); got != fmt.Sprint([]any{cert, key, ca}) {
		t.Errorf("tenantauth audit.certificate_files = %v (the audit trail records certificate changes)", got)
	}
}

// A listener's own tls is kept; an otlp protocol not configured is not
// turned on by the shared block.
func TestListenerTLSKeepsOwnAndAddsNoProtocol(t *testing.T) {
	cert, key, _ := certFiles(t)
	conf := confmap.NewFromStringMap(map[string]any{
		listenerTLSKey: map[string]any{"cert_file": cert, "key_file": key},
		"receivers":    map[string]any{"otlp": map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": "0.0.0.0:4317"}}}},
		"extensions": map[string]any{"prometheus_query": map[string]any{"endpoint": "0.0.0.0:8428",
			"tls": map[string]any{"cert_file": "/own.pem", "key_file": "/own-key.pem"}}},
	})
	if err := (endpointCheck{}).Convert(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	if got := conf.Get("extensions::prometheus_query::tls::cert_file"); got != "/own.pem" {
		t.Errorf("own tls replaced: %v", got)
	}
	if conf.IsSet("receivers::otlp::protocols::http") {
		t.Error("otlp http turned on by listener_tls")
	}
	if got := conf.Get("receivers::otlp::protocols::grpc::tls::cert_file"); got != cert {
		t.Errorf("grpc tls: %v", got)
	}
}

// TestNonLoopbackPlaintextRefused: a listener on a routable address
// without TLS refuses to start, naming it and the fix; loopback, an
// explicit insecure (all listeners or one) and TLS are accepted.
func TestNonLoopbackPlaintextRefused(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "", "10.1.2.3", "scada-01.plant", "[::]"} {
		err := (endpointCheck{}).Convert(context.Background(), tlsConf(host, nil))
		if err == nil {
			t.Fatalf("%q: plaintext on a routable address accepted", host)
		}
		for _, want := range append(tlsListenerPrefixes, "not on loopback and without TLS", "SCADAOTEL_TLS_CERT_FILE",
			"scadaotel certs init", "SCADAOTEL_TLS_INSECURE=true", "tls: {insecure: true}") {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error lacks %q: %v", host, want, err)
			}
		}
	}
	for _, host := range []string{"127.0.0.1", "localhost", "[::1]", "127.0.0.2"} {
		if err := (endpointCheck{}).Convert(context.Background(), tlsConf(host, map[string]any{"cert_file": nil, "key_file": nil})); err != nil {
			t.Errorf("%q: %v", host, err)
		}
	}
	if err := (endpointCheck{}).Convert(context.Background(), tlsConf("0.0.0.0", map[string]any{"insecure": true})); err != nil {
		t.Errorf("listener_tls insecure: %v", err)
	}
	// One listener says insecure: only the others are named; its tls key is gone.
	conf := tlsConf("127.0.0.1", nil)
	if err := conf.Merge(confmap.NewFromStringMap(map[string]any{"extensions::prometheus_query::endpoint": "0.0.0.0:8428",
		"extensions::prometheus_query::tls": map[string]any{"insecure": true},
		"extensions::scada_ui::endpoint":    "0.0.0.0:8080"})); err != nil {
		t.Fatal(err)
	}
	err := (endpointCheck{}).Convert(context.Background(), conf)
	if err == nil || !strings.Contains(err.Error(), "extensions::scada_ui::endpoint 0.0.0.0:8080") || strings.Contains(err.Error(), "prometheus_query") {
		t.Fatalf("one insecure listener: %v", err)
	}
	if conf.IsSet("extensions::prometheus_query::tls") {
		t.Error("tls: {insecure: true} left for the collector (a server's configtls has no insecure key)")
	}
}

func TestListenerTLSBadBlock(t *testing.T) {
	cert, _, _ := certFiles(t)
	for _, tc := range []struct {
		shared map[string]any
		want   string
	}{
		{map[string]any{"cert_file": cert}, "cert_file and key_file go together"},
		{map[string]any{"cert_file": cert, "key_file": "/nonexistent/key.pem"}, "listener_tls::key_file"},
		{map[string]any{"client_ca_file": cert}, "client_ca_file needs cert_file"},
		{map[string]any{"cert": cert}, "listener_tls::cert: unknown key"},
		{map[string]any{"insecure": "yes"}, "listener_tls::insecure: want true or false"},
	} {
		err := (endpointCheck{}).Convert(context.Background(), tlsConf("127.0.0.1", tc.shared))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.shared, err, tc.want)
		}
	}
}
