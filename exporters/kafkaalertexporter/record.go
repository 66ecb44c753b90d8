package kafkaalertexporter

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/scadaotel/scadaotel/tenants"
)

// attrPrefix is the prefix of the errorfanout connector's alert attributes.
const attrPrefix = "scada.alert."

// Record is one alert record as written to Kafka (see alert-record.schema.json).
type Record struct {
	AlertID    string   `json:"alert_id"`
	Tenant     string   `json:"tenant"`
	Service    string   `json:"service"`
	Station    *string  `json:"station"`
	State      string   `json:"state"`
	ErrorRate  float64  `json:"error_rate"`
	Threshold  float64  `json:"threshold"`
	WindowS    float64  `json:"window_s"`
	Spans      int64    `json:"spans"`
	Errors     int64    `json:"errors"`
	StartedAt  string   `json:"started_at"`
	ResolvedAt *string  `json:"resolved_at"`
	TraceIDs   []string `json:"trace_ids"`
	TraceURL   *string  `json:"trace_url"`

	// Alarm, when set, makes this a process alarm transition of the alarm
	// connector (alarm-record.schema.json of connectors/alarmconnector):
	// it is the Kafka record as is, sent to the tenant's alarm topic.
	// AlertID is then its record_id, State its transition and Service its
	// alarm_id (key tenant/alarm_id, dedupe per record).
	Alarm json.RawMessage `json:"alarm,omitempty"`

	eventTime time.Time
	frame     []byte // the record's frame in the stored head, once encoded
}

// key is the Kafka message key: tenant/service.
func (r *Record) key() string { return r.Tenant + "/" + r.Service }

// dedupKey identifies one state change of one episode.
func (r *Record) dedupKey() string { return r.AlertID + "/" + r.State }

func (r *Record) marshal() ([]byte, error) {
	if len(r.Alarm) > 0 {
		return r.Alarm, nil
	}
	return json.Marshal(r)
}

// recordsFromLogs extracts the alert records of ld, in order. Log records
// that are not alert events are counted in ignored.
func recordsFromLogs(ld plog.Logs, traceURL string) (recs []*Record, ignored int, err error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		resTenant := tenants.FromResource(rl.Resource())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				r, ok, err := recordFromLog(lrs.At(k), resTenant, traceURL)
				if err != nil {
					return nil, ignored, err
				}
				if !ok {
					ignored++
					continue
				}
				recs = append(recs, r)
			}
		}
	}
	return recs, ignored, nil
}

func recordFromLog(lr plog.LogRecord, resTenant, traceURL string) (*Record, bool, error) {
	a := lr.Attributes()
	if v, ok := a.Get(alarmRecordAttr); ok {
		return alarmRecordFromLog(lr, v.AsString(), resTenant)
	}
	str := func(name string) string {
		if v, ok := a.Get(attrPrefix + name); ok {
			return v.AsString()
		}
		return ""
	}
	num := func(name string) float64 {
		if v, ok := a.Get(attrPrefix + name); ok {
			switch v.Type() {
			case pcommon.ValueTypeDouble:
				return v.Double()
			case pcommon.ValueTypeInt:
				return float64(v.Int())
			}
		}
		return 0
	}
	r := &Record{AlertID: str("alert_id"), Tenant: str("tenant"), Service: str("service"), State: str("state"),
		ErrorRate: num("error_rate"), Threshold: num("threshold"), WindowS: num("window_s"),
		Spans: int64(num("spans")), Errors: int64(num("errors")), StartedAt: str("started_at"), TraceIDs: []string{}}
	if r.AlertID == "" || r.State == "" {
		return nil, false, nil
	}
	// The resource tenant is the one the connector stamped; an attribute
	// claiming another tenant is refused rather than routed to its topic.
	if resTenant != "" && r.Tenant != resTenant {
		return nil, false, fmt.Errorf("alert %s: attribute tenant %q differs from resource tenant %q", r.AlertID, r.Tenant, resTenant)
	}
	if s := str("station"); s != "" {
		r.Station = &s
	}
	if s := str("resolved_at"); s != "" {
		r.ResolvedAt = &s
	}
	if v, ok := a.Get(attrPrefix + "trace_ids"); ok && v.Type() == pcommon.ValueTypeSlice {
		for i := 0; i < v.Slice().Len(); i++ {
			r.TraceIDs = append(r.TraceIDs, v.Slice().At(i).AsString())
		}
	}
	if len(r.TraceIDs) > 0 && traceURL != "" {
		u := strings.NewReplacer("{trace_id}", url.PathEscape(r.TraceIDs[0]), "{tenant}", url.PathEscape(r.Tenant)).Replace(traceURL)
		r.TraceURL = &u
	}
	r.eventTime = lr.Timestamp().AsTime()
	if lr.Timestamp() == 0 {
		r.eventTime = time.Now()
	}
	return r, true, nil
}

// alarmRecordAttr holds an alarm transition's JSON (connectors/alarmconnector).
const alarmRecordAttr = "scada.alarm.record"

// AlarmsTopicSuffix names a tenant's alarm topic after its alert topic
// (the tenants file keeps room for it in kafka_topic).
const AlarmsTopicSuffix = tenants.AlarmsTopicSuffix

// alarmRecordFromLog reads an alarm transition. Its tenant must be the
// resource's (the connector stamps it), as for alert records.
func alarmRecordFromLog(lr plog.LogRecord, body, resTenant string) (*Record, bool, error) {
	var head struct {
		RecordID   string `json:"record_id"`
		AlarmID    string `json:"alarm_id"`
		Transition string `json:"transition"`
		Tenant     string `json:"tenant"`
	}
	if err := json.Unmarshal([]byte(body), &head); err != nil || head.RecordID == "" || head.AlarmID == "" || head.Transition == "" {
		return nil, false, nil
	}
	if resTenant != "" && head.Tenant != resTenant {
		return nil, false, fmt.Errorf("alarm record %s: tenant %q differs from resource tenant %q", head.RecordID, head.Tenant, resTenant)
	}
	r := &Record{AlertID: head.RecordID, Tenant: head.Tenant, Service: head.AlarmID, State: head.Transition,
		TraceIDs: []string{}, Alarm: json.RawMessage(body)}
	r.eventTime = lr.Timestamp().AsTime()
	if lr.Timestamp() == 0 {
		r.eventTime = time.Now()
	}
	return r, true, nil
}
