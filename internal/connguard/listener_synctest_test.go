package connguard

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
)

// pipeListener hands out one end of a net.Pipe per Accept, from a channel.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (p *pipeListener) dial() net.Conn {
	a, b := net.Pipe()
	p.conns <- b
	return a
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error   { close(p.closed); return nil }
func (p *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// TestListenerCapsOpenConnections: over the cap Accept waits (the
// connection stays in the backlog) until an accepted one is closed, and
// Close ends a waiting Accept.
func TestListenerCapsOpenConnections(t *testing.T) {
	process.get() // the process-wide budget lives outside the bubble
	synctest.Test(t, func(t *testing.T) {
		pl := newPipeListener()
		l := Limit(pl, 2)
		if !isOwned(1) {
			t.Fatal("the port is not registered as owned")
		}
		accepted := make(chan net.Conn, 3)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		var clients []net.Conn
		for range 2 {
			go func() { clients = append(clients, pl.dial()) }()
			synctest.Wait()
		}
		first, second := <-accepted, <-accepted
		go pl.dial() // a third client: not accepted while two are open
		synctest.Wait()
		if len(accepted) != 0 {
			t.Fatal("a third connection was accepted over the cap of 2")
		}
		_ = first.Close()
		synctest.Wait()
		third := <-accepted
		_ = second.Close()
		_ = third.Close()
		_ = first.Close() // a second Close releases nothing more
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, ok := <-accepted; ok {
			t.Fatal("Accept returned a connection after Close")
		}
		if isOwned(1) {
			t.Fatal("the port is still registered after Close")
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		for _, c := range clients {
			_ = c.Close()
		}
	})
}
