package errorfanoutconnector

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// statusHost records the component status events reported to it.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []componentstatus.Status
	for _, ev := range h.events {
		out = append(out, ev.Status())
	}
	return out
}

// Inside the disk reserve the history write is refused with a retryable
// error, reported as a recoverable status and counted; alerts keep flowing,
// the history stays in memory, and once space returns it is written on its
// own and the status is OK again. The process never exits.
func TestHistoryDiskReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := testConfig()
		cfg.History.Directory = dir
		cfg.History.DiskReserve = diskreserve.Config{Bytes: 64 << 20}
		tel := componenttest.NewTelemetry()
		defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
		tc, _ := newTracesInstanceWith(t, cfg, tel.NewTelemetrySettings())
		host := &statusHost{Host: componenttest.NewNopHost()}
		require.NoError(t, tc.Start(context.Background(), host))
		co := tc.(*tracesConnector).shared.Value()

		var free atomic.Uint64
		free.Store(1 << 20) // 1 MiB free: inside the 64 MiB reserve
		co.hist.mu.Lock()
		co.hist.store.guard = diskreserve.NewWithStat(dir, cfg.History.DiskReserve, func(string) (uint64, uint64, error) {
			return free.Load(), 1 << 30, nil
		})
		co.hist.mu.Unlock()

		// The write error itself: retryable, never permanent.
		err := co.hist.record(histEvent(9, "t9", "svc", StateFiring))
		require.Error(t, err)
		assert.ErrorIs(t, err, diskreserve.ErrFull)
		assert.False(t, consumererror.IsPermanent(err))
		assert.Contains(t, err.Error(), filepath.Join(dir, historyLogName), "the error says where")

		// An alert fires while the disk is full: the traces are accepted and
		// routed, the history keeps it in memory.
		require.NoError(t, tc.ConsumeTraces(context.Background(), makeTraces("t1", "svc", 100, 50)))
		synctest.Wait()
		require.Len(t, co.hist.forTenant("t1"), 1)
		assert.True(t, co.hist.unsaved())
		onDisk := func() int {
			b, err := os.ReadFile(filepath.Join(dir, historyLogName))
			if err != nil {
				return 0
			}
			events, damaged, _ := decodeJournal(b)
			assert.Empty(t, damaged, "a refused write leaves no torn record")
			return len(events)
		}
		assert.Zero(t, onDisk())
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
		failures := func() int64 {
			m, err := tel.GetMetric(MetricHistoryWriteFailures)
			if err != nil {
				return 0
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if v, _ := dp.Attributes.Value(attribute.Key("reason")); v.AsString() == "disk_reserve" {
					return dp.Value
				}
			}
			return 0
		}
		assert.GreaterOrEqual(t, failures(), int64(1))

		// Still full one interval later: retried, still refused, status unchanged.
		time.Sleep(cfg.evalInterval())
		synctest.Wait()
		assert.True(t, co.hist.unsaved())
		assert.Len(t, host.statuses(), 1)

		// Space returns: the next interval writes everything, status OK.
		free.Store(512 << 20)
		time.Sleep(cfg.evalInterval())
		synctest.Wait()
		assert.False(t, co.hist.unsaved())
		assert.Equal(t, 2, onDisk(), "the event of t9 and the alert of t1")
		assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
		require.NoError(t, tc.Shutdown(context.Background()))
	})
}
