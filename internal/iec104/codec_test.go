package iec104

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on any machine
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAPCIExamples: the frames of IEC 60870-5-104 §5 built by hand.
func TestAPCIExamples(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want APDU
	}{
		{"68 04 07 00 00 00", APDU{Format: FormatU, U: StartDTAct}},
		{"68 04 0b 00 00 00", APDU{Format: FormatU, U: StartDTCon}},
		{"68 04 13 00 00 00", APDU{Format: FormatU, U: StopDTAct}},
		{"68 04 23 00 00 00", APDU{Format: FormatU, U: StopDTCon}},
		{"68 04 43 00 00 00", APDU{Format: FormatU, U: TestFRAct}},
		{"68 04 83 00 00 00", APDU{Format: FormatU, U: TestFRCon}},
		{"68 04 01 00 04 00", APDU{Format: FormatS, RecvSeq: 2}},
		{"68 04 01 00 fe ff", APDU{Format: FormatS, RecvSeq: 32767}},
		{"68 0e 02 00 06 00 64 01 06 00 01 00 00 00 00 14", APDU{Format: FormatI, SendSeq: 1, RecvSeq: 3}},
		{"68 0e fe ff 00 01 64 01 06 00 01 00 00 00 00 14", APDU{Format: FormatI, SendSeq: 32767, RecvSeq: 128}},
	} {
		b := unhex(t, tc.hex)
		got, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", tc.hex, err)
			continue
		}
		got.ASDU = nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.hex, got, tc.want)
		}
		var enc []byte
		switch got.Format {
		case FormatU:
			enc = AppendU(nil, got.U)
		case FormatS:
			enc = AppendS(nil, got.RecvSeq)
		case FormatI:
			enc, _ = AppendI(nil, got.SendSeq, got.RecvSeq, b[6:])
		}
		if hex.EncodeToString(enc) != hex.EncodeToString(b) {
			t.Errorf("%s: encodes to % x", tc.hex, enc)
		}
	}
	for _, bad := range []string{
		"", "68", "67 04 07 00 00 00", "68 03 07 00 00", "68 fe", "68 04 07 00 00 01", "68 04 33 00 00 00",
		"68 04 00 00 00 00", "68 05 01 00 00 00 00", "68 04 01 00 01 00", "68 04 07 00 00",
	} {
		b := unhex(t, bad)
		if _, err := Parse(b); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func cp56(ms uint16, min, hour, day, wd, month, year uint8) CP56Time2a {
	return CP56Time2a{Millis: ms, Minute: min, Hour: hour, Day: day, Weekday: wd, Month: month, Year: year}
}

// TestASDUExamples decodes one ASDU per type, written by hand from the
// element layouts of IEC 60870-5-101 §7.3.
func TestASDUExamples(t *testing.T) {
	ts := cp56(5678, 4, 15, 3, 4, 12, 26) // 2026-12-03 15:04:05.678, Thursday
	const tsHex = "2e 16 04 0f 83 0c 1a"
	for _, tc := range []struct {
		name string
		p    Params
		hex  string
		want ASDU
	}{
		{"M_SP_NA_1", DefaultParams, "01 02 03 00 01 00 0a 00 00 01 0b 00 00 90", ASDU{Type: MSpNa1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 10, Value: 1, Raw: 1}, {IOA: 11, Quality: QualityIV | QualityBL}}}},
		{"M_DP_NA_1", DefaultParams, "03 01 14 00 01 00 01 00 00 02", ASDU{Type: MDpNa1, Cause: CauseInterrogated, CommonAddr: 1,
			Objects: []Object{{IOA: 1, Value: DPIOn, Raw: DPIOn}}}},
		{"M_ST_NA_1", DefaultParams, "05 01 03 00 01 00 05 00 00 c1 01", ASDU{Type: MStNa1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 5, Value: -63, Raw: -63, Transient: true, Quality: QualityOV}}}},
		{"M_BO_NA_1", DefaultParams, "07 01 03 00 01 00 07 00 00 78 56 34 12 20", ASDU{Type: MBoNa1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 7, Value: 0x12345678, Raw: 0x12345678, Quality: QualitySB}}}},
		{"M_ME_NA_1", DefaultParams, "09 01 03 00 01 00 09 00 00 00 c0 00", ASDU{Type: MMeNa1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 9, Value: -0.5, Raw: -16384}}}},
		{"M_ME_NB_1", DefaultParams, "0b 01 03 00 01 00 0b 00 00 18 fc 40", ASDU{Type: MMeNb1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 11, Value: -1000, Raw: -1000, Quality: QualityNT}}}},
		{"M_ME_NC_1", DefaultParams, "0d 01 03 00 01 00 0d 00 00 00 00 c0 3f 00", ASDU{Type: MMeNc1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 13, Value: 1.5, Raw: 0x3fc00000}}}},
		{"M_IT_NA_1", DefaultParams, "0f 01 25 00 01 00 0f 00 00 10 27 00 00 a3", ASDU{Type: MItNa1, Cause: CauseCounterReq, CommonAddr: 1,
			Objects: []Object{{IOA: 15, Value: 10000, Raw: 10000, CounterSeq: 3, Counter: CounterCY, Quality: QualityIV}}}},
		{"M_SP_TB_1", DefaultParams, "1e 01 03 00 01 00 1e 00 00 01 " + tsHex, ASDU{Type: MSpTb1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 30, Value: 1, Raw: 1, HasTime: true, Time: ts}}}},
		{"M_ME_TF_1", DefaultParams, "24 01 03 00 01 00 24 00 00 00 00 c0 3f 00 " + tsHex, ASDU{Type: MMeTf1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 36, Value: 1.5, Raw: 0x3fc00000, HasTime: true, Time: ts}}}},
		{"M_EI_NA_1", DefaultParams, "46 01 04 00 01 00 00 00 00 02", ASDU{Type: MEiNa1, Cause: CauseInitialized, CommonAddr: 1,
			Objects: []Object{{Value: 2, Raw: 2}}}},
		{"C_IC_NA_1", DefaultParams, "64 01 07 00 01 00 00 00 00 14", ASDU{Type: CIcNa1, Cause: CauseActivationCon, CommonAddr: 1,
			Objects: []Object{{Value: 20, Raw: 20}}}},
		{"C_CI_NA_1", DefaultParams, "65 01 06 00 01 00 00 00 00 05", ASDU{Type: CCiNa1, Cause: CauseActivation, CommonAddr: 1,
			Objects: []Object{{Value: 5, Raw: 5}}}},
		{"C_CS_NA_1", DefaultParams, "67 01 06 00 01 00 00 00 00 " + tsHex, ASDU{Type: CCsNa1, Cause: CauseActivation, CommonAddr: 1,
			Objects: []Object{{HasTime: true, Time: ts}}}},
		{"SQ=1", DefaultParams, "0d 82 14 00 01 00 64 00 00 00 00 80 3f 00 00 00 00 40 80", ASDU{Type: MMeNc1, SQ: true, Cause: CauseInterrogated, CommonAddr: 1,
			Objects: []Object{{IOA: 100, Value: 1, Raw: 0x3f800000}, {IOA: 101, Value: 2, Raw: 0x40000000, Quality: QualityIV}}}},
		{"negative, test, originator", DefaultParams, "64 01 c7 07 02 01 00 00 00 14", ASDU{Type: CIcNa1, Cause: CauseActivationCon, Negative: true, Test: true,
			Originator: 7, CommonAddr: 0x0102, Objects: []Object{{Value: 20, Raw: 20}}}},
		{"COT 1, CA 1, IOA 2", Params{COTSize: 1, CASize: 1, IOASize: 2}, "0b 01 03 05 0b 00 e8 03 00", ASDU{Type: MMeNb1, Cause: CauseSpontaneous, CommonAddr: 5,
			Objects: []Object{{IOA: 11, Value: 1000, Raw: 1000}}}},
		{"IOA 1", Params{IOASize: 1}, "01 01 03 00 01 00 ff 01", ASDU{Type: MSpNa1, Cause: CauseSpontaneous, CommonAddr: 1,
			Objects: []Object{{IOA: 255, Value: 1, Raw: 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			got, err := tc.p.Decode(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			enc, err := tc.p.Encode(nil, got)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(enc) != hex.EncodeToString(b) {
				t.Fatalf("re-encoded % x", enc)
			}
		})
	}
}

func TestASDUErrors(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"", ErrASDULength},
		{"01 01 03 00 01", ErrASDULength},
		{"18 01 03 00 01 00 00 00 00 00", ErrUnknownType},
		{"ff 01 03 00 01 00 00 00 00 00", ErrUnknownType},
		{"01 00 03 00 01 00", ErrNoObjects},
		{"01 02 03 00 01 00 0a 00 00 01", ErrASDULength},
		{"01 01 03 00 01 00 0a 00 00 01 00", ErrASDULength},
		{"0d 82 14 00 01 00 64 00 00 00 00 80 3f 00", ErrASDULength},
	} {
		a, err := DefaultParams.Decode(unhex(t, tc.hex), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.hex, err, tc.want)
		}
		if errors.Is(err, ErrUnknownType) && a.CommonAddr != 1 {
			t.Errorf("%q: the header of an unknown type is kept: %+v", tc.hex, a)
		}
	}
	if _, err := (Params{IOASize: 4}).Decode(unhex(t, "01 01 03 00 01 00 00 00 00 00 01"), nil); err == nil {
		t.Error("IOA size 4 accepted")
	}
}

// TestRoundTripEveryType encodes and decodes an ASDU of every type with
// SQ=0 and SQ=1.
func TestRoundTripEveryType(t *testing.T) {
	ts := cp56(59999, 59, 23, 31, 7, 12, 99)
	ts.SU = true
	for ty := range typeNames {
		for _, sq := range []bool{false, true} {
			_, timed := ty.elementLen()
			objs := make([]Object, 3)
			for i := range objs {
				o := Object{IOA: 1000 + uint32(i)}
				if timed {
					o.HasTime, o.Time = true, ts
				}
				decodeElement(ty, []byte{0x81, 0x80, 0x80, 0x00, 0xf1}, &o)
				objs[i] = o
			}
			a := ASDU{Type: ty, SQ: sq, Cause: CauseSpontaneous, CommonAddr: 65535, Originator: 3, Objects: objs}
			b, err := DefaultParams.Encode(nil, a)
			if err != nil {
				t.Fatalf("%s: %v", ty, err)
			}
			got, err := DefaultParams.Decode(b, nil)
			if err != nil {
				t.Fatalf("%s: %v", ty, err)
			}
			if !reflect.DeepEqual(got, a) {
				t.Errorf("%s SQ=%t:\n got %+v\nwant %+v", ty, sq, got, a)
			}
		}
	}
}

func TestCP56Time(t *testing.T) {
	ts := cp56(5678, 4, 15, 3, 4, 12, 26)
	got, ok := ts.Time(time.UTC)
	if want := time.Date(2026, 12, 3, 15, 4, 5, 678e6, time.UTC); !ok || !got.Equal(want) {
		t.Errorf("got %v %t, want %v", got, ok, want)
	}
	iv := ts
	iv.IV = true
	if _, ok := iv.Time(time.UTC); ok {
		t.Error("a time tag with IV set is used")
	}
	for _, bad := range []CP56Time2a{cp56(60000, 0, 0, 1, 0, 1, 0), cp56(0, 60, 0, 1, 0, 1, 0), cp56(0, 0, 24, 1, 0, 1, 0),
		cp56(0, 0, 0, 0, 0, 1, 0), cp56(0, 0, 0, 1, 0, 13, 0), cp56(0, 0, 0, 31, 0, 2, 26)} {
		if _, ok := bad.Time(time.UTC); ok {
			t.Errorf("%+v accepted", bad)
		}
	}
	// The repeated hour of autumn in Berlin: SU picks the instant.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	amb := cp56(0, 30, 2, 25, 7, 10, 26) // 2026-10-25 02:30, twice
	amb.SU = true
	summer, _ := amb.Time(berlin)
	amb.SU = false
	winter, _ := amb.Time(berlin)
	if d := winter.Sub(summer); d != time.Hour {
		t.Errorf("SU should choose between the two 02:30s: summer %v winter %v", summer.UTC(), winter.UTC())
	}
	now := time.Date(2026, 7, 1, 12, 0, 0, 250e6, time.UTC)
	back, ok := NewCP56Time2a(now, berlin).Time(berlin)
	if !ok || !back.Equal(now) {
		t.Errorf("round trip %v -> %v", now, back)
	}
	if !NewCP56Time2a(now, berlin).SU {
		t.Error("summer time in Berlin without SU")
	}
}

func TestSeqDiff(t *testing.T) {
	if SeqDiff(32767, 1) != 2 || SeqDiff(5, 5) != 0 || SeqDiff(1, 32767) != 32766 {
		t.Error("SeqDiff is not modulo 2^15")
	}
}

func TestCommands(t *testing.T) {
	b, _ := DefaultParams.Encode(nil, Interrogation(1))
	if hex.EncodeToString(b) != "6401060001000000001"+"4" {
		t.Errorf("C_IC_NA_1 % x", b)
	}
	b, _ = DefaultParams.Encode(nil, CounterInterrogation(0x0203))
	if hex.EncodeToString(b) != "65010600030200000005" {
		t.Errorf("C_CI_NA_1 % x", b)
	}
	b, _ = DefaultParams.Encode(nil, ClockSync(1, cp56(5678, 4, 15, 3, 4, 12, 26)))
	if hex.EncodeToString(b) != "670106000100000000"+"2e16040f830c1a" {
		t.Errorf("C_CS_NA_1 % x", b)
	}
}
