package iec104_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/iec104pcap"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
)

// The golden files testdata/*.tshark.tsv are tshark's reading of the
// captures, one row per APDU (testdata/gen-golden.sh, run once; tshark is
// not needed by the tests).

func readGolden(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// renderObject renders o with the keys tshark shows for its type, in
// tshark's order.
func renderObject(typ iec104.TypeID, o iec104.Object) string {
	var kv []string
	add := func(k, v string) { kv = append(kv, k+"="+v) }
	q := func(ov bool) {
		if ov {
			add("ov", b01(o.Quality&iec104.QualityOV != 0))
		}
		add("bl", b01(o.Quality&iec104.QualityBL != 0))
		add("sb", b01(o.Quality&iec104.QualitySB != 0))
		add("nt", b01(o.Quality&iec104.QualityNT != 0))
		add("iv", b01(o.Quality&iec104.QualityIV != 0))
	}
	switch typ {
	case iec104.MSpNa1, iec104.MSpTb1:
		add("spi", strconv.FormatInt(o.Raw, 10))
		q(false)
	case iec104.MDpNa1, iec104.MDpTb1:
		add("dpi", strconv.FormatInt(o.Raw, 10))
		q(false)
	case iec104.MMeNb1, iec104.MMeTe1:
		add("scal", strconv.FormatInt(o.Raw, 10))
		q(true)
	case iec104.MEiNa1:
		add("coi", fmt.Sprintf("0x%02x", o.Raw))
	case iec104.CIcNa1:
		add("qoi", strconv.FormatInt(o.Raw, 10))
	case iec104.CScNa1:
		add("sco", fmt.Sprintf("0x%02x", o.Raw))
	case iec104.CDcNa1:
		add("dco", fmt.Sprintf("0x%02x", o.Raw))
	}
	if o.HasTime {
		tm := o.Time
		add("t.ms", strconv.Itoa(int(tm.Millis)))
		add("t.min", strconv.Itoa(int(tm.Minute)))
		add("t.iv", b01(tm.IV))
		add("t.hour", strconv.Itoa(int(tm.Hour)))
		add("t.su", b01(tm.SU))
		add("t.day", strconv.Itoa(int(tm.Day)))
		add("t.month", strconv.Itoa(int(tm.Month)))
		add("t.year", strconv.Itoa(int(tm.Year)))
	}
	return strconv.FormatUint(uint64(o.IOA), 10) + ":" + strings.Join(kv, ",")
}

// TestCapturesMatchTshark decodes every APDU of both iec104-iti captures
// and compares the APCI, the ASDU header and every information object
// with what tshark shows; the malformed frames are counted, not crashed on.
func TestCapturesMatchTshark(t *testing.T) {
	for _, tc := range []struct {
		name      string
		malformed int // start octets with a length below 4 (tshark: "APDU less than 4 bytes")
		undecoded int // I frames whose ASDU tshark cannot decode either
		types     map[iec104.TypeID]bool
	}{
		{"JavaRMI_and_IEC_Misc", 0, 0, map[iec104.TypeID]bool{1: true, 3: true, 11: true, 70: true, 100: true}},
		// tshark shows 4 malformed frames; packet 11 holds two start octets with a bad length
		// 8 undecodable: an I frame without ASDU, a U frame of length 5, two S
		// frames of length 6, four ASDUs shorter than their header
		{"TestDissectIec104", 5, 8, map[iec104.TypeID]bool{1: true, 3: true, 30: true, 45: true, 46: true, 70: true, 100: true, 103: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iec104pcap.ReadFile(thirdparty.Capture(t, "iec104-iti/"+tc.name+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			var rows [][]string
			for _, r := range readGolden(t, tc.name) {
				if strings.HasPrefix(r[1], "malformed") {
					continue
				}
				rows = append(rows, r)
			}
			if c.Malformed != tc.malformed {
				t.Errorf("malformed frames: got %d (at packets %v), want %d", c.Malformed, c.MalformedFrames, tc.malformed)
			}
			if len(c.APDUs) != len(rows) {
				t.Fatalf("got %d APDUs, tshark shows %d", len(c.APDUs), len(rows))
			}
			seen := map[iec104.TypeID]bool{}
			undecoded := 0
			var objs []iec104.Object
			for i, a := range c.APDUs {
				want := rows[i]
				where := fmt.Sprintf("APDU %d (packet %d)", i, a.Frame)
				if got := strconv.Itoa(a.Frame); got != want[0] {
					t.Fatalf("%s: tshark row is packet %s", where, want[0])
				}
				apdu, err := iec104.Parse(a.Raw)
				var head string
				switch {
				case err != nil:
					// tshark shows these frames' APCI anyway, after garbage octets
					undecoded++
					t.Logf("%s: undecodable: %v", where, err)
					if !strings.Contains(want[1], "+prefix=") {
						t.Errorf("%s: %v, but tshark decodes %q", where, err, want[1])
					}
					continue
				case apdu.Format == iec104.FormatI:
					head = fmt.Sprintf("I %d %d", apdu.SendSeq, apdu.RecvSeq)
				case apdu.Format == iec104.FormatS:
					head = fmt.Sprintf("S %d", apdu.RecvSeq)
				default:
					head = "U " + strconv.Itoa(tsharkUType(apdu.U))
				}
				// tshark and Split attribute skipped octets differently
				// (tshark per segment): compare the frames, not the prefixes
				if head != strings.Split(want[1], "+")[0] {
					t.Errorf("%s: APCI %q, tshark %q", where, head, want[1])
				}
				if apdu.Format != iec104.FormatI {
					continue
				}
				asdu, err := iec104.DefaultParams.Decode(apdu.ASDU, objs)
				if err != nil {
					undecoded++
					t.Logf("%s: undecodable: %v", where, err)
					if want[2] != "-" && !strings.Contains(want[2], "?") {
						t.Errorf("%s: %v, but tshark decodes %q", where, err, want[2])
					}
					continue
				}
				objs = asdu.Objects
				seen[asdu.Type] = true
				hdr := fmt.Sprintf("%d %s %d %d %s %s %d %d", asdu.Type, b01(asdu.SQ), len(asdu.Objects), asdu.Cause,
					b01(asdu.Negative), b01(asdu.Test), asdu.Originator, asdu.CommonAddr)
				if hdr != want[2] {
					t.Errorf("%s: header %q, tshark %q", where, hdr, want[2])
				}
				var os []string
				for _, o := range asdu.Objects {
					os = append(os, renderObject(asdu.Type, o))
				}
				if got := strings.Join(os, ";"); got != want[3] {
					t.Errorf("%s: objects\n got %s\nwant %s", where, got, want[3])
				}
			}
			if undecoded != tc.undecoded {
				t.Errorf("undecodable APDUs: %d, want %d", undecoded, tc.undecoded)
			}
			for ty := range tc.types {
				if !seen[ty] {
					t.Errorf("type %s not seen", ty)
				}
			}
		})
	}
}

// tsharkUType is tshark's number for a U function.
func tsharkUType(u iec104.UFunc) int {
	switch u {
	case iec104.StartDTAct:
		return 0x01
	case iec104.StartDTCon:
		return 0x02
	case iec104.StopDTAct:
		return 0x04
	case iec104.StopDTCon:
		return 0x08
	case iec104.TestFRAct:
		return 0x10
	case iec104.TestFRCon:
		return 0x20
	}
	return -1
}
