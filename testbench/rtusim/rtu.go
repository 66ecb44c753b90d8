package rtusim

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"
)

// FaultMode is how an RTU misbehaves.
type FaultMode string

// Fault modes. Delay and exception are served by the Modbus server; hang,
// garbage and drop by a raw TCP listener on the same address; refuse closes
// the port.
const (
	FaultNone      FaultMode = ""
	FaultRefuse    FaultMode = "refuse"
	FaultHang      FaultMode = "hang"
	FaultDelay     FaultMode = "delay"
	FaultException FaultMode = "exception"
	FaultGarbage   FaultMode = "garbage"
	FaultDrop      FaultMode = "drop" // drop the connection mid-reply
)

// Fault is an RTU's current fault.
type Fault struct {
	Mode FaultMode `yaml:"mode" json:"mode"`
	// Delay before each reply (mode delay).
	Delay time.Duration `yaml:"delay" json:"delay,omitempty"`
	// Exception code returned for every request (mode exception):
	// 1-6, 8, 10 or 11.
	Exception uint8 `yaml:"exception" json:"exception,omitempty"`
}

var exceptionErrors = map[uint8]error{
	1: modbus.ErrIllegalFunction, 2: modbus.ErrIllegalDataAddress, 3: modbus.ErrIllegalDataValue,
	4: modbus.ErrServerDeviceFailure, 5: modbus.ErrAcknowledge, 6: modbus.ErrServerDeviceBusy,
	8: modbus.ErrMemoryParityError, 10: modbus.ErrGWPathUnavailable, 11: modbus.ErrGWTargetFailedToRespond,
}

// Validate checks the fault's fields.
func (f Fault) Validate() error {
	switch f.Mode {
	case FaultNone, FaultRefuse, FaultHang, FaultGarbage, FaultDrop:
	case FaultDelay:
		if f.Delay <= 0 {
			return errors.New("fault delay: delay must be positive")
		}
	case FaultException:
		if _, ok := exceptionErrors[f.Exception]; !ok {
			return fmt.Errorf("fault exception: code %d must be one of 1-6, 8, 10, 11", f.Exception)
		}
	default:
		return fmt.Errorf("fault mode %q must be refuse, hang, delay, exception, garbage or drop", f.Mode)
	}
	return nil
}

// RTU is one simulated Modbus TCP server on loopback serving one or more
// unit ids.
type RTU struct {
	Name  string
	Addr  string // host:port it listens on
	Units []uint8
	Bank  *Bank

	mu      sync.Mutex
	fault   Fault
	srv     *modbus.ModbusServer
	raw     *rawServer
	stopped bool

	requests  atomic.Int64
	faulted   atomic.Int64
	lastWrite atomic.Int64
}

// NewRTU returns an RTU that will listen on addr ("127.0.0.1:0" picks a
// free port when started).
func NewRTU(name, addr string, units []uint8, bank *Bank) *RTU {
	if bank == nil {
		bank = NewBank(false)
	}
	return &RTU{Name: name, Addr: addr, Units: units, Bank: bank}
}

// Start opens the port.
func (r *RTU) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	host, port, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("rtu %s: address %q: %w", r.Name, r.Addr, err)
	}
	if port == "0" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("rtu %s: %w", r.Name, err)
		}
		r.Addr = l.Addr().String()
		l.Close()
	}
	return r.listenLocked()
}

// Endpoint is the RTU's address as a tcp:// URL.
func (r *RTU) Endpoint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "tcp://" + r.Addr
}

// Requests is the number of requests answered or faulted.
func (r *RTU) Requests() int64 { return r.requests.Load() }

// Faulted is the number of requests that met a fault.
func (r *RTU) Faulted() int64 { return r.faulted.Load() }

// Fault returns the current fault.
func (r *RTU) Fault() Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault
}

// SetFault switches the RTU to fault f (FaultNone heals it). Switching
// between server kinds closes open connections, as a rebooting RTU would.
func (r *RTU) SetFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("rtu %s: %w", r.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.fault
	r.fault = f
	if r.stopped || serverKind(old.Mode) == serverKind(f.Mode) {
		return nil
	}
	r.closeLocked()
	return r.listenLocked()
}

// Stop closes the port and all connections.
func (r *RTU) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.closeLocked()
}

func serverKind(m FaultMode) string {
	switch m {
	case FaultRefuse:
		return "none"
	case FaultHang, FaultGarbage, FaultDrop:
		return "raw"
	}
	return "modbus"
}

func (r *RTU) closeLocked() {
	if r.srv != nil {
		_ = r.srv.Stop()
		r.srv = nil
	}
	if r.raw != nil {
		r.raw.close()
		r.raw = nil
	}
}

func (r *RTU) listenLocked() error {
	var err error
	// A port just closed may take a moment to be reusable.
	for range 50 {
		switch serverKind(r.fault.Mode) {
		case "none":
			return nil
		case "raw":
			r.raw, err = newRawServer(r)
		default:
			var srv *modbus.ModbusServer
			srv, err = modbus.NewServer(&modbus.ServerConfiguration{
				URL: "tcp://" + r.Addr, Timeout: 5 * time.Minute, MaxClients: 64,
				Logger: log.New(io.Discard, "", 0),
			}, &handler{r})
			if err == nil {
				if err = srv.Start(); err == nil {
					r.srv = srv
				}
			}
		}
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rtu %s: cannot listen on %s: %w", r.Name, r.Addr, err)
}

// handler serves the Modbus server's requests from the bank.
type handler struct{ r *RTU }

func (h *handler) check(unit uint8) error {
	r := h.r
	r.requests.Add(1)
	f := r.Fault()
	if !slices.Contains(r.Units, unit) {
		// What a gateway answers for a unit it does not know.
		return modbus.ErrGWTargetFailedToRespond
	}
	switch f.Mode {
	case FaultDelay:
		r.faulted.Add(1)
		time.Sleep(f.Delay)
	case FaultException:
		r.faulted.Add(1)
		return exceptionErrors[f.Exception]
	}
	return nil
}

func (h *handler) bits(unit uint8, t Table, addr, n uint16) ([]bool, error) {
	vals, ok := h.r.Bank.read(unit, t, addr, n)
	if !ok {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]bool, len(vals))
	for i, v := range vals {
		out[i] = v != 0
	}
	return out, nil
}

func (h *handler) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	if err := h.check(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		for i, b := range req.Args {
			v := uint16(0)
			if b {
				v = 1
			}
			h.r.Bank.Set(req.UnitId, Coil, req.Addr+uint16(i), v)
		}
		h.r.lastWrite.Store(time.Now().UnixNano())
		return nil, nil
	}
	return h.bits(req.UnitId, Coil, req.Addr, req.Quantity)
}

func (h *handler) HandleDiscreteInputs(req *modbus.DiscreteInputsRequest) ([]bool, error) {
	if err := h.check(req.UnitId); err != nil {
		return nil, err
	}
	return h.bits(req.UnitId, Discrete, req.Addr, req.Quantity)
}

func (h *handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if err := h.check(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		for i, v := range req.Args {
			h.r.Bank.Set(req.UnitId, Holding, req.Addr+uint16(i), v)
		}
		h.r.lastWrite.Store(time.Now().UnixNano())
		return nil, nil
	}
	vals, ok := h.r.Bank.read(req.UnitId, Holding, req.Addr, req.Quantity)
	if !ok {
		return nil, modbus.ErrIllegalDataAddress
	}
	return vals, nil
}

func (h *handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	if err := h.check(req.UnitId); err != nil {
		return nil, err
	}
	vals, ok := h.r.Bank.read(req.UnitId, Input, req.Addr, req.Quantity)
	if !ok {
		return nil, modbus.ErrIllegalDataAddress
	}
	return vals, nil
}
