package connguard

import (
	"net"
	"strconv"
	"sync"
)

// DefaultMaxConnections is an owned listener's own cap, within the
// process-wide budget.
const DefaultMaxConnections = 512

// Listener caps the connections open at once on an owned listener: over
// the cap Accept waits (new connections stay in the kernel's backlog and
// take no descriptor of this process) until one closes.
type Listener struct {
	net.Listener
	own, shared chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
}

// Limit wraps ln with a cap of maxConns (DefaultMaxConnections when <= 0)
// and the process-wide budget, and registers its port as owned so the
// watchdog leaves its connections alone.
func Limit(ln net.Listener, maxConns int) *Listener {
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	registerOwned(ln.Addr())
	return &Listener{Listener: ln, own: make(chan struct{}, maxConns), shared: process.get(), done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case l.own <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	select {
	case l.shared <- struct{}{}:
	case <-l.done:
		<-l.own
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.shared
		<-l.own
		return nil, err
	}
	return &conn{Conn: c, release: func() { <-l.shared; <-l.own }}, nil
}

// Close stops accepting; a waiting Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		unregisterOwned(l.Listener.Addr())
	})
	return l.Listener.Close()
}

type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

var (
	ownedMu    sync.Mutex
	ownedPorts = map[int]int{}
)

func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func registerOwned(a net.Addr) {
	ownedMu.Lock()
	ownedPorts[portOf(a)]++
	ownedMu.Unlock()
}

func unregisterOwned(a net.Addr) {
	ownedMu.Lock()
	defer ownedMu.Unlock()
	p := portOf(a)
	if ownedPorts[p] <= 1 {
		delete(ownedPorts, p)
		return
	}
	ownedPorts[p]--
}

func isOwned(port int) bool {
	ownedMu.Lock()
	defer ownedMu.Unlock()
	return ownedPorts[port] > 0
}
