// Package connguard keeps hostile clients from exhausting the appliance's
// file descriptors: every listener the appliance owns has a connection cap
// taken from one process-wide budget, the descriptor limit is raised to
// its hard maximum at start, and a watchdog shortens and, when descriptors
// run low, closes the accept queues of the listeners it does not own (the
// collector's OTLP receivers, health, self-metrics) and sheds their newest
// connections before the embedded storage could run out of descriptors.
// docs/decisions.md explains why.
package connguard

import (
	"sync"
	"syscall"
)

// Reserve is the share of the descriptor limit no listener may use: the
// embedded storage's part files, the queues' logs and the outgoing
// connections (Jaeger, Kafka) live in it. The embedded storage exits the
// process when an open fails, so running out must hit listeners first.
func Reserve(limit uint64) uint64 { return max(128, limit/4) }

// RaiseNoFileLimit raises the soft RLIMIT_NOFILE to the hard limit (the
// Go runtime does so too since Go 1.19, but only for the process itself
// and only when the soft limit is the common 1024) and returns the result.
func RaiseNoFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	return rl.Cur, rl.Max, nil
}

// noFileLimit is the current soft RLIMIT_NOFILE (1024 when unknown).
func noFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	return rl.Cur
}

// budget is the number of connections all owned listeners may hold at
// once: half of what the reserve leaves (the other half is for the
// listeners the watchdog guards).
type budget struct {
	once   sync.Once
	tokens chan struct{}
}

var process budget

func (b *budget) get() chan struct{} {
	b.once.Do(func() {
		limit := noFileLimit()
		n := (limit - min(limit, Reserve(limit))) / 2
		b.tokens = make(chan struct{}, max(n, 16))
	})
	return b.tokens
}
