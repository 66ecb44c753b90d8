package iec104

import (
	"errors"
	"time"
)

// CP56Time2a is the seven-octet time tag as sent: the outstation's local
// calendar time, without a time zone.
type CP56Time2a struct {
	Millis  uint16 // milliseconds within the minute, 0..59999
	Minute  uint8
	Hour    uint8
	Day     uint8 // day of month, 1..31
	Weekday uint8 // 1..7 (Monday..Sunday), 0 when not used
	Month   uint8 // 1..12
	Year    uint8 // 0..99, years since 2000
	IV      bool  // the time is invalid
	SU      bool  // summer time
	// Substituted is RES1 (bit 7 of the minutes octet), used by some
	// outstations to flag a substituted time; kept for encoding only.
	Substituted bool
}

// ErrTimeRange is returned by Time for a tag whose fields are out of range.
var ErrTimeRange = errors.New("iec104: CP56Time2a field out of range")

func decodeCP56(b []byte) CP56Time2a {
	return CP56Time2a{
		Millis:      uint16(b[0]) | uint16(b[1])<<8,
		Minute:      b[2] & 0x3f,
		Substituted: b[2]&0x40 != 0,
		IV:          b[2]&0x80 != 0,
		Hour:        b[3] & 0x1f,
		SU:          b[3]&0x80 != 0,
		Day:         b[4] & 0x1f,
		Weekday:     b[4] >> 5,
		Month:       b[5] & 0x0f,
		Year:        b[6] & 0x7f,
	}
}

func appendCP56(b []byte, t CP56Time2a) []byte {
	m := t.Minute & 0x3f
	if t.Substituted {
		m |= 0x40
	}
	if t.IV {
		m |= 0x80
	}
	h := t.Hour & 0x1f
	if t.SU {
		h |= 0x80
	}
	return append(b, byte(t.Millis), byte(t.Millis>>8), m, h, t.Day&0x1f|t.Weekday<<5, t.Month&0x0f, t.Year&0x7f)
}

// Time converts the tag to an instant, reading its calendar time in loc.
// In a zone with summer time the SU bit chooses between the two instants
// of the repeated hour in autumn. An invalid tag (IV) or fields out of
// range give ok false.
func (c CP56Time2a) Time(loc *time.Location) (t time.Time, ok bool) {
	if c.IV || c.Millis > 59999 || c.Minute > 59 || c.Hour > 23 || c.Day < 1 || c.Day > 31 || c.Month < 1 || c.Month > 12 || c.Year > 99 {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	t = time.Date(2000+int(c.Year), time.Month(c.Month), int(c.Day), int(c.Hour), int(c.Minute),
		int(c.Millis/1000), int(c.Millis%1000)*int(time.Millisecond), loc)
	if t.Day() != int(c.Day) { // 31 February and the like
		return time.Time{}, false
	}
	if t.IsDST() != c.SU {
		// time.Date picked the other of two instants with this wall clock;
		// take the one whose summer-time flag matches, if any.
		for _, d := range []time.Duration{-time.Hour, time.Hour} {
			u := t.Add(d)
			if u.IsDST() == c.SU && u.Hour() == t.Hour() && u.Minute() == t.Minute() {
				return u, true
			}
		}
	}
	return t, true
}

// NewCP56Time2a renders t as a tag in loc (the outstation's zone).
func NewCP56Time2a(t time.Time, loc *time.Location) CP56Time2a {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	wd := uint8(t.Weekday())
	if wd == 0 {
		wd = 7
	}
	return CP56Time2a{
		Millis:  uint16(t.Second()*1000 + t.Nanosecond()/int(time.Millisecond)),
		Minute:  uint8(t.Minute()),
		Hour:    uint8(t.Hour()),
		Day:     uint8(t.Day()),
		Weekday: wd,
		Month:   uint8(t.Month()),
		Year:    uint8(t.Year() % 100),
		SU:      t.IsDST(),
	}
}
