package bench

import (
	"time"

	"github.com/scadaotel/scadaotel/internal/procstat"
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
func ProcCPU(pid int) (float64, error) { return procstat.CPUSeconds(pid) }

// ProcRSS is a process's resident set in MiB (VmRSS of /proc/<pid>/status).
func ProcRSS(pid int) (float64, error) { return procstat.RSSMiB(pid) }

// Meter measures a process's CPU seconds and peak RSS over a window.
type Meter = procstat.Sampler

// Usage is what a Meter measured.
type Usage = procstat.Usage

// StartMeter starts measuring pid, sampling every 200 ms.
func StartMeter(pid int) *Meter { return procstat.Start(pid, 200*time.Millisecond) }
