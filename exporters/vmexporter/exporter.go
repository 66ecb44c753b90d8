package vmexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

type vmExporter struct {
	cfg    *Config
	logger *zap.Logger
	conv   *converter
	meta   *metadataRecorder

	store *vmstore.Store
	wal   *wal
	// rw orders appends against checkpoints: an append holds it shared from
	// its WAL record until its rows are in the storage, so a checkpoint that
	// holds it exclusively knows every older segment's rows were added.
	rw       sync.RWMutex
	walBytes atomic.Int64
	dirty    atomic.Bool
	unseen   atomic.Bool // rows added since the last visibility flush

	batches sync.Pool
	stop    chan struct{}
	done    chan struct{}

	// Disk reserve (diskfull.go).
	guard      *diskreserve.Guard
	host       component.Host
	full       atomic.Bool
	fullMu     sync.Mutex
	persistNow chan struct{}
	// Segments of the previous run not replayed yet (the storage could not
	// take them at start); data is refused until they are. Touched by open
	// and then the checkpoint loop only.
	pending       []uint64
	replayPending atomic.Bool

	mSamples         metric.Int64Counter
	mRefused         metric.Int64Counter
	mRejected        metric.Int64Counter
	mCommits         metric.Int64Counter
	mWALBytes        metric.Int64Counter
	mCheckpoints     metric.Int64Counter
	mReplayed        metric.Int64Counter
	mDamagedRegions  metric.Int64Counter
	mDamagedBytes    metric.Int64Counter
	mDamagedSegments metric.Int64Counter
	mTornTails       metric.Int64Counter
	mTornBytes       metric.Int64Counter
	mWriteErrors     metric.Int64Counter
	mReserveRefused  metric.Int64Counter
}

func newExporter(cfg *Config, set exporter.Settings) (*vmExporter, error) {
	conv, err := newConverter(cfg)
	if err != nil {
		return nil, err
	}
	e := &vmExporter{cfg: cfg, logger: set.Logger, conv: conv, meta: newMetadataRecorder(conv.settings),
		guard: newReserveGuard(cfg.Directory, cfg.DiskReserve), persistNow: make(chan struct{}, 1)}
	e.batches.New = func() any { return &batch{} }
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/exporters/vmexporter")
	e.mSamples, err = m.Int64Counter(MetricSamples, metric.WithDescription("Samples written to the storage (after the WAL fsync)."), metric.WithUnit("{sample}"))
	if err == nil {
		e.mRefused, err = m.Int64Counter(MetricRefusedBatches, metric.WithDescription("Batches refused (no tenant, WAL full or failed)."), metric.WithUnit("{batch}"))
	}
	if err == nil {
		e.mRejected, err = m.Int64Counter(MetricRejectedSamples, metric.WithDescription("Samples refused before the WAL because the storage would drop them (too many labels, too long a label, timestamp outside retention or more than 2 days ahead), by tenant and reason."), metric.WithUnit("{sample}"))
	}
	if err == nil {
		e.mCommits, err = m.Int64Counter(MetricWALCommits, metric.WithDescription("WAL group commits (one fsync each)."), metric.WithUnit("{commit}"))
	}
	if err == nil {
		e.mWALBytes, err = m.Int64Counter(MetricWALBytes, metric.WithDescription("Bytes written to the WAL."), metric.WithUnit("By"))
	}
	if err == nil {
		e.mCheckpoints, err = m.Int64Counter(MetricCheckpoints, metric.WithDescription("Checkpoints: storage persisted and WAL segments removed."), metric.WithUnit("{checkpoint}"))
	}
	if err == nil {
		e.mReplayed, err = m.Int64Counter(MetricWALReplayedSamples, metric.WithDescription("Samples replayed from the WAL at startup."), metric.WithUnit("{sample}"))
	}
	counters := []struct {
		dst        *metric.Int64Counter
		name, desc string
		unit       string
	}{
		{&e.mDamagedRegions, MetricWALDamagedRegions, "Damaged WAL spans skipped at replay (each one or more records).", "{region}"},
		{&e.mDamagedBytes, MetricWALDamagedBytes, "WAL bytes skipped at replay because of damage (unreadable segments: their size).", "By"},
		{&e.mDamagedSegments, MetricWALDamagedSegments, "Damaged or unreadable WAL segments moved aside (<name>.damaged-<unix>).", "{segment}"},
		{&e.mTornTails, MetricWALTornTails, "Incomplete final records (crash mid-write, never acknowledged) dropped at replay.", "{record}"},
		{&e.mTornBytes, MetricWALTornBytes, "Bytes of incomplete final records dropped at replay.", "By"},
		{&e.mWriteErrors, MetricWALWriteErrors, "Failed WAL writes or fsyncs (batch refused, segment cut back to its last good record).", "{error}"},
		{&e.mReserveRefused, MetricDiskReserveRefusedBatches, "Batches refused because the metrics volume is inside its disk reserve.", "{batch}"},
	}
	for _, c := range counters {
		if err != nil {
			break
		}
		opts := []metric.Int64CounterOption{metric.WithDescription(c.desc)}
		if c.unit != "" {
			opts = append(opts, metric.WithUnit(c.unit))
		}
		*c.dst, err = m.Int64Counter(c.name, opts...)
	}
	if err == nil {
		err = e.registerReserveGauges(m)
	}
	if err != nil {
		return nil, fmt.Errorf("victoriametrics exporter: cannot create self-metrics: %w", err)
	}
	return e, nil
}

// walDirs holds the WAL directories in use in this process: two exporters
// sharing one would delete each other's unpersisted segments.
var (
	walDirsMu sync.Mutex
	walDirs   = map[string]bool{}
)

func claimWALDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	walDirsMu.Lock()
	defer walDirsMu.Unlock()
	if walDirs[abs] {
		return fmt.Errorf("directory %q is already used by another victoriametrics exporter in this process; the storage is shared, give each exporter id the same single instance", filepath.Dir(abs))
	}
	walDirs[abs] = true
	return nil
}

func releaseWALDir(dir string) {
	abs, _ := filepath.Abs(dir)
	walDirsMu.Lock()
	delete(walDirs, abs)
	walDirsMu.Unlock()
}

func (e *vmExporter) start(ctx context.Context, host component.Host) error {
	e.host = host
	walDir := filepath.Join(e.cfg.Directory, "wal")
	if err := claimWALDir(walDir); err != nil {
		return fmt.Errorf("victoriametrics exporter: %w", err)
	}
	if err := e.open(ctx, walDir); err != nil {
		releaseWALDir(walDir)
		return err
	}
	return nil
}

func (e *vmExporter) open(ctx context.Context, walDir string) error {
	if err := os.MkdirAll(e.cfg.Directory, 0o750); err != nil {
		return fmt.Errorf("victoriametrics exporter: cannot create directory %q: %w", e.cfg.Directory, err)
	}
	st, err := vmstore.Open(vmstore.Config{
		Path:                  filepath.Join(e.cfg.Directory, "data"),
		Retention:             e.cfg.Retention,
		MemoryAllowedBytes:    e.cfg.MemoryLimitMiB << 20,
		MinFreeDiskSpaceBytes: e.storageMinFree(),
	})
	if err != nil {
		return fmt.Errorf("victoriametrics exporter: %w", err)
	}
	e.store = st
	w, old, err := openWAL(walDir)
	if err != nil {
		st.Close()
		return fmt.Errorf("victoriametrics exporter: %w", err)
	}
	w.guard = e.guard
	w.onCommit = func(n int) {
		e.walBytes.Add(int64(n))
		e.mCommits.Add(context.Background(), 1)
		e.mWALBytes.Add(context.Background(), int64(n))
	}
	w.onWriteError = func(err error) {
		e.mWriteErrors.Add(context.Background(), 1)
		e.logger.Error("write-ahead log write failed; the batch is refused (retryable) and the segment cut back to its last good record", zap.Error(err))
	}
	e.wal = w
	if len(old) > 0 {
		e.pending = old
		e.replayPending.Store(true)
		e.tryReplay(ctx)
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.checkpointLoop()
	return nil
}

// tryReplay replays the previous run's segments unless the volume is inside
// its reserve or the storage refuses them; then the checkpoint loop tries
// again, and data is refused meanwhile (so the exporter starts on a full
// disk instead of failing or crashing).
func (e *vmExporter) tryReplay(ctx context.Context) {
	if !e.replayPending.Load() {
		return
	}
	if err := e.checkReserve(); err != nil {
		return
	}
	if err := e.replay(ctx, e.pending); err != nil {
		e.logger.Error("cannot replay the write-ahead log yet; new data is refused until it is, retrying",
			zap.String("directory", e.wal.dir), zap.Error(err))
		return
	}
	e.pending = nil
	e.replayPending.Store(false)
}

func (e *vmExporter) push(ctx context.Context, md pmetric.Metrics) error {
	b := e.batches.Get().(*batch)
	defer func() {
		b.rows, b.payload, b.dropped, b.series, b.rejected = b.rows[:0], b.payload[:0], nil, 0, rejection{}
		e.batches.Put(b)
	}()
	if n := md.DataPointCount(); cap(b.rows) < n {
		// One allocation of the right size instead of repeated doubling
		// (pooled batches are dropped at every GC).
		b.rows = make([]vmstore.Row, 0, n+n/8)
		b.payload = make([]byte, 0, (n+n/8)*20)
	}
	b.window = newSampleWindow(time.Now(), e.cfg.Retention)
	if err := e.conv.convert(md, b); err != nil {
		e.mRefused.Add(ctx, 1)
		return consumererror.NewPermanent(fmt.Errorf("victoriametrics exporter: refusing batch: %w", err))
	}
	if b.rejected.samples > 0 {
		// Nothing of a request with samples the storage would drop is
		// acknowledged: the client hears which and why (400), and the
		// tenant's refusals are counted.
		tenant := tenantOf(md)
		e.mRejected.Add(ctx, int64(b.rejected.samples), metric.WithAttributes(
			tenants.SelfMetricTenant(tenant), attribute.String("reason", b.rejected.reason)))
		e.mRefused.Add(ctx, 1)
		// The gRPC status makes the OTLP receiver answer 400 /
		// InvalidArgument (a bare permanent error would be 500 / Internal).
		return consumererror.NewPermanent(status.Error(codes.InvalidArgument, fmt.Sprintf(
			"victoriametrics exporter: %d samples of tenant %s cannot be stored, request refused; first: %s",
			b.rejected.samples, tenant, b.rejected.detail)))
	}
	if lost := lostInTranslation(b.dropped); lost != nil {
		// A metric the translator cannot turn into a series (a label name
		// with no valid character left, an empty name, a delta sum) would
		// be missing from an acknowledged request: refuse the request.
		tenant := tenantOf(md)
		e.mRejected.Add(ctx, int64(md.DataPointCount()), metric.WithAttributes(
			tenants.SelfMetricTenant(tenant), attribute.String("reason", "untranslatable")))
		e.mRefused.Add(ctx, 1)
		return consumererror.NewPermanent(status.Error(codes.InvalidArgument, fmt.Sprintf(
			"victoriametrics exporter: request of tenant %s refused, not storable: %v", tenant, lost)))
	}
	if len(b.rows) == 0 {
		return nil
	}
	if e.replayPending.Load() {
		e.mRefused.Add(ctx, 1)
		return fmt.Errorf("victoriametrics exporter: the write-ahead log of the previous run in %q is not replayed yet (waiting for disk space or the storage); retry later", e.wal.dir)
	}
	if err := e.checkReserve(); err != nil {
		e.mRefused.Add(ctx, 1)
		e.mReserveRefused.Add(ctx, 1)
		return fmt.Errorf("victoriametrics exporter: refusing batch: %w", err)
	}
	if max := e.cfg.WAL.MaxBytes; max > 0 && e.walBytes.Load() > max {
		e.mRefused.Add(ctx, 1)
		return fmt.Errorf("victoriametrics exporter: write-ahead log holds %d bytes, over wal.max_bytes=%d; retry later", e.walBytes.Load(), max)
	}
	e.rw.RLock()
	err := e.wal.Append(b.payload)
	if err == nil {
		err = e.store.Add(b.rows)
	}
	e.rw.RUnlock()
	if err != nil {
		e.mRefused.Add(ctx, 1)
		if errors.Is(err, diskreserve.ErrFull) {
			e.mReserveRefused.Add(ctx, 1)
		}
		return fmt.Errorf("victoriametrics exporter: %w", err)
	}
	e.dirty.Store(true)
	e.unseen.Store(true)
	e.mSamples.Add(ctx, int64(len(b.rows)))
	e.meta.record(md, e.store.SetMetadata)
	return nil
}

func (e *vmExporter) checkpointLoop() {
	defer close(e.done)
	t := time.NewTicker(e.cfg.WAL.CheckpointInterval)
	defer t.Stop()
	vis := time.NewTicker(e.cfg.VisibilityInterval)
	defer vis.Stop()
	// Reads the reserve without traffic too, so recovery is reported (and a
	// deferred replay runs) as soon as space returns.
	reserve := time.NewTicker(reserveCheckInterval)
	defer reserve.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-reserve.C:
			_ = e.checkReserve()
			e.tryReplay(context.Background())
		case <-e.persistNow:
			if err := e.checkpoint(); err != nil {
				e.logger.Error("checkpoint on entering the disk reserve failed; the write-ahead log keeps the data", zap.Error(err))
			}
		case <-vis.C:
			if e.unseen.Swap(false) {
				e.store.Flush()
			}
		case <-t.C:
			if err := e.checkpoint(); err != nil {
				e.logger.Error("checkpoint failed; the write-ahead log keeps the data", zap.Error(err))
			}
		}
	}
}

// checkpoint persists everything written so far and drops the WAL
// segments that held it.
func (e *vmExporter) checkpoint() error {
	if e.replayPending.Load() {
		// Nothing was written; the old segments must stay until replayed.
		return nil
	}
	if !e.dirty.Swap(false) {
		return nil
	}
	e.rw.Lock()
	seq, err := e.wal.Rotate()
	e.rw.Unlock()
	if err == nil {
		err = e.store.Persist()
	}
	if err == nil {
		err = e.wal.RemoveBefore(seq)
	}
	if err != nil {
		e.dirty.Store(true) // try again at the next interval
		return err
	}
	e.walBytes.Store(e.wal.Size())
	e.mCheckpoints.Add(context.Background(), 1)
	return nil
}

func (e *vmExporter) shutdown(context.Context) error {
	if e.store == nil {
		return nil
	}
	close(e.stop)
	<-e.done
	var err error
	if full := e.volumeFull(); full != nil {
		// A checkpoint and a clean stop write to disk, and VictoriaMetrics
		// exits on a failed write: leave both, the WAL keeps what they
		// would have saved.
		e.logger.Warn("metrics volume inside its disk reserve at shutdown: no checkpoint and the storage is left running until the process exits (as after kill -9); the write-ahead log keeps everything acknowledged for the next start",
			zap.String("directory", e.cfg.Directory), zap.Error(full))
		err = e.wal.Close()
		e.store.Release()
	} else {
		e.dirty.Store(true)
		err = e.checkpoint()
		err = errors.Join(err, e.wal.Close())
		e.store.Close()
	}
	e.store = nil
	releaseWALDir(e.wal.dir)
	return err
}

// tenantOf is the tenant of md's first resource (the pipeline stamps every
// resource of one request with the same tenant).
func tenantOf(md pmetric.Metrics) string {
	if md.ResourceMetrics().Len() == 0 {
		return ""
	}
	return tenants.FromResource(md.ResourceMetrics().At(0).Resource())
}

// lostInTranslation drops from the translator's errors the ones that lose
// nothing (a metric without data points).
func lostInTranslation(err error) error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var lost []error
		for _, e := range joined.Unwrap() {
			if l := lostInTranslation(e); l != nil {
				lost = append(lost, l)
			}
		}
		return errors.Join(lost...)
	}
	if strings.HasPrefix(err.Error(), "empty data points.") {
		return nil
	}
	return err
}
