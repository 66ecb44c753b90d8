package iec104

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Params are the field sizes agreed for a link. The zero value means the
// IEC 60870-5-104 defaults: COT 2, common address 2, IOA 3 octets.
type Params struct {
	COTSize int // 1 (no originator address) or 2
	CASize  int // 1 or 2
	IOASize int // 1, 2 or 3
}

// DefaultParams are the sizes IEC 60870-5-104 prescribes.
var DefaultParams = Params{COTSize: 2, CASize: 2, IOASize: 3}

func (p Params) norm() Params {
	if p.COTSize == 0 {
		p.COTSize = 2
	}
	if p.CASize == 0 {
		p.CASize = 2
	}
	if p.IOASize == 0 {
		p.IOASize = 3
	}
	return p
}

// Validate reports sizes outside what the standard allows.
func (p Params) Validate() error {
	p = p.norm()
	if p.COTSize != 1 && p.COTSize != 2 {
		return fmt.Errorf("cot_size must be 1 or 2, not %d", p.COTSize)
	}
	if p.CASize != 1 && p.CASize != 2 {
		return fmt.Errorf("ca_size must be 1 or 2, not %d", p.CASize)
	}
	if p.IOASize < 1 || p.IOASize > 3 {
		return fmt.Errorf("ioa_size must be 1, 2 or 3, not %d", p.IOASize)
	}
	return nil
}

func (p Params) headerLen() int { return 2 + p.COTSize + p.CASize }

// ASDU is a decoded application service data unit.
type ASDU struct {
	Type       TypeID
	SQ         bool // the objects are one IOA and consecutive elements
	Cause      Cause
	Negative   bool // P/N: negative confirmation
	Test       bool // T: test frame
	Originator uint8
	CommonAddr uint16
	Objects    []Object
}

// Object is one information object. Which fields are set depends on the
// type; Value holds the type's number (see Decode).
type Object struct {
	IOA     uint32
	Value   float64 // SP 0/1; DP 0..3 (DPI); ST −64..63; BO the 32 bits; NVA −1..1−2⁻¹⁵; SVA; float; IT counter
	Raw     int64   // the integer as sent (NVA and SVA raw, BO bits, IT counter, qualifiers)
	Quality Quality // IV/NT/SB/BL/OV (for IT: IV only; CY and CA are in Counter)
	// Transient is the T bit of a step position (VTI).
	Transient bool
	// CounterSeq and Counter are the sequence number (0..31) and the CY/CA
	// flags of a binary counter reading.
	CounterSeq uint8
	Counter    uint8
	HasTime    bool
	Time       CP56Time2a
}

// Decode errors.
var (
	ErrUnknownType = errors.New("iec104: unknown type identification")
	ErrASDULength  = errors.New("iec104: ASDU length does not match its objects")
	ErrNoObjects   = errors.New("iec104: ASDU with no information objects")
)

// Decode decodes an ASDU. Objects are appended to objs[:0], so a caller
// can reuse one slice for every frame. A type this package does not know
// gives an error wrapping ErrUnknownType, with the header (Type, Cause,
// CommonAddr) still filled in.
func (p Params) Decode(b []byte, objs []Object) (ASDU, error) {
	p = p.norm()
	var a ASDU
	if err := p.Validate(); err != nil {
		return a, err
	}
	h := p.headerLen()
	if len(b) < h {
		return a, fmt.Errorf("%w: %d octets, header needs %d", ErrASDULength, len(b), h)
	}
	a.Type = TypeID(b[0])
	a.SQ = b[1]&0x80 != 0
	n := int(b[1] & 0x7f)
	cot := b[2]
	a.Cause = Cause(cot & 0x3f)
	a.Negative = cot&0x40 != 0
	a.Test = cot&0x80 != 0
	if p.COTSize == 2 {
		a.Originator = b[3]
	}
	a.CommonAddr = uint16(b[2+p.COTSize])
	if p.CASize == 2 {
		a.CommonAddr |= uint16(b[3+p.COTSize]) << 8
	}
	el, timed := a.Type.elementLen()
	if el == 0 {
		return a, fmt.Errorf("%w: %d", ErrUnknownType, uint8(a.Type))
	}
	if n == 0 {
		return a, ErrNoObjects
	}
	want := h + n*(p.IOASize+el)
	if a.SQ {
		want = h + p.IOASize + n*el
	}
	if len(b) != want {
		return a, fmt.Errorf("%w: %s with %d objects (SQ=%t) needs %d octets, got %d", ErrASDULength, a.Type, n, a.SQ, want, len(b))
	}
	objs = objs[:0]
	pos := h
	var ioa uint32
	for i := 0; i < n; i++ {
		if !a.SQ || i == 0 {
			ioa = p.ioa(b[pos:])
			pos += p.IOASize
		} else {
			ioa++
		}
		o := Object{IOA: ioa}
		e := b[pos : pos+el]
		decodeElement(a.Type, e, &o)
		if timed {
			o.HasTime = true
			o.Time = decodeCP56(e[el-7:])
		}
		objs = append(objs, o)
		pos += el
	}
	a.Objects = objs
	return a, nil
}

func (p Params) ioa(b []byte) uint32 {
	v := uint32(b[0])
	if p.IOASize > 1 {
		v |= uint32(b[1]) << 8
	}
	if p.IOASize > 2 {
		v |= uint32(b[2]) << 16
	}
	return v
}

const qdsMask = Quality(0xf1)

func decodeElement(t TypeID, e []byte, o *Object) {
	switch t {
	case MSpNa1, MSpTb1:
		o.Raw = int64(e[0] & 0x01)
		o.Value = float64(o.Raw)
		o.Quality = Quality(e[0]) & 0xf0
	case MDpNa1, MDpTb1:
		o.Raw = int64(e[0] & 0x03)
		o.Value = float64(o.Raw)
		o.Quality = Quality(e[0]) & 0xf0
	case MStNa1, MStTb1:
		o.Raw = int64(int8(e[0]<<1) >> 1) // 7-bit two's complement
		o.Value = float64(o.Raw)
		o.Transient = e[0]&0x80 != 0
		o.Quality = Quality(e[1]) & qdsMask
	case MBoNa1, MBoTb1:
		bits := binary.LittleEndian.Uint32(e)
		o.Raw = int64(bits)
		o.Value = float64(bits)
		o.Quality = Quality(e[4]) & qdsMask
	case MMeNa1, MMeTd1:
		o.Raw = int64(int16(binary.LittleEndian.Uint16(e)))
		o.Value = float64(o.Raw) / 32768
		o.Quality = Quality(e[2]) & qdsMask
	case MMeNb1, MMeTe1:
		o.Raw = int64(int16(binary.LittleEndian.Uint16(e)))
		o.Value = float64(o.Raw)
		o.Quality = Quality(e[2]) & qdsMask
	case MMeNc1, MMeTf1:
		o.Value = float64(math.Float32frombits(binary.LittleEndian.Uint32(e)))
		o.Raw = int64(binary.LittleEndian.Uint32(e))
		o.Quality = Quality(e[4]) & qdsMask
	case MItNa1, MItTb1:
		o.Raw = int64(int32(binary.LittleEndian.Uint32(e)))
		o.Value = float64(o.Raw)
		o.CounterSeq = e[4] & 0x1f
		o.Counter = e[4] & (CounterCY | CounterCA)
		o.Quality = Quality(e[4]) & QualityIV
	case CScNa1, CDcNa1, MEiNa1, CIcNa1, CCiNa1:
		o.Raw = int64(e[0])
		o.Value = float64(e[0])
	case CCsNa1:
		// the element is the time tag itself
	}
}

// Encode appends a as an ASDU. Only the fields the type carries are used;
// for SQ the objects' IOAs after the first are implied.
func (p Params) Encode(b []byte, a ASDU) ([]byte, error) {
	p = p.norm()
	if err := p.Validate(); err != nil {
		return b, err
	}
	el, timed := a.Type.elementLen()
	if el == 0 {
		return b, fmt.Errorf("%w: %d", ErrUnknownType, uint8(a.Type))
	}
	n := len(a.Objects)
	if n == 0 || n > 127 {
		return b, fmt.Errorf("%w: %d objects (1..127)", ErrASDULength, n)
	}
	size := p.headerLen() + n*(p.IOASize+el)
	if a.SQ {
		size = p.headerLen() + p.IOASize + n*el
	}
	if size > MaxASDULen {
		return b, ErrASDUTooBig
	}
	start := len(b)
	vsq := byte(n)
	if a.SQ {
		vsq |= 0x80
	}
	cot := byte(a.Cause) & 0x3f
	if a.Negative {
		cot |= 0x40
	}
	if a.Test {
		cot |= 0x80
	}
	b = append(b, byte(a.Type), vsq, cot)
	if p.COTSize == 2 {
		b = append(b, a.Originator)
	}
	b = append(b, byte(a.CommonAddr))
	if p.CASize == 2 {
		b = append(b, byte(a.CommonAddr>>8))
	}
	for i := range a.Objects {
		o := &a.Objects[i]
		if !a.SQ || i == 0 {
			b = p.appendIOA(b, o.IOA)
		}
		b = appendElement(b, a.Type, o)
		if timed {
			b = appendCP56(b, o.Time)
		}
	}
	if len(b)-start != size {
		return b[:start], fmt.Errorf("iec104: internal encoding error for %s", a.Type)
	}
	return b, nil
}

func (p Params) appendIOA(b []byte, ioa uint32) []byte {
	b = append(b, byte(ioa))
	if p.IOASize > 1 {
		b = append(b, byte(ioa>>8))
	}
	if p.IOASize > 2 {
		b = append(b, byte(ioa>>16))
	}
	return b
}

func appendElement(b []byte, t TypeID, o *Object) []byte {
	q := byte(o.Quality)
	switch t {
	case MSpNa1, MSpTb1:
		return append(b, byte(o.Raw&0x01)|q&0xf0)
	case MDpNa1, MDpTb1:
		return append(b, byte(o.Raw&0x03)|q&0xf0)
	case MStNa1, MStTb1:
		v := byte(o.Raw) & 0x7f
		if o.Transient {
			v |= 0x80
		}
		return append(b, v, q&byte(qdsMask))
	case MBoNa1, MBoTb1:
		b = binary.LittleEndian.AppendUint32(b, uint32(o.Raw))
		return append(b, q&byte(qdsMask))
	case MMeNa1, MMeTd1, MMeNb1, MMeTe1:
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(o.Raw)))
		return append(b, q&byte(qdsMask))
	case MMeNc1, MMeTf1:
		// The bits as received when Raw still says Value: float64 keeps
		// a NaN but not a signalling NaN's payload.
		bits := math.Float32bits(float32(o.Value))
		if f := math.Float32frombits(uint32(o.Raw)); o.Raw != 0 && (f == float32(o.Value) || f != f && math.IsNaN(o.Value)) {
			bits = uint32(o.Raw)
		}
		b = binary.LittleEndian.AppendUint32(b, bits)
		return append(b, q&byte(qdsMask))
	case MItNa1, MItTb1:
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(o.Raw)))
		return append(b, o.CounterSeq&0x1f|o.Counter&(CounterCY|CounterCA)|q&byte(QualityIV))
	case CScNa1, CDcNa1, MEiNa1, CIcNa1, CCiNa1:
		return append(b, byte(o.Raw))
	}
	return b // C_CS_NA_1: the time tag only
}

// Command ASDUs a controlling station sends.

// Interrogation returns C_IC_NA_1 (activation, station interrogation) for ca.
func Interrogation(ca uint16) ASDU {
	return ASDU{Type: CIcNa1, Cause: CauseActivation, CommonAddr: ca, Objects: []Object{{Raw: QOIStation}}}
}

// CounterInterrogation returns C_CI_NA_1 (activation, general request) for ca.
func CounterInterrogation(ca uint16) ASDU {
	return ASDU{Type: CCiNa1, Cause: CauseActivation, CommonAddr: ca, Objects: []Object{{Raw: QCCGeneral}}}
}

// ClockSync returns C_CS_NA_1 (activation) setting the outstation's clock to t.
func ClockSync(ca uint16, t CP56Time2a) ASDU {
	return ASDU{Type: CCsNa1, Cause: CauseActivation, CommonAddr: ca, Objects: []Object{{HasTime: true, Time: t}}}
}
