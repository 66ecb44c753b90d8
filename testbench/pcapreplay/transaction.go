package pcapreplay

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"time"
)

// Modbus function codes the timeline understands.
const (
	FuncReadCoils              = 1
	FuncReadDiscreteInputs     = 2
	FuncReadHoldingRegisters   = 3
	FuncReadInputRegisters     = 4
	FuncWriteSingleCoil        = 5
	FuncWriteSingleRegister    = 6
	FuncWriteMultipleCoils     = 15
	FuncWriteMultipleRegisters = 16
)

// PDU is one Modbus/TCP frame (MBAP header plus PDU) as it completed in the
// capture: Frame is the 1-based number of the packet holding its last byte.
type PDU struct {
	Frame    int
	Time     time.Time
	Request  bool // sent to the server port
	Client   netip.AddrPort
	Server   netip.AddrPort
	TransID  uint16
	Length   uint16 // MBAP length field
	Unit     uint8
	Function uint8  // as sent, exception bit included
	Data     []byte // PDU bytes after the function code

	Transaction *Transaction
}

// Transaction is a request with its response. Request is nil for a response
// whose request is not in the capture; Response is nil for an unanswered
// request.
type Transaction struct {
	Request   *PDU
	Response  *PDU
	Function  uint8 // without the exception bit
	Exception uint8 // exception code, 0 when none
	Address   uint16
	Quantity  uint16
	// Values holds the registers (or bits as 0/1) the transaction shows:
	// read from the response for reads, from the request for writes.
	Values []uint16
	// Malformed is set when a PDU is too short for its function.
	Malformed bool
}

// Latency is the time from request to response, or 0 when either is missing.
func (t *Transaction) Latency() time.Duration {
	if t.Request == nil || t.Response == nil {
		return 0
	}
	return t.Response.Time.Sub(t.Request.Time)
}

func (t *Transaction) decodeRequest() {
	d := t.Request.Data
	switch t.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(d) < 4 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), be16(d[2:])
	case FuncWriteSingleCoil:
		if len(d) < 4 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), 1
		v := uint16(0)
		if be16(d[2:]) == 0xff00 {
			v = 1
		}
		t.Values = []uint16{v}
	case FuncWriteSingleRegister:
		if len(d) < 4 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), 1
		t.Values = []uint16{be16(d[2:])}
	case FuncWriteMultipleCoils:
		if len(d) < 5 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), be16(d[2:])
		t.Values = unpackBits(d[5:], int(t.Quantity))
		if len(t.Values) < int(t.Quantity) {
			t.Malformed = true
		}
	case FuncWriteMultipleRegisters:
		if len(d) < 5 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), be16(d[2:])
		t.Values = unpackRegs(d[5:], int(t.Quantity))
		if len(t.Values) < int(t.Quantity) {
			t.Malformed = true
		}
	}
}

func (t *Transaction) decodeResponse() {
	r := t.Response
	d := r.Data
	if r.Function&0x80 != 0 {
		if len(d) >= 1 {
			t.Exception = d[0]
		} else {
			t.Malformed = true
		}
		return
	}
	switch t.Function {
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		// The echo is what the server confirmed; with several requests
		// in flight under one transaction id it names the right one.
		if len(d) < 4 {
			t.Malformed = true
			return
		}
		t.Address, t.Quantity = be16(d), 1
		v := be16(d[2:])
		if t.Function == FuncWriteSingleCoil {
			v = 0
			if be16(d[2:]) == 0xff00 {
				v = 1
			}
		}
		t.Values = []uint16{v}
	case FuncReadCoils, FuncReadDiscreteInputs:
		if len(d) < 1 {
			t.Malformed = true
			return
		}
		n := int(d[0]) * 8
		if t.Request != nil && int(t.Quantity) < n {
			n = int(t.Quantity)
		}
		t.Values = unpackBits(d[1:min(len(d), 1+int(d[0]))], n)
	case FuncReadHoldingRegisters, FuncReadInputRegisters:
		if len(d) < 1 {
			t.Malformed = true
			return
		}
		t.Values = unpackRegs(d[1:min(len(d), 1+int(d[0]))], int(d[0])/2)
	}
}

// Key names one served value: a register or bit of a unit behind a server,
// as read or written with one function code.
type Key struct {
	Server   netip.AddrPort
	Unit     uint8
	Function uint8
	Address  uint16
}

// Sample is the value of one Key confirmed by a response.
type Sample struct {
	Frame   int // frame of the response
	Time    time.Time
	Value   uint16
	Latency time.Duration // request to response
}

// record adds the values a successful, paired transaction shows to the
// series. Responses without their request have no address and are left out.
func (a *assembler) record(t *Transaction) {
	if t.Request == nil || t.Exception != 0 || t.Response == nil {
		return
	}
	for i, v := range t.Values {
		k := Key{Server: t.Response.Server, Unit: t.Response.Unit, Function: t.Function, Address: t.Address + uint16(i)}
		a.c.Series[k] = append(a.c.Series[k], Sample{Frame: t.Response.Frame, Time: t.Response.Time, Value: v, Latency: t.Latency()})
	}
}

// Stats counts what the reconstruction saw.
type Stats struct {
	Frames             int `json:"frames"`
	Segments           int `json:"segments"` // TCP segments to or from the Modbus port
	PDUs               int `json:"pdus"`
	Requests           int `json:"requests"`
	Responses          int `json:"responses"`
	Exceptions         int `json:"exceptions"`
	Unanswered         int `json:"unanswered"`
	Orphans            int `json:"orphan_responses"` // response without its request
	DuplicateResponses int `json:"duplicate_responses"`
	Retransmissions    int `json:"retransmissions"`
	GapBytes           int `json:"gap_bytes"`
	LostFrames         int `json:"lost_frames"` // partial frames cut by a gap
	NonModbusSegments  int `json:"non_modbus_segments"`
	NonModbusBytes     int `json:"non_modbus_bytes"`
	MalformedFrames    int `json:"malformed_frames"`
	TruncatedFrames    int `json:"truncated_frames"`
}

// Capture is the reconstruction of one capture.
type Capture struct {
	PDUs         []*PDU         // in completion order
	Transactions []*Transaction // in order of their first PDU
	Series       map[Key][]Sample
	Stats        Stats
}

// Keys returns the series keys sorted by server, unit, function, address.
func (c *Capture) Keys() []Key {
	keys := make([]Key, 0, len(c.Series))
	for k := range c.Series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	return keys
}

func keyLess(a, b Key) bool {
	if c := a.Server.Compare(b.Server); c != 0 {
		return c < 0
	}
	if a.Unit != b.Unit {
		return a.Unit < b.Unit
	}
	if a.Function != b.Function {
		return a.Function < b.Function
	}
	return a.Address < b.Address
}

// Start and End are the times of the first and last frame holding a PDU.
func (c *Capture) Start() time.Time {
	if len(c.PDUs) == 0 {
		return time.Time{}
	}
	return c.PDUs[0].Time
}

// End is the time of the last PDU.
func (c *Capture) End() time.Time {
	if len(c.PDUs) == 0 {
		return time.Time{}
	}
	return c.PDUs[len(c.PDUs)-1].Time
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func unpackRegs(b []byte, n int) []uint16 {
	if n > len(b)/2 {
		n = len(b) / 2
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = be16(b[2*i:])
	}
	return out
}

func unpackBits(b []byte, n int) []uint16 {
	if n > len(b)*8 {
		n = len(b) * 8
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(b[i/8]>>(i%8)) & 1
	}
	return out
}
