package connguard

import (
	"io"
	"net"
	"testing"
)

// TestWatchdogShedsOnlyConnectionsOfListenersItDoesNotOwn: over the high
// water mark, the newest connections accepted on a listener the appliance
// does not own are shut down (their server reads EOF); an owned listener's
// connections are left alone.
func TestWatchdogShedsOnlyConnectionsOfListenersItDoesNotOwn(t *testing.T) {
	foreign, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	ownedRaw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	owned := Limit(ownedRaw, 100)
	defer owned.Close()

	accept := func(ln net.Listener, n int) (clients, servers []net.Conn) {
		for range n {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			clients, servers = append(clients, c), append(servers, s)
		}
		return clients, servers
	}
	fc, fs := accept(foreign, 10)
	oc, os := accept(owned, 10)
	defer func() {
		for _, c := range append(append(append(fc, fs...), oc...), os...) {
			_ = c.Close()
		}
	}()

	w, err := NewWatchdog(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	fds, err := w.openFDs()
	if err != nil {
		t.Fatal(err)
	}
	w.HighWater, w.LowWater, w.GateAt = len(fds)-1, len(fds)-4, len(fds)-1 // 4 to shed
	if _, n := w.Check(); n != 4 {
		t.Fatalf("shed %d connections, want 4", n)
	}
	if !w.Gated() {
		t.Fatal("over GateAt, the foreign listener's accept queue is not closed")
	}
	carries := func(client, server net.Conn) error {
		if _, err := client.Write([]byte{1}); err != nil {
			return err
		}
		_, err := io.ReadFull(server, make([]byte, 1))
		return err
	}
	// The four newest foreign connections read EOF; the older ones still
	// carry data.
	for i, s := range fs[6:] {
		if _, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("foreign connection %d (among the newest): read %v, want EOF", 6+i, err)
		}
	}
	for i := range fs[:6] {
		if err := carries(fc[i], fs[i]); err != nil {
			t.Fatalf("older foreign connection %d: %v", i, err)
		}
	}
	// Owned connections still carry data.
	for i := range oc {
		if err := carries(oc[i], os[i]); err != nil {
			t.Fatalf("owned connection %d: %v", i, err)
		}
	}
	if w.Shed() != 4 {
		t.Fatalf("Shed() = %d", w.Shed())
	}
	// Under half of GateAt the gate opens again.
	w.GateAt, w.HighWater = 4*len(fds), 4*len(fds)
	if _, n := w.Check(); n != 0 || w.Gated() {
		t.Fatalf("under GateAt/2: shed %d, gated %v", n, w.Gated())
	}
}
