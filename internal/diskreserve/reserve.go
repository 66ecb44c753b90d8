// Package diskreserve keeps free space back on a volume so that no writer of
// the appliance runs it out: a writer asks Check before it writes new data and
// refuses with a retryable error while the volume is inside its reserve.
//
// Why a reserve and not ENOSPC handling alone: the embedded VictoriaMetrics
// storage exits on a failed flush, and a queue that hits ENOSPC halfway
// through a write leaves a damaged file. Refusing early, while every file is
// still whole, keeps both out of reach, and the writers resume on their own
// once space returns.
package diskreserve

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Config is the reserve of one volume: the larger of Bytes and Percent of the
// volume's size is kept free. Zero values take the defaults.
type Config struct {
	// Bytes kept free regardless of the volume's size.
	Bytes int64 `mapstructure:"bytes"`
	// Percent of the volume's size kept free (0-50).
	Percent float64 `mapstructure:"percent"`
}

// Defaults: 5 % of the volume, at most 256 MiB (large disks keep 256 MiB), at
// least 16 MiB (a small volume still has room for the embedded storage to
// finish a flush).
const (
	DefaultPercent  = 5.0
	DefaultMaxBytes = 256 << 20
	DefaultMinBytes = 16 << 20
	// How long one statfs answer is trusted: writers call Check per request.
	checkEvery = 250 * time.Millisecond
)

// Validate rejects reserves that cannot be meant.
func (c Config) Validate() error {
	if c.Bytes < 0 {
		return fmt.Errorf("disk_reserve.bytes: must not be negative, got %d", c.Bytes)
	}
	if c.Percent < 0 || c.Percent > 50 {
		return fmt.Errorf("disk_reserve.percent: must be between 0 and 50, got %v", c.Percent)
	}
	return nil
}

// reserveFor is the number of bytes kept free on a volume of total bytes.
func (c Config) reserveFor(total uint64) uint64 {
	if c.Bytes == 0 && c.Percent == 0 {
		r := uint64(float64(total) * DefaultPercent / 100)
		r = min(r, DefaultMaxBytes)
		return max(r, DefaultMinBytes)
	}
	return max(uint64(c.Bytes), uint64(float64(total)*c.Percent/100))
}

// ErrFull is matched with errors.Is by callers that map it to "retry later"
// (HTTP 503, gRPC Unavailable). It is never a permanent error.
var ErrFull = errors.New("disk reserve reached")

// FullError says which volume and how much is left.
type FullError struct {
	Path    string
	Free    uint64
	Reserve uint64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("%s: %d bytes free, below the reserve of %d bytes; new data is refused until space is freed", e.Path, e.Free, e.Reserve)
}

func (e *FullError) Is(target error) bool { return target == ErrFull }

// Status is one reading of a volume.
type Status struct {
	Path    string
	Free    uint64
	Total   uint64
	Reserve uint64
	Full    bool
	Err     error // statfs failed; the writer is not refused for it
}

// Guard watches the volume holding one path. Safe for concurrent use.
type Guard struct {
	path string
	cfg  Config
	now  func() time.Time
	stat func(path string) (free, total uint64, err error)

	mu      sync.Mutex
	checked time.Time
	last    Status
}

// New returns a guard for the volume holding path (the path must exist when
// Check is first called; a missing path is reported, not refused).
func New(path string, cfg Config) *Guard {
	return &Guard{path: path, cfg: cfg, now: time.Now, stat: statfs}
}

// StatFunc reads the free and total bytes of the volume holding path.
type StatFunc func(path string) (free, total uint64, err error)

// NewWithStat is New with the volume read by stat instead of statfs: for tests
// of writers that must refuse and resume without filling a real disk.
func NewWithStat(path string, cfg Config, stat StatFunc) *Guard {
	g := New(path, cfg)
	g.stat = stat
	return g
}

// Check returns a *FullError while the volume's free space is below the
// reserve, and nil otherwise. A statfs failure is logged by the caller through
// Status, not turned into a refusal: an unknown disk is not a full disk.
func (g *Guard) Check() error {
	s := g.Status()
	if s.Full {
		return &FullError{Path: s.Path, Free: s.Free, Reserve: s.Reserve}
	}
	return nil
}

// Status returns the latest reading, refreshed at most every 250 ms.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.checked.IsZero() && now.Sub(g.checked) < checkEvery {
		return g.last
	}
	g.checked = now
	free, total, err := g.stat(g.path)
	s := Status{Path: g.path, Free: free, Total: total, Err: err}
	if err == nil {
		s.Reserve = g.cfg.reserveFor(total)
		s.Full = free < s.Reserve
	}
	g.last = s
	return s
}

// Refresh forgets the cached reading, so the next Check reads the volume.
func (g *Guard) Refresh() {
	g.mu.Lock()
	g.checked = time.Time{}
	g.mu.Unlock()
}

func statfs(path string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := uint64(st.Bsize) //nolint:gosec // block size is positive
	// Bavail: what an unprivileged writer may still use.
	return st.Bavail * bsize, st.Blocks * bsize, nil
}
