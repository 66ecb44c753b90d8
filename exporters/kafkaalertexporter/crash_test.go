//go:build e2e

package kafkaalertexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
)

const (
	crashChildDir    = "KAFKA_ALERTS_CRASH_CHILD_DIR"
	crashChildBroker = "KAFKA_ALERTS_CRASH_CHILD_BROKER"
)

// The appliance is killed (SIGKILL) while the first send of an alert waits
// on a broker that accepted the connection but never answers, with a later
// alert queued behind it. After the restart, against a working broker, the
// records arrive in their original order and once each. (The persistent
// queue alone would put the interrupted request behind the later one.)
func TestCrashDuringFirstSendKeepsOrder(t *testing.T) {
	if dir := os.Getenv(crashChildDir); dir != "" {
		crashChild(t, dir, os.Getenv(crashChildBroker))
		return
	}

	// A broker that accepts and never answers: the first send hangs.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	port := hole.Addr().(*net.TCPAddr).Port

	qdir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringFirstSendKeepsOrder$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildDir+"="+qdir, crashChildBroker+"="+hole.Addr().String())
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
			if sc.Text() == "CRASH-CHILD-READY" {
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
	require.NoError(t, cmd.Process.Kill()) // kill -9: no shutdown hook runs
	_ = cmd.Wait()
	hole.Close()
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()

	// Restart on the same storage; a real broker on the same port.
	var c *kfake.Cluster
	for i := 0; i < 50; i++ {
		if c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "scada.alerts")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	defer c.Close()
	storageID, storage := startStorage(t, qdir)
	cfg := crashConfig(c.ListenAddrs()[0], storageID)
	exp := newExporter(t, cfg, host{ext: map[component.ID]component.Component{storageID: storage}})

	got := consumeAll(t, c.ListenAddrs(), "scada.alerts", 3, 5*time.Second)
	var ids []string
	for _, m := range got {
		var rec Record
		require.NoError(t, json.Unmarshal(m.Value, &rec))
		ids = append(ids, rec.AlertID+"/"+rec.State)
	}
	assert.Equal(t, []string{fmt.Sprintf("%032x/firing", 1), fmt.Sprintf("%032x/firing", 2)}, ids, "in order, once each")
	ctx := context.Background()
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, storage.Shutdown(ctx))
}

// crashChild runs in the child process: alert 1 is being sent (hanging),
// alert 2 waits in the queue; then it waits to be killed.
func crashChild(t *testing.T, dir, broker string) {
	storageID, storage := startStorage(t, dir)
	exp := newExporter(t, crashConfig(broker, storageID), host{ext: map[component.ID]component.Component{storageID: storage}})
	e := exp.(*logsExporter).e
	ctx := context.Background()
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(1, "west-pipeline-01", "svc-1", "firing"))))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := e.inFlight(); n > 0 {
			break // alert 1 is in its first send
		}
		require.True(t, time.Now().Before(deadline), "alert 1 never left the queue")
		time.Sleep(10 * time.Millisecond)
	}
	for {
		b, err := e.store.Get(ctx, headKey("west-pipeline-01"))
		require.NoError(t, err)
		if len(b) > 0 {
			break // alert 1 is saved as the head before its first send
		}
		require.True(t, time.Now().Before(deadline), "alert 1 was not saved as the head before its first send")
		time.Sleep(10 * time.Millisecond)
	}
	// Enqueued (persisted) when ConsumeLogs returns.
	require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(2, "west-pipeline-01", "svc-2", "firing"))))
	fmt.Println("CRASH-CHILD-READY")
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}
