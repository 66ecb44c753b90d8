package main

import (
	"strings"
	"testing"

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
	"github.com/scadaotel/scadaotel/receivers/promremotewritereceiver"
	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// declaredMetrics are the self-metrics each of the distribution's own
// components declares (each package's test holds its list to the
// instruments it creates), by component type.
func declaredMetrics() map[string][]string {
	return map[string][]string{
		"scada":                   scadareceiver.MetricNames(),
		"prometheus_remote_write": promremotewritereceiver.MetricNames(),
		"tenantstamp":             tenantstampprocessor.MetricNames(),
		"traceidrepair":           traceidrepairprocessor.MetricNames(),
		"groupcommit":             groupcommitprocessor.MetricNames(),
		"errorfanout":             errorfanoutconnector.MetricNames(),
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
