package scadareceiver

import (
	"encoding/binary"
	"errors"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"
)

// rawServer is a Modbus TCP server written by hand so that it can
// misbehave on purpose. reply gets each request frame (MBAP + PDU) and
// writes whatever it likes; returning false closes the connection.
type rawServer struct {
	ln    net.Listener
	reply func(c net.Conn, req []byte) bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startRaw(t testing.TB, reply func(c net.Conn, req []byte) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, reply: reply}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				for {
					hdr := make([]byte, 7)
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n := int(binary.BigEndian.Uint16(hdr[4:6])) - 1
					if n < 0 || n > 253 {
						return
					}
					body := make([]byte, n)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					if !s.reply(c, append(hdr, body...)) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *rawServer) url() string { return "tcp://" + s.ln.Addr().String() }

func (s *rawServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// frame builds an MBAP frame with the given transaction id, unit and PDU.
func frame(txn uint16, unit byte, pdu []byte) []byte {
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b[0:], txn)
	binary.BigEndian.PutUint16(b[4:], uint16(len(pdu)+1))
	b[6] = unit
	return append(b, pdu...)
}

// goodPDU answers an FC3/FC4 request with registers 0x0101, 0x0202, ...
func goodPDU(req []byte) []byte {
	qty := int(binary.BigEndian.Uint16(req[10:12]))
	pdu := []byte{req[7], byte(2 * qty)}
	for i := range qty {
		pdu = append(pdu, byte(i+1), byte(i+1))
	}
	return pdu
}

func reqTxn(req []byte) uint16 { return binary.BigEndian.Uint16(req[0:2]) }

func TestLinkClassifiesMisbehaviour(t *testing.T) {
	type behaviour struct {
		name  string
		reply func(c net.Conn, req []byte) bool
		kind  string
		code  int
	}
	write := func(c net.Conn, b []byte) { _, _ = c.Write(b) }
	cases := []behaviour{
		{"good", func(c net.Conn, r []byte) bool { write(c, frame(reqTxn(r), r[6], goodPDU(r))); return true }, "", 0},
		{"wrong transaction id", func(c net.Conn, r []byte) bool { write(c, frame(reqTxn(r)+7, r[6], goodPDU(r))); return true }, faultMalformed, 0},
		{"wrong unit id", func(c net.Conn, r []byte) bool { write(c, frame(reqTxn(r), r[6]+1, goodPDU(r))); return true }, faultMalformed, 0},
		{"short reply", func(c net.Conn, r []byte) bool {
			p := goodPDU(r)
			write(c, frame(reqTxn(r), r[6], p[:len(p)-2]))
			return true
		}, faultMalformed, 0},
		{"overlong reply", func(c net.Conn, r []byte) bool {
			p := append(goodPDU(r), 0xee, 0xee)
			p[1] += 2
			write(c, frame(reqTxn(r), r[6], p))
			return true
		}, faultMalformed, 0},
		{"MBAP length 0", func(c net.Conn, r []byte) bool { write(c, []byte{r[0], r[1], 0, 0, 0, 0, r[6]}); return true }, faultMalformed, 0},
		{"truncated then silent", func(c net.Conn, r []byte) bool {
			write(c, frame(reqTxn(r), r[6], goodPDU(r))[:9])
			return true
		}, faultTimeout, 0},
		{"disconnect mid-reply", func(c net.Conn, r []byte) bool {
			write(c, frame(reqTxn(r), r[6], goodPDU(r))[:9])
			return false
		}, faultDisconnect, 0},
		{"garbage", func(c net.Conn, r []byte) bool { write(c, []byte("HTTP/1.1 400 Bad Request\r\n\r\n")); return true }, faultMalformed, 0},
		{"wrong protocol id", func(c net.Conn, r []byte) bool {
			f := frame(reqTxn(r), r[6], goodPDU(r))
			f[2] = 0x12
			write(c, f)
			return true
		}, faultTimeout, 0},
		{"wrong function code", func(c net.Conn, r []byte) bool {
			p := goodPDU(r)
			p[0] = 0x2b
			write(c, frame(reqTxn(r), r[6], p))
			return true
		}, faultMalformed, 0},
		{"hang", func(net.Conn, []byte) bool { time.Sleep(time.Second); return true }, faultTimeout, 0},
	}
	for _, code := range []byte{1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 0x7f} {
		cases = append(cases, behaviour{"exception", func(c net.Conn, r []byte) bool {
			write(c, frame(reqTxn(r), r[6], []byte{r[7] | 0x80, code}))
			return true
		}, faultException, int(code)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startRaw(t, tc.reply)
			l := &link{name: "x", url: srv.url(), timeout: 100 * time.Millisecond,
				rc: ReconnectConfig{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}}
			defer l.close()
			regs, _, err := l.read(time.Now(), 1, &readReq{reg: regHolding, addr: 0, count: 3}, nil)
			kind, code := classify(err)
			if kind != tc.kind || code != tc.code {
				t.Fatalf("err %v classified %q code %d, want %q code %d", err, kind, code, tc.kind, tc.code)
			}
			if tc.kind == "" {
				if len(regs) != 3 || regs[0] != 0x0101 || regs[2] != 0x0303 {
					t.Fatalf("regs %04x", regs)
				}
				return
			}
			if (tc.kind == faultException) != (l.client != nil) {
				t.Errorf("after %s the connection was kept=%v; only exceptions keep it", tc.kind, l.client != nil)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		l := &link{url: "tcp://" + e2e.FreeAddr(t), timeout: 100 * time.Millisecond, rc: ReconnectConfig{InitialInterval: time.Second, MaxInterval: time.Second}}
		_, _, err := l.read(time.Now(), 1, &readReq{reg: regHolding, count: 1}, nil)
		if k, _ := classify(err); k != faultRefused {
			t.Fatalf("%v classified %q", err, k)
		}
		// Within the backoff no new dial is attempted.
		_, _, err = l.read(time.Now(), 1, &readReq{reg: regHolding, count: 1}, nil)
		if !errors.Is(err, errBackoff) {
			t.Fatalf("second read: %v, want backoff", err)
		}
	})
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	l := &link{rc: ReconnectConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, Jitter: 0.2}}
	var waits []time.Duration
	for range 8 {
		before := time.Now()
		l.fail()
		waits = append(waits, l.nextDial.Sub(before))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000, 1000}
	for i, w := range want {
		hi := w * time.Millisecond
		lo := hi - hi/5
		if waits[i] < lo-time.Millisecond || waits[i] > hi+time.Millisecond {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, waits[i], lo, hi)
		}
	}
}

// A misbehaving RTU yields flagged comm_lost samples and counted errors,
// while a good RTU beside it keeps delivering every poll on time; the
// misbehaving one hangs for 10x its timeout.
func TestReceiverIsolatesHungAndGarbageRTUs(t *testing.T) {
	hung := startRaw(t, func(net.Conn, []byte) bool { time.Sleep(time.Second); return true }) // 10x the 100ms timeout
	garbage := startRaw(t, func(c net.Conn, r []byte) bool {
		_, _ = c.Write([]byte("\x00\x01\x00\x00\xff\xff garbage"))
		return true
	})
	var rtus []any
	pt := []any{map[string]any{"name": "p", "kind": "pressure", "register": "holding", "address": 0, "unit": "bar"}}
	for i := range 3 {
		s := startSim(t)
		s.set(func(u func(uint8) *image) { u(1).holding[0] = uint16(100 + i) })
		rtus = append(rtus, map[string]any{"name": "good" + string(rune('0'+i)), "endpoint": s.url(), "unit_id": 1, "tenant": "t1", "station": "s", "timeout": "100ms", "points": pt})
	}
	rtus = append(rtus,
		map[string]any{"name": "hung", "endpoint": hung.url(), "unit_id": 1, "tenant": "t1", "station": "s", "timeout": "100ms", "points": pt},
		map[string]any{"name": "garbage", "endpoint": garbage.url(), "unit_id": 1, "tenant": "t1", "station": "s", "timeout": "100ms", "points": pt})
	cfg := testConfig(t, map[string]any{
		"poll_groups": fastGroups(),
		"reconnect":   map[string]any{"initial_interval": "10ms", "max_interval": "20ms"},
		"rtus":        rtus,
	})
	s := &sink{}
	core, logs := observer.New(zap.WarnLevel)
	r, tel := startReceiverLogged(t, cfg, s, zap.New(core))
	time.Sleep(2 * time.Second)
	_ = r.Shutdown(t.Context())

	pts := flatten(s.all())
	byRTU := map[string][]dp{}
	for _, p := range pts {
		if p.metric == metricPressure {
			rtu := p.resource["scada.rtu"].(string)
			byRTU[rtu] = append(byRTU[rtu], p)
		}
	}
	var lags []time.Duration
	for i := range 3 {
		name := "good" + string(rune('0'+i))
		got := byRTU[name]
		if len(got) < 30 { // 40 ticks in 2s at 50ms, minus start/stop edges and load
			t.Errorf("%s delivered %d polls in 2s, want ~40", name, len(got))
		}
		for _, p := range got {
			if p.attrs["quality"] != "good" || p.value != float64(100+i) {
				t.Fatalf("%s sample %+v", name, p)
			}
			lags = append(lags, p.ts.Sub(p.ts.Truncate(50*time.Millisecond)))
		}
	}
	slicesSortDur(lags)
	p99 := lags[len(lags)*99/100]
	t.Logf("good RTUs: %d samples, p50 lag %v, p99 lag %v, max %v", len(lags), lags[len(lags)/2], p99, lags[len(lags)-1])
	// The benchmark target is 20ms; CI shares 2 cores with other packages'
	// tests, so the hard bound here leaves room for OS scheduling noise.
	if p99 > 50*time.Millisecond {
		t.Errorf("p99 poll lag of good RTUs %v beside a hung one, want < 50ms", p99)
	}
	for _, bad := range []string{"hung", "garbage"} {
		got := byRTU[bad]
		if len(got) == 0 {
			t.Fatalf("%s: no samples (a failed read must not be a silent gap)", bad)
		}
		for _, p := range got {
			if p.attrs["quality"] != "comm_lost" || !p.noValue || !math.IsNaN(p.value) {
				t.Fatalf("%s sample %+v, want flagged comm_lost", bad, p)
			}
		}
	}
	if n := counterSum(t, tel, MetricErrors, map[string]string{"rtu": "hung", "kind": "timeout"}); n == 0 {
		t.Error("hung RTU: no timeouts counted")
	}
	malformed := counterSum(t, tel, MetricErrors, map[string]string{"rtu": "garbage", "kind": "malformed"})
	if malformed < 10 {
		t.Errorf("garbage RTU: %d malformed replies counted", malformed)
	}
	// Faults are logged, rate-limited: one line per RTU and kind per
	// log_interval (30s), however many faults.
	lines := logs.FilterMessage("Modbus read failed").FilterField(zap.String("rtu", "garbage")).Len()
	if lines != 1 {
		t.Errorf("%d log lines for %d malformed replies, want 1 (rate-limited)", lines, malformed)
	}
	if n := counterSum(t, tel, MetricSkipped, map[string]string{"rtu": "hung"}); n == 0 {
		t.Error("hung RTU: overrunning polls not counted as skipped")
	}
}
