package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process (the appliance or a peer) whose output goes to a log file.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// StartProc starts bin with args and extra env, logging to logPath.
func StartProc(name, bin string, args, env []string, logPath string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the last n bytes of the log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WaitHTTP polls url until it answers 200, the process exits or timeout passes.
func (p *Proc) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before %s answered (%v); log tail:\n%s", p.Name, url, p.err, p.Tail(2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready after %v; log tail:\n%s", p.Name, url, timeout, p.Tail(2000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddr returns a free 127.0.0.1:port.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

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
