package alarmconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/scadaotel/scadaotel/tenants"
)

// Self-metric names, listed in documentation.md.
const (
	MetricSamples             = "scadaotel_alarm_samples"
	MetricEvaluationTime      = "scadaotel_alarm_evaluation_time"
	MetricTransitions         = "scadaotel_alarm_transitions"
	MetricDeliveredRecords    = "scadaotel_alarm_delivered_records"
	MetricPendingRecords      = "scadaotel_alarm_pending_records"
	MetricActive              = "scadaotel_alarm_active"
	MetricStateWriteFailures  = "scadaotel_alarm_state_write_failures"
	MetricStateDamagedRecords = "scadaotel_alarm_state_damaged_records"
	MetricDefinitionReloads   = "scadaotel_alarm_definition_reloads"
	MetricOperatorActions     = "scadaotel_alarm_operator_actions"
	MetricRate                = "scadaotel_alarm_rate"
	MetricFloods              = "scadaotel_alarm_floods"
	MetricChattering          = "scadaotel_alarm_chattering"
	MetricStale               = "scadaotel_alarm_stale"
	MetricRefusedRequests     = "scadaotel_alarm_refused_requests"
	MetricSeriesRefused       = "scadaotel_alarm_series_refused"
)

// MetricNames lists every self-metric the connector registers.
func MetricNames() []string {
	return []string{MetricSamples, MetricEvaluationTime, MetricTransitions, MetricDeliveredRecords, MetricPendingRecords,
		MetricActive, MetricStateWriteFailures, MetricStateDamagedRecords, MetricDefinitionReloads, MetricOperatorActions,
		MetricRate, MetricFloods, MetricChattering, MetricStale, MetricRefusedRequests, MetricSeriesRefused}
}

type telemetry struct {
	samples                                metric.Int64Counter
	evalTime                               metric.Float64Counter
	transitions, deliveredC, writeFailures metric.Int64Counter
	damagedC, reloads, actions             metric.Int64Counter
	refusedC, seriesRefusedC               metric.Int64Counter
	reg                                    metric.Registration

	mu    sync.Mutex
	attrs map[string]metric.MeasurementOption
}

func newTelemetry(set component.TelemetrySettings, c *alarmConnector) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/connectors/alarmconnector")
	t := &telemetry{attrs: map[string]metric.MeasurementOption{}}
	var err error
	if t.samples, err = m.Int64Counter(MetricSamples, metric.WithDescription("Data points evaluated against the alarm definitions."), metric.WithUnit("{sample}")); err != nil {
		return nil, err
	}
	if t.evalTime, err = m.Float64Counter(MetricEvaluationTime, metric.WithDescription("Time spent evaluating requests (including state writes)."), metric.WithUnit("s")); err != nil {
		return nil, err
	}
	if t.transitions, err = m.Int64Counter(MetricTransitions, metric.WithDescription("Alarm transitions, by tenant (pseudonym), transition and priority."), metric.WithUnit("{transition}")); err != nil {
		return nil, err
	}
	if t.deliveredC, err = m.Int64Counter(MetricDeliveredRecords, metric.WithDescription("Transition records accepted by the logs pipeline."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if t.writeFailures, err = m.Int64Counter(MetricStateWriteFailures, metric.WithDescription("Failed writes of the alarm state file (states kept in memory, written again with the next change)."), metric.WithUnit("{write}")); err != nil {
		return nil, err
	}
	if t.damagedC, err = m.Int64Counter(MetricStateDamagedRecords, metric.WithDescription("Damaged byte ranges of the state file skipped at start."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if t.reloads, err = m.Int64Counter(MetricDefinitionReloads, metric.WithDescription("Definitions file reloads, by outcome (applied, rejected)."), metric.WithUnit("{reload}")); err != nil {
		return nil, err
	}
	if t.refusedC, err = m.Int64Counter(MetricRefusedRequests, metric.WithDescription("Metrics requests refused (retryably) because a tenant's outbox of undelivered alarm records is at max_outbox_per_tenant, by tenant (pseudonym)."), metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if t.seriesRefusedC, err = m.Int64Counter(MetricSeriesRefused, metric.WithDescription("Requests of a tenant's stored alarm series the metrics pipeline refused (sent again the next series_interval), by tenant (pseudonym)."), metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if t.actions, err = m.Int64Counter(MetricOperatorActions, metric.WithDescription("Operator actions through the API, by tenant (pseudonym), action and outcome."), metric.WithUnit("{action}")); err != nil {
		return nil, err
	}
	pending, err := m.Int64ObservableGauge(MetricPendingRecords, metric.WithDescription("Transition records not yet accepted by the logs pipeline."), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	active, err := m.Int64ObservableGauge(MetricActive, metric.WithDescription("Alarms in an active state (active unacknowledged or acknowledged), by tenant (pseudonym) and priority."), metric.WithUnit("{alarm}"))
	if err != nil {
		return nil, err
	}
	rate, err := m.Int64ObservableGauge(MetricRate, metric.WithDescription("Alarms raised in the last 10 minutes, by tenant (pseudonym); EEMUA 191: about 1 is manageable, more than 10 is a flood."), metric.WithUnit("{alarm}"))
	if err != nil {
		return nil, err
	}
	floods, err := m.Int64ObservableCounter(MetricFloods, metric.WithDescription("Flood periods (more than 10 alarms in 10 minutes) entered since start, by tenant (pseudonym)."), metric.WithUnit("{flood}"))
	if err != nil {
		return nil, err
	}
	chattering, err := m.Int64ObservableGauge(MetricChattering, metric.WithDescription("Alarms chattering (3 or more condition changes within a minute), by tenant (pseudonym)."), metric.WithUnit("{alarm}"))
	if err != nil {
		return nil, err
	}
	stale, err := m.Int64ObservableGauge(MetricStale, metric.WithDescription("Alarms active for more than 24 hours, by tenant (pseudonym)."), metric.WithUnit("{alarm}"))
	if err != nil {
		return nil, err
	}
	if t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(pending, int64(c.pendingRecords()))
		now := time.Now()
		var figures []KPIs
		c.mu.Lock()
		for tid := range c.eng.tenants {
			figures = append(figures, c.eng.kpis(tid, now))
		}
		c.mu.Unlock()
		for _, k := range figures {
			ta := tenants.SelfMetricTenant(k.Tenant)
			for prio, n := range k.ActiveByPriority {
				o.ObserveInt64(active, int64(n), metric.WithAttributes(ta, attribute.String("priority", prio)))
			}
			o.ObserveInt64(rate, int64(k.AlarmsLast10m), metric.WithAttributes(ta))
			o.ObserveInt64(floods, k.FloodPeriods, metric.WithAttributes(ta))
			o.ObserveInt64(chattering, int64(len(k.Chattering)), metric.WithAttributes(ta))
			o.ObserveInt64(stale, int64(len(k.Stale)), metric.WithAttributes(ta))
		}
		return nil
	}, pending, active, rate, floods, chattering, stale); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) opt(key string, kvs ...attribute.KeyValue) metric.MeasurementOption {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.attrs[key]
	if !ok {
		o = metric.WithAttributeSet(attribute.NewSet(kvs...))
		t.attrs[key] = o
	}
	return o
}

func (t *telemetry) evaluated(n int, d time.Duration) {
	t.samples.Add(context.Background(), int64(n))
	t.evalTime.Add(context.Background(), d.Seconds())
}

func (t *telemetry) transition(r *Record) {
	if t == nil {
		return
	}
	t.transitions.Add(context.Background(), 1, t.opt("t/"+r.Tenant+"/"+r.Transition+"/"+r.Priority,
		tenants.SelfMetricTenant(r.Tenant), attribute.String("transition", r.Transition), attribute.String("priority", r.Priority)))
}

func (t *telemetry) refused(tenant string) {
	if t != nil {
		t.refusedC.Add(context.Background(), 1, t.opt("r/"+tenant, tenants.SelfMetricTenant(tenant)))
	}
}

func (t *telemetry) seriesRefused(tenant string) {
	if t != nil {
		t.seriesRefusedC.Add(context.Background(), 1, t.opt("s/"+tenant, tenants.SelfMetricTenant(tenant)))
	}
}

func (t *telemetry) delivered(n int) {
	if t != nil {
		t.deliveredC.Add(context.Background(), int64(n))
	}
}

func (t *telemetry) writeFailed() {
	if t != nil {
		t.writeFailures.Add(context.Background(), 1)
	}
}

func (t *telemetry) damaged(n int64) { t.damagedC.Add(context.Background(), n) }

func (t *telemetry) reloaded(ok bool) {
	if t == nil {
		return
	}
	outcome := "applied"
	if !ok {
		outcome = "rejected"
	}
	t.reloads.Add(context.Background(), 1, t.opt("r/"+outcome, attribute.String("outcome", outcome)))
}

func (t *telemetry) action(tenant, action, outcome string) {
	if t == nil {
		return
	}
	t.actions.Add(context.Background(), 1, t.opt("a/"+tenant+"/"+action+"/"+outcome,
		tenants.SelfMetricTenant(tenant), attribute.String("action", action), attribute.String("outcome", outcome)))
}

func (t *telemetry) close() error {
	if t == nil || t.reg == nil {
		return nil
	}
	return t.reg.Unregister()
}
