package kafkaalertexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/tenants/tenantauthtest"
)

// alarmLogs is one alarm transition as the alarm connector emits it.
func alarmLogs(tenant, recordID, alarmID, transition string) (plog.Logs, string) {
	body := fmt.Sprintf(`{"record_id":%q,"alarm_id":%q,"transition":%q,"tenant":%q,"state":"active_unacked"}`, recordID, alarmID, transition, tenant)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	tenants.SetOnResource(rl.Resource(), tenant)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("scada.alarm")
	lr.Attributes().PutStr(alarmRecordAttr, body)
	return ld, body
}

// TestAlarmRecordsGoToTheAlarmTopics: an alarm transition is sent as is,
// key tenant/alarm_id, to "<tenant topic>.alarms" for a tenant with a
// topic of its own (tenant_topics or the registry) and to alarms.topic
// otherwise; a record naming another tenant than its resource is refused.
func TestAlarmRecordsGoToTheAlarmTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1,
		"scada.alarms", "west.ops.alerts.alarms", "east.explicit.alarms", "scada.alerts"))
	require.NoError(t, err)
	defer c.Close()
	h := tenantauthtest.Host(t, []tenants.Spec{
		{ID: "west-pipeline-01", KafkaTopic: "west.ops.alerts"},
		{ID: "east-pipeline-02", KafkaTopic: "east.from-registry"},
		{ID: "north-pipeline-03"},
	})
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.Authenticator = tenantauthtest.ID
	cfg.TenantTopics = map[string]string{"east-pipeline-02": "east.explicit"}
	cfg.SendingQueue.Get().QueueSize = 1 << 20
	require.NoError(t, cfg.Validate())
	exp := newExporter(t, cfg, h)
	ctx := context.Background()
	defer func() { require.NoError(t, exp.Shutdown(ctx)) }()
	bodies := map[string]string{}
	for i, tenant := range []string{"west-pipeline-01", "east-pipeline-02", "north-pipeline-03"} {
		ld, body := alarmLogs(tenant, fmt.Sprintf("%032x", i+1), "PT-101:HH", "raise")
		bodies[tenant] = body
		require.NoError(t, exp.ConsumeLogs(ctx, ld))
	}
	for topic, tenant := range map[string]string{
		"west.ops.alerts.alarms": "west-pipeline-01", "east.explicit.alarms": "east-pipeline-02", "scada.alarms": "north-pipeline-03",
	} {
		msgs := consumeAll(t, c.ListenAddrs(), topic, 1, 10*time.Second)
		require.Len(t, msgs, 1, topic)
		assert.Equal(t, tenant, header(msgs[0], tenants.Header), topic)
		assert.Equal(t, tenant+"/PT-101:HH", string(msgs[0].Key), topic)
		assert.JSONEq(t, bodies[tenant], string(msgs[0].Value), topic)
	}
	assert.Empty(t, consumeAll(t, c.ListenAddrs(), "scada.alerts", 0, time.Second), "no alarm on the alert topic")

	ld, _ := alarmLogs("west-pipeline-01", fmt.Sprintf("%032x", 9), "PT-1:H", "raise")
	tenants.SetOnResource(ld.ResourceLogs().At(0).Resource(), "east-pipeline-02")
	_, _, err = recordsFromLogs(ld, "")
	require.ErrorContains(t, err, "differs from resource tenant")
}

// TestAlarmRecordSurvivesTheStoredHead: an alarm record in the head comes
// back after a restart with its body unchanged and its dedupe key.
func TestAlarmRecordSurvivesTheStoredHead(t *testing.T) {
	ld, body := alarmLogs("west-pipeline-01", fmt.Sprintf("%032x", 7), "PT-101:H", "ack")
	recs, ignored, err := recordsFromLogs(ld, "")
	require.NoError(t, err)
	require.Zero(t, ignored)
	require.Len(t, recs, 1)
	b, err := encodeHead(recs, []string{"x/firing"})
	require.NoError(t, err)
	back, sent, damaged := decodeHead(b)
	require.Empty(t, damaged)
	require.Equal(t, []string{"x/firing"}, sent)
	require.Len(t, back, 1)
	got, err := back[0].marshal()
	require.NoError(t, err)
	assert.JSONEq(t, body, string(got))
	assert.Equal(t, fmt.Sprintf("%032x", 7)+"/ack", back[0].dedupKey())
	assert.Equal(t, "west-pipeline-01/PT-101:H", back[0].key())
}
