package scadauiextension

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exposition renders the appliance's telemetry as the collector's
// Prometheus endpoint does, after sec seconds of steady load: west sends
// 4 trace requests/s (40 spans/s) and has 1 refused/s, 25 metric data
// points/s and 3 log records/s; east 100 requests/s (777 spans/s); the otlp
// receiver accepts 50 spans/s; Jaeger's queue holds 7 of 1000. The items
// counter is written as a reader with type suffixes writes it (`_total`,
// TYPE); the default reader writes the registered names.
func exposition(sec int64) string {
	return fmt.Sprintf(`# HELP otelcol_receiver_accepted_spans Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} %[1]d
otelcol_receiver_refused_spans{receiver="otlp",transport="http"} 0
otelcol_receiver_accepted_metric_points{receiver="scada",transport=""} %[2]d
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{data_type="traces",exporter="otlp_grpc/jaeger"} 7
otelcol_exporter_queue_capacity{data_type="traces",exporter="otlp_grpc/jaeger"} 1000
otelcol_exporter_sent_spans{exporter="otlp_grpc/jaeger"} %[1]d
otelcol_exporter_send_failed_spans{exporter="otlp_grpc/jaeger"} 0
# TYPE scadaotel_kafka_alerts_sent_records_total counter
scadaotel_kafka_alerts_sent_records_total 12
scadaotel_kafka_alerts_in_flight_records 2
scadaotel_kafka_alerts_oldest_queued_age 3.5
scadaotel_tenantstamp_accepted_requests{signal="traces",tenant="west"} %[3]d
scadaotel_tenantstamp_refused_requests{reason="spans_per_second",signal="traces",tenant="west"} %[4]d
scadaotel_tenantstamp_accepted_requests{signal="traces",tenant="east"} %[5]d
# HELP scadaotel_tenantstamp_accepted_items_total Spans, metric data points or log records stamped and passed on, by tenant and signal: each tenant's ingest rate.
# TYPE scadaotel_tenantstamp_accepted_items_total counter
scadaotel_tenantstamp_accepted_items_total{signal="traces",tenant="west"} %[7]d
scadaotel_tenantstamp_accepted_items_total{signal="metrics",tenant="west"} %[8]d
scadaotel_tenantstamp_accepted_items_total{signal="logs",tenant="west"} %[9]d
scadaotel_tenantstamp_accepted_items_total{signal="traces",tenant="east"} %[10]d
scadaotel_tenantstamp_refused_requests{reason="no_tenant",signal="traces"} 9
scadaotel_traceidrepair_repaired_fragments_total{tenant="west"} 5
scadaotel_traceidrepair_unmatched_fragments_total{tenant="west"} 1
scadaotel_traceidrepair_repaired_fragments_total{tenant="east"} 987654
# the stored series label (no self-metric carries it) still keeps a series to its tenant
scadaotel_traceidrepair_held_spans{scada_tenant="east"} 424242
scadaotel_scada_pending_batches{rtu="east-secret-rtu"} 1
scadaotel_scada_samples_total{quality="good",rtu="east-secret-rtu"} 999
scadaotel_victoriametrics_samples_total %[2]d
otelcol_process_uptime %[6]d
otelcol_process_memory_rss 5.1e+07
`, 50*sec, 20*sec, 4*sec, sec, 100*sec, sec, 40*sec, 25*sec, 3*sec, 777*sec)
}

func TestApplianceRatesAndTenantScope(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), make([]byte, 4096), 0o600))
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := &scraper{interval: 5 * time.Second, paths: func() []string { return []string{dir} },
			fetch: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(exposition(int64(time.Since(start) / time.Second)))), nil
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.run(ctx) }()
		synctest.Wait()
		// One snapshot: figures, but no rates yet.
		snaps, disk, errText := s.state()
		v := buildAppliance(snaps, disk, errText, "west", true, s.interval, time.Now())
		require.Len(t, v.Tenant, 3)
		for _, ti := range v.Tenant {
			assert.Nil(t, ti.AcceptedPerS)
			assert.Nil(t, ti.ItemsPerS)
		}

		time.Sleep(20 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		snaps, disk, errText = s.state()
		assert.Len(t, snaps, int(applianceWindow/s.interval)+1, "kept for the window only")
		v = buildAppliance(snaps, disk, errText, "west", true, s.interval, time.Now())

		// west's rows, by signal: requests/s and items/s (spans, data
		// points, log records), never east's added in.
		require.Len(t, v.Tenant, 3)
		assert.Equal(t, []string{"logs", "metrics", "traces"}, []string{v.Tenant[0].Signal, v.Tenant[1].Signal, v.Tenant[2].Signal})
		ti := v.Tenant[2]
		assert.InDelta(t, 4, *ti.AcceptedPerS, 1e-9)
		assert.InDelta(t, 40, *ti.ItemsPerS, 1e-9, "west's spans/s only")
		assert.EqualValues(t, 40*1200, ti.ItemsTot)
		assert.InDelta(t, 1, *ti.RefusedPerS, 1e-9)
		assert.Equal(t, map[string]float64{"spans_per_second": 1200}, ti.Reasons, "only west's own refusals")
		assert.InDelta(t, 25, *v.Tenant[1].ItemsPerS, 1e-9, "samples/s")
		assert.InDelta(t, 3, *v.Tenant[0].ItemsPerS, 1e-9, "log records/s")
		assert.Nil(t, v.Tenant[0].AcceptedPerS, "no request counter for west's logs")
		require.Len(t, v.Receivers, 2)
		assert.Equal(t, receiverRow{Receiver: "otlp (http)", Signal: "traces", AcceptedPerS: ptr(50), RefusedPerS: ptr(0), AcceptedTot: 60000}, v.Receivers[0])
		assert.Equal(t, "scada", v.Receivers[1].Receiver)
		assert.InDelta(t, 20, *v.StoredPerS, 1e-9)
		assert.Equal(t, []queueRow{
			{Queue: "kafka_alerts", Depth: 2, OldestAgeS: ptr(3.5), Unit: "records"},
			{Queue: "otlp_grpc/jaeger", Depth: 7, Capacity: ptr(1000), Unit: "items"},
			{Queue: "scada", Depth: 1, Unit: "batches"},
		}, v.Queues)
		require.Len(t, v.Exports, 2)
		assert.Equal(t, "kafka_alerts", v.Exports[0].Exporter)
		assert.EqualValues(t, 12, v.Exports[0].SentTot)
		assert.InDelta(t, 50, *v.Exports[1].SentPerS, 1e-9)
		assert.Equal(t, []counterRow{{Counter: "repaired", Total: 5, PerS: ptr(0)}, {Counter: "unmatched", Total: 1, PerS: ptr(0)}}, v.Repair)
		require.Len(t, v.Disk, 1)
		assert.EqualValues(t, 4096, v.Disk[0].UsedBytes)
		assert.NotZero(t, v.Disk[0].FSTotalBytes)
		assert.EqualValues(t, 1200, *v.UptimeS)
		// The chart: one point per interval.
		assert.Len(t, v.History.Timestamps, len(snaps)-1)
		keys := []string{}
		for _, hs := range v.History.Series {
			keys = append(keys, hs.Key)
			assert.Len(t, hs.Values, len(snaps)-1)
		}
		assert.Equal(t, []string{"all.metrics", "all.traces", "tenant.logs", "tenant.metrics", "tenant.traces"}, keys)
		// The tenant's line is in items/s, like the receivers' line.
		for i, want := range []float64{20, 50, 3, 25, 40} {
			for _, x := range v.History.Series[i].Values {
				require.NotNil(t, x, v.History.Series[i].Key)
				assert.InDelta(t, want, *x, 1e-9, v.History.Series[i].Key)
			}
		}

		// Nothing of east reaches west's answer, in any field.
		b, _ := json.Marshal(v)
		for _, leak := range []string{"east", "987654", "424242", "no_tenant", "932400"} {
			assert.NotContains(t, string(b), leak)
		}
		// Without shared figures, west sees only its own series.
		v = buildAppliance(snaps, disk, errText, "west", false, s.interval, time.Now())
		assert.Empty(t, v.Receivers)
		assert.Empty(t, v.Queues)
		assert.Empty(t, v.Exports)
		assert.Empty(t, v.Disk)
		assert.Nil(t, v.UptimeS)
		assert.Len(t, v.Tenant, 3)
		assert.InDelta(t, 40, *v.Tenant[2].ItemsPerS, 1e-9)
		assert.Len(t, v.Repair, 2)
		// east sees its own.
		v = buildAppliance(snaps, disk, errText, "east", false, s.interval, time.Now())
		require.Len(t, v.Tenant, 1)
		assert.InDelta(t, 100, *v.Tenant[0].AcceptedPerS, 1e-9)
		assert.InDelta(t, 777, *v.Tenant[0].ItemsPerS, 1e-9)
		keys = keys[:0]
		for _, hs := range v.History.Series {
			keys = append(keys, hs.Key)
		}
		assert.Equal(t, []string{"tenant.traces"}, keys)
		assert.InDelta(t, 777, *v.History.Series[0].Values[10], 1e-9)
		assert.Equal(t, []queueRow{{Queue: "traceidrepair", Depth: 424242, Unit: "spans", Own: true}}, v.Queues)
	})
}

func ptr(v float64) *float64 { return &v }

// TestApplianceScrapesHTTP reads a real HTTP endpoint and reports its
// failure without losing the snapshots taken before.
func TestApplianceScrapesHTTP(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, exposition(10))
	}))
	defer srv.Close()
	s := &scraper{fetch: httpFetch(srv.Client(), srv.URL+"/metrics"), interval: time.Second, paths: func() []string { return nil }}
	s.scrapeOnce(context.Background())
	fail.Store(true)
	s.scrapeOnce(context.Background())
	snaps, _, errText := s.state()
	require.Len(t, snaps, 1)
	assert.Contains(t, errText, "HTTP 503")
	assert.Contains(t, errText, "telemetry_endpoint")
	v := buildAppliance(snaps, nil, errText, "west", true, time.Second, time.Now())
	require.Len(t, v.Tenant, 3)
	assert.Equal(t, "traces", v.Tenant[2].Signal)
	assert.EqualValues(t, 40, v.Tenant[2].AcceptedTot)
	assert.EqualValues(t, 400, v.Tenant[2].ItemsTot, "the items counter with its _total suffix is read")
	assert.Contains(t, v.ScrapeError, "HTTP 503")
}
