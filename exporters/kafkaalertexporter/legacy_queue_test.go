//go:build e2e

package kafkaalertexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
)

const legacyQueueChildDir = "KAFKA_ALERTS_LEGACY_QUEUE_CHILD_DIR"

// An earlier release put alert requests in a sending queue in front of a
// single head. A data directory it left with requests in that queue (one
// handed over, in the head and hanging on Kafka, two waiting; then kill -9:
// the queue puts the first back at its tail) drains after the upgrade:
// every record reaches Kafka once, each tenant's in the order queued.
func TestEarlierReleaseQueueDrains(t *testing.T) {
	if dir := os.Getenv(legacyQueueChildDir); dir != "" {
		legacyQueueChild(t, dir)
		return
	}
	qdir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEarlierReleaseQueueDrains$", "-test.v")
	cmd.Env = append(os.Environ(), legacyQueueChildDir+"="+qdir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if sc.Text() == "LEGACY-QUEUE-CHILD-READY" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the child did not get ready; its output:\n%s", log.String())
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts"))
	require.NoError(t, err)
	defer c.Close()
	storageID, st := startStorage(t, qdir)
	exp := newExporter(t, crashConfig(c.ListenAddrs()[0], storageID), host{ext: map[component.ID]component.Component{storageID: st}})
	got := map[string][]string{}
	for _, m := range consumeAll(t, c.ListenAddrs(), "scada.alerts", 4, 10*time.Second) {
		var rec Record
		require.NoError(t, json.Unmarshal(m.Value, &rec))
		got[rec.Tenant] = append(got[rec.Tenant], rec.dedupKey())
	}
	assert.Equal(t, map[string][]string{
		"west-pipeline-01": {fmt.Sprintf("%032x/firing", 1), fmt.Sprintf("%032x/firing", 3)},
		"east-pipeline-02": {fmt.Sprintf("%032x/firing", 2)},
	}, got, "once each, each tenant's in the order queued (no order is promised between tenants)")
	ctx := context.Background()
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, st.Shutdown(ctx))
}

// legacyQueueChild queues three requests the way an earlier release did:
// a persistent sending queue whose consumer hangs on the first.
func legacyQueueChild(t *testing.T, dir string) {
	ctx := context.Background()
	storageID, st := startStorage(t, dir)
	cfg := crashConfig("127.0.0.1:1", storageID)
	set := exportertest.NewNopSettings(componentType)
	set.ID = component.NewID(componentType)
	head, err := st.(storage.Extension).GetClient(ctx, component.KindExporter, set.ID, "alerts_head")
	require.NoError(t, err)
	handed := make(chan struct{}, 3)
	// As that release did: the request handed over joins the single head
	// on disk, then its delivery hangs.
	hang := func(ctx context.Context, ld plog.Logs) error {
		recs, _, err := recordsFromLogs(ld, "")
		require.NoError(t, err)
		b, err := encodeHead(recs, nil)
		require.NoError(t, err)
		require.NoError(t, head.Set(ctx, legacyHeadKey, b))
		handed <- struct{}{}
		select {} // Kafka never answers; killed long before
	}
	exp, err := exporterhelper.NewLogs(ctx, set, cfg, hang, exporterhelper.WithQueue(cfg.SendingQueue))
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host{ext: map[component.ID]component.Component{storageID: st}}))
	for i, tn := range []string{"west-pipeline-01", "east-pipeline-02", "west-pipeline-01"} {
		require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(i+1, tn, fmt.Sprintf("svc-%d", i+1), errorfanoutconnector.StateFiring))))
	}
	<-handed
	fmt.Println("LEGACY-QUEUE-CHILD-READY")
	time.Sleep(time.Minute)
	t.Fatal("not killed")
}
