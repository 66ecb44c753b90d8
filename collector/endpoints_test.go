package main

import (
	"context"
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
