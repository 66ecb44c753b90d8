package main

import (
	"context"
	"fmt"
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
