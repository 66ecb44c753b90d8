package groupcommitprocessor

import (
	"context"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/scadaotel/scadaotel/extensions/logstorageextension"
	"github.com/scadaotel/scadaotel/tenants"
)

type extHost map[component.ID]component.Component

func (h extHost) GetExtensions() map[component.ID]component.Component { return h }

// BenchmarkOnLogStorage: 16 parallel senders of 100-span requests into a
// persistent queue on log_storage, with and without groupcommit in front,
// in the same run. Whether the storage makes groupcommit pointless: the
// queue holds its lock across each put, so without groupcommit every
// request waits for its own fdatasync in turn.
func BenchmarkOnLogStorage(b *testing.B) {
	for _, withGC := range []bool{false, true} {
		name := "queue_only"
		if withGC {
			name = "groupcommit_then_queue"
		}
		b.Run(name, func(b *testing.B) {
			ctx := tenants.NewContext(context.Background(), "west-pipeline-01")
			f := logstorageextension.NewFactory()
			cfg := f.CreateDefaultConfig().(*logstorageextension.Config)
			cfg.Directory = b.TempDir()
			ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
			if err != nil {
				b.Fatal(err)
			}
			id := component.MustNewID("log_storage")
			host := extHost{id: ext}
			if err := ext.Start(ctx, host); err != nil {
				b.Fatal(err)
			}
			qcfg := exporterhelper.NewDefaultQueueConfig()
			qcfg.StorageID = &id
			qcfg.QueueSize = 1 << 20
			exp, err := exporterhelper.NewTraces(ctx, exportertest.NewNopSettings(component.MustNewType("bench")), &struct{}{},
				func(context.Context, ptrace.Traces) error { return nil }, exporterhelper.WithQueue(configoptional.Some(qcfg)))
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(ctx, host); err != nil {
				b.Fatal(err)
			}
			var next consumer.Traces = exp
			if withGC {
				p, err := newProcessor(processortest.NewNopSettings(componentType), createDefaultConfig(), exp)
				if err != nil {
					b.Fatal(err)
				}
				next = p
			}
			td := traces("west-pipeline-01", 100)
			b.ReportAllocs()
			b.SetParallelism(8)
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := ptrace.NewTraces() // groupcommit moves the data it is given
					td.CopyTo(req)
					if err := next.ConsumeTraces(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := (ru1.Utime.Nano() + ru1.Stime.Nano()) - (ru0.Utime.Nano() + ru0.Stime.Nano())
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
			_ = exp.Shutdown(ctx)
			_ = ext.Shutdown(ctx)
		})
	}
}
