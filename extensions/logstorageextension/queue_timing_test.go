package logstorageextension

import (
	"context"
	"syscall"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkPersistentQueue puts 100-span requests through exporterhelper's
// persistent queue (one consumer delivering to a no-op sink) on log_storage
// and, as the baseline of the same run, on file_storage with fsync: the
// price of "acknowledged ⇒ on disk" per request. Parallel senders, as
// receivers are.
func BenchmarkPersistentQueue(b *testing.B) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 100 {
		s := ss.AppendEmpty()
		s.SetName("modbus-read")
		s.SetTraceID(pcommon.TraceID{byte(i), 1})
		s.SetSpanID(pcommon.SpanID{byte(i), 2})
		s.Attributes().PutStr("pad", "0123456789abcdef0123456789abcdef0123456789abcdef")
	}
	for _, kind := range []string{"log_storage", "file_storage_fsync"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var ext component.Component
			var err error
			id := component.MustNewID("store")
			if kind == "log_storage" {
				ext, err = NewFactory().Create(ctx, extensiontest.NewNopSettings(Type), testConfig(dir))
			} else {
				f := filestorage.NewFactory()
				cfg := f.CreateDefaultConfig().(*filestorage.Config)
				cfg.Directory = dir
				cfg.FSync = true
				ext, err = f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
			}
			if err != nil {
				b.Fatal(err)
			}
			host := hostWith{id: ext}
			if err := ext.Start(ctx, host); err != nil {
				b.Fatal(err)
			}
			qcfg := exporterhelper.NewDefaultQueueConfig()
			qcfg.StorageID = &id
			qcfg.Batch = configoptional.None[exporterhelper.BatchConfig]()
			qcfg.QueueSize = 1 << 20
			set := exportertest.NewNopSettings(component.MustNewType("bench"))
			exp, err := exporterhelper.NewTraces(ctx, set, &struct{}{}, func(context.Context, ptrace.Traces) error { return nil },
				exporterhelper.WithQueue(configoptional.Some(qcfg)))
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(ctx, host); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(4)
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := exp.ConsumeTraces(ctx, td); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			_ = exp.Shutdown(ctx)
			_ = ext.Shutdown(ctx)
		})
	}
}

// processCPU is the process's user+system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
