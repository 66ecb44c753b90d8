//go:build e2e

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"go.etcd.io/bbolt"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestDamagedQueueFileStartsAndKeepsTheRest: the data directory holds an
// earlier release's bbolt queue file cut short (it used to crash the process
// on every start): the appliance starts and moves it aside. Traces are
// queued while Jaeger is down; the appliance stops; 64 bytes in the middle
// of the queue's segment file and its last 10 bytes are overwritten. The
// appliance must start again, name the damaged file and byte range in its
// log, and deliver every trace whose record was not touched.
func TestDamagedQueueFileStartsAndKeepsTheRest(t *testing.T) {
	jaeger := e2e.StartJaegerIn(t, t.TempDir())
	if code, _ := jaeger.Stop(t); code != 0 {
		t.Fatalf("jaeger exit %d", code)
	}
	env := newApplianceEnv(t)
	dataDir := t.TempDir()
	// An earlier release's file_storage queue, cut short: bbolt would fault
	// inside its memory map on every start.
	oldQueue := filepath.Join(dataDir, "queue", "exporter_otlp_grpc_jaeger_traces")
	if err := os.MkdirAll(filepath.Dir(oldQueue), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldQueue, truncatedBolt(t), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := env.vars(jaeger, dataDir, "127.0.0.1:1")
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, vars...)
	if m, _ := filepath.Glob(oldQueue + ".damaged-*"); len(m) != 1 {
		t.Errorf("the truncated file_storage queue was not moved aside")
	}
	if !strings.Contains(app.Output(), oldQueue) {
		t.Errorf("the log does not name %s", oldQueue)
	}

	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)
	var acked []pcommon.TraceID
	for r := range 200 {
		td, ids := backlogRequest(3, r, strings.Repeat("q", 300))
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, ids...)
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	segs, _ := filepath.Glob(filepath.Join(dataDir, "queue-log", "exporter_durable_otlp_jaeger_traces", "seg-*.log"))
	var seg string
	var size int64
	for _, s := range segs {
		if st, _ := os.Stat(s); st.Size() > size {
			seg, size = s, st.Size()
		}
	}
	if seg == "" {
		t.Fatalf("no queue segment in %v", segs)
	}
	b, _ := os.ReadFile(seg)
	copy(b[len(b)/2:], bytes.Repeat([]byte{0xEE}, 64))
	copy(b[len(b)-10:], bytes.Repeat([]byte{0xEE}, 10))
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	jaeger.Restart(t)
	app = e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, vars...)
	found := 0
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		found = 0
		for _, id := range acked {
			var body jaegerTraces
			if tryGetJSON(jaeger.QueryURL+"/api/traces/"+id.String(), &body, "") == nil && len(body.Data) == 1 {
				found++
			}
		}
		if found >= len(acked)-30 { // at most the requests the damage touched (3 of 200, 10 traces each)
			break
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("%d of %d acknowledged traces delivered after the damage", found, len(acked))
	if found < len(acked)-30 {
		t.Errorf("only %d of %d traces delivered: more was lost than the damaged records", found, len(acked))
	}
	log := app.Output()
	if !strings.Contains(log, filepath.Base(seg)) || !strings.Contains(log, "damaged") {
		t.Errorf("the log does not name the damaged segment %s:\n%s", seg, log)
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// truncatedBolt is a real bbolt queue file (file_storage's layout) cut to a
// third of its size.
func truncatedBolt(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("default"))
		if err != nil {
			return err
		}
		for i := range 3000 {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, make([]byte, 700)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	data, _ := os.ReadFile(path)
	return data[:len(data)/3]
}
