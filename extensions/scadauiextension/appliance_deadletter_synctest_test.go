package scadauiextension

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/exporters/vmexporter"
)

// deadLetterExposition is the durable_otlp exporter's dead-letter
// self-metrics on the Prometheus endpoint after sec seconds: west has 2
// spans/s refused as invalid_argument and 1 every 10 s as too_large, 70
// spans stored before the start; east 9 spans/s as permission_denied and
// 31337 stored. One series carries no tenant (never shown per tenant).
func deadLetterExposition(sec int64) string {
	spans, stored := ExposedName(durableotlpexporter.MetricDeadLetterSpans, true), ExposedName(durableotlpexporter.MetricDeadLetterStored, false)
	return fmt.Sprintf(`# HELP %[1]s Spans the destination refused for good.
# TYPE %[1]s counter
%[1]s{reason="invalid_argument",tenant="west"} %[3]d
%[1]s{reason="too_large",tenant="west"} %[4]d
%[1]s{reason="permission_denied",tenant="east"} %[5]d
%[1]s{reason="east_only_reason",tenant="east"} 777777
# TYPE %[2]s gauge
%[2]s{tenant="west"} %[6]d
%[2]s{tenant="east"} 31337
%[2]s 4242
otelcol_process_uptime %[7]d
`, spans, stored, 2*sec, sec/10, 9*sec, 70+2*sec+sec/10, sec)
}

func TestApplianceDeadLetterPerTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := &scraper{interval: 5 * time.Second, paths: func() []string { return nil },
			fetch: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(deadLetterExposition(int64(time.Since(start) / time.Second)))), nil
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.run(ctx) }()
		synctest.Wait()
		snaps, disk, errText := s.state()
		v := buildAppliance(snaps, disk, errText, "west", true, s.interval, time.Now())
		assert.EqualValues(t, 70, v.DeadLetter.StoredSpans, "stored before the start")
		assert.Nil(t, v.DeadLetter.PerS, "no rate from one snapshot")

		time.Sleep(10 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		snaps, disk, errText = s.state()
		for _, shared := range []bool{true, false} {
			v = buildAppliance(snaps, disk, errText, "west", shared, s.interval, time.Now())
			dl := v.DeadLetter
			assert.EqualValues(t, 70+2*600+60, dl.StoredSpans, "west's stored spans only (shared=%v)", shared)
			assert.EqualValues(t, 2*600+60, dl.Total)
			require.NotNil(t, dl.PerS)
			assert.InDelta(t, 2.1, *dl.PerS, 1e-9)
			require.Len(t, dl.Reasons, 2)
			assert.Equal(t, "invalid_argument", dl.Reasons[0].Reason)
			assert.EqualValues(t, 1200, dl.Reasons[0].Total)
			assert.InDelta(t, 2, *dl.Reasons[0].PerS, 1e-9)
			assert.Equal(t, "too_large", dl.Reasons[1].Reason)
			assert.EqualValues(t, 60, dl.Reasons[1].Total)
			assert.InDelta(t, 0.1, *dl.Reasons[1].PerS, 1e-9)

			// Nothing of east's (or the tenant-less) dead-letter series
			// reaches west, in any field.
			b, err := json.Marshal(v)
			require.NoError(t, err)
			for _, leak := range []string{"east", "permission_denied", "31337", "4242", "777777"} {
				assert.NotContains(t, string(b), leak, "shared=%v", shared)
			}
		}

		// east sees its own figures only.
		v = buildAppliance(snaps, disk, errText, "east", false, s.interval, time.Now())
		assert.EqualValues(t, 31337, v.DeadLetter.StoredSpans)
		assert.EqualValues(t, 9*600+777777, v.DeadLetter.Total)
		require.Len(t, v.DeadLetter.Reasons, 2)
		assert.Equal(t, "east_only_reason", v.DeadLetter.Reasons[0].Reason)
		assert.InDelta(t, 0, *v.DeadLetter.Reasons[0].PerS, 1e-9)
		assert.InDelta(t, 9, *v.DeadLetter.Reasons[1].PerS, 1e-9)
		b, _ := json.Marshal(v)
		for _, leak := range []string{"west", "invalid_argument", "too_large", "4242"} {
			assert.NotContains(t, string(b), leak)
		}

		// A tenant without dead letters gets zeros, not another's figures.
		v = buildAppliance(snaps, disk, errText, "north", true, s.interval, time.Now())
		assert.Equal(t, deadLetterView{Reasons: []deadLetterCause{}}, v.DeadLetter)
	})
}

// The dead letter of kafka_alerts (raw error spans Kafka refused) and of
// the victoriametrics exporter's remote mode (data points the server
// refused) show as reasons prefixed with their exporter, per tenant only.
func TestApplianceDeadLetterOfEveryExporter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		kafka := ExposedName(kafkaalertexporter.MetricDeadLetterSpans, true)
		vm := ExposedName(vmexporter.MetricRemoteDeadLetterPoints, true)
		s := &scraper{interval: 5 * time.Second, paths: func() []string { return nil },
			fetch: func(context.Context) (io.ReadCloser, error) {
				sec := int64(time.Since(start) / time.Second)
				return io.NopCloser(strings.NewReader(fmt.Sprintf(`# TYPE %[1]s counter
%[1]s{reason="too_large",tenant="west"} %[3]d
%[1]s{reason="too_large",tenant="east"} 999
# TYPE %[2]s counter
%[2]s{reason="refused",tenant="west"} %[4]d
otelcol_process_uptime %[5]d
`, kafka, vm, sec, 10*sec, sec))), nil
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.run(ctx) }()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		snaps, disk, errText := s.state()
		v := buildAppliance(snaps, disk, errText, "west", true, s.interval, time.Now())
		require.Len(t, v.DeadLetter.Reasons, 2)
		assert.Equal(t, "kafka_alerts: too_large", v.DeadLetter.Reasons[0].Reason)
		assert.InDelta(t, 1, *v.DeadLetter.Reasons[0].PerS, 1e-9)
		assert.Equal(t, "victoriametrics: refused", v.DeadLetter.Reasons[1].Reason)
		assert.InDelta(t, 10, *v.DeadLetter.Reasons[1].PerS, 1e-9)
		b, _ := json.Marshal(v)
		assert.NotContains(t, string(b), "999", "east's dead letter in west's answer")
	})
}
