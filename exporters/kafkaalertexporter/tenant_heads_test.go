package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/tenants"
)

// Issue 19, point 3: a tenant whose head is at its limit (Kafka cannot take
// its records) has its next request refused with a retryable error, counted
// under its pseudonym, while another tenant's request is taken at once; the
// other tenant's stored head carries its own record only, never the
// storming tenant's backlog.
func TestTenantAtItsHeadLimitIsRefusedOthersGoOn(t *testing.T) {
	ctx := context.Background()
	storageID, st := startStorage(t, t.TempDir())
	defer func() { require.NoError(t, st.Shutdown(ctx)) }()
	cfg := crashConfig(fmt.Sprintf("127.0.0.1:%d", freePort(t)), storageID) // no broker: nothing is delivered
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	set := exportertest.NewNopSettings(componentType)
	set.ID = component.NewID(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host{ext: map[component.ID]component.Component{storageID: st}}))
	defer func() { require.NoError(t, exp.Shutdown(ctx)) }()
	e := exp.(*logsExporter).e

	var storm []*errorfanoutconnector.Event
	for i := 0; i < headLimitPerTenant; i++ {
		storm = append(storm, testEvent(i+1, "west-pipeline-01", fmt.Sprintf("a-%05d", i), errorfanoutconnector.StateFiring))
	}
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventsLogs(storm)))

	err = exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(headLimitPerTenant+1, "west-pipeline-01", "a-more", errorfanoutconnector.StateFiring)))
	require.ErrorIs(t, err, errHeadFull)
	assert.False(t, consumererror.IsPermanent(err), "retryable: the connector keeps the events and offers them again")
	assert.Contains(t, err.Error(), "west-pipeline-01")

	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(900000, "east-pipeline-02", "plc-gateway", errorfanoutconnector.StateFiring))),
		"the other tenant is taken while the first is at its limit")
	assert.Equal(t, 1, e.headLen("east-pipeline-02"))
	assert.Equal(t, headLimitPerTenant, e.headLen("west-pipeline-01"))

	b, err := e.store.Get(ctx, headKey("east-pipeline-02"))
	require.NoError(t, err)
	recs, _, damaged := decodeHead(b)
	require.Empty(t, damaged)
	require.Len(t, recs, 1)
	assert.Equal(t, "plc-gateway", recs[0].Service)
	assert.Less(t, len(b), 4096, "B's head write carries B's record, not A's %d", headLimitPerTenant)

	m, err := tel.GetMetric(MetricRefusedRecords)
	require.NoError(t, err)
	dps := m.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, dps, 1)
	assert.EqualValues(t, 1, dps[0].Value)
	v, _ := dps[0].Attributes.Value(AttrTenant)
	assert.Equal(t, tenants.SelfMetricPseudonym("west-pipeline-01"), v.AsString())
}

// A data directory of an earlier release holds one head for every tenant
// (key "head"). At start it becomes per-tenant heads and is deleted; its
// records reach Kafka in their order, once each, and the acknowledged keys
// it remembered still stop late copies.
func TestEarlierReleaseHeadIsSplitPerTenant(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts"))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	dir := t.TempDir()

	storageID, st := startStorage(t, dir)
	cl, err := st.(storage.Extension).GetClient(ctx, component.KindExporter, component.NewID(componentType), "alerts_head")
	require.NoError(t, err)
	old := records(t,
		testEvent(1, "west-pipeline-01", "a", errorfanoutconnector.StateFiring),
		testEvent(2, "east-pipeline-02", "b", errorfanoutconnector.StateFiring),
		testEvent(1, "west-pipeline-01", "a", errorfanoutconnector.StateResolved))
	done := testEvent(3, "west-pipeline-01", "c", errorfanoutconnector.StateFiring)
	b, err := encodeHead(old, []string{done.AlertID + "/" + done.State})
	require.NoError(t, err)
	require.NoError(t, cl.Set(ctx, legacyHeadKey, b))
	require.NoError(t, cl.Close(ctx))

	exp := newExporter(t, crashConfig(c.ListenAddrs()[0], storageID), host{ext: map[component.ID]component.Component{storageID: st}})
	e := exp.(*logsExporter).e
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(done)), "a late copy of an acknowledged record")
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(4, "west-pipeline-01", "d", errorfanoutconnector.StateFiring))))

	var got []string
	for _, m := range consumeAll(t, c.ListenAddrs(), "scada.alerts", 4, 10*time.Second) {
		var rec Record
		require.NoError(t, json.Unmarshal(m.Value, &rec))
		got = append(got, rec.Tenant+":"+rec.dedupKey())
	}
	want := []string{
		"west-pipeline-01:" + old[0].dedupKey(), "west-pipeline-01:" + old[2].dedupKey(),
		"west-pipeline-01:" + fmt.Sprintf("%032x/firing", 4), "east-pipeline-02:" + old[1].dedupKey(),
	}
	assert.ElementsMatch(t, want, got, "every record once, the late copy not at all")
	var west []string
	for _, k := range got {
		if k != want[3] {
			west = append(west, k)
		}
	}
	assert.Equal(t, want[:3], west, "a tenant's records in order")

	legacy, err := e.store.Get(ctx, legacyHeadKey)
	require.NoError(t, err)
	assert.Empty(t, legacy, "the single head is gone")
	idx, err := e.store.Get(ctx, headTenantsKey)
	require.NoError(t, err)
	assert.JSONEq(t, `["east-pipeline-02","west-pipeline-01"]`, string(idx))
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, st.Shutdown(ctx))
}
