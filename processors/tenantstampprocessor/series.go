package tenantstampprocessor

import (
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var seed = maphash.MakeSeed()

// appendSeriesHashes appends one hash per data point identifying its series
// (resource attributes, metric name, point attributes). Attribute hashes are
// summed, so attribute order does not matter.
func appendSeriesHashes(dst []uint64, md pmetric.Metrics) []uint64 {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rh := mapHash(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				mh := rh ^ maphash.String(seed, m.Name())
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps := m.Gauge().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dst = append(dst, mh+mapHash(dps.At(d).Attributes()))
					}
				case pmetric.MetricTypeSum:
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dst = append(dst, mh+mapHash(dps.At(d).Attributes()))
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dst = append(dst, mh+mapHash(dps.At(d).Attributes()))
					}
				case pmetric.MetricTypeExponentialHistogram:
					dps := m.ExponentialHistogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dst = append(dst, mh+mapHash(dps.At(d).Attributes()))
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dst = append(dst, mh+mapHash(dps.At(d).Attributes()))
					}
				}
			}
		}
	}
	return dst
}

func mapHash(m pcommon.Map) uint64 {
	var sum uint64
	for k, v := range m.All() {
		sum += maphash.String(seed, k+"\x00"+v.AsString())
	}
	return sum
}
