package main

import (
	"os"
	"testing"
)

func TestDefaultTraceURL(t *testing.T) {
	for _, tc := range []struct{ ui, set, want, cert string }{
		{"", "", "http://127.0.0.1:8080/#/trace/{trace_id}", ""},
		{"", "", "https://127.0.0.1:8080/#/trace/{trace_id}", "/etc/scadaotel/tls/server.pem"},
		{"127.0.0.1:18080", "", "http://127.0.0.1:18080/#/trace/{trace_id}", ""},
		{"0.0.0.0:9000", "", "http://127.0.0.1:9000/#/trace/{trace_id}", ""},
		{"[::]:9000", "", "http://[::1]:9000/#/trace/{trace_id}", ""},
		{"127.0.0.1:18080", "https://ops.example/t/{trace_id}", "https://ops.example/t/{trace_id}", ""},
	} {
		t.Setenv("SCADAOTEL_UI_ENDPOINT", tc.ui)
		t.Setenv("SCADAOTEL_TLS_CERT_FILE", tc.cert)
		t.Setenv(traceURLEnv, tc.set)
		if err := defaultTraceURL(); err != nil {
			t.Fatal(err)
		}
		if got := os.Getenv(traceURLEnv); got != tc.want {
			t.Errorf("UI %q, %s=%q: got %q, want %q", tc.ui, traceURLEnv, tc.set, got, tc.want)
		}
	}
}
