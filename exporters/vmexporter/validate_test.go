package vmexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/tenants"
)

// gauge is one tenant's one-point gauge; edit lets a case break it.
func gauge(tenant string, at time.Time, edit func(pcommon.Map)) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenant)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("tank_level")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.SetDoubleValue(1)
	dp.Attributes().PutStr("tank", "t1")
	if edit != nil {
		edit(dp.Attributes())
	}
	return md
}

// TestSamplesTheStorageWouldDropAreRefused (issue 19 point 11): samples
// the embedded storage would silently drop are refused before the WAL with
// a permanent error naming the reason, and counted per tenant.
func TestSamplesTheStorageWouldDropAreRefused(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, testConfig(t, t.TempDir()))
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	now := time.Now()
	for _, tc := range []struct {
		name string
		md   pmetric.Metrics
		want string
	}{
		{"far future", gauge("acme", now.Add(72*time.Hour), nil), "outside the storage's window"},
		{"far past", gauge("acme", now.Add(-60*24*time.Hour), nil), "outside the storage's window"},
		{"5000 labels", gauge("acme", now, func(a pcommon.Map) {
			for i := range 5000 {
				a.PutStr(fmt.Sprintf("l%d", i), "v")
			}
		}), "labels, the storage keeps at most 40"},
		{"1 MB label value", gauge("acme", now, func(a pcommon.Map) { a.PutStr("big", strings.Repeat("x", 1<<20)) }), "at most 4096"},
		{"long label name", gauge("acme", now, func(a pcommon.Map) { a.PutStr(strings.Repeat("n", 300), "v") }), "at most 256"},
	} {
		err := exp.ConsumeMetrics(context.Background(), tc.md)
		require.Error(t, err, tc.name)
		assert.True(t, consumererror.IsPermanent(err), tc.name)
		assert.Equal(t, codes.InvalidArgument, status.Code(err), tc.name+": the OTLP receiver answers 400, not 500")
		assert.Contains(t, err.Error(), tc.want, tc.name)
		assert.Contains(t, err.Error(), "acme", tc.name)
	}
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge("acme", now, nil)), "a valid sample is stored")

	m, err := tel.GetMetric(MetricRejectedSamples)
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%T", m.Data)
	var total int64
	for _, dp := range sum.DataPoints {
		v, _ := dp.Attributes.Value(AttrTenant)
		assert.Equal(t, "acme", v.AsString())
		total += dp.Value
	}
	assert.Equal(t, int64(5), total, "one sample per refused request, counted for the tenant")
}

// TestUntranslatableMetricsAreRefused: a label name with no valid
// character left (the translator drops the whole metric) refuses the
// request instead of acknowledging it without that metric; a metric with
// no data points loses nothing and is accepted.
func TestUntranslatableMetricsAreRefused(t *testing.T) {
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	exp, err := NewFactory().CreateMetrics(context.Background(), set, testConfig(t, t.TempDir()))
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	err = exp.ConsumeMetrics(context.Background(), gauge("acme", time.Now(), func(a pcommon.Map) { a.PutStr("名", "v") }))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "not storable")

	md := gauge("acme", time.Now(), nil)
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty().SetName("no_points")
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).SetEmptyGauge()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
}
