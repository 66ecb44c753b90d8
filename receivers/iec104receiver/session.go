package iec104receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

// linkConfig is the link layer's parameters (IEC 60870-5-104 §9.6).
type linkConfig struct {
	k, w       int
	t1, t2, t3 time.Duration
}

// Link faults, the kind attribute of scadaotel_iec104_link_errors.
const (
	faultRefused   = "refused"   // dial failed (t0 or refused)
	faultClosed    = "closed"    // the outstation closed the connection
	faultT1        = "t1"        // an I frame, STARTDT or TESTFR was not confirmed within t1
	faultSequence  = "sequence"  // N(S) or N(R) out of order
	faultMalformed = "malformed" // bytes that are no APDU
	faultWrite     = "write"     // a send failed or stalled past t1
)

// linkError is why a session ended.
type linkError struct {
	kind string
	err  error
}

func (e *linkError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

func linkErr(kind string, format string, args ...any) error {
	return &linkError{kind: kind, err: fmt.Errorf(format, args...)}
}

// faultKind classifies a session's end.
func faultKind(err error) string {
	var le *linkError
	if errors.As(err, &le) {
		return le.kind
	}
	return faultClosed
}

// sessionHandler is the application on top of a session. Its methods run
// on the session's goroutine.
type sessionHandler interface {
	// started is called when the outstation confirmed STARTDT.
	started(s *session, now time.Time)
	// asdu is called for each received ASDU (raw octets, valid until it returns).
	asdu(b []byte, now time.Time)
	// due runs the periodic duties (interrogations) that are due.
	due(s *session, now time.Time)
	// next is when due next wants to run, zero for never.
	next() time.Time
	// frame counts one APDU; rx is the direction.
	frame(f iec104.Format, rx bool)
}

// session is one started (or starting) connection to an outstation; only
// its own goroutine touches it.
type session struct {
	cfg  linkConfig
	conn net.Conn
	h    sessionHandler

	vs, vr, ack uint16      // next N(S) to send, next N(R) expected, oldest unacknowledged N(S)
	sent        []time.Time // send times of unacknowledged I frames, oldest first
	queue       [][]byte    // ASDUs waiting for the k window
	rxUnacked   int         // I frames received since our last acknowledgement
	t2Due       time.Time
	testSince   time.Time // a TESTFR act waits for its con since then
	startSince  time.Time // STARTDT act waits for its con since then
	lastRx      time.Time
	isStarted   bool
	wbuf        []byte
}

type rxFrame struct {
	b   []byte
	err error
}

// readFrames reads APDUs from c until an error, passing each to out.
func readFrames(c net.Conn, out chan<- rxFrame, done <-chan struct{}) {
	var hdr [2]byte
	for {
		f := rxFrame{}
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			f.err = err
		} else if n, err := iec104.FrameLen(hdr[:]); err != nil {
			f.err = &linkError{kind: faultMalformed, err: err}
		} else {
			f.b = make([]byte, n)
			copy(f.b, hdr[:])
			if _, err := io.ReadFull(c, f.b[2:]); err != nil {
				f.err = err
			}
		}
		select {
		case out <- f:
		case <-done:
			return
		}
		if f.err != nil {
			return
		}
	}
}

// run drives the session until ctx ends or the link fails; it always
// closes the connection and waits for its reader.
func (s *session) run(ctx context.Context) error {
	rx := make(chan rxFrame, 8)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); readFrames(s.conn, rx, done) }()
	defer func() {
		close(done)
		s.conn.Close()
		wg.Wait()
	}()
	// a write blocked on a stalled outstation ends at shutdown, not at t1
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	now := time.Now()
	s.lastRx = now
	if err := s.sendU(iec104.StartDTAct, now); err != nil {
		return err
	}
	s.startSince = now
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(s.nextDeadline()))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f := <-rx:
			now := time.Now()
			if f.err != nil {
				if errors.Is(f.err, io.EOF) || errors.Is(f.err, io.ErrUnexpectedEOF) {
					return linkErr(faultClosed, "connection closed by the outstation")
				}
				var le *linkError
				if errors.As(f.err, &le) {
					return f.err
				}
				return linkErr(faultClosed, "read: %w", f.err)
			}
			if err := s.receive(f.b, now); err != nil {
				return err
			}
		case <-timer.C:
			if err := s.onTime(time.Now()); err != nil {
				return err
			}
		}
	}
}

// nextDeadline is the earliest timer the session waits for.
func (s *session) nextDeadline() time.Time {
	var next time.Time
	min := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if len(s.sent) > 0 {
		min(s.sent[0].Add(s.cfg.t1))
	}
	if !s.testSince.IsZero() {
		min(s.testSince.Add(s.cfg.t1))
	}
	if !s.startSince.IsZero() {
		min(s.startSince.Add(s.cfg.t1))
	}
	min(s.t2Due)
	if s.testSince.IsZero() {
		min(s.lastRx.Add(s.cfg.t3))
	}
	if s.isStarted {
		min(s.h.next())
	}
	return next
}

// onTime handles every timer that is due at now.
func (s *session) onTime(now time.Time) error {
	if len(s.sent) > 0 && !now.Before(s.sent[0].Add(s.cfg.t1)) {
		return linkErr(faultT1, "I frame N(S)=%d not acknowledged within t1 (%s)", s.ack, s.cfg.t1)
	}
	if !s.testSince.IsZero() && !now.Before(s.testSince.Add(s.cfg.t1)) {
		return linkErr(faultT1, "TESTFR act not confirmed within t1 (%s)", s.cfg.t1)
	}
	if !s.startSince.IsZero() && !now.Before(s.startSince.Add(s.cfg.t1)) {
		return linkErr(faultT1, "STARTDT act not confirmed within t1 (%s)", s.cfg.t1)
	}
	if !s.t2Due.IsZero() && !now.Before(s.t2Due) {
		if err := s.sendS(now); err != nil {
			return err
		}
	}
	if s.testSince.IsZero() && !now.Before(s.lastRx.Add(s.cfg.t3)) {
		if err := s.sendU(iec104.TestFRAct, now); err != nil {
			return err
		}
		s.testSince = now
	}
	if s.isStarted {
		if t := s.h.next(); !t.IsZero() && !now.Before(t) {
			s.h.due(s, now)
		}
	}
	return nil
}

// receive handles one APDU.
func (s *session) receive(b []byte, now time.Time) error {
	s.lastRx = now
	a, err := iec104.Parse(b)
	if err != nil {
		return &linkError{kind: faultMalformed, err: err}
	}
	s.h.frame(a.Format, true)
	switch a.Format {
	case iec104.FormatI:
		if a.SendSeq != s.vr {
			return linkErr(faultSequence, "received N(S)=%d, expected %d", a.SendSeq, s.vr)
		}
		if err := s.acknowledged(a.RecvSeq, now); err != nil {
			return err
		}
		s.vr = (s.vr + 1) % iec104.SeqModulo
		s.rxUnacked++
		s.h.asdu(a.ASDU, now)
		if s.rxUnacked >= s.cfg.w {
			return s.sendS(now)
		}
		if s.t2Due.IsZero() {
			s.t2Due = now.Add(s.cfg.t2)
		}
	case iec104.FormatS:
		return s.acknowledged(a.RecvSeq, now)
	case iec104.FormatU:
		switch a.U {
		case iec104.TestFRAct:
			return s.sendU(iec104.TestFRCon, now)
		case iec104.TestFRCon:
			s.testSince = time.Time{}
		case iec104.StartDTCon:
			if !s.startSince.IsZero() {
				s.startSince = time.Time{}
				s.isStarted = true
				s.h.started(s, now)
				s.h.due(s, now)
			}
		case iec104.StopDTCon:
			return linkErr(faultClosed, "outstation confirmed a STOPDT it was not asked for")
		}
	}
	return nil
}

// acknowledged applies a received N(R): every I frame before it is
// confirmed. An N(R) outside [ack, vs] is a sequence error.
func (s *session) acknowledged(nr uint16, now time.Time) error {
	n := iec104.SeqDiff(s.ack, nr)
	if int(n) > len(s.sent) {
		return linkErr(faultSequence, "received N(R)=%d acknowledges frames never sent (oldest unacknowledged %d, next %d)", nr, s.ack, s.vs)
	}
	s.sent = s.sent[n:]
	s.ack = nr
	for len(s.queue) > 0 && len(s.sent) < s.cfg.k {
		q := s.queue[0]
		s.queue = s.queue[1:]
		if err := s.writeI(q, now); err != nil {
			return err
		}
	}
	return nil
}

// sendASDU sends an ASDU now, or once the k window has room.
func (s *session) sendASDU(asdu []byte, now time.Time) error {
	if len(s.sent) >= s.cfg.k {
		s.queue = append(s.queue, asdu)
		return nil
	}
	return s.writeI(asdu, now)
}

func (s *session) writeI(asdu []byte, now time.Time) error {
	b, err := iec104.AppendI(s.wbuf[:0], s.vs, s.vr, asdu)
	if err != nil {
		return err
	}
	s.wbuf = b
	if err := s.write(b, now); err != nil {
		return err
	}
	s.h.frame(iec104.FormatI, false)
	s.vs = (s.vs + 1) % iec104.SeqModulo
	s.sent = append(s.sent, now)
	s.rxUnacked, s.t2Due = 0, time.Time{} // the I frame's N(R) acknowledges
	return nil
}

func (s *session) sendS(now time.Time) error {
	s.wbuf = iec104.AppendS(s.wbuf[:0], s.vr)
	s.rxUnacked, s.t2Due = 0, time.Time{}
	if err := s.write(s.wbuf, now); err != nil {
		return err
	}
	s.h.frame(iec104.FormatS, false)
	return nil
}

func (s *session) sendU(u iec104.UFunc, now time.Time) error {
	s.wbuf = iec104.AppendU(s.wbuf[:0], u)
	if err := s.write(s.wbuf, now); err != nil {
		return err
	}
	s.h.frame(iec104.FormatU, false)
	return nil
}

// write sends b; an outstation that does not take it within t1 has
// stalled the link.
func (s *session) write(b []byte, now time.Time) error {
	if err := s.conn.SetWriteDeadline(now.Add(s.cfg.t1)); err != nil {
		return &linkError{kind: faultWrite, err: err}
	}
	if _, err := s.conn.Write(b); err != nil {
		return &linkError{kind: faultWrite, err: err}
	}
	return nil
}
