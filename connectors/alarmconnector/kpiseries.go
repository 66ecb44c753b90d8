package alarmconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/tenants"
)

// Stored alarm series, sent every kpi_interval to the metrics pipeline the
// connector is a receiver of (the store), one request per tenant, so a
// Grafana panel or a PromQL alert reads a tenant's alarm figures over time
// from its own query API. The self-metrics carry the same figures with
// pseudonyms for the appliance's operator; these carry none of the tenant's
// identity but the store's own tenancy.
const (
	SeriesActive        = "scada_alarms_active"          // {priority}: active unacknowledged or acknowledged
	SeriesByState       = "scada_alarms_by_state"        // {state}: every ISA-18.2 state, normal included
	SeriesRate10m       = "scada_alarm_rate_10m"         // raises in the last 10 minutes (EEMUA 191)
	SeriesFlood         = "scada_alarm_flood"            // 1 while more than 10 raises in 10 minutes
	SeriesFloods        = "scada_alarm_floods"           // flood periods entered (a counter: _total when stored)
	SeriesChattering    = "scada_alarms_chattering"      // alarms with 3 or more changes within a minute
	SeriesStale         = "scada_alarms_stale"           // alarms active for over 24 hours
	SeriesBadActorRaise = "scada_alarm_bad_actor_raises" // {alarm_id}: raises in 24 h of the 10 most frequent
)

var allPriorities = []alarm.Priority{alarm.Critical, alarm.High, alarm.Medium, alarm.Low}

var allStates = []alarm.State{alarm.Normal, alarm.ActiveUnacked, alarm.ActiveAcked, alarm.RTNUnacked,
	alarm.Shelved, alarm.Suppressed, alarm.OutOfService}

// kpiSeries builds each tenant's alarm series at now; it runs under c.mu.
func (c *alarmConnector) kpiSeriesLocked(now time.Time) map[string]pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(now)
	start := pcommon.NewTimestampFromTime(c.started)
	out := make(map[string]pmetric.Metrics, len(c.eng.tenants))
	for tenant, st := range c.eng.tenants {
		k := c.eng.kpis(tenant, now)
		byState := make(map[alarm.State]int, len(allStates))
		for _, in := range st.alarms {
			byState[in.a.State()]++
		}
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		tenants.SetOnResource(rm.Resource(), tenant)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("github.com/scadaotel/scadaotel/connectors/alarmconnector")
		ms := sm.Metrics()
		gauge := func(name, desc string) pmetric.NumberDataPointSlice {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetDescription(desc)
			return m.SetEmptyGauge().DataPoints()
		}
		point := func(dps pmetric.NumberDataPointSlice, v int64, kv ...string) {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(v)
			for i := 0; i+1 < len(kv); i += 2 {
				dp.Attributes().PutStr(kv[i], kv[i+1])
			}
		}
		active := gauge(SeriesActive, "Alarms active (unacknowledged or acknowledged), by priority.")
		for _, p := range allPriorities {
			point(active, int64(k.ActiveByPriority[string(p)]), "priority", string(p))
		}
		states := gauge(SeriesByState, "Alarms in each ISA-18.2 state.")
		for _, s := range allStates {
			point(states, int64(byState[s]), "state", string(s))
		}
		point(gauge(SeriesRate10m, "Alarms raised in the last 10 minutes (EEMUA 191: about 1 is manageable, more than 10 is a flood)."), int64(k.AlarmsLast10m))
		flood := int64(0)
		if k.InFlood {
			flood = 1
		}
		point(gauge(SeriesFlood, "1 while more than 10 alarms were raised in the last 10 minutes (an alarm flood)."), flood)
		floods := ms.AppendEmpty()
		floods.SetName(SeriesFloods)
		floods.SetDescription("Alarm flood periods entered since the counter's start.")
		sum := floods.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(k.FloodPeriods)
		point(gauge(SeriesChattering, "Alarms chattering (3 or more changes within a minute)."), int64(len(k.Chattering)))
		point(gauge(SeriesStale, "Alarms active for more than 24 hours."), int64(len(k.Stale)))
		if len(k.BadActors) > 0 {
			bad := gauge(SeriesBadActorRaise, "Raises in the last 24 hours of the 10 most frequent alarms (EEMUA 191 bad actors).")
			for _, b := range k.BadActors {
				point(bad, int64(b.Raises24h), "alarm_id", b.AlarmID)
			}
		}
		out[tenant] = md
	}
	return out
}

// emitSeries sends each tenant's alarm series to the metrics output, each
// tenant in its own request and context, so the store's per-tenant limits
// apply to each. A refusal is logged and counted; the next interval sends
// the figures again (they are gauges of the moment, and a counter).
func (c *alarmConnector) emitSeries(ctx context.Context, now time.Time) {
	if c.series == nil {
		return
	}
	c.mu.Lock()
	byTenant := c.kpiSeriesLocked(now)
	c.mu.Unlock()
	for tenant, md := range byTenant {
		if err := c.series.ConsumeMetrics(tenants.NewContext(ctx, tenant), md); err != nil {
			c.tel.seriesRefused(tenant)
			c.logger.Warn("alarm series not accepted by the metrics pipeline; sent again next interval",
				zap.String("tenant", tenant), zap.Error(err))
		}
	}
}
