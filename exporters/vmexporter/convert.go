package vmexporter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// errNoTenant marks data that cannot be stored because a resource carries
// no valid scada.tenant.
var errNoTenant = errors.New("no valid " + tenants.ResourceAttribute + " resource attribute")

// converter turns OTLP metrics into storage rows with the contrib
// OTLP-to-Prometheus translator (names, units, suffixes, histograms,
// staleness markers for no-recorded-value points), then forces the tenant
// label and adds the promoted resource attributes.
type converter struct {
	settings prw.Settings
	promote  []promotedAttr
	cache    seriesCache
	// translatorOnly disables the cached fast path (tests compare both).
	translatorOnly bool
}

type promotedAttr struct{ attr, label string }

func newConverter(cfg *Config) (*converter, error) {
	c := &converter{settings: prw.Settings{
		AddMetricSuffixes: cfg.AddMetricSuffixes,
		DisableTargetInfo: !cfg.TargetInfo,
		DisableScopeInfo:  true,
	}, cache: seriesCache{m: map[string]*cachedSeries{}}}
	namer := otlptranslator.LabelNamer{PreserveMultipleUnderscores: true}
	for _, a := range cfg.ResourceToLabels {
		l, err := namer.Build(a)
		if err != nil {
			return nil, fmt.Errorf("resource_to_labels: %q: %w", a, err)
		}
		if l == tenants.MetricLabel {
			continue // always set from the tenant
		}
		c.promote = append(c.promote, promotedAttr{attr: a, label: l})
	}
	return c, nil
}

// seriesSink receives converted series. labels end with the forced tenant
// label; the slice is reused by the caller after the call returns.
type seriesSink interface {
	addSeries(tenant string, labels []vmstore.Label, samples []prompb.Sample)
	// addCached adds samples of a series translated before; samples is
	// reused by the caller after the call returns.
	addCached(tenant string, s *cachedSeries, samples []prompb.Sample)
	// addDropped records a translation problem of a single metric.
	addDropped(err error)
	// scratch returns a reusable label buffer.
	scratch() *[]vmstore.Label
}

// batch is one converted request: rows for the storage and the same rows
// encoded as one write-ahead-log record.
type batch struct {
	rows    []vmstore.Row
	payload []byte
	dropped error // translation problems of single metrics (data kept)
	labels  []vmstore.Label
	series  int
	// window and rejected: samples the storage would drop (validate.go).
	window   sampleWindow
	rejected rejection
}

// convert converts md. It fails without partial output when a resource
// carries no valid tenant.
func (c *converter) convert(md pmetric.Metrics, b seriesSink) error {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if t := tenants.FromResource(rms.At(i).Resource()); !tenants.ValidID(t) {
			return fmt.Errorf("resource %d: %w (got %q)", i, errNoTenant, t)
		}
	}
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		if !c.translatorOnly {
			c.convertResourceFast(rm, b)
			continue
		}
		one := md
		if rms.Len() > 1 {
			one = pmetric.NewMetrics()
			rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		}
		c.convertResource(one, rm.Resource(), b)
	}
	return nil
}

func (c *converter) convertResource(md pmetric.Metrics, res pcommon.Resource, b seriesSink) {
	tenant := tenants.FromResource(res)
	settings := c.settings
	if len(c.promote) > 0 {
		ext := make(map[string]string, len(c.promote))
		attrs := res.Attributes()
		for _, p := range c.promote {
			if v, ok := attrs.Get(p.attr); ok {
				ext[p.label] = v.AsString()
			}
		}
		settings.ExternalLabels = ext
	}
	c.translate(md, tenant, settings, b)
}

// translate runs the contrib translator over md (one tenant's data) and
// hands the series to b with the tenant label forced.
func (c *converter) translate(md pmetric.Metrics, tenant string, settings prw.Settings, b seriesSink) {
	tss, err := prw.FromMetrics(md, settings)
	if err != nil {
		b.addDropped(err)
	}
	buf := b.scratch()
	for _, ts := range tss {
		labels := (*buf)[:0]
		for _, l := range ts.Labels {
			if l.Name == tenants.MetricLabel {
				continue // client-sent: overwritten below
			}
			labels = append(labels, vmstore.Label{Name: l.Name, Value: l.Value})
		}
		labels = append(labels, vmstore.Label{Name: tenants.MetricLabel, Value: tenant})
		*buf = labels
		if len(ts.Samples) > 0 {
			b.addSeries(tenant, labels, ts.Samples)
		}
		for _, h := range ts.Histograms {
			addNativeHistogram(b, tenant, labels, &h)
		}
	}
}

func (b *batch) scratch() *[]vmstore.Label { return &b.labels }

func (b *batch) addDropped(err error) { b.dropped = errors.Join(b.dropped, err) }

func (b *batch) addSeries(_ string, labels []vmstore.Label, samples []prompb.Sample) {
	if reason, detail := checkLabels(labels); reason != "" {
		b.rejected.add(len(samples), reason, detail)
		return
	}
	if !b.window.checkSamples(samples, &b.rejected) {
		return
	}
	name, err := vmstore.MarshalName(nil, labels)
	if err != nil {
		b.addDropped(err)
		return
	}
	b.addNamed(name, samples)
}

func (b *batch) addCached(_ string, s *cachedSeries, samples []prompb.Sample) {
	if s.rejectReason != "" {
		b.rejected.add(len(samples), s.rejectReason, s.rejectDetail)
		return
	}
	if !b.window.checkSamples(samples, &b.rejected) {
		return
	}
	b.addNamed(s.name, samples)
}

// addNamed appends rows and their WAL record part; name is shared by the
// rows and never modified.
func (b *batch) addNamed(name []byte, samples []prompb.Sample) {
	b.series++
	b.payload = binary.AppendUvarint(b.payload, uint64(len(name)))
	b.payload = append(b.payload, name...)
	b.payload = binary.AppendUvarint(b.payload, uint64(len(samples)))
	for _, s := range samples {
		b.rows = append(b.rows, vmstore.Row{MetricNameRaw: name, Timestamp: s.Timestamp, Value: s.Value})
		b.payload = binary.LittleEndian.AppendUint64(b.payload, uint64(s.Timestamp))
		b.payload = binary.LittleEndian.AppendUint64(b.payload, math.Float64bits(s.Value))
	}
}

// addNativeHistogram stores an exponential histogram (which the translator
// emits as a Prometheus native histogram) the way VictoriaMetrics stores
// them: <name>_count, <name>_sum and per-bucket <name>_bucket{vmrange="lo...hi"}
// series, which MetricsQL's histogram_quantile understands.
func addNativeHistogram(b seriesSink, tenant string, labels []vmstore.Label, h *prompb.Histogram) {
	nameIdx := -1
	for i, l := range labels {
		if l.Name == "__name__" {
			nameIdx = i
		}
	}
	if nameIdx < 0 {
		return
	}
	base := labels[nameIdx].Value
	with := func(suffix string, extra ...vmstore.Label) []vmstore.Label {
		out := make([]vmstore.Label, 0, len(labels)+len(extra))
		out = append(out, labels...)
		out[nameIdx] = vmstore.Label{Name: "__name__", Value: base + suffix}
		return append(out, extra...)
	}
	ts := h.Timestamp
	if vmstore.IsStaleNaN(h.Sum) {
		b.addSeries(tenant, with("_count"), []prompb.Sample{{Timestamp: ts, Value: vmstore.StaleNaN}})
		b.addSeries(tenant, with("_sum"), []prompb.Sample{{Timestamp: ts, Value: vmstore.StaleNaN}})
		return
	}
	count := float64(h.GetCountInt())
	if h.IsFloatHistogram() {
		count = h.GetCountFloat()
	}
	b.addSeries(tenant, with("_count"), []prompb.Sample{{Timestamp: ts, Value: count}})
	b.addSeries(tenant, with("_sum"), []prompb.Sample{{Timestamp: ts, Value: h.Sum}})
	bucket := func(lo, hi, v float64) {
		if v == 0 {
			return
		}
		vr := fmt.Sprintf("%.3e...%.3e", lo, hi)
		b.addSeries(tenant, with("_bucket", vmstore.Label{Name: "vmrange", Value: vr}), []prompb.Sample{{Timestamp: ts, Value: v}})
	}
	zero := float64(h.GetZeroCountInt())
	if h.IsFloatHistogram() {
		zero = h.GetZeroCountFloat()
	}
	bucket(0, h.ZeroThreshold, zero)
	growth := math.Pow(2, math.Pow(2, -float64(h.Schema)))
	walk := func(spans []prompb.BucketSpan, deltas []int64, counts []float64, sign float64) {
		idx, k := int32(0), 0
		var cur int64
		for _, sp := range spans {
			idx += sp.Offset
			for j := uint32(0); j < sp.Length; j++ {
				var v float64
				if len(counts) > 0 {
					v = counts[k]
				} else if k < len(deltas) {
					cur += deltas[k]
					v = float64(cur)
				}
				upper := math.Pow(growth, float64(idx))
				lower := upper / growth
				if sign > 0 {
					bucket(lower, upper, v)
				} else {
					bucket(-upper, -lower, v)
				}
				idx++
				k++
			}
		}
	}
	walk(h.PositiveSpans, h.PositiveDeltas, h.PositiveCounts, 1)
	walk(h.NegativeSpans, h.NegativeDeltas, h.NegativeCounts, -1)
}

// decodeRecord turns a write-ahead-log record back into rows.
func decodeRecord(p []byte, rows []vmstore.Row) ([]vmstore.Row, error) {
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return rows, errors.New("corrupt series name length")
		}
		p = p[k:]
		name := append([]byte(nil), p[:n]...)
		p = p[n:]
		cnt, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < cnt*16 {
			return rows, errors.New("corrupt sample count")
		}
		p = p[k:]
		for i := uint64(0); i < cnt; i++ {
			rows = append(rows, vmstore.Row{
				MetricNameRaw: name,
				Timestamp:     int64(binary.LittleEndian.Uint64(p)),
				Value:         math.Float64frombits(binary.LittleEndian.Uint64(p[8:])),
			})
			p = p[16:]
		}
	}
	return rows, nil
}
