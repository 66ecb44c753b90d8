package scadareceiver

import (
	"bytes"
	"log"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"
)

// link is one Modbus TCP connection: to a single RTU, or to a gateway that
// several RTUs (unit ids) share. Only its lane goroutine uses it, so the
// requests of a gateway's RTUs are serialised.
type link struct {
	name    string
	url     string
	timeout time.Duration
	rc      ReconnectConfig

	client   *modbus.ModbusClient
	watch    *libWatch
	everUp   bool
	failures int
	nextDial time.Time
}

// libWatch receives the library's log lines; a frame with a foreign
// transaction id is only visible there.
type libWatch struct{ badTxn atomic.Bool }

func (w *libWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("unexpected transaction id")) {
		w.badTxn.Store(true)
	}
	return len(p), nil
}

// dial opens the connection. reconnect reports whether it replaced one
// that was lost.
func (l *link) dial() (reconnect bool, err error) {
	l.watch = &libWatch{}
	c, err := modbus.NewClient(&modbus.ClientConfiguration{
		URL:     l.url,
		Timeout: l.timeout,
		Logger:  log.New(l.watch, "", 0),
	})
	if err != nil {
		return false, err
	}
	if err := c.Open(); err != nil {
		return false, err
	}
	l.client = c
	reconnect = l.everUp
	l.everUp = true
	return reconnect, nil
}

// fail closes the connection and schedules the next dial with exponential
// backoff and jitter.
func (l *link) fail() {
	if l.client != nil {
		_ = l.client.Close()
		l.client = nil
	}
	wait := l.rc.InitialInterval
	for i := 0; i < l.failures && wait < l.rc.MaxInterval; i++ {
		wait *= 2
	}
	wait = min(wait, l.rc.MaxInterval)
	if l.rc.Jitter > 0 {
		wait -= time.Duration(float64(wait) * l.rc.Jitter * rand.Float64())
	}
	l.failures++
	l.nextDial = time.Now().Add(wait)
}

func (l *link) close() {
	if l.client != nil {
		_ = l.client.Close()
		l.client = nil
	}
}

// read performs one planned read for unit and returns the registers (bits
// as 0/1 registers) in dst. reconnected is true when a lost connection was
// re-established for this read.
func (l *link) read(now time.Time, unit uint8, r *readReq, dst []uint16) (out []uint16, reconnected bool, err error) {
	if l.client == nil {
		if now.Before(l.nextDial) {
			return nil, false, errBackoff
		}
		if reconnected, err = l.dial(); err != nil {
			l.fail()
			return nil, false, err
		}
	}
	_ = l.client.SetUnitId(unit)
	l.watch.badTxn.Store(false)
	dst = dst[:0]
	switch r.reg {
	case regHolding, regInput:
		rt := modbus.HOLDING_REGISTER
		if r.reg == regInput {
			rt = modbus.INPUT_REGISTER
		}
		var regs []uint16
		regs, err = l.client.ReadRegisters(uint16(r.addr), uint16(r.count), rt)
		dst = append(dst, regs...)
	default:
		var bits []bool
		if r.reg == regCoil {
			bits, err = l.client.ReadCoils(uint16(r.addr), uint16(r.count))
		} else {
			bits, err = l.client.ReadDiscreteInputs(uint16(r.addr), uint16(r.count))
		}
		for _, b := range bits {
			v := uint16(0)
			if b {
				v = 1
			}
			dst = append(dst, v)
		}
	}
	if err != nil {
		if l.watch.badTxn.Load() {
			err = errBadTxnID
		}
		if !isException(err) {
			// The stream may hold the rest of a bad frame: start afresh.
			l.fail()
		} else {
			l.failures = 0
		}
		return nil, reconnected, err
	}
	if len(dst) != r.count {
		l.fail()
		return nil, reconnected, modbus.ErrProtocolError
	}
	l.failures = 0
	return dst, reconnected, nil
}
