package promremotewritereceiver

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/tenants/tenantauthtest"
)

func start(t *testing.T, next consumer.Metrics) string {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: tenantauthtest.ID}})
	ln, err := cfg.ToListener(context.Background())
	require.NoError(t, err)
	cfg.NetAddr.Endpoint = ln.Addr().String()
	require.NoError(t, ln.Close())
	require.NoError(t, cfg.Validate())
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(component.MustNewType(typeStr)), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), tenantauthtest.Host(t, tenantauthtest.SelfTokens("north", "south"))))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return "http://" + cfg.NetAddr.Endpoint + "/api/v1/write"
}

// post sends a remote-write request the way Prometheus does.
func post(t *testing.T, url, token string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func encode(t *testing.T, wr *prompb.WriteRequest) []byte {
	raw, err := wr.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

func sample() *prompb.WriteRequest {
	return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{
			Labels:  []prompb.Label{{Name: "__name__", Value: "tank_level_m"}, {Name: "tank", Value: "t1"}, {Name: tenants.MetricLabel, Value: "forged"}},
			Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: 3.25}, {Timestamp: 1_700_000_001_000, Value: math.Float64frombits(staleNaNBits)}},
		},
		{
			Labels:  []prompb.Label{{Name: "__name__", Value: "pump_starts_total"}},
			Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: 7}},
		},
	}}
}

func TestRemoteWriteBecomesTenantStampedGauges(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	require.Equal(t, http.StatusNoContent, post(t, url, "north", encode(t, sample())))
	require.Len(t, sink.AllMetrics(), 1)
	md := sink.AllMetrics()[0]
	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	assert.Equal(t, "north", tenants.FromResource(rm.Resource()))
	ms := rm.ScopeMetrics().At(0).Metrics()
	require.Equal(t, 2, ms.Len())
	m := ms.At(0)
	assert.Equal(t, "tank_level_m", m.Name())
	dps := m.Gauge().DataPoints()
	require.Equal(t, 2, dps.Len())
	assert.Equal(t, 3.25, dps.At(0).DoubleValue())
	assert.Equal(t, int64(1_700_000_000_000_000_000), int64(dps.At(0).Timestamp()))
	v, _ := dps.At(0).Attributes().Get("tank")
	assert.Equal(t, "t1", v.Str())
	_, forged := dps.At(0).Attributes().Get(tenants.MetricLabel)
	assert.False(t, forged, "the reserved tenant label is dropped")
	assert.True(t, dps.At(1).Flags().NoRecordedValue(), "staleness marker becomes no-recorded-value")
	assert.Equal(t, 7.0, ms.At(1).Gauge().DataPoints().At(0).DoubleValue())
	assert.Equal(t, 3, sink.DataPointCount())
}

func TestRemoteWriteRefusals(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	assert.Equal(t, http.StatusUnauthorized, post(t, url, "", encode(t, sample())))
	assert.Equal(t, http.StatusBadRequest, post(t, url, "north", []byte("not snappy")))
	assert.Equal(t, http.StatusBadRequest, post(t, url, "north", snappy.Encode(nil, []byte{0xff, 0xff, 0xff})))
	assert.Empty(t, sink.AllMetrics())

	// A failing pipeline is not acknowledged: 503 (retryable) or 400 (permanent).
	url = start(t, consumertest.NewErr(errors.New("wal full")))
	assert.Equal(t, http.StatusServiceUnavailable, post(t, url, "north", encode(t, sample())))
	url = start(t, consumertest.NewErr(consumererror.NewPermanent(errors.New("bad data"))))
	assert.Equal(t, http.StatusBadRequest, post(t, url, "north", encode(t, sample())))
}

func TestConfigExampleLoadsAndValidates(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(typeStr)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "127.0.0.1:9201", cfg.NetAddr.Endpoint)
	bad := createDefaultConfig().(*Config)
	bad.NetAddr.Endpoint = ""
	err = bad.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "endpoint:")
	assert.Contains(t, err.Error(), "auth:")
}

// Prometheus sends metric metadata in requests of their own; in embedded
// mode it is stored under the sender's tenant for /api/v1/metadata.
func TestRemoteWriteMetadataIsStoredPerTenant(t *testing.T) {
	st, err := vmstore.Open(vmstore.Config{Path: filepath.Join(t.TempDir(), "data"), Retention: 48 * time.Hour, MemoryAllowedBytes: 64 << 20})
	require.NoError(t, err)
	defer st.Close()
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	wr := &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{
		{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "pump_starts_total", Help: "Pump starts.", Unit: ""},
		{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "tank_level_m", Help: "Tank level.", Unit: "meters"},
	}}
	require.Equal(t, http.StatusNoContent, post(t, url, "north", encode(t, wr)))
	assert.Zero(t, sink.DataPointCount(), "metadata alone carries no samples")
	_, got := st.Metadata("north", "", 0)
	assert.Equal(t, map[string]vmstore.MetricMetadata{
		"pump_starts_total": {Type: "counter", Help: "Pump starts."},
		"tank_level_m":      {Type: "gauge", Help: "Tank level.", Unit: "meters"},
	}, got)
	_, other := st.Metadata("south", "", 0)
	assert.Empty(t, other)
}

// Native histograms (integer counts, exponential schema) become OTLP
// exponential histograms with the same buckets; float-count, custom-bucket
// and oversized ones are skipped, never mangled.
func TestNativeHistogramsBecomeExponentialHistograms(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	url := start(t, sink)
	hist := func(ts int64) prompb.Histogram {
		return prompb.Histogram{
			Count: &prompb.Histogram_CountInt{CountInt: 10}, Sum: 20, Schema: 0,
			ZeroThreshold: 0.001, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 1},
			// buckets 1 (1,2] and 4 (8,16]: counts 1 and 3
			PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 1}, {Offset: 2, Length: 1}}, PositiveDeltas: []int64{1, 2},
			// bucket 0 [-1,-0.5): count 4
			NegativeSpans: []prompb.BucketSpan{{Offset: 0, Length: 1}}, NegativeDeltas: []int64{4},
			Timestamp: ts,
		}
	}
	stale := hist(1_700_000_002_000)
	stale.Sum = math.Float64frombits(staleNaNBits)
	floatH := hist(1_700_000_003_000)
	floatH.Count = &prompb.Histogram_CountFloat{CountFloat: 10}
	custom := hist(1_700_000_004_000)
	custom.Schema = -53
	huge := hist(1_700_000_005_000)
	huge.PositiveSpans = []prompb.BucketSpan{{Offset: 1, Length: 1}, {Offset: 1 << 30, Length: 1}}
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:     []prompb.Label{{Name: "__name__", Value: "flow_rate"}, {Name: "pump", Value: "p1"}},
		Histograms: []prompb.Histogram{hist(1_700_000_000_000), stale, floatH, custom, huge},
	}}}
	require.Equal(t, http.StatusNoContent, post(t, url, "north", encode(t, wr)))
	require.Len(t, sink.AllMetrics(), 1)
	ms := sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, ms.Len())
	m := ms.At(0)
	assert.Equal(t, "flow_rate", m.Name())
	require.Equal(t, pmetric.MetricTypeExponentialHistogram, m.Type())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.ExponentialHistogram().AggregationTemporality())
	dps := m.ExponentialHistogram().DataPoints()
	require.Equal(t, 2, dps.Len(), "float, custom-bucket and oversized points are skipped")
	dp := dps.At(0)
	assert.Equal(t, int64(1_700_000_000_000_000_000), int64(dp.Timestamp()))
	assert.Equal(t, int32(0), dp.Scale())
	assert.Equal(t, uint64(10), dp.Count())
	assert.Equal(t, 20.0, dp.Sum())
	assert.Equal(t, uint64(1), dp.ZeroCount())
	assert.Equal(t, 0.001, dp.ZeroThreshold())
	// OTLP bucket k is (2^k, 2^(k+1)]: Prometheus bucket 1 is OTLP bucket 0.
	assert.Equal(t, int32(0), dp.Positive().Offset())
	assert.Equal(t, []uint64{1, 0, 0, 3}, dp.Positive().BucketCounts().AsRaw())
	assert.Equal(t, int32(-1), dp.Negative().Offset())
	assert.Equal(t, []uint64{4}, dp.Negative().BucketCounts().AsRaw())
	v, _ := dp.Attributes().Get("pump")
	assert.Equal(t, "p1", v.Str())
	assert.True(t, dps.At(1).Flags().NoRecordedValue(), "a stale native histogram becomes a no-recorded-value point")
}
