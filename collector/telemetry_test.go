package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scadaotel/scadaotel/connectors/alarmconnector"
	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/exporters/vmexporter"
	"github.com/scadaotel/scadaotel/extensions/logstorageextension"
	"github.com/scadaotel/scadaotel/extensions/promqueryextension"
	"github.com/scadaotel/scadaotel/extensions/scadauiextension"
	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/extensions/tracequeryextension"
	"github.com/scadaotel/scadaotel/processors/groupcommitprocessor"
	"github.com/scadaotel/scadaotel/processors/tenantstampprocessor"
	"github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"
	"github.com/scadaotel/scadaotel/receivers/iec104receiver"
	"github.com/scadaotel/scadaotel/receivers/promremotewritereceiver"
	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// declaredMetrics are the self-metrics each of the distribution's own
// components declares (each package's test holds its list to the
// instruments it creates), by component type.
func declaredMetrics() map[string][]string {
	return map[string][]string{
		"scada":                   scadareceiver.MetricNames(),
		"iec104":                  iec104receiver.MetricNames(),
		"prometheus_remote_write": promremotewritereceiver.MetricNames(),
		"tenantstamp":             tenantstampprocessor.MetricNames(),
		"traceidrepair":           traceidrepairprocessor.MetricNames(),
		"groupcommit":             groupcommitprocessor.MetricNames(),
		"errorfanout":             errorfanoutconnector.MetricNames(),
		"alarm":                   alarmconnector.MetricNames(),
		"victoriametrics":         vmexporter.MetricNames(),
		"kafka_alerts":            kafkaalertexporter.MetricNames(),
		"durable_otlp":            durableotlpexporter.MetricNames(),
		"tenantauth":              tenantauthextension.MetricNames(),
		"prometheus_query":        promqueryextension.MetricNames(),
		"tenant_trace_query":      tracequeryextension.MetricNames(),
		"scada_ui":                scadauiextension.MetricNames(),
		"log_storage":             logstorageextension.MetricNames(),
	}
}

// TestUIReadsOnlyDeclaredMetrics fails when the Appliance view reads a
// self-metric no component declares (renamed or removed).
func TestUIReadsOnlyDeclaredMetrics(t *testing.T) {
	declared := map[string]bool{}
	for _, names := range declaredMetrics() {
		for _, n := range names {
			declared[n] = true
		}
	}
	read := scadauiextension.ReadMetrics()
	if len(read) == 0 {
		t.Fatal("the UI declares no metric it reads")
	}
	for _, n := range read {
		if !declared[n] {
			t.Errorf("the Appliance view reads %q, which no component declares", n)
		}
	}
}

// TestSelfMetricNamesAreOneScheme: every declared name is
// scadaotel_<its component type>_<noun>, the type is one the distribution
// contains, and no two components share a name.
func TestSelfMetricNamesAreOneScheme(t *testing.T) {
	f, err := components()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for typ := range f.Receivers {
		types[typ.String()] = true
	}
	for typ := range f.Processors {
		types[typ.String()] = true
	}
	for typ := range f.Exporters {
		types[typ.String()] = true
	}
	for typ := range f.Connectors {
		types[typ.String()] = true
	}
	for typ := range f.Extensions {
		types[typ.String()] = true
	}
	owner := map[string]string{}
	for typ, names := range declaredMetrics() {
		if !types[typ] {
			t.Errorf("%s is not a component type of the distribution", typ)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "scadaotel_"+typ+"_") {
				t.Errorf("%s declares %q, not scadaotel_%s_<noun>", typ, n, typ)
			}
			if o, dup := owner[n]; dup {
				t.Errorf("%q is declared by %s and %s", n, o, typ)
			}
			owner[n] = typ
		}
	}
}

// TestExpositionKeepsInstrumentNames runs the collector in-process with the
// default config's telemetry reader (prometheus pull, no suffix options) and
// checks the endpoint exposes a counter under its instrument name, no
// _total and no unit suffix: the names documentation.md lists and the
// Appliance view reads are the ones operators scrape.
func TestExpositionKeepsInstrumentNames(t *testing.T) {
	for _, opt := range []string{"without_type_suffix", "without_units", "translation_strategy"} {
		if strings.Contains(string(defaultConfig), opt) {
			t.Fatalf("config/default.yaml sets %s: this test and the documentation.md files assume the reader's defaults", opt)
		}
	}
	otlpPort, metricsPort := freeTCPPort(t), freeTCPPort(t)
	cfg := fmt.Sprintf(`yaml:
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:%d"}
exporters:
  debug: {}
service:
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`, otlpPort, metricsPort)
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.NewDefaultBuildInfo(), Factories: components,
		LoggingOptions: []zap.Option{zap.WrapCore(func(zapcore.Core) zapcore.Core { return zapcore.NewNopCore() })},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs: []string{cfg}, ProviderFactories: []confmap.ProviderFactory{yamlprovider.NewFactory()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	defer func() { col.Shutdown(); <-done }()

	span := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`
	var text string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", otlpPort), "application/json", strings.NewReader(span)); err == nil {
			resp.Body.Close()
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if text = string(b); strings.Contains(text, "otelcol_receiver_accepted_spans{") {
			break
		}
	}
	for _, want := range []string{"# TYPE otelcol_receiver_accepted_spans counter\n", "\notelcol_process_uptime "} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "otelcol_receiver_accepted_spans_total") || strings.Contains(text, "otelcol_process_uptime_seconds") {
		t.Errorf("exposition adds suffixes to instrument names:\n%s", text)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
