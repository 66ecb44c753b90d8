package errorfanoutconnector_test

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/tenants"
)

const benchKeys = 10000

// benchRequest is one OTLP request of 20 spans (no errors) for key i:
// 100 tenants x 100 services.
func benchRequest(i, spans, errs int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	tenants.SetOnResource(rs.Resource(), "tenant-"+strconv.Itoa(i/100))
	rs.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(i%100))
	rs.Resource().Attributes().PutStr("scada.station", "st-"+strconv.Itoa(i))
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for j := 0; j < spans; j++ {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(j), 1})
		s.SetSpanID(pcommon.SpanID{byte(j), 2})
		s.SetName("modbus-read")
		s.Attributes().PutInt("modbus.unit", int64(j))
		if j < errs {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// passThrough is the baseline connector: it forwards every request to store.
type passThrough struct{ next consumer.Traces }

func (passThrough) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (p passThrough) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.next.ConsumeTraces(ctx, td)
}

func newErrorfanout(b *testing.B, name string, logs consumer.Logs) (consumer.Traces, func()) {
	f := errorfanoutconnector.NewFactory()
	cfg := f.CreateDefaultConfig().(*errorfanoutconnector.Config)
	cfg.MaxKeys = 2 * benchKeys
	router := connector.NewTracesRouter(map[pipeline.ID]consumer.Traces{
		pipeline.NewIDWithName(pipeline.SignalTraces, "store"): consumertest.NewNop(),
		pipeline.NewIDWithName(pipeline.SignalTraces, "alert"): consumertest.NewNop(),
	})
	set := connectortest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), name)
	ctx := context.Background()
	tc, err := f.CreateTracesToTraces(ctx, set, cfg, router)
	require.NoError(b, err)
	comps := []component.Component{tc}
	if logs != nil {
		lc, err := f.CreateTracesToLogs(ctx, set, cfg, logs)
		require.NoError(b, err)
		comps = append(comps, lc)
	}
	for _, c := range comps {
		require.NoError(b, c.Start(ctx, componenttest.NewNopHost()))
	}
	return tc, func() {
		for _, c := range comps {
			require.NoError(b, c.Shutdown(ctx))
		}
	}
}

// The pipeline part a request always pays: OTLP protobuf decoding (as the
// receiver does), then the connector, into a no-op store.
// With auth, the receiver's context already carries the tenant (tenantauth);
// without, the connector has to add it to what it emits.
func benchPipeline(b *testing.B, next consumer.Traces, auth bool) {
	ctxs := make([]context.Context, benchKeys/100)
	for i := range ctxs {
		ctxs[i] = context.Background()
		if auth {
			ctxs[i] = tenants.NewContext(ctxs[i], "tenant-"+strconv.Itoa(i))
		}
	}
	bodies := make([][]byte, benchKeys)
	for i := range bodies {
		body, err := ptraceotlp.NewExportRequestFromTraces(benchRequest(i, 20, 0)).MarshalProto()
		require.NoError(b, err)
		bodies[i] = body
	}
	ctx := context.Background()
	// Every key active before timing starts.
	for i := range bodies {
		req := ptraceotlp.NewExportRequest()
		require.NoError(b, req.UnmarshalProto(bodies[i]))
		require.NoError(b, next.ConsumeTraces(ctx, req.Traces()))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(bodies[0])))
	runtime.GC()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(bodies[i%benchKeys]); err != nil {
			b.Fatal(err)
		}
		if err := next.ConsumeTraces(ctxs[(i%benchKeys)/100], req.Traces()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "spans/s")
	// CPU time of the whole process (this goroutine and the GC workers) per
	// request: on a shared machine it moves much less than wall time when
	// other jobs compete for the cores.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user+system CPU time of this process, in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkPipelinePassThrough(b *testing.B) {
	benchPipeline(b, passThrough{next: consumertest.NewNop()}, false)
}

func BenchmarkPipelineErrorfanout10kKeys(b *testing.B) {
	c, stop := newErrorfanout(b, "bench", nil)
	defer stop()
	benchPipeline(b, c, false)
}

func BenchmarkPipelinePassThroughAuthCtx(b *testing.B) {
	benchPipeline(b, passThrough{next: consumertest.NewNop()}, true)
}

func BenchmarkPipelineErrorfanout10kKeysAuthCtx(b *testing.B) {
	c, stop := newErrorfanout(b, "bench-auth", nil)
	defer stop()
	benchPipeline(b, c, true)
}

// BenchmarkAlertPath measures, per alert, the time from the request that
// crosses the threshold entering the connector to the record being read by
// a sarama consumer from a kfake broker, through the kafka_alerts exporter
// with a file_storage (fsync) persistent queue. Firing is decided on the
// ingest path, so no evaluation interval is involved.
func BenchmarkAlertPath(b *testing.B) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "scada.alerts"))
	require.NoError(b, err)
	defer kc.Close()
	ctx := context.Background()

	sf := filestorage.NewFactory()
	scfg := sf.CreateDefaultConfig().(*filestorage.Config)
	scfg.Directory = b.TempDir()
	scfg.FSync = true
	sid := component.MustNewID("file_storage")
	sset := extensiontest.NewNopSettings(sf.Type())
	sset.ID = sid
	storage, err := sf.Create(ctx, sset, scfg)
	require.NoError(b, err)
	require.NoError(b, storage.Start(ctx, componenttest.NewNopHost()))
	defer storage.Shutdown(ctx)

	ef := kafkaalertexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig().(*kafkaalertexporter.Config)
	ecfg.Brokers = kc.ListenAddrs()
	ecfg.SendingQueue.Get().StorageID = &sid
	eset := exportertest.NewNopSettings(ef.Type())
	eset.ID = component.NewID(ef.Type())
	exp, err := ef.CreateLogs(ctx, eset, ecfg)
	require.NoError(b, err)
	require.NoError(b, exp.Start(ctx, hostWith{sid: storage}))
	defer exp.Shutdown(ctx)

	c, stop := newErrorfanout(b, "alertpath", exp)
	defer stop()

	sc := sarama.NewConfig()
	sc.Consumer.MaxWaitTime = 5 * time.Millisecond
	cons, err := sarama.NewConsumer(kc.ListenAddrs(), sc)
	require.NoError(b, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.alerts", 0, sarama.OffsetNewest)
	require.NoError(b, err)
	defer pc.Close()

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		td := benchRequest(benchKeys+i, 100, 50) // a new key, 50 % errors: fires on this request
		start := time.Now()
		if err := c.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		select {
		case <-pc.Messages():
		case <-time.After(10 * time.Second):
			b.Fatal("no alert record within 10 s")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }
