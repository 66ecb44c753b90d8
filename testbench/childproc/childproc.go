// Package childproc runs the processes a testbench scenario or benchmark
// drives (the appliance, Jaeger, peers), each logging to a file.
package childproc

import (
	"context"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/freeport"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a child process whose output goes to a log file.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start starts bin with args and extra env, logging to logPath. The child
// is in its own process group and is killed if the testbench dies.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	// The testbench's machines run it as root; the appliance refuses root otherwise.
	cmd.Env = append(append(os.Environ(), "SCADAOTEL_ALLOW_ROOT=1"), env...)
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

// Err is how the process ended (nil while it runs or after exit 0).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Stop sends SIGTERM, then SIGKILL after grace, and returns how long the
// process took to end.
func (p *Proc) Stop(grace time.Duration) time.Duration {
	start := time.Now()
	if p.Exited() {
		return 0
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return time.Since(start)
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
			return fmt.Errorf("%s exited before %s answered (%v); log tail:\n%s", p.Name, url, p.err, p.Tail(3000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready after %v; log tail:\n%s", p.Name, url, timeout, p.Tail(3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddr returns a free 127.0.0.1:port (released before use) below the
// ephemeral range.
func FreeAddr() (string, error) { return freeport.Addr() }
