package alarmconnector

import (
	"sort"
	"time"

	"github.com/scadaotel/scadaotel/internal/alarm"
)

// EEMUA 191 figures: an operator should see about one alarm per 10
// minutes; more than 10 alarms in 10 minutes is a flood; an alarm active
// for more than a day is stale; the alarms raised most often are the bad
// actors.
const (
	kpiWindow      = 10 * time.Minute
	floodThreshold = 10
	staleAfter     = 24 * time.Hour
	badActorsShown = 10
	// maxRecentRaises bounds the raise times kept per tenant (a flood is
	// far below it).
	maxRecentRaises = 1000
)

// tenantKPI is one tenant's alarm-rate figures.
type tenantKPI struct {
	recent  []time.Time // raises within kpiWindow, oldest first
	inFlood bool
	floods  int64 // flood periods entered since start
}

// raiseBuckets counts an alarm's raises per hour over the last 24 hours.
// It is saved with the alarm's state, so the bad actors survive a restart.
type raiseBuckets struct {
	Hour int64      `json:"hour"` // the hour (Unix/3600) of the newest bucket
	N    [24]uint32 `json:"n"`
}

func (b *raiseBuckets) advance(h int64) {
	if h <= b.Hour {
		return
	}
	if h-b.Hour >= 24 {
		b.N = [24]uint32{}
	} else {
		for x := b.Hour + 1; x <= h; x++ {
			b.N[x%24] = 0
		}
	}
	b.Hour = h
}

func (b *raiseBuckets) add(t time.Time) {
	h := t.Unix() / 3600
	b.advance(h)
	if h > b.Hour-24 {
		b.N[h%24]++
	}
}

func (b *raiseBuckets) total(now time.Time) int {
	b.advance(now.Unix() / 3600)
	s := 0
	for _, v := range b.N {
		s += int(v)
	}
	return s
}

// isRaise: a change that shows the operator a new unacknowledged alarm.
func isRaise(c alarm.Change) bool {
	return !c.Quiet && c.To == alarm.ActiveUnacked && c.From != alarm.ActiveUnacked
}

// kpiSnap is a tenant's alarm-rate figures in the state file, so the
// 10-minute window and the flood count survive a restart.
// Recent is in Unix milliseconds: it is written with every raise, up to
// maxRecentRaises of them during a flood.
type kpiSnap struct {
	Tenant  string  `json:"tenant"`
	Recent  []int64 `json:"recent_ms,omitempty"`
	InFlood bool    `json:"in_flood,omitempty"`
	Floods  int64   `json:"floods,omitempty"`
}

func (k *tenantKPI) snap(tenant string) *kpiSnap {
	s := &kpiSnap{Tenant: tenant, Recent: make([]int64, len(k.recent)), InFlood: k.inFlood, Floods: k.floods}
	for i, t := range k.recent {
		s.Recent[i] = t.UnixMilli()
	}
	return s
}

// restoreKPI puts a tenant's saved figures back; raises older than the
// window fall out on the next trim.
func (e *engine) restoreKPI(s *kpiSnap) {
	recent := s.Recent
	if len(recent) > maxRecentRaises {
		recent = recent[len(recent)-maxRecentRaises:]
	}
	k := &tenantKPI{recent: make([]time.Time, len(recent)), inFlood: s.InFlood, floods: s.Floods}
	for i, ms := range recent {
		k.recent[i] = time.UnixMilli(ms)
	}
	e.kpi[s.Tenant] = k
}

// noteRaise counts a raise of in at now.
func (e *engine) noteRaise(in *inst, now time.Time) {
	in.raises.add(now)
	k := e.kpi[in.tenant]
	if k == nil {
		k = &tenantKPI{}
		e.kpi[in.tenant] = k
	}
	k.trim(now)
	if len(k.recent) < maxRecentRaises {
		k.recent = append(k.recent, now)
	}
	if len(k.recent) > floodThreshold && !k.inFlood {
		k.inFlood = true
		k.floods++
	}
}

func (k *tenantKPI) trim(now time.Time) {
	cut := now.Add(-kpiWindow)
	i := 0
	for i < len(k.recent) && !k.recent[i].After(cut) {
		i++
	}
	if i > 0 {
		k.recent = append(k.recent[:0], k.recent[i:]...)
	}
	if len(k.recent) <= floodThreshold {
		k.inFlood = false
	}
}

// BadActor is an alarm among the most frequent of the last 24 hours.
type BadActor struct {
	AlarmID   string `json:"alarm_id"`
	Raises24h int    `json:"raises_24h"`
}

// KPIs are a tenant's EEMUA 191 figures.
type KPIs struct {
	Tenant           string         `json:"tenant"`
	AlarmsLast10m    int            `json:"alarms_last_10m"`
	InFlood          bool           `json:"in_flood"`
	FloodPeriods     int64          `json:"flood_periods"`
	ActiveByPriority map[string]int `json:"active_by_priority"`
	Chattering       []string       `json:"chattering"`
	Stale            []string       `json:"stale"`
	BadActors        []BadActor     `json:"bad_actors"`
}

// kpis computes a tenant's figures at now.
func (e *engine) kpis(tenant string, now time.Time) KPIs {
	out := KPIs{Tenant: tenant, ActiveByPriority: map[string]int{}, Chattering: []string{}, Stale: []string{}, BadActors: []BadActor{}}
	if k := e.kpi[tenant]; k != nil {
		k.trim(now)
		out.AlarmsLast10m, out.InFlood, out.FloodPeriods = len(k.recent), k.inFlood, k.floods
	}
	ts := e.tenants[tenant]
	if ts == nil {
		return out
	}
	for _, in := range ts.alarms {
		st := in.a.State()
		if st == alarm.ActiveUnacked || st == alarm.ActiveAcked {
			out.ActiveByPriority[string(in.prio)]++
			if !in.a.Since.IsZero() && now.Sub(in.a.Since) > staleAfter {
				out.Stale = append(out.Stale, in.id)
			}
		}
		if in.a.Chattering {
			out.Chattering = append(out.Chattering, in.id)
		}
		if n := in.raises.total(now); n > 0 {
			out.BadActors = append(out.BadActors, BadActor{AlarmID: in.id, Raises24h: n})
		}
	}
	sort.Strings(out.Chattering)
	sort.Strings(out.Stale)
	sort.Slice(out.BadActors, func(i, j int) bool {
		a, b := out.BadActors[i], out.BadActors[j]
		if a.Raises24h != b.Raises24h {
			return a.Raises24h > b.Raises24h
		}
		return a.AlarmID < b.AlarmID
	})
	if len(out.BadActors) > badActorsShown {
		out.BadActors = out.BadActors[:badActorsShown]
	}
	return out
}
