package alarmconnector

import (
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"github.com/scadaotel/scadaotel/tenants"
)

// inst is one alarm of one tenant: a definition (one level of a limit
// definition) or an RTU link's communication alarm.
type inst struct {
	tenant string
	id     string
	kind   alarm.Kind
	def    *alarm.Def // nil for a communication alarm
	level  alarm.LevelDef
	prio   alarm.Priority
	a      *alarm.Alarm

	// What the last evaluated sample said (kept with the state).
	link, station, unit string
	value               *float64 // the last value, or nil; points at valueBuf once set
	valueBuf            float64
	sampleTime          time.Time

	rate    *alarm.Rate
	cmd, fb *alarm.Value // mismatch: the last command and feedback
	raises  raiseBuckets // raises per hour, last 24 h (bad actors)
}

// entry is a selector of a definition in a metric's index.
type entry struct {
	def     *alarm.Def
	command bool // the mismatch's command side
	sel     alarm.Selector
	insts   []*inst
}

// metricIndex finds the entries of one metric name. Selectors with the
// same label names share a signature; within it an entry is found by all
// its label values at once (one map lookup per signature and sample, not
// one comparison per definition).
type metricIndex struct {
	sigs []*sigIndex
}

type sigIndex struct {
	names []string            // sorted label names
	byKey map[string][]*entry // label values joined by keySep
}

// keySep cannot occur in a label value of a selector read from YAML text
// without it being that byte, and values are compared whole anyway.
const keySep = "\xff"

func sigOf(sel alarm.Selector) string {
	var b strings.Builder
	for _, l := range sel.Labels {
		b.WriteString(l.Name)
		b.WriteString(keySep)
	}
	return b.String()
}

func keyOf(sel alarm.Selector) string {
	var b strings.Builder
	for _, l := range sel.Labels {
		b.WriteString(l.Value)
		b.WriteString(keySep)
	}
	return b.String()
}

type linkState struct {
	down    bool
	station string
	insts   map[*inst]struct{}
}

// tenantState is one tenant's definitions, alarms and RTU links.
type tenantState struct {
	id     string
	defs   *alarm.TenantDefs
	index  map[string]*metricIndex
	alarms map[string]*inst
	links  map[string]*linkState
}

// out collects what one evaluation changed: the states to save and the
// transitions to send.
type out struct {
	snaps   []*inst
	links   []linkSnap
	records []*Record
	raised  map[string]bool // tenants whose alarm-rate figures changed
}

func (o *out) empty() bool { return len(o.snaps) == 0 && len(o.records) == 0 && len(o.links) == 0 }

// engine holds every tenant's alarms. Its methods run under connector.mu.
type engine struct {
	tenants  map[string]*tenantState
	pending  map[*inst]struct{} // alarms with a deadline (delay, shelve expiry, chattering)
	kpi      map[string]*tenantKPI
	maxLinks int
	// droppedLinks counts links not tracked because a tenant was at its bound.
	droppedLinks int64
}

func newEngine(maxLinks int) *engine {
	return &engine{tenants: map[string]*tenantState{}, pending: map[*inst]struct{}{}, kpi: map[string]*tenantKPI{}, maxLinks: maxLinks}
}

// apply installs new definitions. Alarms that stay keep their state; new
// ones start normal; removed ones are forgotten. out_of_service changes
// become transitions.
func (e *engine) apply(defs *alarm.Definitions, now time.Time, applyOOS bool, o *out) {
	next := map[string]*tenantState{}
	for tid, td := range defs.Tenants {
		old := e.tenants[tid]
		ts := &tenantState{id: tid, defs: td, index: map[string]*metricIndex{}, alarms: map[string]*inst{}, links: map[string]*linkState{}}
		if old != nil {
			ts.links = old.links
			for _, l := range ts.links {
				l.insts = map[*inst]struct{}{}
			}
		}
		for _, d := range td.Defs {
			var insts []*inst
			levels := d.Levels
			if d.Kind != alarm.KindLimit {
				levels = []alarm.LevelDef{{Priority: d.Priority}}
			}
			for _, lv := range levels {
				id := d.AlarmID(lv.Level)
				in := (*inst)(nil)
				if old != nil {
					if prev, ok := old.alarms[id]; ok && prev.kind == d.Kind {
						in = prev
					}
				}
				if in == nil {
					in = &inst{tenant: tid, id: id, kind: d.Kind, a: alarm.New(0, 0)}
				}
				in.def, in.level, in.prio = d, lv, lv.Priority
				in.a.OnDelay, in.a.OffDelay = d.OnDelay, d.OffDelay
				if d.Kind == alarm.KindRate && (in.rate == nil || in.rate.Window != d.Rate.Window) {
					in.rate = &alarm.Rate{Window: d.Rate.Window}
				}
				ts.alarms[id] = in
				insts = append(insts, in)
				if in.link != "" {
					if l := ts.links[in.link]; l != nil {
						l.insts[in] = struct{}{}
					}
				}
				if applyOOS {
					e.emit(in, in.a.SetOutOfService(now, d.OutOfService), now, "", "", o)
				}
				e.track(in)
			}
			ts.add(&entry{def: d, sel: d.Series, insts: insts})
			if d.Kind == alarm.KindMismatch {
				ts.add(&entry{def: d, command: true, sel: d.Command, insts: insts})
			}
		}
		if old != nil && td.Comm.Enabled {
			for id, in := range old.alarms {
				if in.kind == alarm.KindComm {
					in.prio = td.Comm.Priority
					in.a.OnDelay, in.a.OffDelay = td.Comm.OnDelay, td.Comm.OffDelay
					ts.alarms[id] = in
				}
			}
		}
		next[tid] = ts
	}
	for tid, old := range e.tenants {
		for id, in := range old.alarms {
			if nts := next[tid]; nts == nil || nts.alarms[id] != in {
				delete(e.pending, in)
			}
		}
	}
	e.tenants = next
}

func (ts *tenantState) add(en *entry) {
	mi := ts.index[en.sel.Metric]
	if mi == nil {
		mi = &metricIndex{}
		ts.index[en.sel.Metric] = mi
	}
	sig := sigOf(en.sel)
	var si *sigIndex
	for _, x := range mi.sigs {
		if sigOfNames(x.names) == sig {
			si = x
			break
		}
	}
	if si == nil {
		si = &sigIndex{byKey: map[string][]*entry{}}
		for _, l := range en.sel.Labels {
			si.names = append(si.names, l.Name)
		}
		mi.sigs = append(mi.sigs, si)
	}
	k := keyOf(en.sel)
	si.byKey[k] = append(si.byKey[k], en)
}

func sigOfNames(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteString(keySep)
	}
	return b.String()
}

// track keeps the set of alarms with a deadline up to date.
func (e *engine) track(in *inst) {
	if in.a.Deadline().IsZero() {
		delete(e.pending, in)
	} else {
		e.pending[in] = struct{}{}
	}
}

// tick applies delays and shelve expiries that are due.
func (e *engine) tick(now time.Time, o *out) {
	for in := range e.pending {
		if d := in.a.Deadline(); d.IsZero() || !now.Before(d) {
			e.emit(in, in.a.Tick(now), now, "", "", o)
			e.track(in)
		}
	}
}

// sample is one data point as the alarms read it.
type sample struct {
	value    float64
	hasValue bool
	quality  string
	status   string
	unit     string
	station  string
	link     string
	t        time.Time
}

func attrStr(m pcommon.Map, k string) (string, bool) {
	if v, ok := m.Get(k); ok {
		return v.AsString(), true
	}
	return "", false
}

// consume evaluates every number data point of md.
func (e *engine) consume(md pmetric.Metrics, now time.Time, o *out) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		ts := e.tenants[tenants.FromResource(rm.Resource())]
		if ts == nil {
			continue
		}
		resRTU, _ := attrStr(res, scadaseries.AttrRTU)
		resStation, _ := attrStr(res, scadaseries.AttrStation)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				name := m.Name()
				mi := ts.index[name]
				isUp := name == scadaseries.MetricRTUUp
				if mi == nil && !isUp {
					continue
				}
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					s := readSample(dp, resRTU, resStation, now)
					if isUp {
						link, _ := attrStr(dp.Attributes(), scadaseries.AttrUpRTU)
						if link == "" {
							link = resRTU
						}
						if link != "" && s.hasValue {
							e.setLink(ts, link, s.station, s.value == 0, now, o)
						}
					}
					if mi == nil {
						continue
					}
					e.match(ts, mi, dp.Attributes(), res, &s, now, o)
				}
			}
		}
	}
}

func readSample(dp pmetric.NumberDataPoint, resRTU, resStation string, now time.Time) sample {
	a := dp.Attributes()
	s := sample{quality: scadaseries.QualityGood, station: resStation, link: resRTU}
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeDouble:
		s.value, s.hasValue = dp.DoubleValue(), true
	case pmetric.NumberDataPointValueTypeInt:
		s.value, s.hasValue = float64(dp.IntValue()), true
	}
	if dp.Flags().NoRecordedValue() || math.IsNaN(s.value) || math.IsInf(s.value, 0) {
		s.hasValue = false
	}
	if q, ok := attrStr(a, scadaseries.AttrQuality); ok && q != "" {
		s.quality = q
	}
	s.status, _ = attrStr(a, scadaseries.AttrValveStatus)
	s.unit, _ = attrStr(a, scadaseries.AttrPointUnit)
	if s.station == "" {
		s.station, _ = attrStr(a, scadaseries.AttrPointStation)
	}
	if s.link == "" {
		s.link, _ = attrStr(a, scadaseries.AttrUpRTU)
	}
	if s.link == "" {
		s.link = s.station
	}
	s.t = dp.Timestamp().AsTime()
	if dp.Timestamp() == 0 {
		s.t = now
	}
	return s
}

func (e *engine) match(ts *tenantState, mi *metricIndex, attrs, res pcommon.Map, s *sample, now time.Time, o *out) {
	var buf [256]byte
	for _, si := range mi.sigs {
		key := buf[:0]
		found := true
		for _, name := range si.names {
			v, ok := attrs.Get(name)
			if !ok {
				v, ok = res.Get(name)
			}
			if !ok {
				found = false
				break
			}
			if v.Type() == pcommon.ValueTypeStr {
				key = append(key, v.Str()...)
			} else {
				key = append(key, v.AsString()...)
			}
			key = append(key, keySep...)
		}
		if !found {
			continue
		}
		for _, en := range si.byKey[string(key)] {
			for _, in := range en.insts {
				e.evaluate(ts, in, en.command, s, now, o)
			}
		}
	}
}

// setValue keeps the alarm's last value without a heap allocation per
// sample (records and snapshots copy it).
func (in *inst) setValue(v float64) {
	in.valueBuf = v
	in.value = &in.valueBuf
}

// evaluate feeds one sample to one alarm.
func (e *engine) evaluate(ts *tenantState, in *inst, command bool, s *sample, now time.Time, o *out) {
	if s.link != "" && in.link != s.link {
		if old := ts.links[in.link]; old != nil {
			delete(old.insts, in)
		}
		in.link = s.link
		if l := ts.links[s.link]; l != nil {
			l.insts[in] = struct{}{}
			if l.down {
				e.emit(in, in.a.SetSuppressed(now, true), now, "", "", o)
			}
		}
		// The link is saved with the alarm's next change; after a restart
		// the next sample tells it again.
	}
	if s.station != "" {
		in.station = s.station
	}
	if s.unit != "" {
		in.unit = s.unit
	}
	if s.quality == scadaseries.QualityCommLost {
		if s.link != "" {
			e.setLink(ts, s.link, s.station, true, now, o)
		}
		return
	}
	if s.quality == scadaseries.QualityGood && !s.hasValue {
		// The staleness marker a receiver writes on a point's good series
		// when the point stops being good: it says nothing new.
		return
	}
	if s.link != "" {
		if l := ts.links[s.link]; l != nil && l.down {
			e.setLink(ts, s.link, s.station, false, now, o)
		}
	}
	var ch []alarm.Change
	switch in.kind {
	case alarm.KindQuality:
		in.sampleTime = s.t
		ch = in.a.Observe(now, s.quality != scadaseries.QualityGood)
	case alarm.KindLimit:
		if !s.hasValue || s.quality != scadaseries.QualityGood {
			break
		}
		in.setValue(s.value)
		in.sampleTime = s.t
		ch = in.a.Observe(now, alarm.LimitRaw(in.a.Raw(), in.level.Level.High(), s.value, in.level.Value, in.def.Deadband))
	case alarm.KindRate:
		if !s.hasValue || s.quality != scadaseries.QualityGood {
			break
		}
		r, ok := in.rate.Add(s.t, s.value)
		if !ok {
			break
		}
		in.setValue(r)
		in.sampleTime = s.t
		ch = in.a.Observe(now, alarm.RateRaw(in.a.Raw(), in.def.Direction, r, in.def.Rate.PerMinute, in.def.Deadband))
	case alarm.KindDiscrete:
		if !s.hasValue || s.quality != scadaseries.QualityGood || s.status == "" || s.value != 1 {
			break
		}
		in.sampleTime = s.t
		ch = in.a.Observe(now, in.def.Abnormal[s.status])
	case alarm.KindMismatch:
		if !s.hasValue || s.quality != scadaseries.QualityGood {
			break
		}
		var v alarm.Value
		if s.status != "" {
			if s.value != 1 {
				break
			}
			v.Status = s.status
		} else {
			v.Num = s.value
		}
		if command {
			in.cmd = &v
		} else {
			in.fb = &v
			if s.status == "" {
				in.setValue(s.value)
			}
		}
		in.sampleTime = s.t
		if in.cmd != nil && in.fb != nil {
			ch = in.a.Observe(now, alarm.Differ(*in.cmd, *in.fb, in.def.Tolerance))
		}
	}
	e.emit(in, ch, now, "", "", o)
	e.track(in)
}

// setLink records an RTU link going down or coming back: its alarms are
// suppressed by design while it is down, and its communication alarm
// stands for them.
func (e *engine) setLink(ts *tenantState, link, station string, down bool, now time.Time, o *out) {
	l := ts.links[link]
	if l == nil {
		if !down {
			return // a link never seen down needs no state
		}
		if len(ts.links) >= e.maxLinks {
			e.droppedLinks++
			return
		}
		l = &linkState{insts: map[*inst]struct{}{}}
		ts.links[link] = l
		for _, in := range ts.alarms {
			if in.link == link && in.kind != alarm.KindComm {
				l.insts[in] = struct{}{}
			}
		}
	}
	if station != "" {
		l.station = station
	}
	if l.down == down {
		return
	}
	l.down = down
	o.links = append(o.links, linkSnap{Tenant: ts.id, Link: link, Station: l.station, Down: down})
	for in := range l.insts {
		e.emit(in, in.a.SetSuppressed(now, down), now, "", "", o)
		e.track(in)
	}
	if !ts.defs.Comm.Enabled {
		return
	}
	id := alarm.CommAlarmID(link)
	in := ts.alarms[id]
	if in == nil {
		in = &inst{tenant: ts.id, id: id, kind: alarm.KindComm, a: alarm.New(ts.defs.Comm.OnDelay, ts.defs.Comm.OffDelay),
			prio: ts.defs.Comm.Priority, link: link}
		ts.alarms[id] = in
	}
	in.station = l.station
	in.sampleTime = now
	e.emit(in, in.a.Observe(now, down), now, "", "", o)
	e.track(in)
}

// emit turns changes into a saved state and, unless quiet, records.
func (e *engine) emit(in *inst, changes []alarm.Change, now time.Time, actor, reason string, o *out) {
	for _, c := range changes {
		o.snaps = append(o.snaps, in)
		if isRaise(c) {
			e.noteRaise(in, now)
			if o.raised == nil {
				o.raised = map[string]bool{}
			}
			o.raised[in.tenant] = true
		}
		if !c.Quiet {
			o.records = append(o.records, e.record(in, c, now, actor, reason))
		}
	}
}

func (e *engine) messages(in *inst) alarm.Messages {
	if in.def != nil {
		return in.def.Message
	}
	if ts := e.tenants[in.tenant]; ts != nil {
		return ts.defs.Comm.Message
	}
	return alarm.DefaultCommMessages
}

func (in *inst) limit() *float64 {
	switch in.kind {
	case alarm.KindLimit:
		v := in.level.Value
		return &v
	case alarm.KindRate:
		v := in.def.Rate.PerMinute
		return &v
	}
	return nil
}

func (in *inst) series() string {
	if in.def == nil {
		return scadaseries.MetricRTUUp + `{rtu="` + in.link + `"}`
	}
	return in.def.Series.String()
}

// record is the published form of one change.
func (e *engine) record(in *inst, c alarm.Change, now time.Time, actor, reason string) *Record {
	msg := e.messages(in)
	lim := in.limit()
	lvl := string(in.level.Level)
	rtu := ""
	if in.kind == alarm.KindComm || in.link != in.station {
		rtu = in.link
	}
	r := &Record{
		RecordID: alarm.NewID(), AlarmID: in.id, EpisodeID: strp(c.Episode), Seq: c.Seq,
		Transition: string(c.Transition), FromState: string(c.From), State: string(c.To),
		Kind: string(in.kind), Level: strp(lvl), Priority: string(in.prio),
		Value: finite(in.value), Limit: lim, Unit: strp(in.unit), SampleTime: timeStr(in.sampleTime),
		EvaluatedAt: now.UTC().Format(time.RFC3339Nano),
		Message: alarm.Messages{
			En:   alarm.Render(msg.En, finite(in.value), lim, lvl, in.station, rtu, in.unit),
			ZhCN: alarm.Render(msg.ZhCN, finite(in.value), lim, lvl, in.station, rtu, in.unit),
		},
		Tenant: in.tenant, Station: strp(in.station), RTU: strp(rtu), Series: strp(in.series()),
		Chattering: in.a.Chattering, Actor: strp(actor), Reason: strp(reason),
	}
	if in.a.Mode == alarm.ModeShelved {
		r.ShelvedUntil = timeStr(in.a.ShelvedUntil)
	}
	return r
}

// View is one alarm as the operator API lists it.
type View struct {
	AlarmID      string         `json:"alarm_id"`
	Kind         string         `json:"kind"`
	Level        *string        `json:"level"`
	State        string         `json:"state"`
	Priority     string         `json:"priority"`
	EpisodeID    *string        `json:"episode_id"`
	Since        *string        `json:"since"`
	Value        *float64       `json:"value"`
	Limit        *float64       `json:"limit"`
	Unit         *string        `json:"unit"`
	SampleTime   *string        `json:"sample_time"`
	Station      *string        `json:"station"`
	RTU          *string        `json:"rtu"`
	Series       string         `json:"series"`
	Chattering   bool           `json:"chattering"`
	ShelvedUntil *string        `json:"shelved_until"`
	ShelveReason *string        `json:"shelve_reason"`
	Message      alarm.Messages `json:"message"`
}

var priorityRank = map[alarm.Priority]int{alarm.Critical: 0, alarm.High: 1, alarm.Medium: 2, alarm.Low: 3}

func (e *engine) view(in *inst) View {
	msg := e.messages(in)
	lim := in.limit()
	lvl := string(in.level.Level)
	rtu := ""
	if in.kind == alarm.KindComm || in.link != in.station {
		rtu = in.link
	}
	return View{
		AlarmID: in.id, Kind: string(in.kind), Level: strp(lvl), State: string(in.a.State()), Priority: string(in.prio),
		EpisodeID: strp(in.a.Episode), Since: timeStr(in.a.Since), Value: finite(in.value), Limit: lim, Unit: strp(in.unit),
		SampleTime: timeStr(in.sampleTime), Station: strp(in.station), RTU: strp(rtu), Series: in.series(),
		Chattering: in.a.Chattering, ShelvedUntil: timeStr(in.a.ShelvedUntil), ShelveReason: strp(in.a.ShelveReason),
		Message: alarm.Messages{
			En:   alarm.Render(msg.En, finite(in.value), lim, lvl, in.station, rtu, in.unit),
			ZhCN: alarm.Render(msg.ZhCN, finite(in.value), lim, lvl, in.station, rtu, in.unit),
		},
	}
}

// list is a tenant's alarms, most urgent first: priority, then id.
// stationOf is the alarm's station: its samples', or before any sample,
// its selector's station label (what the UI's charts use too).
func (in *inst) stationOf() string {
	if in.station != "" || in.def == nil {
		return in.station
	}
	for _, l := range in.def.Series.Labels {
		if l.Name == "station" {
			return l.Value
		}
	}
	return ""
}

// list is a page of a tenant's alarms, by priority then id, and how many
// there are in all; onlyActive keeps the alarms not in the normal state,
// a station only that station's.
// Views are built for the page only: in a flood of thousands the list
// costs what it shows.
func (e *engine) list(tenant string, onlyActive bool, station string, offset, limit int) ([]View, int) {
	ts := e.tenants[tenant]
	if ts == nil {
		return []View{}, 0
	}
	ins := make([]*inst, 0, len(ts.alarms))
	for _, in := range ts.alarms {
		if (!onlyActive || in.a.State() != alarm.Normal) && (station == "" || in.stationOf() == station) {
			ins = append(ins, in)
		}
	}
	sort.Slice(ins, func(i, j int) bool {
		if a, b := priorityRank[ins[i].prio], priorityRank[ins[j].prio]; a != b {
			return a < b
		}
		return ins[i].id < ins[j].id
	})
	total := len(ins)
	ins = ins[min(offset, total):min(offset+limit, total)]
	out := make([]View, len(ins))
	for i, in := range ins {
		out[i] = e.view(in)
	}
	return out, total
}

// find is a tenant's alarm; another tenant's is not found, like a missing one.
func (e *engine) find(tenant, id string) *inst {
	if ts := e.tenants[tenant]; ts != nil {
		return ts.alarms[id]
	}
	return nil
}
