package iec104receiver

import (
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/tenants"
)

// Output metric names and attributes: the scada receiver's.
const (
	metricPressure  = scadaseries.MetricPressure
	metricValve     = scadaseries.MetricValve
	metricRTUUp     = scadaseries.MetricRTUUp
	metricDiscovery = "iec104_point"
	attrStation     = scadaseries.AttrStation
	attrRTU         = scadaseries.AttrRTU
	attrQuality     = scadaseries.AttrQuality
	attrPointStatn  = scadaseries.AttrPointStation
	attrPointUnit   = scadaseries.AttrPointUnit
	attrPointName   = scadaseries.AttrPointName
	attrValveID     = scadaseries.AttrValveID
	attrValveStatus = scadaseries.AttrValveStatus
	attrUpRTU       = scadaseries.AttrUpRTU
	attrSB          = "substituted"
	attrBL          = "blocked"
	attrOV          = "overflow"
)

// Sample qualities, the data point attribute "quality".
const (
	qualityGood       = scadaseries.QualityGood
	qualityBad        = scadaseries.QualityBad
	qualityNotTopical = "not_topical" // iec104's NT bit: a stale value, not a wrong one
	qualityCommLost   = scadaseries.QualityCommLost
)

var noValue = pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)

// sample is one point's value in one ASDU (or a comm_lost tick).
type sample struct {
	quality string
	value   float64
	state   string // valves: the state key (off, on, ...)
	flags   iec104.Quality
	ts      pcommon.Timestamp
}

// batch is one ResourceMetrics under the outstation's tenant.
type batch struct {
	md     pmetric.Metrics
	ms     pmetric.MetricSlice
	names  []string
	gauges []pmetric.Gauge
	n      int // samples
}

func (o *outstation) newBatch() *batch {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource()
	tenants.SetOnResource(res, o.tenant)
	res.Attributes().PutStr(attrStation, o.station)
	res.Attributes().PutStr(attrRTU, o.name)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	return &batch{md: md, ms: sm.Metrics()}
}

// gauge returns the batch's gauge of that name. The unit travels as the
// "unit" attribute, never as the metric unit (see the scada receiver).
func (b *batch) gauge(name, desc string) pmetric.Gauge {
	for i := range b.names {
		if b.names[i] == name {
			return b.gauges[i]
		}
	}
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	g := m.SetEmptyGauge()
	b.names = append(b.names, name)
	b.gauges = append(b.gauges, g)
	return g
}

func putFlags(a pcommon.Map, q iec104.Quality) {
	if q&iec104.QualitySB != 0 {
		a.PutStr(attrSB, "true")
	}
	if q&iec104.QualityBL != 0 {
		a.PutStr(attrBL, "true")
	}
	if q&iec104.QualityOV != 0 {
		a.PutStr(attrOV, "true")
	}
}

// add renders one sample of p. prev is p's quality before it: when a point
// stops being good, its quality="good" series also gets a no-recorded-value
// point, so it ends downstream at once instead of lingering.
func (b *batch) add(station string, p *point, s sample, prev string) {
	b.n++
	ended := s.quality != qualityGood && prev == qualityGood
	if p.kind == KindValve {
		g := b.gauge(metricValve, "Valve state set: 1 for the current status, 0 for the other configured statuses.")
		current := ""
		if s.quality == qualityGood || s.quality == qualityNotTopical {
			current = p.states[s.state]
		}
		put := func(status, quality string) pmetric.NumberDataPoint {
			dp := g.DataPoints().AppendEmpty()
			dp.SetTimestamp(s.ts)
			a := dp.Attributes()
			a.EnsureCapacity(5)
			a.PutStr(attrPointStatn, station)
			a.PutStr(attrValveID, p.name)
			a.PutStr(attrValveStatus, status)
			a.PutStr(attrQuality, quality)
			putFlags(a, s.flags)
			return dp
		}
		for _, st := range p.statusList {
			if ended {
				dp := put(st, qualityGood)
				dp.SetFlags(noValue)
				dp.SetDoubleValue(math.NaN())
			}
			dp := put(st, s.quality)
			switch {
			case current == "":
				dp.SetFlags(noValue)
				dp.SetDoubleValue(math.NaN())
			case st == current:
				dp.SetIntValue(1)
			default:
				dp.SetIntValue(0)
			}
		}
		return
	}
	var g pmetric.Gauge
	if p.kind == KindPressure {
		g = b.gauge(metricPressure, "Pressure in the unit named by the unit attribute.")
	} else {
		g = b.gauge(p.name, "")
	}
	put := func(quality string) pmetric.NumberDataPoint {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(s.ts)
		a := dp.Attributes()
		a.EnsureCapacity(5)
		a.PutStr(attrPointStatn, station)
		if p.unit != "" {
			a.PutStr(attrPointUnit, p.unit)
		}
		if p.kind == KindPressure {
			a.PutStr(attrPointName, p.name)
		}
		a.PutStr(attrQuality, quality)
		putFlags(a, s.flags)
		return dp
	}
	if ended {
		dp := put(qualityGood)
		dp.SetFlags(noValue)
		dp.SetDoubleValue(math.NaN())
	}
	dp := put(s.quality)
	if s.quality == qualityGood || s.quality == qualityNotTopical {
		dp.SetDoubleValue(s.value)
		return
	}
	dp.SetFlags(noValue)
	dp.SetDoubleValue(math.NaN())
}

// addDiscovered renders an unconfigured object (discovery mode).
func (b *batch) addDiscovered(station string, ca uint16, t iec104.TypeID, obj *iec104.Object, quality string, ts pcommon.Timestamp) {
	b.n++
	dp := b.gauge(metricDiscovery, "An information object not in the configuration (discovery mode).").DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	a := dp.Attributes()
	a.EnsureCapacity(6)
	a.PutStr(attrPointStatn, station)
	a.PutStr("ca", strconv.Itoa(int(ca)))
	a.PutStr("ioa", strconv.FormatUint(uint64(obj.IOA), 10))
	a.PutStr("type", t.String())
	a.PutStr(attrQuality, quality)
	putFlags(a, obj.Quality)
	if quality == qualityGood || quality == qualityNotTopical {
		dp.SetDoubleValue(obj.Value)
		return
	}
	dp.SetFlags(noValue)
	dp.SetDoubleValue(math.NaN())
}

// addUp renders scada_rtu_up.
func (b *batch) addUp(name, station string, up bool, ts pcommon.Timestamp) {
	dp := b.gauge(metricRTUUp, "1 when the outstation's link is started, 0 otherwise.").DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.Attributes().PutStr(attrUpRTU, name)
	dp.Attributes().PutStr(attrPointStatn, station)
	dp.Attributes().PutStr(attrQuality, qualityGood)
	if up {
		dp.SetIntValue(1)
	} else {
		dp.SetIntValue(0)
	}
}
