// Package procstat measures a process from /proc (Linux): its CPU time, its
// resident set, and a Sampler that follows both over a window.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPUSeconds is a process's user+system CPU time in seconds
// (/proc/<pid>/stat, USER_HZ 100).
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime from the text of /proc/<pid>/stat.
func parseStatCPU(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/pid/stat: unexpected format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/pid/stat: short")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/pid/stat: utime/stime not numbers")
	}
	return (ut + st) / 100, nil
}

// RSSMiB is a process's resident set in MiB (VmRSS of /proc/<pid>/status).
func RSSMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(string(b), pid)
}

func parseStatusRSS(s string, pid int) (float64, error) {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			if f := strings.Fields(l); len(f) >= 2 {
				kb, err := strconv.ParseFloat(f[1], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// Usage is what a Sampler measured over its window.
type Usage struct {
	CPUSeconds  float64
	WallSeconds float64
	PeakRSSMiB  float64
	LastRSSMiB  float64
}

// CPUPercent is CPU time over wall time, in % of one core.
func (u Usage) CPUPercent() float64 {
	if u.WallSeconds <= 0 {
		return 0
	}
	return 100 * u.CPUSeconds / u.WallSeconds
}

// Sampler follows a process's CPU time and resident set from Start to Stop.
type Sampler struct {
	pid   int
	start time.Time
	cpu0  float64
	stopC chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	u     Usage
}

// Start starts measuring pid, sampling every interval.
func Start(pid int, interval time.Duration) *Sampler {
	s := &Sampler{pid: pid, start: time.Now(), stopC: make(chan struct{}), done: make(chan struct{})}
	s.cpu0, _ = CPUSeconds(pid)
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopC:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// sample records the resident set and the CPU time so far; a process that
// is gone leaves the last figures.
func (s *Sampler) sample() {
	rss, err := RSSMiB(s.pid)
	if err != nil {
		return
	}
	cpu, cerr := CPUSeconds(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.u.LastRSSMiB = rss
	s.u.PeakRSSMiB = max(s.u.PeakRSSMiB, rss)
	if cerr == nil {
		s.u.CPUSeconds = cpu - s.cpu0
	}
}

// Stop takes a last sample, ends the window and returns what it measured.
func (s *Sampler) Stop() Usage {
	s.sample()
	close(s.stopC)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.u
	u.WallSeconds = time.Since(s.start).Seconds()
	return u
}
