package vmexporter

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/vmstore"
)

// statusHost records the component status events the exporter reports (what
// healthcheckv2 would show on /status).
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func newStatusHost() *statusHost { return &statusHost{Host: componenttest.NewNopHost()} }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *statusHost) last() componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return componentstatus.StatusNone
	}
	return h.events[len(h.events)-1].Status()
}

// fakeVolume makes the exporter's reserve guard read free from a variable
// instead of statfs, and returns the guard once the exporter has built it.
type fakeVolume struct {
	free  atomic.Uint64
	guard atomic.Pointer[diskreserve.Guard]
}

func withFakeVolume(t *testing.T, free uint64) *fakeVolume {
	v := &fakeVolume{}
	v.free.Store(free)
	prev := newReserveGuard
	newReserveGuard = func(path string, cfg diskreserve.Config) *diskreserve.Guard {
		g := diskreserve.NewWithStat(path, cfg, func(string) (uint64, uint64, error) { return v.free.Load(), 4 << 30, nil })
		v.guard.Store(g)
		return g
	}
	t.Cleanup(func() { newReserveGuard = prev })
	return v
}

// set changes the free space and makes the next check read it.
func (v *fakeVolume) set(free uint64) {
	v.free.Store(free)
	v.guard.Load().Refresh()
}

func TestDiskReserveRefusesRetryablyReportsStatusAndResumes(t *testing.T) {
	vol := withFakeVolume(t, 1<<30)
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.DiskReserve = diskreserve.Config{Bytes: 64 << 20}
	set, _, reader := telemetry(t)
	host := newStatusHost()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 1)))
	walBefore := walDataBytes(t, filepath.Join(dir, "wal"))

	// Inside the reserve: refused, retryable, nothing written, status
	// recoverable error.
	vol.set(10 << 20)
	for i := 0; i < 3; i++ {
		err = exp.ConsumeMetrics(context.Background(), fixture("acme", 50))
		require.Error(t, err)
		assert.False(t, consumererror.IsPermanent(err), "a full disk is retryable: %v", err)
		assert.True(t, errors.Is(err, diskreserve.ErrFull), "%v", err)
		assert.Contains(t, err.Error(), "below the reserve of 67108864 bytes")
	}
	assert.Equal(t, walBefore, walDataBytes(t, filepath.Join(dir, "wal")), "nothing of a refused batch reaches the WAL")
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last())
	assert.Equal(t, int64(3), counter(t, reader, MetricDiskReserveRefusedBatches))
	assert.Equal(t, int64(1), counter(t, reader, MetricDiskReserveFull))
	assert.Equal(t, int64(10<<20), counter(t, reader, MetricDiskReserveFreeBytes))

	// Space returns: reported OK without any traffic (the checkpoint loop
	// reads the volume every second), then writes are accepted again.
	vol.set(1 << 30)
	require.Eventually(t, func() bool { return host.last() == componentstatus.StatusOK }, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, int64(0), counter(t, reader, MetricDiskReserveFull))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 50)))

	st := vmstore.Current()
	st.Flush()
	res, err := st.QueryInstant("acme", `count_over_time(pipeline_pressure_bar[1h])`, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.Len(t, res, 1)
	// Both accepted batches: 3 samples each at the same timestamps, so
	// they collapse to 3 (dedup); the values are those of the last one.
	assert.Equal(t, 3.0, res[0].Values[0])
	res, err = st.QueryInstant("acme", `pipeline_pressure_bar`, t0.Add(2*time.Second))
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, 52.5, res[0].Values[0], "the batch accepted after recovery is stored")
}

func TestStartsInsideTheReserveAndReplaysWhenSpaceReturns(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.DiskReserve = diskreserve.Config{Bytes: 64 << 20}
	// A previous run acknowledged a batch and died before persisting it.
	conv, err := newConverter(cfg)
	require.NoError(t, err)
	w, _, err := openWAL(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	var b batch
	require.NoError(t, conv.convert(fixture("acme", 1), &b))
	require.NoError(t, w.Append(b.payload))
	require.NoError(t, w.Close())

	vol := withFakeVolume(t, 10<<20) // already inside the reserve
	set, _, _ := telemetry(t)
	host := newStatusHost()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host), "starts on a full volume")
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last())
	err = exp.ConsumeMetrics(context.Background(), fixture("acme", 7))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "not replayed yet")
	assert.Positive(t, walDataBytes(t, filepath.Join(dir, "wal")), "the unreplayed segment is kept")

	st := vmstore.Current()
	count := func() float64 {
		st.Flush()
		res, err := st.QueryInstant("acme", `count_over_time(pipeline_pressure_bar[1h])`, t0.Add(10*time.Second))
		require.NoError(t, err)
		if len(res) == 0 {
			return 0
		}
		return res[0].Values[0]
	}
	assert.Zero(t, count())

	vol.set(1 << 30)
	require.Eventually(t, func() bool { return count() == 3 }, 5*time.Second, 50*time.Millisecond, "replayed once space returned")
	require.Eventually(t, func() bool { return host.last() == componentstatus.StatusOK }, 5*time.Second, 50*time.Millisecond)
	// Accepted again once the replay has finished (the same tick).
	require.Eventually(t, func() bool { return exp.ConsumeMetrics(context.Background(), fixture("acme", 7)) == nil },
		5*time.Second, 50*time.Millisecond)
	assert.Zero(t, walDataBytes(t, filepath.Join(dir, "wal"))-int64(len(b.payload)+recordHeaderSize),
		"the replayed segment is gone; the new one holds the last batch")
}

func TestDiskReserveConfigNamesKeys(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.DiskReserve = diskreserve.Config{Bytes: -1}
	require.ErrorContains(t, cfg.Validate(), "disk_reserve.bytes")
	cfg.DiskReserve = diskreserve.Config{Percent: 80}
	require.ErrorContains(t, cfg.Validate(), "disk_reserve.percent")
}
