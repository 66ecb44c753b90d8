package iec104receiver

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

// fakeApp records what a session hands to its application.
type fakeApp struct {
	mu     sync.Mutex
	asdus  int
	starts int
	sendOn int // ASDUs to send on start
}

func (f *fakeApp) started(s *session, now time.Time) {
	f.mu.Lock()
	f.starts++
	n := f.sendOn
	f.mu.Unlock()
	for range n {
		b, _ := iec104.DefaultParams.Encode(nil, iec104.Interrogation(1))
		_ = s.sendASDU(b, now)
	}
}
func (f *fakeApp) asdu([]byte, time.Time)    { f.mu.Lock(); f.asdus++; f.mu.Unlock() }
func (f *fakeApp) due(*session, time.Time)   {}
func (f *fakeApp) next() time.Time           { return time.Time{} }
func (f *fakeApp) frame(iec104.Format, bool) {}

// peer is a hand-driven outstation end of a pipe.
type peer struct {
	t *testing.T
	c net.Conn
}

func (p peer) read() iec104.APDU {
	p.t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(p.c, hdr[:]); err != nil {
		p.t.Fatalf("read: %v", err)
	}
	b := make([]byte, hdr[1]+2)
	copy(b, hdr[:])
	if _, err := io.ReadFull(p.c, b[2:]); err != nil {
		p.t.Fatalf("read: %v", err)
	}
	a, err := iec104.Parse(b)
	if err != nil {
		p.t.Fatalf("parse % x: %v", b, err)
	}
	return a
}

func (p peer) write(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p peer) sendI(ns, nr uint16) {
	asdu, _ := iec104.DefaultParams.Encode(nil, iec104.ASDU{Type: iec104.MSpNa1, Cause: iec104.CauseSpontaneous, CommonAddr: 1,
		Objects: []iec104.Object{{IOA: 1, Raw: 1}}})
	b, _ := iec104.AppendI(nil, ns, nr, asdu)
	p.write(b)
}

func startSession(t *testing.T, app *fakeApp, k int) (peer, chan error, context.CancelFunc) {
	a, b := net.Pipe()
	s := &session{cfg: linkConfig{k: k, w: 8, t1: 15 * time.Second, t2: 10 * time.Second, t3: 20 * time.Second}, conn: a, h: app}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	p := peer{t: t, c: b}
	if u := p.read(); u.Format != iec104.FormatU || u.U != iec104.StartDTAct {
		t.Fatalf("first frame %+v, want STARTDT act", u)
	}
	p.write(iec104.AppendU(nil, iec104.StartDTCon))
	return p, done, func() { cancel(); b.Close(); <-done }
}

// TestSessionAcknowledgesAfterWOrT2: fewer than w I frames are
// acknowledged t2 after the first; the w-th is acknowledged at once.
func TestSessionAcknowledgesAfterWOrT2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _, stop := startSession(t, &fakeApp{}, 12)
		defer stop()
		start := time.Now()
		for i := range 3 {
			p.sendI(uint16(i), 0)
		}
		s := p.read()
		if s.Format != iec104.FormatS || s.RecvSeq != 3 || time.Since(start) != 10*time.Second {
			t.Fatalf("got %+v after %v, want S(3) after t2", s, time.Since(start))
		}
		start = time.Now()
		for i := 3; i < 11; i++ {
			p.sendI(uint16(i), 0)
		}
		s = p.read()
		if s.Format != iec104.FormatS || s.RecvSeq != 11 || time.Since(start) != 0 {
			t.Fatalf("got %+v after %v, want S(11) at once after w=8 frames", s, time.Since(start))
		}
	})
}

// TestSessionKWindow: with k=2 the third command waits for an acknowledgement.
func TestSessionKWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _, stop := startSession(t, &fakeApp{sendOn: 3}, 2)
		defer stop()
		for i := range 2 {
			if a := p.read(); a.Format != iec104.FormatI || a.SendSeq != uint16(i) {
				t.Fatalf("frame %d: %+v", i, a)
			}
		}
		got := make(chan iec104.APDU)
		go func() { got <- p.read() }()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		select {
		case a := <-got:
			t.Fatalf("a third I frame beyond k: %+v", a)
		default:
		}
		p.write(iec104.AppendS(nil, 1))
		if a := <-got; a.Format != iec104.FormatI || a.SendSeq != 2 {
			t.Fatalf("after the acknowledgement: %+v", a)
		}
	})
}

// TestSessionSequenceErrors: a wrong N(S), or an N(R) acknowledging frames
// never sent, ends the session with a sequence fault.
func TestSessionSequenceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ns, nr uint16
	}{{"N(S) skips", 1, 0}, {"N(R) ahead", 0, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, done, stop := startSession(t, &fakeApp{}, 12)
				defer stop()
				p.sendI(tc.ns, tc.nr)
				err := <-done
				done <- err
				var le *linkError
				if !errors.As(err, &le) || le.kind != faultSequence {
					t.Fatalf("got %v, want a sequence fault", err)
				}
			})
		})
	}
}

// TestSessionTimers: an unconfirmed STARTDT ends the session after t1; an
// idle link is tested after t3 and a TESTFR act from the outstation is
// confirmed.
func TestSessionTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		s := &session{cfg: linkConfig{k: 12, w: 8, t1: 15 * time.Second, t2: 10 * time.Second, t3: 20 * time.Second}, conn: a, h: &fakeApp{}}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- s.run(context.Background()) }()
		go func() { _, _ = io.Copy(io.Discard, b) }()
		err := <-done
		b.Close()
		if faultKind(err) != faultT1 || time.Since(start) != 15*time.Second {
			t.Fatalf("got %v after %v, want a t1 fault after 15s", err, time.Since(start))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p, _, stop := startSession(t, &fakeApp{}, 12)
		defer stop()
		start := time.Now()
		if a := p.read(); a.U != iec104.TestFRAct || time.Since(start) != 20*time.Second {
			t.Fatalf("got %+v after %v, want TESTFR act after t3", a, time.Since(start))
		}
		p.write(iec104.AppendU(nil, iec104.TestFRCon))
		p.write(iec104.AppendU(nil, iec104.TestFRAct))
		if a := p.read(); a.U != iec104.TestFRCon {
			t.Fatalf("got %+v, want TESTFR con", a)
		}
	})
}
