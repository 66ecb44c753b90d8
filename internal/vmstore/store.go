// Package vmstore is the one place that imports VictoriaMetrics (pinned at
// v1.151.0, whose Go API has no stability promise). It wraps the embedded
// storage (app/vmstorage, a process-wide singleton) and the MetricsQL engine
// (app/vmselect/promql) behind a small interface: open once per process,
// add rows, make them visible or durable, and read them back with the
// caller's tenant forced through the engine's enforced tag filters.
package vmstore

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmselect/netstorage"
	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmselect/promql"
	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmstorage"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/VictoriaMetrics/metrics"
)

// Config holds the global settings of the embedded storage. VictoriaMetrics
// keeps them in process-wide flags, so the first Open in a process wins and
// later Opens must agree on Path.
type Config struct {
	// Path is the storage directory (created if missing).
	Path string
	// Retention is the global retention (VictoriaMetrics minimum: 24h).
	Retention time.Duration
	// MemoryAllowedBytes caps the memory VictoriaMetrics sizes its caches
	// for (0 = its default, 60 % of RAM).
	MemoryAllowedBytes int64
	// LatencyOffset hides points younger than this from queries at "now"
	// (VictoriaMetrics default 30 s; live dashboards want ~1 s). 0 keeps
	// the current setting; see also SetLatencyOffset.
	LatencyOffset time.Duration
	// MinFreeDiskSpaceBytes switches the storage to read-only (it refuses
	// rows and stops background merges) while its volume has less free
	// space, so the space left is kept for flushing rows it already holds
	// (a failed flush is fatal in VictoriaMetrics). 0 keeps VictoriaMetrics'
	// default (100 MB, too much for a small appliance volume).
	MinFreeDiskSpaceBytes int64
}

// DedupInterval is the deduplication interval forced on the storage: samples
// of one series with the same millisecond timestamp collapse into one, so
// replaying a write-ahead log over rows that already reached disk creates no
// duplicates.
const DedupInterval = time.Millisecond

// Row is one sample of one series. Name is built by MarshalName.
type Row = storage.MetricRow

// Store is the process's embedded VictoriaMetrics. Get it with Open.
type Store struct {
	cfg  Config
	meta *metadataRegistry
}

var (
	mu      sync.Mutex
	current *Store
	refs    int
	stopped bool // a previous store was stopped in this process
)

// Open opens the process-wide store, or returns the already open one when
// cfg.Path is the same. Every Open needs one Close.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("vmstore: empty storage path")
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("vmstore: cannot resolve path %q: %w", cfg.Path, err)
	}
	cfg.Path = abs
	if cfg.Retention < 24*time.Hour {
		return nil, fmt.Errorf("vmstore: retention %s is below the 24h minimum", cfg.Retention)
	}
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		if current.cfg.Path != cfg.Path {
			return nil, fmt.Errorf("vmstore: the process already has a store at %q; VictoriaMetrics storage is a process-wide singleton (cannot open %q too)", current.cfg.Path, cfg.Path)
		}
		refs++
		return current, nil
	}
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("vmstore: cannot create %q: %w", cfg.Path, err)
	}
	meta, err := loadMetadata(cfg.Path)
	if err != nil {
		return nil, err
	}
	if err := setFlags(cfg); err != nil {
		return nil, err
	}
	if stopped {
		// vmstorage.Stop leaves metrics registered by the query engine;
		// a second Init in the same process (tests) would panic on them.
		metrics.UnregisterAllMetrics()
	}
	vmstorage.Init(4, 10*time.Second, promql.ResetRollupResultCacheIfNeeded)
	installHidingAPI()
	tmp := filepath.Join(cfg.Path, "tmp")
	_ = os.RemoveAll(tmp)
	netstorage.InitTmpBlocksDir(tmp)
	promql.InitRollupResultCache("") // in memory: keyed by the enforced tenant filter
	current = &Store{cfg: cfg, meta: meta}
	refs = 1
	return current, nil
}

// Current returns the open store, or nil when none is open yet.
func Current() *Store {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// Close releases one reference; the last one flushes everything to disk
// and stops the storage.
func (s *Store) Close() {
	mu.Lock()
	defer mu.Unlock()
	if current != s || refs == 0 {
		return
	}
	refs--
	if refs > 0 {
		return
	}
	promql.StopRollupResultCache()
	vmstorage.Stop() // flushes in-memory rows to files
	_ = s.meta.save()
	current = nil
	stopped = true
}

// Release drops one reference like Close, but the last one leaves the
// storage running instead of stopping it. Stopping writes buffered rows and
// caches to disk, and VictoriaMetrics exits when such a write fails: a
// caller whose volume is full releases instead, having its acknowledged
// data elsewhere (a write-ahead log). A later Open in the process gets the
// same storage back; at process exit it is left as after kill -9, which
// it recovers from (its persisted parts are whole).
func (s *Store) Release() {
	mu.Lock()
	defer mu.Unlock()
	if current == s && refs > 0 {
		refs--
	}
}

// Path returns the storage directory.
func (s *Store) Path() string { return s.cfg.Path }

// Add writes rows. They become visible to queries within about a second
// (or after Flush) and reach disk within seconds (or after Persist).
func (s *Store) Add(rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	return vmstorage.VMInsertAPI.WriteRows(rows)
}

// ReadOnly reports whether the storage refuses rows because its volume has
// less than MinFreeDiskSpaceBytes free (re-checked by VictoriaMetrics about
// every second; it switches back on its own when space returns).
func (s *Store) ReadOnly() bool { return vmstorage.VMInsertAPI.IsReadOnly() }

// Flush makes every added row visible to queries now.
func (s *Store) Flush() { vmstorage.DebugFlush() }

// Persist returns once every row added before the call is in files on disk
// (data and index), so it survives kill -9. VictoriaMetrics has no public
// "flush to disk" call; creating a snapshot does exactly that (it merges
// in-memory parts to files and fsyncs them), so Persist creates one and
// deletes it at once (hard links only, cheap).
func (s *Store) Persist() error {
	vmstorage.DebugFlush()
	name, err := s.storageCall("/snapshot/create", nil)
	if err != nil {
		return err
	}
	if _, err := s.storageCall("/snapshot/delete", url.Values{"snapshot": {name}}); err != nil {
		return err
	}
	return s.meta.save()
}

// storageCall invokes vmstorage's in-process handler (never exposed on a
// listener) and returns the snapshot name it reports, if any.
func (s *Store) storageCall(path string, form url.Values) (string, error) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Form = form
	if r.Form == nil {
		r.Form = url.Values{}
	}
	w := httptest.NewRecorder()
	if !vmstorage.RequestHandler(w, r) {
		return "", fmt.Errorf("vmstore: storage did not handle %s", path)
	}
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		return "", fmt.Errorf("vmstore: %s failed: %d %s", path, w.Code, body)
	}
	const key = `"snapshot":`
	i := strings.Index(body, key)
	if i < 0 {
		return "", nil
	}
	name, err := strconv.Unquote(strings.TrimRight(strings.TrimSpace(body[i+len(key):]), "}"))
	if err != nil {
		return "", fmt.Errorf("vmstore: cannot parse snapshot name in %q: %w", body, err)
	}
	return name, nil
}

// setFlags sets VictoriaMetrics' process-wide flags. flag.CommandLine must
// be parsed before any VictoriaMetrics call (lib/memory panics otherwise);
// the collector parses its own FlagSet, so parse an empty command line.
func setFlags(cfg Config) error {
	if !flag.CommandLine.Parsed() {
		if err := flag.CommandLine.Parse(nil); err != nil {
			return fmt.Errorf("vmstore: cannot parse VictoriaMetrics flags: %w", err)
		}
	}
	hours := int64((cfg.Retention + time.Hour - 1) / time.Hour)
	set := [][2]string{
		{"storageDataPath", cfg.Path},
		{"retentionPeriod", strconv.FormatInt(hours, 10) + "h"},
		{"dedup.minScrapeInterval", DedupInterval.String()},
		{"loggerLevel", "ERROR"},
	}
	if cfg.LatencyOffset > 0 {
		set = append(set, [2]string{"search.latencyOffset", cfg.LatencyOffset.String()})
	}
	if cfg.MinFreeDiskSpaceBytes > 0 {
		set = append(set, [2]string{"storage.minFreeDiskSpaceBytes", strconv.FormatInt(cfg.MinFreeDiskSpaceBytes, 10)})
	}
	if cfg.MemoryAllowedBytes > 0 {
		set = append(set, [2]string{"memory.allowedBytes", strconv.FormatInt(cfg.MemoryAllowedBytes, 10)})
		// The engine lets all queries together hold a quarter of the
		// budget; one query at most a sixteenth, so a tenant at its query
		// slots (prometheus_query query_concurrency) leaves most of it to
		// the others instead of making their queries fail for memory.
		set = append(set, [2]string{"search.maxMemoryPerQuery", strconv.FormatInt(cfg.MemoryAllowedBytes/16, 10)})
	}
	for _, kv := range set {
		if err := flag.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("vmstore: cannot set VictoriaMetrics flag -%s=%s: %w", kv[0], kv[1], err)
		}
	}
	return nil
}

// SetLatencyOffset sets how long points stay hidden from queries at "now"
// (process-wide, like every VictoriaMetrics tunable).
func SetLatencyOffset(d time.Duration) error {
	if !flag.CommandLine.Parsed() {
		if err := flag.CommandLine.Parse(nil); err != nil {
			return fmt.Errorf("vmstore: cannot parse VictoriaMetrics flags: %w", err)
		}
	}
	if err := flag.Set("search.latencyOffset", d.String()); err != nil {
		return fmt.Errorf("vmstore: cannot set -search.latencyOffset=%s: %w", d, err)
	}
	return nil
}

// SetMaxWorkersPerQuery bounds the CPU cores one query may use
// (process-wide): by default the engine gives every query all of them.
func SetMaxWorkersPerQuery(n int) error {
	if !flag.CommandLine.Parsed() {
		if err := flag.CommandLine.Parse(nil); err != nil {
			return fmt.Errorf("vmstore: cannot parse VictoriaMetrics flags: %w", err)
		}
	}
	return flag.Set("search.maxWorkersPerQuery", strconv.Itoa(n))
}

// SetQueryCache turns the engine's rollup result cache on or off
// (process-wide). The cache can serve results computed before backfilled
// samples (older than 5 minutes) became visible for up to ~10 s, so it is
// off unless a deployment prefers repeated-dashboard speed.
func SetQueryCache(enabled bool) error {
	if !flag.CommandLine.Parsed() {
		if err := flag.CommandLine.Parse(nil); err != nil {
			return fmt.Errorf("vmstore: cannot parse VictoriaMetrics flags: %w", err)
		}
	}
	return flag.Set("search.disableCache", strconv.FormatBool(!enabled))
}
