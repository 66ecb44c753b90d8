//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// smallVolume mounts a tmpfs of size bytes for the test (root only; the
// machines this project runs its tests on allow it). It fails, never
// skips, when mounting is impossible, naming why.
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("cannot mount a %s tmpfs for the full-disk test (needs root): %v: %s", size, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file until about keep bytes are left free on dir's volume.
func fill(t *testing.T, dir string, keep uint64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free <= keep {
		return ""
	}
	path := filepath.Join(dir, "filler")
	if err := os.WriteFile(path, make([]byte, free-keep), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFullDiskRefusesRetryablyAndHealsWithoutRestart: the whole data
// directory on a 160 MB volume, Jaeger down so the trace queue grows. When
// the volume reaches its reserve the appliance refuses new spans with a
// retryable error, /status says so, the process stays up; when space is
// freed it accepts again by itself, and when Jaeger is back every span it
// acknowledged arrives.
func TestFullDiskRefusesRetryablyAndHealsWithoutRestart(t *testing.T) {
	vol := smallVolume(t, "160m")
	dataDir := filepath.Join(vol, "data")
	jaeger := e2e.StartJaegerIn(t, t.TempDir())
	if code, _ := jaeger.Stop(t); code != 0 {
		t.Fatalf("jaeger exit %d", code)
	}
	env := newApplianceEnv(t)
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, env.vars(jaeger, dataDir, "127.0.0.1:1")...)
	filler := fill(t, vol, 40<<20) // 40 MB left; the reserve of a 160 MB volume is 16 MB

	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)
	pad := strings.Repeat("d", 600)

	var acked []pcommon.TraceID
	send := func(r int) codes.Code {
		td, ids := backlogRequest(7, r, pad)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		if err == nil {
			acked = append(acked, ids...)
		}
		return grpcstatus.Code(err)
	}
	r := 0
	var refusal codes.Code
	for ; r < 20000; r++ {
		if c := send(r); c != codes.OK {
			refusal = c
			break
		}
	}
	t.Logf("%d requests (%d traces) acknowledged before the reserve; then %v", r, len(acked), refusal)
	if refusal != codes.Unavailable && refusal != codes.ResourceExhausted {
		t.Fatalf("refusal on a full disk is %v, want a retryable code (Unavailable)", refusal)
	}
	// It keeps refusing, stays up, and says why in /status.
	for i := range 20 {
		if c := send(r + 1 + i); c == codes.OK {
			t.Fatalf("accepted a request inside the reserve")
		}
	}
	if app.Exited() {
		t.Fatalf("appliance exited on a full disk:\n%s", app.Output())
	}
	var health struct {
		Healthy bool   `json:"healthy"`
		Status  string `json:"status"`
	}
	resp, err := http.Get(app.HealthURL + "?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	b, _ := json.Marshal(health)
	body.Write(b)
	if health.Status != "StatusRecoverableError" {
		t.Errorf("/status while full: %s, want StatusRecoverableError", body)
	}

	// Space comes back: accepted again without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 10*time.Second, func() error {
		if c := send(r + 100); c != codes.OK {
			return grpcstatus.Error(c, "still refused")
		}
		return nil
	})
	// Jaeger back: everything acknowledged arrives.
	jaeger.Restart(t)
	missing := acked
	for deadline := time.Now().Add(2 * time.Minute); len(missing) > 0 && time.Now().Before(deadline); {
		var still []pcommon.TraceID
		for _, id := range missing {
			var b jaegerTraces
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id.String(), &b, ""); err != nil || len(b.Data) != 1 || len(b.Data[0].Spans) < spansPerTrace {
				still = append(still, id)
			}
		}
		missing = still
		if len(missing) > 0 {
			time.Sleep(time.Second)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged traces never reached Jaeger", len(missing), len(acked))
	}
	if strings.Contains(app.Output(), "panic") || strings.Contains(app.Output(), "FATAL") {
		t.Errorf("appliance log has a panic or FATAL:\n%s", app.Output())
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
