package iec104receiver

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md.
const (
	MetricFrames         = "scadaotel_iec104_frames"
	MetricASDUs          = "scadaotel_iec104_asdus"
	MetricUnknownTypes   = "scadaotel_iec104_unknown_types"
	MetricMalformedASDUs = "scadaotel_iec104_malformed_asdus"
	MetricUnconfigured   = "scadaotel_iec104_unconfigured_points"
	MetricLinkUp         = "scadaotel_iec104_link_up"
	MetricReconnects     = "scadaotel_iec104_reconnects"
	MetricLinkErrors     = "scadaotel_iec104_link_errors"
	MetricSequenceErrors = "scadaotel_iec104_sequence_errors"
	MetricSamples        = "scadaotel_iec104_samples"
	MetricRefused        = "scadaotel_iec104_refused_batches"
	MetricDropped        = "scadaotel_iec104_dropped_batches"
)

// MetricNames lists every self-metric the receiver registers.
func MetricNames() []string {
	return []string{MetricFrames, MetricASDUs, MetricUnknownTypes, MetricMalformedASDUs, MetricUnconfigured,
		MetricLinkUp, MetricReconnects, MetricLinkErrors, MetricSequenceErrors, MetricSamples, MetricRefused, MetricDropped}
}

type telemetry struct {
	frames, asdus, unknown, malformed, unconfigured metric.Int64Counter
	linkUp                                          metric.Int64Gauge
	reconnects, linkErrors, seqErrors               metric.Int64Counter
	samples, refused, dropped                       metric.Int64Counter
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(scopeName)
	t := &telemetry{}
	var err error
	counter := func(dst *metric.Int64Counter, name, unit, desc string) {
		if err == nil {
			*dst, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
	}
	counter(&t.frames, MetricFrames, "{frame}", "APDUs by direction (rx, tx) and format (I, S, U).")
	counter(&t.asdus, MetricASDUs, "{asdu}", "ASDUs received, by type identification.")
	counter(&t.unknown, MetricUnknownTypes, "{asdu}", "ASDUs of a type the receiver does not decode, skipped.")
	counter(&t.malformed, MetricMalformedASDUs, "{asdu}", "ASDUs whose length does not match their type and object count, skipped.")
	counter(&t.unconfigured, MetricUnconfigured, "{object}", "Information objects received whose (common address, IOA) is not configured.")
	counter(&t.reconnects, MetricReconnects, "{reconnect}", "Links started again after a fault.")
	counter(&t.linkErrors, MetricLinkErrors, "{error}", "Link faults by kind: refused, closed, t1, sequence, malformed, write.")
	counter(&t.seqErrors, MetricSequenceErrors, "{error}", "Links closed because a received N(S) or N(R) was out of sequence.")
	counter(&t.samples, MetricSamples, "{sample}", "Point samples produced, by quality.")
	counter(&t.refused, MetricRefused, "{batch}", "Batches the next consumer refused; kept and retried.")
	counter(&t.dropped, MetricDropped, "{batch}", "Batches given up: retry buffer full or permanent consumer error.")
	if err != nil {
		return nil, err
	}
	if t.linkUp, err = m.Int64Gauge(MetricLinkUp, metric.WithUnit("1"),
		metric.WithDescription("1 while the outstation's link is started (STARTDT confirmed), else 0.")); err != nil {
		return nil, err
	}
	return t, nil
}

// outAttrs are one outstation's precomputed attribute sets; the maps are
// only used by the outstation's goroutine.
type outAttrs struct {
	base      metric.MeasurementOption
	frames    map[[2]string]metric.MeasurementOption
	types     map[iec104.TypeID]metric.MeasurementOption
	qualities map[string]metric.MeasurementOption
	faults    map[string]metric.MeasurementOption
	kv        []attribute.KeyValue
}

func newOutAttrs(name, tenant string) *outAttrs {
	kv := []attribute.KeyValue{attribute.String("outstation", name), tenants.SelfMetricTenant(tenant)}
	return &outAttrs{
		base:      metric.WithAttributeSet(attribute.NewSet(kv...)),
		frames:    map[[2]string]metric.MeasurementOption{},
		types:     map[iec104.TypeID]metric.MeasurementOption{},
		qualities: map[string]metric.MeasurementOption{},
		faults:    map[string]metric.MeasurementOption{},
		kv:        kv,
	}
}

func (a *outAttrs) with(extra ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue(nil), a.kv...), extra...)...))
}

func (a *outAttrs) frame(f iec104.Format, rx bool) metric.MeasurementOption {
	dir := "tx"
	if rx {
		dir = "rx"
	}
	k := [2]string{dir, f.String()}
	o, ok := a.frames[k]
	if !ok {
		o = a.with(attribute.String("direction", dir), attribute.String("format", f.String()))
		a.frames[k] = o
	}
	return o
}

func (a *outAttrs) typ(t iec104.TypeID) metric.MeasurementOption {
	o, ok := a.types[t]
	if !ok {
		o = a.with(attribute.String("type", t.String()))
		a.types[t] = o
	}
	return o
}

func (a *outAttrs) quality(q string) metric.MeasurementOption {
	o, ok := a.qualities[q]
	if !ok {
		o = a.with(attribute.String("quality", q))
		a.qualities[q] = o
	}
	return o
}

func (a *outAttrs) fault(kind string) metric.MeasurementOption {
	o, ok := a.faults[kind]
	if !ok {
		o = a.with(attribute.String("kind", kind))
		a.faults[kind] = o
	}
	return o
}

// faultLog rate-limits log lines per fault key: the first is written,
// then at most one per interval with the count of suppressed ones.
type faultLog struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	supp     map[string]int
}

func newFaultLog(interval time.Duration) *faultLog {
	return &faultLog{interval: interval, last: map[string]time.Time{}, supp: map[string]int{}}
}

func (f *faultLog) warn(l *zap.Logger, key, msg string, fields ...zap.Field) {
	f.mu.Lock()
	now := time.Now()
	if last, ok := f.last[key]; ok && now.Sub(last) < f.interval {
		f.supp[key]++
		f.mu.Unlock()
		return
	}
	n := f.supp[key]
	f.supp[key] = 0
	f.last[key] = now
	f.mu.Unlock()
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	l.Warn(msg, fields...)
}
