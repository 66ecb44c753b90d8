package scadareceiver

import (
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricPollDuration = "scadaotel_scada_poll_duration"
	MetricPollLag      = "scadaotel_scada_poll_lag"
	MetricErrors       = "scadaotel_scada_errors"
	MetricReconnects   = "scadaotel_scada_reconnects"
	MetricSkipped      = "scadaotel_scada_skipped_polls"
	MetricRefused      = "scadaotel_scada_refused_batches"
	MetricDropped      = "scadaotel_scada_dropped_batches"
	MetricSamples      = "scadaotel_scada_samples"
	MetricPendingRetry = "scadaotel_scada_pending_batches"
)

// MetricNames lists every self-metric the receiver registers.
func MetricNames() []string {
	return []string{MetricPollDuration, MetricPollLag, MetricErrors, MetricReconnects, MetricSkipped,
		MetricRefused, MetricDropped, MetricSamples, MetricPendingRetry}
}

type telemetry struct {
	pollDuration metric.Float64Histogram
	pollLag      metric.Float64Histogram
	errors       metric.Int64Counter
	reconnects   metric.Int64Counter
	skipped      metric.Int64Counter
	refused      metric.Int64Counter
	dropped      metric.Int64Counter
	samples      metric.Int64Counter
	pending      metric.Int64UpDownCounter
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	m := mp.Meter(scopeName)
	t := &telemetry{}
	var err error
	if t.pollDuration, err = m.Float64Histogram(MetricPollDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of one poll (all reads of one RTU's poll group)."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if t.pollLag, err = m.Float64Histogram(MetricPollLag, metric.WithUnit("s"),
		metric.WithDescription("Delay from a poll's scheduled tick to its start (poll jitter)."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1)); err != nil {
		return nil, err
	}
	if t.errors, err = m.Int64Counter(MetricErrors, metric.WithUnit("{error}"),
		metric.WithDescription("Failed Modbus reads by kind: timeout, refused, exception (with code), malformed, disconnect, other.")); err != nil {
		return nil, err
	}
	if t.reconnects, err = m.Int64Counter(MetricReconnects, metric.WithUnit("{reconnect}"),
		metric.WithDescription("Connections re-established after a fault.")); err != nil {
		return nil, err
	}
	if t.skipped, err = m.Int64Counter(MetricSkipped, metric.WithUnit("{poll}"),
		metric.WithDescription("Polls skipped because the previous one overran or the link was busy.")); err != nil {
		return nil, err
	}
	if t.refused, err = m.Int64Counter(MetricRefused, metric.WithUnit("{batch}"),
		metric.WithDescription("Batches the next consumer refused; they are kept and retried on the next poll.")); err != nil {
		return nil, err
	}
	if t.dropped, err = m.Int64Counter(MetricDropped, metric.WithUnit("{batch}"),
		metric.WithDescription("Batches given up: retry buffer full or permanent consumer error.")); err != nil {
		return nil, err
	}
	if t.samples, err = m.Int64Counter(MetricSamples, metric.WithUnit("{sample}"),
		metric.WithDescription("Point samples produced, by quality.")); err != nil {
		return nil, err
	}
	if t.pending, err = m.Int64UpDownCounter(MetricPendingRetry, metric.WithUnit("{batch}"),
		metric.WithDescription("Batches waiting to be retried.")); err != nil {
		return nil, err
	}
	return t, nil
}

// rtuAttrs holds the precomputed attribute sets of one RTU.
type rtuAttrs struct {
	rtu    metric.MeasurementOption
	groups map[string]metric.MeasurementOption
	good   metric.MeasurementOption
	bad    metric.MeasurementOption
	lost   metric.MeasurementOption
}

func newRTUAttrs(name string, groups []string) rtuAttrs {
	a := rtuAttrs{
		rtu:    metric.WithAttributeSet(attribute.NewSet(attribute.String("rtu", name))),
		groups: map[string]metric.MeasurementOption{},
		good:   metric.WithAttributeSet(attribute.NewSet(attribute.String("rtu", name), attribute.String("quality", qualityGood))),
		bad:    metric.WithAttributeSet(attribute.NewSet(attribute.String("rtu", name), attribute.String("quality", qualityBad))),
		lost:   metric.WithAttributeSet(attribute.NewSet(attribute.String("rtu", name), attribute.String("quality", qualityCommLost))),
	}
	for _, g := range groups {
		a.groups[g] = metric.WithAttributeSet(attribute.NewSet(attribute.String("rtu", name), attribute.String("poll_group", g)))
	}
	return a
}

func errorAttrs(rtu, kind string, code int) metric.MeasurementOption {
	kv := []attribute.KeyValue{attribute.String("rtu", rtu), attribute.String("kind", kind)}
	if kind == faultException {
		kv = append(kv, attribute.String("code", strconv.Itoa(code)))
	}
	return metric.WithAttributeSet(attribute.NewSet(kv...))
}

// faultLog rate-limits log lines per RTU and fault key: the first line is
// written, then at most one per interval with the count of suppressed ones.
type faultLog struct {
	mu       sync.Mutex
	interval time.Duration
	last     map[string]time.Time
	supp     map[string]int
}

func newFaultLog(interval time.Duration) *faultLog {
	return &faultLog{interval: interval, last: map[string]time.Time{}, supp: map[string]int{}}
}

// allow reports whether a line for key may be written now, and how many
// were suppressed since the last one.
func (f *faultLog) allow(key string, now time.Time) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.last[key]; ok && now.Sub(last) < f.interval {
		f.supp[key]++
		return false, 0
	}
	n := f.supp[key]
	f.supp[key] = 0
	f.last[key] = now
	return true, n
}

func (f *faultLog) warn(l *zap.Logger, key, msg string, fields ...zap.Field) {
	ok, n := f.allow(key, time.Now())
	if !ok {
		return
	}
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	l.Warn(msg, fields...)
}
