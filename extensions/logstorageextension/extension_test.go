package logstorageextension

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

func startExtension(t *testing.T, cfg *Config) *logStorage {
	t.Helper()
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return ext.(*logStorage)
}

func testConfig(dir string) *Config {
	c := createDefaultConfig().(*Config)
	c.Directory = dir
	return c
}

// exporterhelper's own persistent queue on log_storage: what is queued
// while the destination fails comes out after a restart, all of it, once.
func TestExporterhelperQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	storageID := component.MustNewID("log_storage")
	ctx := context.Background()
	start := func(push func(context.Context, ptrace.Traces) error) (exporter.Traces, *logStorage) {
		ext := startExtension(t, testConfig(dir))
		qcfg := exporterhelper.NewDefaultQueueConfig()
		qcfg.StorageID = &storageID
		qcfg.Batch = configoptional.None[exporterhelper.BatchConfig]()
		retry := configretry.NewDefaultBackOffConfig()
		retry.InitialInterval = 10 * time.Millisecond
		retry.MaxElapsedTime = 0
		set := exportertest.NewNopSettings(component.MustNewType("test"))
		set.ID = component.MustNewIDWithName("test", "restart") // the same queue after the restart
		exp, err := exporterhelper.NewTraces(ctx, set, &struct{}{}, push,
			exporterhelper.WithQueue(configoptional.Some(qcfg)), exporterhelper.WithRetry(retry))
		if err != nil {
			t.Fatal(err)
		}
		if err := exp.Start(ctx, hostWith{storageID: ext}); err != nil {
			t.Fatal(err)
		}
		return exp, ext
	}
	down := func(context.Context, ptrace.Traces) error { return errors.New("destination down") }
	exp, ext := start(down)
	for i := range 200 {
		td := ptrace.NewTraces()
		td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName(itemKey(i))
		if err := exp.ConsumeTraces(ctx, td); err != nil {
			t.Fatal(err)
		}
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ext.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	sink := new(consumertest.TracesSink)
	exp, ext = start(sink.ConsumeTraces)
	deadline := time.Now().Add(10 * time.Second)
	for sink.SpanCount() < 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, td := range sink.AllTraces() {
		seen[td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name()]++
	}
	if len(seen) != 200 {
		t.Fatalf("%d of 200 queued requests came out after the restart", len(seen))
	}
	_ = exp.Shutdown(ctx)
	_ = ext.Shutdown(ctx)
}

func TestReadmeExamples(t *testing.T) {
	readmeconfig.Check(t, "README.md", "extensions", "log_storage", createDefaultConfig)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for key, c := range map[string]*Config{
		"directory":     {SegmentSize: 1 << 20, SyncInterval: time.Second, CompactBelow: 0.5},
		"segment_size":  {Directory: "d", SegmentSize: 10, SyncInterval: time.Second, CompactBelow: 0.5},
		"sync_interval": {Directory: "d", SegmentSize: 1 << 20, CompactBelow: 0.5},
		"compact_below": {Directory: "d", SegmentSize: 1 << 20, SyncInterval: time.Second, CompactBelow: 1},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func boltQueueFile(t *testing.T, path string, n int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(fileStorageBucket)
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put([]byte(itemKey(i)), make([]byte, 1000+i)); err != nil {
				return err
			}
		}
		return b.Put([]byte("qmv0"), []byte("metadata"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMigratesAFileStorageQueue(t *testing.T) {
	old := t.TempDir()
	id := component.MustNewIDWithName("durable_otlp", "jaeger")
	name := "exporter_otlp_grpc_jaeger_traces" // the exporter changed type
	boltQueueFile(t, filepath.Join(old, name), 300)
	cfg := testConfig(t.TempDir())
	cfg.MigrateFrom = Migration{Directory: old, Clients: map[string]string{clientName(component.KindExporter, id, "traces"): name}}
	ext := startExtension(t, cfg)
	c, err := ext.GetClient(context.Background(), component.KindExporter, id, "traces")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if v, _ := c.Get(context.Background(), itemKey(i)); len(v) != 1000+i {
			t.Fatalf("item %d not imported", i)
		}
	}
	if v, _ := c.Get(context.Background(), "qmv0"); string(v) != "metadata" {
		t.Fatal("metadata not imported")
	}
	if _, err := os.Stat(filepath.Join(old, name+".migrated")); err != nil {
		t.Fatal("old file not renamed .migrated")
	}
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A truncated file_storage queue file made bbolt fault on every start. It is moved aside, named in the log, and the storage starts.
func TestTruncatedFileStorageQueueIsMovedAsideNotOpened(t *testing.T) {
	old := t.TempDir()
	id := component.MustNewIDWithName("durable_otlp", "jaeger")
	path := filepath.Join(old, clientName(component.KindExporter, id, "traces"))
	boltQueueFile(t, path, 3000)
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()/3); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.MigrateFrom = Migration{Directory: old}
	ext := startExtension(t, cfg)
	c, err := ext.GetClient(context.Background(), component.KindExporter, id, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(context.Background(), "new", []byte("item")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 1 {
		t.Fatalf("truncated file not moved aside: %v", m)
	}
	_ = ext.Shutdown(context.Background())
}

var _ extension.Extension = (*logStorage)(nil)
