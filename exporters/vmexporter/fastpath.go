package vmexporter

import (
	"bytes"
	"encoding/binary"
	"math"
	"sync"

	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	promprompb "github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// The fast path. The contrib translator builds, sorts and hashes a label
// set for every data point (about 4 allocations per sample), although a
// SCADA source sends the same series again and again. For gauges and
// cumulative sums (nearly all SCADA data) the converter asks the
// translator once per distinct series (tenant, promoted resource
// attributes, service identity, metric name/unit/type, data-point
// attributes) and caches the result: the final labels and the storage
// name. Every later sample of that series costs a key build and a map
// lookup. The labels still come from the translator, so the naming rules
// are the translator's; TestFastPathMatchesTranslator compares both paths.
// Histograms, summaries and exponential histograms take the translator
// path unchanged.

// cachedSeries is one translated series.
type cachedSeries struct {
	labels []vmstore.Label    // translator labels, tenant label forced
	name   []byte             // storage name (vmstore.MarshalName of labels)
	prom   []promprompb.Label // the same labels for remote write
	err    error              // translation failed: the samples are dropped
	none   bool               // target_info: the translator writes none
	// rejectReason/rejectDetail: the storage would drop the series
	// (validate.go), so its samples are refused.
	rejectReason, rejectDetail string
}

// maxCachedSeries bounds the cache (about 0.5 KB per entry); when full it
// starts over.
const maxCachedSeries = 1 << 16

type seriesCache struct {
	mu sync.RWMutex
	m  map[string]*cachedSeries
}

func (c *seriesCache) get(key []byte) *cachedSeries {
	c.mu.RLock()
	s := c.m[string(key)]
	c.mu.RUnlock()
	return s
}

func (c *seriesCache) put(key []byte, s *cachedSeries) {
	c.mu.Lock()
	if len(c.m) >= maxCachedSeries {
		c.m = make(map[string]*cachedSeries, maxCachedSeries/4)
	}
	c.m[string(key)] = s
	c.mu.Unlock()
}

// fastEligible reports whether m takes the cached path.
func fastEligible(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return true
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	}
	return false
}

// keyScratch holds the reusable buffers of one conversion.
type keyScratch struct {
	key, prev []byte
	samples   []promprompb.Sample
}

var keyScratchPool = sync.Pool{New: func() any { return &keyScratch{} }}

func appendKeyString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendKeyValue appends a typed attribute value.
func appendKeyValue(dst []byte, v pcommon.Value) []byte {
	dst = append(dst, byte(v.Type()))
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendKeyString(dst, v.Str())
	case pcommon.ValueTypeInt:
		return binary.AppendVarint(dst, v.Int())
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(dst, 1)
		}
		return append(dst, 0)
	default:
		return appendKeyString(dst, v.AsString())
	}
}

func appendKeyMap(dst []byte, m pcommon.Map) []byte {
	dst = binary.AppendUvarint(dst, uint64(m.Len()))
	for k, v := range m.All() {
		dst = appendKeyString(dst, k)
		dst = appendKeyValue(dst, v)
	}
	return dst
}

// resourceKey is what of a resource decides its series' labels: the
// tenant, the service identity (job, instance) and the promoted
// attributes (external labels).
func (c *converter) appendResourceKey(dst []byte, tenant string, res pcommon.Resource, ext map[string]string) []byte {
	dst = appendKeyString(dst, tenant)
	attrs := res.Attributes()
	for _, k := range [...]string{"service.name", "service.namespace", "service.instance.id"} {
		if v, ok := attrs.Get(k); ok {
			dst = append(dst, 1)
			dst = appendKeyValue(dst, v)
		} else {
			dst = append(dst, 0)
		}
	}
	for _, p := range c.promote {
		dst = appendKeyString(dst, ext[p.label])
	}
	return dst
}

func appendMetricKey(dst []byte, m pmetric.Metric) []byte {
	dst = append(dst, 'M', byte(m.Type()))
	if m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = appendKeyString(dst, m.Name())
	return appendKeyString(dst, m.Unit())
}

// finish turns translator labels into a cached series: the client's
// tenant label is dropped and the tenant forced.
func finishSeries(tenant string, labels []promprompb.Label) *cachedSeries {
	cs := &cachedSeries{
		labels: make([]vmstore.Label, 0, len(labels)+1),
		prom:   make([]promprompb.Label, 0, len(labels)+1),
	}
	for _, l := range labels {
		if l.Name == tenants.MetricLabel {
			continue
		}
		cs.labels = append(cs.labels, vmstore.Label{Name: l.Name, Value: l.Value})
		cs.prom = append(cs.prom, l)
	}
	cs.labels = append(cs.labels, vmstore.Label{Name: tenants.MetricLabel, Value: tenant})
	cs.prom = append(cs.prom, promprompb.Label{Name: tenants.MetricLabel, Value: tenant})
	if cs.rejectReason, cs.rejectDetail = checkLabels(cs.labels); cs.rejectReason != "" {
		return cs
	}
	cs.name, cs.err = vmstore.MarshalName(nil, cs.labels)
	return cs
}

// translateSeries asks the translator for the labels of dp's series.
func (c *converter) translateSeries(tenant string, res pcommon.Resource, m pmetric.Metric, dp pmetric.NumberDataPoint, settings prw.Settings) *cachedSeries {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource())
	nm := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	nm.SetName(m.Name())
	nm.SetUnit(m.Unit())
	var one pmetric.NumberDataPoint
	if m.Type() == pmetric.MetricTypeSum {
		s := nm.SetEmptySum()
		s.SetIsMonotonic(m.Sum().IsMonotonic())
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		one = s.DataPoints().AppendEmpty()
	} else {
		one = nm.SetEmptyGauge().DataPoints().AppendEmpty()
	}
	dp.Attributes().CopyTo(one.Attributes())
	one.SetTimestamp(1e6)
	one.SetDoubleValue(1)
	settings.DisableTargetInfo = true
	tss, err := prw.FromMetrics(md, settings)
	for _, ts := range tss {
		if len(ts.Samples) == 1 {
			return finishSeries(tenant, ts.Labels)
		}
	}
	if err == nil {
		err = errTranslatedNothing
	}
	return &cachedSeries{err: err}
}

// translateTarget asks the translator for the resource's target_info
// labels (or whether it writes none).
func (c *converter) translateTarget(tenant string, res pcommon.Resource, settings prw.Settings) *cachedSeries {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource())
	probe := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	probe.SetName("scadaotel_target_info_probe")
	dp := probe.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(1e6)
	tss, _ := prw.FromMetrics(md, settings)
	for _, ts := range tss {
		for _, l := range ts.Labels {
			if l.Name == "__name__" && l.Value == "target_info" {
				return finishSeries(tenant, ts.Labels)
			}
		}
	}
	return &cachedSeries{none: true}
}

type errString string

func (e errString) Error() string { return string(e) }

const errTranslatedNothing = errString("the translator produced no series for a data point")

// convertResourceFast converts one resource: gauges and cumulative sums
// through the cache, other metrics through the translator, target_info
// through the cache.
func (c *converter) convertResourceFast(rm pmetric.ResourceMetrics, b seriesSink) {
	res := rm.Resource()
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
	ks := keyScratchPool.Get().(*keyScratch)
	defer keyScratchPool.Put(ks)
	resKey := c.appendResourceKey(ks.key[:0], tenant, res, settings.ExternalLabels)
	resLen := len(resKey)
	ks.key = resKey

	var latest pcommon.Timestamp
	slow := false
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			if !fastEligible(m) {
				slow = true
				latest = max(latest, latestTimestamp(m))
				continue
			}
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeGauge {
				dps = m.Gauge().DataPoints()
			} else {
				dps = m.Sum().DataPoints()
			}
			ks.key = appendMetricKey(ks.key[:resLen], m)
			metricLen := len(ks.key)
			ks.prev = ks.prev[:0]
			var cur *cachedSeries
			samples := ks.samples[:0]
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				latest = max(latest, dp.Timestamp())
				ks.key = appendKeyMap(ks.key[:metricLen], dp.Attributes())
				if cur == nil || !bytes.Equal(ks.key, ks.prev) {
					if cur != nil && len(samples) > 0 {
						c.emit(b, tenant, cur, samples)
					}
					samples = samples[:0]
					cur = c.cache.get(ks.key)
					if cur == nil {
						cur = c.translateSeries(tenant, res, m, dp, settings)
						c.cache.put(ks.key, cur)
					}
					ks.prev = append(ks.prev[:0], ks.key...)
				}
				s := promprompb.Sample{Timestamp: int64(dp.Timestamp()) / 1e6}
				switch {
				case dp.Flags().NoRecordedValue():
					s.Value = vmstore.StaleNaN
				case dp.ValueType() == pmetric.NumberDataPointValueTypeInt:
					s.Value = float64(dp.IntValue())
				default:
					s.Value = dp.DoubleValue()
				}
				samples = append(samples, s)
			}
			if cur != nil && len(samples) > 0 {
				c.emit(b, tenant, cur, samples)
			}
			ks.samples = samples[:0]
		}
	}
	if slow {
		c.convertSlowMetrics(rm, tenant, settings, b)
	}
	if !settings.DisableTargetInfo && latest != 0 {
		ks.key = append(ks.key[:resLen], 'T')
		ks.key = appendKeyMap(ks.key, res.Attributes())
		cur := c.cache.get(ks.key)
		if cur == nil {
			cur = c.translateTarget(tenant, res, settings)
			c.cache.put(ks.key, cur)
		}
		if !cur.none {
			ks.samples = append(ks.samples[:0], promprompb.Sample{Timestamp: int64(latest) / 1e6, Value: 1})
			c.emit(b, tenant, cur, ks.samples)
		}
	}
}

func (c *converter) emit(b seriesSink, tenant string, cs *cachedSeries, samples []promprompb.Sample) {
	if cs.err != nil && cs.rejectReason == "" {
		b.addDropped(cs.err)
		return
	}
	b.addCached(tenant, cs, samples)
}

// convertSlowMetrics runs the translator over the resource's metrics that
// the cache does not handle (histograms, summaries, exponential
// histograms, delta sums), without target_info (written by the caller).
func (c *converter) convertSlowMetrics(rm pmetric.ResourceMetrics, tenant string, settings prw.Settings, b seriesSink) {
	md := pmetric.NewMetrics()
	out := md.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(out.Resource())
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		var dst pmetric.ScopeMetrics
		made := false
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if fastEligible(ms.At(j)) {
				continue
			}
			if !made {
				dst = out.ScopeMetrics().AppendEmpty()
				sms.At(i).Scope().CopyTo(dst.Scope())
				made = true
			}
			ms.At(j).CopyTo(dst.Metrics().AppendEmpty())
		}
	}
	settings.DisableTargetInfo = true
	c.translate(md, tenant, settings, b)
}

func latestTimestamp(m pmetric.Metric) pcommon.Timestamp {
	var ts pcommon.Timestamp
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for i := 0; i < m.Gauge().DataPoints().Len(); i++ {
			ts = max(ts, m.Gauge().DataPoints().At(i).Timestamp())
		}
	case pmetric.MetricTypeSum:
		for i := 0; i < m.Sum().DataPoints().Len(); i++ {
			ts = max(ts, m.Sum().DataPoints().At(i).Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			ts = max(ts, m.Histogram().DataPoints().At(i).Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for i := 0; i < m.ExponentialHistogram().DataPoints().Len(); i++ {
			ts = max(ts, m.ExponentialHistogram().DataPoints().At(i).Timestamp())
		}
	case pmetric.MetricTypeSummary:
		for i := 0; i < m.Summary().DataPoints().Len(); i++ {
			ts = max(ts, m.Summary().DataPoints().At(i).Timestamp())
		}
	}
	return ts
}
