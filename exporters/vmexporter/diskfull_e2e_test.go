//go:build e2e

package vmexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// smallVolume mounts a tmpfs of size MiB on a fresh directory (unmounted at
// the end of the test), or skips saying why it cannot.
func smallVolume(t *testing.T, mib int) string {
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %d MiB tmpfs at %s to fill a real volume (needs root and mount(8)): %v: %s", mib, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, path string) uint64 {
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(path, &st))
	return st.Bavail * uint64(st.Bsize)
}

// fillTo writes a new ballast file until the volume has about leave bytes
// free (0: full).
func fillTo(t *testing.T, dir string, leave uint64) string {
	f, err := os.CreateTemp(dir, "ballast-")
	require.NoError(t, err)
	path := f.Name()
	defer f.Close()
	chunk := make([]byte, 256<<10)
	for free := freeBytes(t, dir); free > leave; free = freeBytes(t, dir) {
		n := min(uint64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			require.ErrorIs(t, err, unix.ENOSPC)
			break
		}
	}
	return path
}

// seriesBatch is one batch of one series fill_test{batch="<id>"} with n
// samples, all at distinct timestamps.
func seriesBatch(id, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), "acme")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("fill_test")
	dps := g.SetEmptyGauge().DataPoints()
	for i := 0; i < n; i++ {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(ts(time.Duration(i) * 10 * time.Millisecond))
		dp.SetDoubleValue(float64(i))
		dp.Attributes().PutStr("batch", fmt.Sprint(id))
	}
	return md
}

// TestE2EDiskFullRefusesStaysUpAndResumes fills a real 64 MiB volume under
// the embedded storage: the exporter refuses with a retryable error and
// reports a recoverable status, the in-process storage survives (a FATAL
// in VictoriaMetrics would end this test binary), a restart on the full
// volume starts and refuses, a shutdown at 0 bytes free does not die, and
// once space is freed writes are accepted again without a restart and every
// acknowledged sample is queryable.
func TestE2EDiskFullRefusesStaysUpAndResumes(t *testing.T) {
	vol := smallVolume(t, 64)
	cfg := testConfig(t, filepath.Join(vol, "metrics"))
	cfg.WAL.CheckpointInterval = time.Second // checkpoints run while full too
	const samples = 2000
	acked := map[int]bool{}
	refused := map[int]bool{}
	next := 0
	push := func(exp exporter.Metrics) error {
		id := next
		next++
		err := exp.ConsumeMetrics(context.Background(), seriesBatch(id, samples))
		if err == nil {
			acked[id] = true
		} else {
			refused[id] = true
		}
		return err
	}
	start := func() (exporter.Metrics, *statusHost) {
		set, _, _ := telemetry(t)
		host := newStatusHost()
		exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		return exp, host
	}

	exp, host := start()
	for i := 0; i < 30; i++ {
		require.NoError(t, push(exp))
	}
	reserve := diskreserve.New(vol, cfg.DiskReserve).Status().Reserve
	require.Equal(t, uint64(diskreserve.DefaultMinBytes), reserve, "64 MiB volume: the 16 MiB floor")

	// Inside the reserve, 6 MiB above empty.
	ballast := fillTo(t, vol, 6<<20)
	time.Sleep(300 * time.Millisecond)          // the guard trusts a reading 250 ms
	deadline := time.Now().Add(7 * time.Second) // past the storage's 5 s in-memory flush and several checkpoints
	for time.Now().Before(deadline) {
		err := push(exp)
		require.Error(t, err, "free %d bytes, reserve %d", freeBytes(t, vol), reserve)
		require.False(t, consumererror.IsPermanent(err), "retryable: %v", err)
		require.True(t, errors.Is(err, diskreserve.ErrFull), "%v", err)
		time.Sleep(200 * time.Millisecond)
	}
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last())
	assert.True(t, vmstore.Current().ReadOnly(), "the storage itself is read-only inside the reserve")

	// Something else takes the last byte; a shutdown then must not die on
	// the storage's own writes (it skips them, the WAL keeps the data).
	ballast2 := fillTo(t, vol, 0)
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, os.Remove(ballast2))
	// Stop the storage left running, as the process exit would (back at 6
	// MiB free, where stopping has room for its caches).
	st, err := vmstore.Open(vmstore.Config{Path: filepath.Join(cfg.Directory, "data"), Retention: cfg.Retention})
	require.NoError(t, err)
	st.Close()
	require.Nil(t, vmstore.Current())

	// Restart on the volume still inside its reserve, with a segment a
	// crashed run left behind: the storage opens afresh, the exporter starts
	// and refuses.
	conv, err := newConverter(cfg)
	require.NoError(t, err)
	w, _, err := openWAL(filepath.Join(cfg.Directory, "wal"))
	require.NoError(t, err)
	var b batch
	require.NoError(t, conv.convert(seriesBatch(next, samples), &b))
	require.NoError(t, w.Append(b.payload))
	require.NoError(t, w.Close())
	acked[next] = true
	next++
	exp, host = start()
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last(), "starts refusing, not crashing")
	require.Error(t, push(exp))
	// Queries keep working while full.
	res, err := vmstore.Current().QueryInstant("acme", `count(count_over_time(fill_test[1h]))`, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, 30.0, res[0].Values[0])

	// Space returns: accepted again, without a restart.
	require.NoError(t, os.Remove(ballast))
	start2 := time.Now()
	require.Eventually(t, func() bool { return push(exp) == nil }, 15*time.Second, 200*time.Millisecond)
	t.Logf("accepted again %s after the space was freed", time.Since(start2).Round(time.Millisecond))
	require.Eventually(t, func() bool { return host.last() == componentstatus.StatusOK }, 5*time.Second, 50*time.Millisecond)
	for i := 0; i < 10; i++ {
		require.NoError(t, push(exp))
	}

	// Every acknowledged sample is there, nothing refused is.
	st = vmstore.Current()
	st.Flush()
	res, err = st.QueryInstant("acme", `count_over_time(fill_test[1h])`, t0.Add(time.Minute))
	require.NoError(t, err)
	got := map[int]bool{}
	for _, r := range res {
		var id int
		_, err := fmt.Sscan(r.Labels["batch"], &id)
		require.NoError(t, err)
		assert.Equal(t, float64(samples), r.Values[0], "batch %d", id)
		got[id] = true
	}
	assert.Equal(t, acked, got, "every acknowledged batch, complete; no refused one")
	t.Logf("%d batches acknowledged (%d samples), %d refused while full", len(acked), len(acked)*samples, len(refused))
}

// TestE2EWALWriteENOSPCDoesNotWedge fills a real 8 MiB volume with WAL
// records until a write fails with ENOSPC: that batch is refused, the
// segment is cut back to its last good record, and after space is freed the
// log accepts writes again; every acknowledged record replays intact.
func TestE2EWALWriteENOSPCDoesNotWedge(t *testing.T) {
	vol := smallVolume(t, 8)
	ballast := filepath.Join(vol, "ballast")
	require.NoError(t, os.WriteFile(ballast, make([]byte, 1<<20), 0o600))
	w, _, err := openWAL(filepath.Join(vol, "wal"))
	require.NoError(t, err)
	record := func(i int) []byte {
		p := make([]byte, 100<<10)
		copy(p, fmt.Sprint(i))
		return p
	}
	var acked []int
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		if werr = w.Append(record(i)); werr == nil {
			acked = append(acked, i)
		}
	}
	require.ErrorIs(t, werr, unix.ENOSPC)
	require.Error(t, w.Append(record(1000)), "still full")
	require.NoError(t, os.Remove(ballast))
	require.NoError(t, w.Append(record(2000)), "writes accepted again once space returns")
	acked = append(acked, 2000)
	require.NoError(t, w.Close())

	seqs, err := listSegments(w.dir)
	require.NoError(t, err)
	var got []int
	for _, s := range seqs {
		res, err := readSegment(filepath.Join(w.dir, segmentName(s)), func(p []byte) error {
			var id int
			_, err := fmt.Sscan(string(p[:clen(p)]), &id)
			got = append(got, id)
			return err
		})
		require.NoError(t, err)
		assert.Empty(t, res.Damaged, "segment %d", s)
		assert.Nil(t, res.Torn, "segment %d: cut back to its last good record", s)
	}
	assert.Equal(t, acked, got)
	t.Logf("%d records acknowledged before ENOSPC", len(acked)-1)
}

// clen is the length of the NUL-terminated prefix of p.
func clen(p []byte) int {
	for i, c := range p {
		if c == 0 {
			return i
		}
	}
	return len(p)
}
