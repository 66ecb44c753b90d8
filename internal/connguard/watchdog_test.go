package connguard

import (
	"io"
	"net"
	"testing"
	"time"
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

// The watchdog counts every 10 ms near its watermarks, every millisecond
// while the gate is closed, and every 100 ms while the descriptors are far
// below the gate, where a count costs CPU for nothing (a polling appliance
// with 500 RTU connections spent 40 % of its CPU counting at 10 ms).
func TestWatchdogIntervalFollowsLoad(t *testing.T) {
	w := &Watchdog{GateAt: 8000, Interval: 10 * time.Millisecond, FastInterval: time.Millisecond, SlowInterval: 100 * time.Millisecond}
	if got := w.nextInterval(530); got != 100*time.Millisecond {
		t.Errorf("530 of a gate at 8000: %v, want the slow interval", got)
	}
	if got := w.nextInterval(1000); got != 10*time.Millisecond {
		t.Errorf("an eighth of the gate: %v, want the normal interval", got)
	}
	w.gated = true
	if got := w.nextInterval(10); got != time.Millisecond {
		t.Errorf("gated: %v, want the fast interval", got)
	}
}
