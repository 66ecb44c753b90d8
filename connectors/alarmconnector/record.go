package alarmconnector

import (
	"encoding/json"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/tenants"
)

// Record is one alarm transition as published (alarm-record.schema.json):
// one log record of the connector, one Kafka record of kafka_alerts.
type Record struct {
	RecordID     string         `json:"record_id"`
	AlarmID      string         `json:"alarm_id"`
	EpisodeID    *string        `json:"episode_id"`
	Seq          uint64         `json:"seq"`
	Transition   string         `json:"transition"`
	FromState    string         `json:"from_state"`
	State        string         `json:"state"`
	Kind         string         `json:"kind"`
	Level        *string        `json:"level"`
	Priority     string         `json:"priority"`
	Value        *float64       `json:"value"`
	Limit        *float64       `json:"limit"`
	Unit         *string        `json:"unit"`
	SampleTime   *string        `json:"sample_time"`
	EvaluatedAt  string         `json:"evaluated_at"`
	Message      alarm.Messages `json:"message"`
	Tenant       string         `json:"tenant"`
	Station      *string        `json:"station"`
	RTU          *string        `json:"rtu"`
	Series       *string        `json:"series"`
	Chattering   bool           `json:"chattering"`
	Actor        *string        `json:"actor"`
	Reason       *string        `json:"reason"`
	ShelvedUntil *string        `json:"shelved_until"`
}

// Log record names: the event name and the attribute holding the record's
// JSON (read by kafka_alerts), plus a few attributes for log readers.
const (
	EventName  = "scada.alarm"
	AttrPrefix = "scada.alarm."
	AttrRecord = AttrPrefix + "record"
)

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func finite(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	x := *v
	return &x
}

func timeStr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// recordsLogs renders records as log records in their order, one resource
// each (the tenant on it).
func recordsLogs(recs []*Record) (plog.Logs, error) {
	ld := plog.NewLogs()
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return ld, err
		}
		rl := ld.ResourceLogs().AppendEmpty()
		tenants.SetOnResource(rl.Resource(), r.Tenant)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/scadaotel/scadaotel/connectors/alarmconnector")
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(EventName)
		switch r.State {
		case string(alarm.ActiveUnacked), string(alarm.ActiveAcked):
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
		default:
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
		}
		lr.SetSeverityText(r.Transition)
		if t, err := time.Parse(time.RFC3339Nano, r.EvaluatedAt); err == nil {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		}
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Body().SetStr(r.Message.En)
		a := lr.Attributes()
		a.PutStr(AttrRecord, string(b))
		a.PutStr(AttrPrefix+"alarm_id", r.AlarmID)
		a.PutStr(AttrPrefix+"transition", r.Transition)
		a.PutStr(AttrPrefix+"state", r.State)
		a.PutStr(AttrPrefix+"priority", r.Priority)
	}
	return ld, nil
}
