package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scadaotel/scadaotel/testbench/childproc"
)

// Proc is a child process (the appliance or a peer) logging to a file.
type Proc = childproc.Proc

// StartProc starts bin with args and extra env, logging to logPath.
func StartProc(name, bin string, args, env []string, logPath string) (*Proc, error) {
	return childproc.Start(name, bin, args, env, logPath)
}

// FreeAddr returns a free 127.0.0.1:port.
func FreeAddr() (string, error) { return childproc.FreeAddr() }

// ProcCPU is a process's user+system CPU time in seconds (/proc/<pid>/stat, USER_HZ 100).
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
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

// ProcRSS is a process's resident set in MiB (VmRSS of /proc/<pid>/status).
func ProcRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			if f := strings.Fields(l); len(f) >= 2 {
				kb, err := strconv.ParseFloat(f[1], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// Meter measures a process's CPU seconds and peak RSS over a window.
type Meter struct {
	pid   int
	cpu0  float64
	start time.Time
	stopC chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	peak  float64
}

// Usage is what a Meter measured.
type Usage struct {
	CPUSeconds  float64
	WallSeconds float64
	PeakRSSMiB  float64
}

// CPUPercent is CPU time over wall time, in % of one core.
func (u Usage) CPUPercent() float64 {
	if u.WallSeconds <= 0 {
		return 0
	}
	return 100 * u.CPUSeconds / u.WallSeconds
}

// StartMeter starts measuring pid, sampling RSS every 200 ms.
func StartMeter(pid int) *Meter {
	m := &Meter{pid: pid, start: time.Now(), stopC: make(chan struct{})}
	m.cpu0, _ = ProcCPU(pid)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.stopC:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *Meter) sample() {
	if rss, err := ProcRSS(m.pid); err == nil {
		m.mu.Lock()
		m.peak = max(m.peak, rss)
		m.mu.Unlock()
	}
}

// Stop ends the window.
func (m *Meter) Stop() Usage {
	cpu, _ := ProcCPU(m.pid)
	wall := time.Since(m.start).Seconds()
	m.sample()
	close(m.stopC)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	return Usage{CPUSeconds: cpu - m.cpu0, WallSeconds: wall, PeakRSSMiB: m.peak}
}
