package outstation

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type client struct {
	t  *testing.T
	c  net.Conn
	vs uint16
}

func (c *client) read() iec104.APDU {
	c.t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		c.t.Fatal(err)
	}
	b := make([]byte, int(hdr[1])+2)
	copy(b, hdr[:])
	if _, err := io.ReadFull(c.c, b[2:]); err != nil {
		c.t.Fatal(err)
	}
	a, err := iec104.Parse(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *client) send(a iec104.ASDU) {
	b, _ := iec104.DefaultParams.Encode(nil, a)
	f, _ := iec104.AppendI(nil, c.vs, 0, b)
	c.vs++
	if _, err := c.c.Write(f); err != nil {
		c.t.Fatal(err)
	}
}

// TestInterrogationReply: STARTDT is confirmed; a general interrogation is
// answered with its confirmation, the points of its common address without
// time tags, and its termination; a change is sent with its time tag.
func TestInterrogationReply(t *testing.T) {
	src := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	s := New([]Point{
		{CA: 1, IOA: 10, Type: iec104.MMeTf1, Value: 1.5, Time: src},
		{CA: 1, IOA: 11, Type: iec104.MMeTf1, Value: 2.5},
		{CA: 1, IOA: 20, Type: iec104.MDpNa1, Value: iec104.DPIOn},
		{CA: 2, IOA: 10, Type: iec104.MSpNa1, Value: 1},
		{CA: 1, IOA: 30, Type: iec104.MItNa1, Value: 42},
	})
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.ServeConn(ctx, b) }()
	defer func() { cancel(); a.Close(); <-done }()
	c := &client{t: t, c: a}
	if _, err := a.Write(iec104.AppendU(nil, iec104.StartDTAct)); err != nil {
		t.Fatal(err)
	}
	if u := c.read(); u.U != iec104.StartDTCon {
		t.Fatalf("%+v", u)
	}
	c.send(iec104.Interrogation(1))
	var got []iec104.ASDU
	for {
		f := c.read()
		asdu, err := iec104.DefaultParams.Decode(f.ASDU, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, asdu)
		if asdu.Cause == iec104.CauseActivationTerm {
			break
		}
	}
	if len(got) != 4 || got[0].Cause != iec104.CauseActivationCon || got[1].Type != iec104.MMeNc1 || len(got[1].Objects) != 2 ||
		got[2].Type != iec104.MDpNa1 || got[2].Objects[0].Raw != iec104.DPIOn || got[1].Cause != iec104.CauseInterrogated {
		t.Fatalf("reply %+v", got)
	}
	c.send(iec104.CounterInterrogation(1))
	c.read()
	f := c.read()
	if asdu, _ := iec104.DefaultParams.Decode(f.ASDU, nil); asdu.Type != iec104.MItNa1 || asdu.Objects[0].Raw != 42 {
		t.Fatalf("counters %+v", asdu)
	}
	c.read()
	s.Set(Point{CA: 1, IOA: 10, Type: iec104.MMeTf1, Value: 3, Time: src})
	f = c.read()
	asdu, _ := iec104.DefaultParams.Decode(f.ASDU, nil)
	if tm, ok := asdu.Objects[0].Time.Time(time.UTC); asdu.Cause != iec104.CauseSpontaneous || !ok || !tm.Equal(src) || asdu.Objects[0].Value != 3 {
		t.Fatalf("change %+v", asdu)
	}
	if st := s.Stats(); st.Interrogations != 1 || st.CounterRequests != 1 || st.Spontaneous != 1 {
		t.Errorf("stats %+v", st)
	}
}
