package iec104

import (
	"errors"
	"fmt"
)

// Protocol limits (IEC 60870-5-104 §5).
const (
	StartByte = 0x68
	// MaxAPDULen is the largest value of the length octet: the four control
	// octets plus at most 249 octets of ASDU.
	MaxAPDULen = 253
	// MaxASDULen is the largest ASDU an APDU can carry.
	MaxASDULen = MaxAPDULen - 4
	// APCILen is the start octet, the length octet and four control octets.
	APCILen = 6
	// SeqModulo is the modulus of the 15-bit send and receive sequence numbers.
	SeqModulo = 1 << 15
)

// Format is an APDU's control field format.
type Format uint8

// APDU formats.
const (
	FormatI Format = iota + 1 // numbered information transfer, carries an ASDU
	FormatS                   // numbered supervisory: acknowledges I frames
	FormatU                   // unnumbered control: STARTDT, STOPDT, TESTFR
)

func (f Format) String() string {
	switch f {
	case FormatI:
		return "I"
	case FormatS:
		return "S"
	case FormatU:
		return "U"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// UFunc is the function of a U frame: the first control octet.
type UFunc uint8

// U frame functions.
const (
	StartDTAct UFunc = 0x07
	StartDTCon UFunc = 0x0B
	StopDTAct  UFunc = 0x13
	StopDTCon  UFunc = 0x23
	TestFRAct  UFunc = 0x43
	TestFRCon  UFunc = 0x83
)

func (u UFunc) String() string {
	switch u {
	case StartDTAct:
		return "STARTDT act"
	case StartDTCon:
		return "STARTDT con"
	case StopDTAct:
		return "STOPDT act"
	case StopDTCon:
		return "STOPDT con"
	case TestFRAct:
		return "TESTFR act"
	case TestFRCon:
		return "TESTFR con"
	}
	return fmt.Sprintf("UFunc(%#02x)", uint8(u))
}

// APDU is one decoded frame. ASDU aliases the input buffer.
type APDU struct {
	Format  Format
	SendSeq uint16 // N(S), I frames
	RecvSeq uint16 // N(R), I and S frames
	U       UFunc  // U frames
	ASDU    []byte // I frames
}

// Frame errors.
var (
	ErrShort      = errors.New("iec104: frame incomplete")
	ErrStartByte  = errors.New("iec104: start octet is not 0x68")
	ErrLength     = errors.New("iec104: bad APDU length")
	ErrControl    = errors.New("iec104: bad control field")
	ErrUnknownU   = errors.New("iec104: unknown U frame function")
	ErrASDUTooBig = errors.New("iec104: ASDU longer than 249 octets")
)

// FrameLen reports the length of the APDU at the start of b: 0 and
// ErrShort while the first two octets are missing, an error when they
// cannot start an APDU. A stream reader reads FrameLen octets, then Parse.
func FrameLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, ErrShort
	}
	if b[0] != StartByte {
		return 0, ErrStartByte
	}
	if b[1] < 4 || b[1] > MaxAPDULen {
		return 0, fmt.Errorf("%w: %d", ErrLength, b[1])
	}
	return int(b[1]) + 2, nil
}

// Parse decodes one complete APDU, b holding exactly its octets (as cut
// by FrameLen).
func Parse(b []byte) (APDU, error) {
	n, err := FrameLen(b)
	if err != nil {
		return APDU{}, err
	}
	if len(b) < n {
		return APDU{}, ErrShort
	}
	if len(b) > n {
		return APDU{}, fmt.Errorf("%w: %d octets for length %d", ErrLength, len(b), b[1])
	}
	c := b[2:6]
	switch {
	case c[0]&0x01 == 0:
		if c[2]&0x01 != 0 {
			return APDU{}, fmt.Errorf("%w: I frame with bit 1 of octet 3 set", ErrControl)
		}
		if n == APCILen {
			return APDU{}, fmt.Errorf("%w: I frame without ASDU", ErrLength)
		}
		return APDU{
			Format:  FormatI,
			SendSeq: uint16(c[0])>>1 | uint16(c[1])<<7,
			RecvSeq: uint16(c[2])>>1 | uint16(c[3])<<7,
			ASDU:    b[6:n],
		}, nil
	case c[0]&0x03 == 0x01:
		if n != APCILen {
			return APDU{}, fmt.Errorf("%w: S frame of length %d", ErrLength, b[1])
		}
		if c[0] != 0x01 || c[1] != 0 || c[2]&0x01 != 0 {
			return APDU{}, fmt.Errorf("%w: S frame % x", ErrControl, c)
		}
		return APDU{Format: FormatS, RecvSeq: uint16(c[2])>>1 | uint16(c[3])<<7}, nil
	default:
		if n != APCILen {
			return APDU{}, fmt.Errorf("%w: U frame of length %d", ErrLength, b[1])
		}
		if c[1] != 0 || c[2] != 0 || c[3] != 0 {
			return APDU{}, fmt.Errorf("%w: U frame % x", ErrControl, c)
		}
		u := UFunc(c[0])
		switch u {
		case StartDTAct, StartDTCon, StopDTAct, StopDTCon, TestFRAct, TestFRCon:
			return APDU{Format: FormatU, U: u}, nil
		}
		return APDU{}, fmt.Errorf("%w: %#02x", ErrUnknownU, c[0])
	}
}

// AppendU appends a U frame.
func AppendU(b []byte, u UFunc) []byte {
	return append(b, StartByte, 4, byte(u), 0, 0, 0)
}

// AppendS appends an S frame acknowledging every I frame before recvSeq.
func AppendS(b []byte, recvSeq uint16) []byte {
	recvSeq %= SeqModulo
	return append(b, StartByte, 4, 0x01, 0, byte(recvSeq<<1), byte(recvSeq>>7))
}

// AppendI appends an I frame carrying asdu.
func AppendI(b []byte, sendSeq, recvSeq uint16, asdu []byte) ([]byte, error) {
	if len(asdu) == 0 {
		return b, fmt.Errorf("%w: I frame without ASDU", ErrLength)
	}
	if len(asdu) > MaxASDULen {
		return b, ErrASDUTooBig
	}
	sendSeq %= SeqModulo
	recvSeq %= SeqModulo
	b = append(b, StartByte, byte(len(asdu)+4), byte(sendSeq<<1), byte(sendSeq>>7), byte(recvSeq<<1), byte(recvSeq>>7))
	return append(b, asdu...), nil
}

// SeqDiff is how many frames b is ahead of a, modulo 2^15.
func SeqDiff(a, b uint16) uint16 { return (b - a) % SeqModulo }
