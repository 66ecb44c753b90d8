package rtusim

import (
	"errors"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

func client(t *testing.T, r *RTU, timeout time.Duration) *modbus.ModbusClient {
	t.Helper()
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: r.Endpoint(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startRTU(t *testing.T, units ...uint8) *RTU {
	t.Helper()
	r := NewRTU("rtu-test", "127.0.0.1:0", units, NewBank(true))
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func TestRTUServesBankPerUnit(t *testing.T) {
	r := startRTU(t, 1, 7)
	r.Bank.Set(1, Holding, 10, 1234)
	r.Bank.Set(1, Holding, 11, 5678)
	r.Bank.Set(7, Input, 4, 2500)
	r.Bank.Set(7, Coil, 0, 1)
	c := client(t, r, time.Second)
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetUnitId(1)
	regs, err := c.ReadRegisters(10, 2, modbus.HOLDING_REGISTER)
	if err != nil || regs[0] != 1234 || regs[1] != 5678 {
		t.Fatalf("unit 1 holding 10..11 = %v, %v", regs, err)
	}
	if _, err := c.ReadRegisters(12, 1, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("unset register in a strict bank: %v, want illegal data address", err)
	}
	_ = c.SetUnitId(7)
	if v, err := c.ReadRegister(4, modbus.INPUT_REGISTER); err != nil || v != 2500 {
		t.Errorf("unit 7 input 4 = %d, %v", v, err)
	}
	if b, err := c.ReadCoil(0); err != nil || !b {
		t.Errorf("unit 7 coil 0 = %v, %v", b, err)
	}
	if err := c.WriteRegister(5, 42); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Bank.Get(7, Holding, 5); v != 42 {
		t.Errorf("write reached the bank as %d", v)
	}
	_ = c.SetUnitId(3)
	if _, err := c.ReadRegisters(10, 1, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrGWTargetFailedToRespond) {
		t.Errorf("unknown unit: %v, want gateway target failed to respond", err)
	}
}

func TestFaults(t *testing.T) {
	r := startRTU(t, 1)
	r.Bank.Set(1, Holding, 0, 77)
	read := func(timeout time.Duration) (time.Duration, error) {
		c := client(t, r, timeout)
		start := time.Now()
		if err := c.Open(); err != nil {
			return time.Since(start), err
		}
		defer c.Close()
		_ = c.SetUnitId(1)
		v, err := c.ReadRegister(0, modbus.HOLDING_REGISTER)
		if err == nil && v != 77 {
			t.Errorf("read %d, want 77", v)
		}
		return time.Since(start), err
	}
	cases := []struct {
		fault Fault
		check func(d time.Duration, err error) string
	}{
		{Fault{Mode: FaultRefuse}, func(d time.Duration, err error) string {
			if err == nil {
				return "connection accepted"
			}
			return ""
		}},
		{Fault{Mode: FaultHang}, func(d time.Duration, err error) string {
			if !errors.Is(err, modbus.ErrRequestTimedOut) {
				return "no timeout: " + errString(err)
			}
			return ""
		}},
		{Fault{Mode: FaultDelay, Delay: 250 * time.Millisecond}, func(d time.Duration, err error) string {
			if err != nil || d < 250*time.Millisecond {
				return "reply not delayed: " + d.String() + " " + errString(err)
			}
			return ""
		}},
		{Fault{Mode: FaultException, Exception: 6}, func(d time.Duration, err error) string {
			if !errors.Is(err, modbus.ErrServerDeviceBusy) {
				return "want server busy exception, got " + errString(err)
			}
			return ""
		}},
		{Fault{Mode: FaultGarbage}, func(d time.Duration, err error) string {
			if err == nil {
				return "garbage accepted as a reply"
			}
			return ""
		}},
		{Fault{Mode: FaultDrop}, func(d time.Duration, err error) string {
			if err == nil || errors.Is(err, modbus.ErrRequestTimedOut) {
				return "want a connection error, got " + errString(err)
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault.Mode), func(t *testing.T) {
			if err := r.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			before := r.Faulted()
			if msg := tc.check(read(400 * time.Millisecond)); msg != "" {
				t.Error(msg)
			}
			if tc.fault.Mode != FaultRefuse && r.Faulted() == before {
				t.Error("fault counter did not move")
			}
			if err := r.SetFault(Fault{}); err != nil {
				t.Fatal(err)
			}
			if _, err := read(time.Second); err != nil {
				t.Errorf("after healing: %v", err)
			}
		})
	}
	if err := r.SetFault(Fault{Mode: FaultException, Exception: 7}); err == nil {
		t.Error("exception code 7 accepted")
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
