package scadareceiver

import (
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// Output metric names and attributes.
// (internal/scadaseries: the contract shared with the iec104 receiver).
const (
	metricPressure  = scadaseries.MetricPressure
	metricValve     = scadaseries.MetricValve
	metricRTUUp     = scadaseries.MetricRTUUp
	attrStation     = scadaseries.AttrStation
	attrRTU         = scadaseries.AttrRTU
	attrQuality     = scadaseries.AttrQuality
	attrPointStatn  = scadaseries.AttrPointStation
	attrPointUnit   = scadaseries.AttrPointUnit
	attrPointName   = scadaseries.AttrPointName
	attrValveID     = scadaseries.AttrValveID
	attrValveStatus = scadaseries.AttrValveStatus
	attrUpRTU       = scadaseries.AttrUpRTU
)

var noValue = pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)

func metricOpt(kv ...string) metric.MeasurementOption {
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...))
}

// buildMetrics renders one poll of a job as one ResourceMetrics carrying
// the RTU's tenant, station and name. prev is each point's quality in the
// previous poll: when a point stops being good, its quality="good" series
// also gets a no-recorded-value point, so that the series downstream ends
// with a staleness marker at once instead of lingering on its last value.
func buildMetrics(j *pollJob, samples []sample, prev []string, up bool, ts pcommon.Timestamp) pmetric.Metrics {
	rt := j.rtu
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource()
	tenants.SetOnResource(res, rt.tenant)
	res.Attributes().PutStr(attrStation, rt.station)
	res.Attributes().PutStr(attrRTU, rt.name)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	ms := sm.Metrics()

	// The unit travels as the "unit" attribute, never as the metric's unit:
	// Prometheus-style exporters (vmexporter add_metric_suffixes) append the
	// metric unit to the name, which would turn scada_pressure_gauge into
	// scada_pressure_gauge_bar and rename generic points.
	var names []string
	var gauges []pmetric.Gauge
	gauge := func(name, desc string) pmetric.Gauge {
		for i := range names {
			if names[i] == name {
				return gauges[i]
			}
		}
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription(desc)
		g := m.SetEmptyGauge()
		names = append(names, name)
		gauges = append(gauges, g)
		return g
	}

	for i, p := range j.points {
		s := samples[i]
		switch p.kind {
		case KindValve:
			g := gauge(metricValve, "Valve state set: 1 for the current status, 0 for the other configured statuses.")
			current := ""
			if s.quality == qualityGood {
				current = p.states[s.raw]
			}
			ended := s.quality != qualityGood && prev[i] == qualityGood
			for _, st := range p.statusList {
				if ended {
					dp := g.DataPoints().AppendEmpty()
					dp.SetTimestamp(ts)
					a := dp.Attributes()
					a.EnsureCapacity(4)
					a.PutStr(attrPointStatn, rt.station)
					a.PutStr(attrValveID, p.name)
					a.PutStr(attrValveStatus, st)
					a.PutStr(attrQuality, qualityGood)
					dp.SetFlags(noValue)
					dp.SetDoubleValue(math.NaN())
				}
				dp := g.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				a := dp.Attributes()
				a.EnsureCapacity(4)
				a.PutStr(attrPointStatn, rt.station)
				a.PutStr(attrValveID, p.name)
				a.PutStr(attrValveStatus, st)
				a.PutStr(attrQuality, s.quality)
				if s.quality != qualityGood {
					dp.SetFlags(noValue)
					dp.SetDoubleValue(math.NaN())
					continue
				}
				if st == current {
					dp.SetIntValue(1)
				} else {
					dp.SetIntValue(0)
				}
			}
		default:
			var g pmetric.Gauge
			if p.kind == KindPressure {
				g = gauge(metricPressure, "Pressure in the unit named by the unit attribute.")
			} else {
				g = gauge(p.name, "")
			}
			put := func(quality string) pmetric.NumberDataPoint {
				dp := g.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				a := dp.Attributes()
				a.EnsureCapacity(4)
				a.PutStr(attrPointStatn, rt.station)
				if p.unit != "" {
					a.PutStr(attrPointUnit, p.unit)
				}
				if p.kind == KindPressure {
					a.PutStr(attrPointName, p.name)
				}
				a.PutStr(attrQuality, quality)
				return dp
			}
			if s.quality != qualityGood && prev[i] == qualityGood {
				end := put(qualityGood)
				end.SetFlags(noValue)
				end.SetDoubleValue(math.NaN())
			}
			dp := put(s.quality)
			if s.quality != qualityGood {
				dp.SetFlags(noValue)
				dp.SetDoubleValue(math.NaN())
				continue
			}
			dp.SetDoubleValue(s.value)
		}
	}

	dp := gauge(metricRTUUp, "1 when the RTU answered its last poll, 0 otherwise.").DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.Attributes().PutStr(attrUpRTU, rt.name)
	dp.Attributes().PutStr(attrPointStatn, rt.station)
	dp.Attributes().PutStr(attrQuality, qualityGood)
	if up {
		dp.SetIntValue(1)
	} else {
		dp.SetIntValue(0)
	}
	return md
}
