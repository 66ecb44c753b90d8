// Package outstation is an IEC 60870-5-104 controlled station (server)
// simulator: it serves points to a controlling station, answers general
// and counter interrogation and clock synchronisation, sends spontaneous
// changes, and injects faults on request. The receiver's tests and the
// testbench's `iec104` command use it.
package outstation

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

// Point is one information object the outstation serves.
type Point struct {
	CA      uint16
	IOA     uint32
	Type    iec104.TypeID // a monitoring type: 1, 3, 5, 7, 9, 11, 13, 15 or their time-tagged 30..37
	Value   float64       // as iec104.Object.Value: 0/1, DPI 0..3, normalised −1..1, ...
	Quality iec104.Quality
	// Time is the time tag of time-tagged types; zero means the time of sending.
	Time time.Time
	// TimeInvalid sets the time tag's IV bit.
	TimeInvalid bool
}

// Faults are switched on and off while the outstation runs.
type Faults struct {
	// IgnoreTestFR leaves TESTFR act unanswered.
	IgnoreTestFR atomic.Bool
	// IgnoreStartDT leaves STARTDT act unanswered.
	IgnoreStartDT atomic.Bool
	// WrongSeq sends the next I frame with a wrong N(S).
	WrongSeq atomic.Bool
	// Malformed sends octets that are no APDU before the next frame.
	Malformed atomic.Bool
	// IgnoreK sends spontaneous frames without waiting for acknowledgements
	// (bursts beyond the k window).
	IgnoreK atomic.Bool
	// Silent stops sending and answering anything (a hung RTU).
	Silent atomic.Bool
}

// Server is a simulated outstation.
type Server struct {
	Params iec104.Params
	K      int            // unacknowledged I frames sent before waiting (default 12)
	Loc    *time.Location // zone of the time tags (default UTC)
	Faults Faults

	mu     sync.Mutex
	points []Point // sorted by CA, IOA
	conns  map[*conn]struct{}
	stats  Stats
}

// Stats count what the outstation did.
type Stats struct {
	Connections     int
	Interrogations  int
	CounterRequests int
	ClockSyncs      int
	Spontaneous     int
}

// New returns an outstation serving points.
func New(points []Point) *Server {
	s := &Server{conns: map[*conn]struct{}{}}
	for _, p := range points {
		s.upsert(p)
	}
	return s
}

func key(p Point) (uint16, uint32) { return p.CA, p.IOA }

func (s *Server) find(ca uint16, ioa uint32) (int, bool) {
	return slices.BinarySearchFunc(s.points, Point{CA: ca, IOA: ioa}, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.CA, b.CA), cmp.Compare(a.IOA, b.IOA))
	})
}

func (s *Server) upsert(p Point) {
	i, ok := s.find(key(p))
	if ok {
		s.points[i] = p
		return
	}
	s.points = slices.Insert(s.points, i, p)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Points returns a copy of the points.
func (s *Server) Points() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.points)
}

// Set changes a point (added if new) and sends it spontaneously (cause 3)
// to every started connection.
func (s *Server) Set(p Point) { s.SetMany([]Point{p}) }

// SetMany changes several points at once: they are sent together, as
// many per ASDU as fit (points of one type and common address in a row).
func (s *Server) SetMany(pts []Point) {
	s.mu.Lock()
	for _, p := range pts {
		s.upsert(p)
	}
	s.stats.Spontaneous += len(pts)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	asdus := s.encodePoints(pts, iec104.CauseSpontaneous)
	for _, c := range conns {
		c.enqueue(asdus)
	}
}

// DropLinks closes every open connection (a link drop).
func (s *Server) DropLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.c.Close()
	}
}

// Connections reports the open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Serve accepts connections on l until ctx ends or l fails; each
// connection runs on its own goroutine. It returns after they all ended.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ServeConn(ctx, c)
		}()
	}
}

// conn is one controlling station's connection.
type conn struct {
	s       *Server
	c       net.Conn
	mu      sync.Mutex
	out     [][]byte // ASDUs to send
	notify  chan struct{}
	started bool
	vs, vr  uint16
	unacked int
	wbuf    []byte
}

func (c *conn) enqueue(asdus [][]byte) {
	c.mu.Lock()
	if !c.started {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, asdus...)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// ServeConn serves one connection until ctx ends or the peer leaves.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	c := &conn{s: s, c: nc, notify: make(chan struct{}, 1)}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.stats.Connections++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		nc.Close()
	}()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	// buffered like a socket's receive buffer: acknowledgements keep
	// arriving while the main loop writes a burst
	frames := make(chan []byte, 4096)
	errc := make(chan error, 1)
	done := make(chan struct{})
	readerDone := make(chan struct{})
	defer func() {
		close(done)
		nc.Close()
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		var hdr [2]byte
		for {
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				errc <- err
				return
			}
			n, err := iec104.FrameLen(hdr[:])
			if err != nil {
				errc <- err
				return
			}
			b := make([]byte, n)
			copy(b, hdr[:])
			if _, err := io.ReadFull(nc, b[2:]); err != nil {
				errc <- err
				return
			}
			select {
			case frames <- b:
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case b := <-frames:
			if s.Faults.Silent.Load() {
				continue
			}
			if err := c.handle(b); err != nil {
				return err
			}
		case <-c.notify:
		}
		if err := c.flush(); err != nil {
			return err
		}
	}
}

func (c *conn) handle(b []byte) error {
	a, err := iec104.Parse(b)
	if err != nil {
		return err
	}
	switch a.Format {
	case iec104.FormatU:
		switch a.U {
		case iec104.StartDTAct:
			if c.s.Faults.IgnoreStartDT.Load() {
				return nil
			}
			c.mu.Lock()
			c.started = true
			c.mu.Unlock()
			return c.write(iec104.AppendU(c.wbuf[:0], iec104.StartDTCon))
		case iec104.StopDTAct:
			c.mu.Lock()
			c.started = false
			c.mu.Unlock()
			return c.write(iec104.AppendU(c.wbuf[:0], iec104.StopDTCon))
		case iec104.TestFRAct:
			if c.s.Faults.IgnoreTestFR.Load() {
				return nil
			}
			return c.write(iec104.AppendU(c.wbuf[:0], iec104.TestFRCon))
		}
	case iec104.FormatS:
		c.acked(a.RecvSeq)
	case iec104.FormatI:
		c.acked(a.RecvSeq)
		c.vr = (c.vr + 1) % iec104.SeqModulo
		return c.command(a.ASDU)
	}
	return nil
}

func (c *conn) acked(nr uint16) {
	c.unacked = int(iec104.SeqDiff(nr, c.vs))
}

// command answers a controlling station's ASDU.
func (c *conn) command(b []byte) error {
	p := c.s.Params
	a, err := p.Decode(b, nil)
	if err != nil {
		return nil // an outstation answers unknown types with cause 44; the receiver sends none
	}
	reply := func(cause iec104.Cause) []byte {
		r := a
		r.Cause = cause
		out, _ := p.Encode(nil, r)
		return out
	}
	var out [][]byte
	switch a.Type {
	case iec104.CIcNa1:
		c.s.mu.Lock()
		c.s.stats.Interrogations++
		pts := c.s.pointsOf(a.CommonAddr, false)
		c.s.mu.Unlock()
		// interrogation replies carry the types without time tag, as
		// IEC 104 outstations send them: the value's time is the reply's
		for i := range pts {
			pts[i].Type = untimed(pts[i].Type)
		}
		out = append(out, reply(iec104.CauseActivationCon))
		out = append(out, c.s.encodePoints(pts, iec104.CauseInterrogated)...)
		out = append(out, reply(iec104.CauseActivationTerm))
	case iec104.CCiNa1:
		c.s.mu.Lock()
		c.s.stats.CounterRequests++
		pts := c.s.pointsOf(a.CommonAddr, true)
		c.s.mu.Unlock()
		out = append(out, reply(iec104.CauseActivationCon))
		out = append(out, c.s.encodePoints(pts, iec104.CauseCounterReq)...)
		out = append(out, reply(iec104.CauseActivationTerm))
	case iec104.CCsNa1:
		c.s.mu.Lock()
		c.s.stats.ClockSyncs++
		c.s.mu.Unlock()
		out = append(out, reply(iec104.CauseActivationCon))
	default:
		r := a
		r.Cause, r.Negative = iec104.CauseUnknownType, true
		b, err := p.Encode(nil, r)
		if err == nil {
			out = append(out, b)
		}
	}
	c.mu.Lock()
	c.out = append(c.out, out...)
	c.mu.Unlock()
	return nil
}

// untimed is the type without time tag of a time-tagged monitoring type.
func untimed(t iec104.TypeID) iec104.TypeID {
	switch t {
	case iec104.MSpTb1:
		return iec104.MSpNa1
	case iec104.MDpTb1:
		return iec104.MDpNa1
	case iec104.MStTb1:
		return iec104.MStNa1
	case iec104.MBoTb1:
		return iec104.MBoNa1
	case iec104.MMeTd1:
		return iec104.MMeNa1
	case iec104.MMeTe1:
		return iec104.MMeNb1
	case iec104.MMeTf1:
		return iec104.MMeNc1
	}
	return t
}

func isCounter(t iec104.TypeID) bool { return t == iec104.MItNa1 || t == iec104.MItTb1 }

// pointsOf returns the points of ca: the counters, or everything else.
// Called with s.mu held.
func (s *Server) pointsOf(ca uint16, counters bool) []Point {
	var out []Point
	for _, p := range s.points {
		if p.CA == ca && isCounter(p.Type) == counters {
			out = append(out, p)
		}
	}
	return out
}

// encodePoints renders points as ASDUs of one type each (SQ=0), as many
// objects per ASDU as fit.
func (s *Server) encodePoints(pts []Point, cause iec104.Cause) [][]byte {
	var out [][]byte
	var cur iec104.ASDU
	var size int
	flush := func() {
		if len(cur.Objects) == 0 {
			return
		}
		b, err := s.Params.Encode(nil, cur)
		if err == nil {
			out = append(out, b)
		}
		cur.Objects = nil
	}
	now := time.Now()
	params := s.Params
	if params.IOASize == 0 {
		params = iec104.DefaultParams
	}
	for _, p := range pts {
		o := objectOf(p, now, s.Loc)
		per := params.IOASize + elementSize(p.Type)
		if p.Type != cur.Type || p.CA != cur.CommonAddr || size+per > iec104.MaxASDULen || len(cur.Objects) == 127 {
			flush()
			cur = iec104.ASDU{Type: p.Type, Cause: cause, CommonAddr: p.CA}
			size = 2 + params.COTSize + params.CASize
		}
		cur.Objects = append(cur.Objects, o)
		size += per
	}
	flush()
	return out
}

func elementSize(t iec104.TypeID) int {
	b, err := iec104.DefaultParams.Encode(nil, iec104.ASDU{Type: t, Objects: []iec104.Object{{}}})
	if err != nil {
		return 0
	}
	return len(b) - 6 - 3
}

// objectOf renders a point as an information object.
func objectOf(p Point, now time.Time, loc *time.Location) iec104.Object {
	o := iec104.Object{IOA: p.IOA, Value: p.Value, Quality: p.Quality}
	switch p.Type {
	case iec104.MMeNa1, iec104.MMeTd1:
		v := p.Value * 32768
		o.Raw = int64(max(-32768, min(32767, v)))
	case iec104.MMeNc1, iec104.MMeTf1:
	default:
		o.Raw = int64(p.Value)
	}
	switch p.Type {
	case iec104.MSpTb1, iec104.MDpTb1, iec104.MStTb1, iec104.MBoTb1, iec104.MMeTd1, iec104.MMeTe1, iec104.MMeTf1, iec104.MItTb1:
		t := p.Time
		if t.IsZero() {
			t = now
		}
		o.HasTime = true
		o.Time = iec104.NewCP56Time2a(t, loc)
		o.Time.IV = p.TimeInvalid
	}
	return o
}

// flush sends queued ASDUs while the k window allows.
func (c *conn) flush() error {
	k := cmp.Or(c.s.K, 12)
	for {
		if c.s.Faults.Silent.Load() {
			return nil
		}
		if c.unacked >= k && !c.s.Faults.IgnoreK.Load() {
			return nil
		}
		c.mu.Lock()
		if len(c.out) == 0 {
			c.mu.Unlock()
			return nil
		}
		asdu := c.out[0]
		c.out = c.out[1:]
		c.mu.Unlock()
		if c.s.Faults.Malformed.Swap(false) {
			if err := c.write([]byte{0x68, 0x02, 0x00, 0x01, 0x05, 0x05}); err != nil {
				return err
			}
		}
		ns := c.vs
		if c.s.Faults.WrongSeq.Swap(false) {
			ns += 5
		}
		b, err := iec104.AppendI(c.wbuf[:0], ns, c.vr, asdu)
		if err != nil {
			continue
		}
		if err := c.write(b); err != nil {
			return err
		}
		c.vs = (c.vs + 1) % iec104.SeqModulo
		c.unacked++
	}
}

func (c *conn) write(b []byte) error {
	c.wbuf = b[:0]
	if err := c.c.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	_, err := c.c.Write(b)
	return err
}
