// Package pebblebench measures the alternative the log_storage extension
// was chosen over: the same storage.Client contract on
// github.com/cockroachdb/pebble/v2 (Sync commits for batches that add a key,
// NoSync for the rest; pebble's commit pipeline group-commits Sync writes),
// against log_storage, through exporterhelper's persistent queue in the same
// run. A separate module so the appliance does not depend on pebble.
//
//	cd tools/pebblebench && go test -run xxx -bench . -benchtime 3s -count 3
package pebblebench

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/extensions/logstorageextension"
)

type pebbleClient struct{ db *pebble.DB }

func (c *pebbleClient) Get(_ context.Context, key string) ([]byte, error) {
	v, closer, err := c.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

func (c *pebbleClient) Set(ctx context.Context, k string, v []byte) error {
	return c.Batch(ctx, storage.SetOperation(k, v))
}

func (c *pebbleClient) Delete(ctx context.Context, k string) error {
	return c.Batch(ctx, storage.DeleteOperation(k))
}

// Batch: one pebble batch; Sync when it adds a key (a queue item).
func (c *pebbleClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	b := c.db.NewBatch()
	defer b.Close()
	adds := false
	for _, o := range ops {
		switch o.Type {
		case storage.Set:
			if !adds {
				if _, closer, err := c.db.Get([]byte(o.Key)); errors.Is(err, pebble.ErrNotFound) {
					adds = true
				} else if err == nil {
					closer.Close()
				}
			}
			if err := b.Set([]byte(o.Key), o.Value, nil); err != nil {
				return err
			}
		case storage.Delete:
			if err := b.Delete([]byte(o.Key), nil); err != nil {
				return err
			}
		}
	}
	opts := pebble.NoSync
	if adds {
		opts = pebble.Sync
	}
	if b.Count() > 0 {
		if err := b.Commit(opts); err != nil {
			return err
		}
	}
	for _, o := range ops {
		if o.Type == storage.Get {
			v, err := c.Get(ctx, o.Key)
			if err != nil {
				return err
			}
			o.Value = v
		}
	}
	return nil
}

func (c *pebbleClient) Close(context.Context) error { return nil }

type pebbleExt struct {
	extension.Extension
	db *pebble.DB
}

func (p *pebbleExt) Start(context.Context, component.Host) error { return nil }
func (p *pebbleExt) Shutdown(context.Context) error              { return p.db.Close() }
func (p *pebbleExt) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return &pebbleClient{db: p.db}, nil
}

type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

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
	for _, kind := range []string{"log_storage", "pebble"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			id := component.MustNewID("store")
			var ext component.Component
			if kind == "pebble" {
				db, err := pebble.Open(dir, &pebble.Options{})
				if err != nil {
					b.Fatal(err)
				}
				ext = &pebbleExt{db: db}
			} else {
				f := logstorageextension.NewFactory()
				cfg := f.CreateDefaultConfig().(*logstorageextension.Config)
				cfg.Directory = dir
				var err error
				if ext, err = f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg); err != nil {
					b.Fatal(err)
				}
			}
			h := host{id: ext}
			if err := ext.Start(ctx, h); err != nil {
				b.Fatal(err)
			}
			qcfg := exporterhelper.NewDefaultQueueConfig()
			qcfg.StorageID = &id
			qcfg.Batch = configoptional.None[exporterhelper.BatchConfig]()
			qcfg.QueueSize = 1 << 20
			exp, err := exporterhelper.NewTraces(ctx, exportertest.NewNopSettings(component.MustNewType("bench")), &struct{}{},
				func(context.Context, ptrace.Traces) error { return nil }, exporterhelper.WithQueue(configoptional.Some(qcfg)))
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(ctx, h); err != nil {
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
