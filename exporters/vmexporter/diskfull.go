package vmexporter

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

// The metrics volume's disk reserve: while free space is below it, every new
// batch is refused with a retryable error before anything is written (WAL or
// storage), so VictoriaMetrics, which exits on a failed flush, never runs
// the disk out. The embedded storage is put in read-only mode at the same
// threshold (-storage.minFreeDiskSpaceBytes): it then also stops background
// merges, keeping the reserve for flushing rows it already holds.

// reserveCheckInterval is how often the reserve is read without traffic.
const reserveCheckInterval = time.Second

// newReserveGuard builds the guard of the metrics directory's volume; tests
// replace it with diskreserve.NewWithStat.
var newReserveGuard = diskreserve.New

// storageMinFree is the storage's read-only threshold: the reserve of the
// volume as it is now (the floor of the default reserve when the volume
// cannot be read).
func (e *vmExporter) storageMinFree() int64 {
	if r := e.guard.Status().Reserve; r > 0 {
		return int64(r)
	}
	return diskreserve.DefaultMinBytes
}

// volumeFull is checkReserve without reporting status, on a fresh reading.
func (e *vmExporter) volumeFull() error {
	e.guard.Refresh()
	if err := e.guard.Check(); err != nil {
		return err
	}
	if e.store != nil && e.store.ReadOnly() {
		return fmt.Errorf("%w: the embedded storage at %s is read-only", diskreserve.ErrFull, e.store.Path())
	}
	return nil
}

// checkReserve returns a retryable error (errors.Is diskreserve.ErrFull)
// while the volume is inside its reserve or the storage is read-only, and
// reports every change as component status.
func (e *vmExporter) checkReserve() error {
	err := e.guard.Check()
	if err == nil && e.store != nil && e.store.ReadOnly() {
		err = fmt.Errorf("%w: the embedded storage at %s is read-only (less than %d bytes free); new data is refused until space is freed",
			diskreserve.ErrFull, e.store.Path(), e.storageMinFree())
	}
	e.setFull(err)
	return err
}

func (e *vmExporter) setFull(err error) {
	full := err != nil
	if e.full.Load() == full {
		return
	}
	e.fullMu.Lock()
	defer e.fullMu.Unlock()
	if e.full.Load() == full {
		return
	}
	e.full.Store(full)
	if full {
		e.logger.Error("metrics volume inside its disk reserve: new metrics are refused (retryable) until space is freed; queries keep working",
			zap.String("directory", e.cfg.Directory), zap.Error(err))
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
		// Put what the storage holds in memory on disk now, while the
		// reserve is still there.
		select {
		case e.persistNow <- struct{}{}:
		default:
		}
		return
	}
	e.logger.Info("metrics volume has space again: accepting new metrics", zap.String("directory", e.cfg.Directory))
	componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
}

func (e *vmExporter) registerReserveGauges(m metric.Meter) error {
	_, err := m.Int64ObservableGauge(MetricDiskReserveFull,
		metric.WithDescription("1 while new metrics are refused because the metrics volume is inside its disk reserve."),
		metric.WithUnit("1"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if e.full.Load() {
				v = 1
			}
			o.Observe(v)
			return nil
		}))
	if err != nil {
		return err
	}
	_, err = m.Int64ObservableGauge(MetricDiskReserveFreeBytes,
		metric.WithDescription("Free bytes on the metrics volume (as an unprivileged writer sees them)."),
		metric.WithUnit("By"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if s := e.guard.Status(); s.Err == nil {
				o.Observe(int64(s.Free))
			}
			return nil
		}))
	return err
}
