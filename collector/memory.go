package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitEnv overrides the appliance's memory budget ("1GiB", "512MiB"
// or bytes). Without it the budget is the cgroup's memory limit, else
// GOMEMLIMIT, else half of the machine's RAM capped at 4 GiB.
const memoryLimitEnv = "SCADAOTEL_MEMORY_LIMIT"

// The shares of the budget, and the variables the default config reads
// them from (a user's config may use them too).
const (
	heapShare    = 0.70 // GOMEMLIMIT: the Go heap's soft limit
	limiterShare = 0.50 // memory_limiter refuses above this much heap
	spikeShare   = 0.15 // ... and starts refusing this much below it
	cacheShare   = 0.15 // the embedded VictoriaMetrics storage's caches (off the Go heap)

	systemShare = 0.5
	systemCap   = 4 << 30

	limiterEnv = "SCADAOTEL_MEMORY_LIMITER_MIB"
	spikeEnv   = "SCADAOTEL_MEMORY_SPIKE_MIB"
	cacheEnv   = "SCADAOTEL_STORAGE_CACHE_MIB"
)

type memoryPlan struct {
	Budget     int64
	Source     string
	GoLimit    int64 // 0: GOMEMLIMIT was set by the user and is kept
	LimiterMiB int64
	SpikeMiB   int64
	CacheMiB   int64
}

// planMemory decides the budget and its shares. cgroup and total are the
// cgroup limit and the machine's RAM (0 when unknown).
func planMemory(getenv func(string) string, cgroup, total uint64) (memoryPlan, error) {
	var p memoryPlan
	goMemLimit := getenv("GOMEMLIMIT")
	switch {
	case getenv(memoryLimitEnv) != "":
		n, err := parseBytes(getenv(memoryLimitEnv))
		if err != nil {
			return p, fmt.Errorf("%s: %w", memoryLimitEnv, err)
		}
		p.Budget, p.Source = n, memoryLimitEnv
	case cgroup > 0 && (total == 0 || cgroup < total):
		p.Budget, p.Source = int64(cgroup), "cgroup memory limit" //nolint:gosec // a memory size
	case goMemLimit != "" && goMemLimit != "off":
		n, err := parseBytes(goMemLimit)
		if err != nil {
			return p, fmt.Errorf("GOMEMLIMIT: %w", err)
		}
		p.Budget, p.Source = n, "GOMEMLIMIT"
	case total > 0:
		p.Budget, p.Source = min(int64(float64(total)*systemShare), systemCap), "half of the machine's RAM, at most 4 GiB"
	default:
		p.Budget, p.Source = 2<<30, "default (RAM unknown)"
	}
	if p.Budget < 64<<20 {
		return p, fmt.Errorf("memory budget of %d bytes (%s) is below the 64 MiB the appliance needs", p.Budget, p.Source)
	}
	if goMemLimit == "" {
		p.GoLimit = int64(float64(p.Budget) * heapShare)
	}
	mib := func(share float64) int64 { return int64(float64(p.Budget)*share) >> 20 }
	p.LimiterMiB, p.SpikeMiB, p.CacheMiB = mib(limiterShare), mib(spikeShare), mib(cacheShare)
	return p, nil
}

// applyMemoryPlan sets the Go heap's soft limit and exports the shares for
// config expansion, unless the user set them.
func applyMemoryPlan() error {
	cg, _ := memlimit.FromCgroup()
	total, _ := memlimit.FromSystem()
	p, err := planMemory(os.Getenv, cg, total)
	if err != nil {
		return err
	}
	if p.GoLimit > 0 {
		debug.SetMemoryLimit(p.GoLimit)
	}
	for k, v := range map[string]int64{limiterEnv: p.LimiterMiB, spikeEnv: p.SpikeMiB, cacheEnv: p.CacheMiB} {
		if os.Getenv(k) == "" {
			if err := os.Setenv(k, strconv.FormatInt(v, 10)); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "scadaotel: memory budget %d MiB (%s): Go heap soft limit %d MiB, memory_limiter refuses from %d MiB of heap, storage caches %d MiB\n",
		p.Budget>>20, p.Source, p.GoLimit>>20, p.LimiterMiB-p.SpikeMiB, p.CacheMiB)
	return nil
}

// parseBytes reads "1GiB", "512MiB", "64KiB", "1GB", "800MB" or a number of
// bytes (GOMEMLIMIT's own suffixes included).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1GiB, 512MiB or bytes)", s)
	}
	return int64(f * float64(mult)), nil
}
