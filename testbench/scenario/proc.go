package scenario

import (
	"context"
	"time"

	"github.com/scadaotel/scadaotel/testbench/childproc"
)

// proc is a child process whose output goes to a log file.
type proc = childproc.Proc

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	return childproc.Start(name, bin, args, env, logPath)
}

// stopGrace is how long a stopped process gets before SIGKILL.
const stopGrace = 15 * time.Second

// waitHealthy polls url until 200, the process exits or timeout passes.
func waitHealthy(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	return p.WaitHTTP(ctx, url, timeout)
}

func freeAddr() (string, error) { return childproc.FreeAddr() }
