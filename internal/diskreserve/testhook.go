package diskreserve

import "time"

// NewWithStat returns a guard that reads the volume through stat instead of
// statfs, so that tests of a writer can fill and free a volume at will.
// Readings are cached as in New (250 ms, on the real clock).
func NewWithStat(path string, cfg Config, stat func(path string) (free, total uint64, err error)) *Guard {
	return &Guard{path: path, cfg: cfg, now: time.Now, stat: stat}
}
