// Package telemetrytest checks a component's self-metrics against the
// distribution's telemetry convention (docs/README.md, "Self-metrics: one
// convention"): every instrument is registered under a declared name, and
// every declared name is registered, with a unit.
package telemetrytest

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// namePattern is scadaotel_<component type>_<noun>, snake_case.
var namePattern = regexp.MustCompile(`^scadaotel_[a-z0-9]+(_[a-z0-9]+)+$`)

// Instrument is one instrument a component created.
type Instrument struct {
	Name, Unit, Kind string
	Scope            string // the meter's name
}

// ownScope prefixes the meters of the distribution's own packages; the
// collector's helpers (exporterhelper: otelcol_exporter_*) use others.
const ownScope = "github.com/scadaotel/scadaotel/"

// Recorder is a MeterProvider over a real SDK provider (read through
// Reader) that also records every instrument created.
type Recorder struct {
	embedded.MeterProvider
	Reader *sdkmetric.ManualReader
	sdk    *sdkmetric.MeterProvider

	mu    sync.Mutex
	insts map[string]Instrument
}

// NewRecorder returns a Recorder; pass it as TelemetrySettings.MeterProvider.
func NewRecorder() *Recorder {
	r := sdkmetric.NewManualReader()
	return &Recorder{Reader: r, sdk: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), insts: map[string]Instrument{}}
}

// Meter implements metric.MeterProvider.
func (r *Recorder) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return &meter{Meter: r.sdk.Meter(name, opts...), r: r, scope: name}
}

func (r *Recorder) add(scope, name, unit, kind string) {
	r.mu.Lock()
	r.insts[name] = Instrument{Name: name, Unit: unit, Kind: kind, Scope: scope}
	r.mu.Unlock()
}

// Instruments returns the instruments created so far, by name.
func (r *Recorder) Instruments() map[string]Instrument {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Instrument, len(r.insts))
	for k, v := range r.insts {
		out[k] = v
	}
	return out
}

// Collect reads the metrics produced so far and returns their names.
func (r *Recorder) Collect(t testing.TB) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// CheckDeclared fails t unless every declared name follows the convention
// (prefix scadaotel_<componentType>_, snake_case, no _total), every declared
// name was registered with a unit, and every name registered by a meter of
// the distribution's own packages is declared.
func CheckDeclared(t testing.TB, componentType string, declared []string, r *Recorder) {
	t.Helper()
	prefix := "scadaotel_" + strings.ReplaceAll(componentType, "-", "_") + "_"
	insts := r.Instruments()
	for _, n := range declared {
		if !namePattern.MatchString(n) || !strings.HasPrefix(n, prefix) || strings.HasSuffix(n, "_total") {
			t.Errorf("%q does not follow %s<noun> (snake_case, no _total)", n, prefix)
		}
		in, ok := insts[n]
		switch {
		case !ok:
			t.Errorf("%q is declared but no instrument of that name was created", n)
		case in.Unit == "":
			t.Errorf("%q has no unit", n)
		}
	}
	for n, in := range insts {
		if strings.HasPrefix(in.Scope, ownScope) && !slices.Contains(declared, n) {
			t.Errorf("instrument %q is created but not declared in MetricNames()", n)
		}
	}
}

// CheckProduced fails t unless every name in want has data in r.
func CheckProduced(t testing.TB, r *Recorder, want ...string) {
	t.Helper()
	got := r.Collect(t)
	for _, n := range want {
		if _, ok := got[n]; !ok {
			t.Errorf("%q produced no data", n)
		}
	}
}

type meter struct {
	metric.Meter
	r     *Recorder
	scope string
}

func (m *meter) Int64Counter(n string, o ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	m.r.add(m.scope, n, metric.NewInt64CounterConfig(o...).Unit(), "counter")
	return m.Meter.Int64Counter(n, o...)
}

func (m *meter) Int64UpDownCounter(n string, o ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	m.r.add(m.scope, n, metric.NewInt64UpDownCounterConfig(o...).Unit(), "updowncounter")
	return m.Meter.Int64UpDownCounter(n, o...)
}

func (m *meter) Int64Histogram(n string, o ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	m.r.add(m.scope, n, metric.NewInt64HistogramConfig(o...).Unit(), "histogram")
	return m.Meter.Int64Histogram(n, o...)
}

func (m *meter) Int64Gauge(n string, o ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	m.r.add(m.scope, n, metric.NewInt64GaugeConfig(o...).Unit(), "gauge")
	return m.Meter.Int64Gauge(n, o...)
}

func (m *meter) Int64ObservableCounter(n string, o ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	m.r.add(m.scope, n, metric.NewInt64ObservableCounterConfig(o...).Unit(), "counter")
	return m.Meter.Int64ObservableCounter(n, o...)
}

func (m *meter) Int64ObservableUpDownCounter(n string, o ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	m.r.add(m.scope, n, metric.NewInt64ObservableUpDownCounterConfig(o...).Unit(), "updowncounter")
	return m.Meter.Int64ObservableUpDownCounter(n, o...)
}

func (m *meter) Int64ObservableGauge(n string, o ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	m.r.add(m.scope, n, metric.NewInt64ObservableGaugeConfig(o...).Unit(), "gauge")
	return m.Meter.Int64ObservableGauge(n, o...)
}

func (m *meter) Float64Counter(n string, o ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	m.r.add(m.scope, n, metric.NewFloat64CounterConfig(o...).Unit(), "counter")
	return m.Meter.Float64Counter(n, o...)
}

func (m *meter) Float64UpDownCounter(n string, o ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	m.r.add(m.scope, n, metric.NewFloat64UpDownCounterConfig(o...).Unit(), "updowncounter")
	return m.Meter.Float64UpDownCounter(n, o...)
}

func (m *meter) Float64Histogram(n string, o ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	m.r.add(m.scope, n, metric.NewFloat64HistogramConfig(o...).Unit(), "histogram")
	return m.Meter.Float64Histogram(n, o...)
}

func (m *meter) Float64Gauge(n string, o ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	m.r.add(m.scope, n, metric.NewFloat64GaugeConfig(o...).Unit(), "gauge")
	return m.Meter.Float64Gauge(n, o...)
}

func (m *meter) Float64ObservableCounter(n string, o ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	m.r.add(m.scope, n, metric.NewFloat64ObservableCounterConfig(o...).Unit(), "counter")
	return m.Meter.Float64ObservableCounter(n, o...)
}

func (m *meter) Float64ObservableUpDownCounter(n string, o ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	m.r.add(m.scope, n, metric.NewFloat64ObservableUpDownCounterConfig(o...).Unit(), "updowncounter")
	return m.Meter.Float64ObservableUpDownCounter(n, o...)
}

func (m *meter) Float64ObservableGauge(n string, o ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	m.r.add(m.scope, n, metric.NewFloat64ObservableGaugeConfig(o...).Unit(), "gauge")
	return m.Meter.Float64ObservableGauge(n, o...)
}
