package recordio

import (
	"bytes"
	"fmt"
	"testing"
)

func frame(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = Append(b, []byte(p))
	}
	return b
}

func scanAll(t *testing.T, data []byte) ([]string, []Damage) {
	t.Helper()
	var got []string
	var dmg []Damage
	err := Scan(data, func(_ int64, p []byte) error {
		got = append(got, string(p))
		return nil
	}, func(d Damage) { dmg = append(dmg, d) })
	if err != nil {
		t.Fatal(err)
	}
	return got, dmg
}

func TestScanClean(t *testing.T) {
	got, dmg := scanAll(t, frame("a", "", "ccc"))
	if fmt.Sprint(got) != "[a  ccc]" || len(dmg) != 0 {
		t.Fatalf("got %q, damage %v", got, dmg)
	}
}

func TestScanResyncsPastDamageInTheMiddle(t *testing.T) {
	recs := []string{"first record", "second record", "third record", "fourth record"}
	data := frame(recs...)
	second := HeaderSize + len(recs[0])
	// Overwrite bytes inside the second record's payload.
	copy(data[second+HeaderSize+2:], "XXXX")
	got, dmg := scanAll(t, data)
	if fmt.Sprint(got) != "[first record third record fourth record]" {
		t.Fatalf("records kept: %q", got)
	}
	wantEnd := int64(second + HeaderSize + len(recs[1]))
	if len(dmg) != 1 || dmg[0].Start != int64(second) || dmg[0].End != wantEnd || dmg[0].Torn {
		t.Fatalf("damage %v, want bytes %d-%d not torn", dmg, second, wantEnd)
	}
}

func TestScanDamagedHeaderAndLength(t *testing.T) {
	data := frame("aaaa", "bbbb", "cccc")
	rec := HeaderSize + 4
	// A length of 1 GiB in the second header must not be trusted.
	copy(data[rec+4:], []byte{0, 0, 0, 0x40})
	got, _ := scanAll(t, data)
	if fmt.Sprint(got) != "[aaaa cccc]" {
		t.Fatalf("records kept: %q", got)
	}
	data = frame("aaaa", "bbbb", "cccc")
	data[rec] ^= 0xff // magic of the second record
	got, _ = scanAll(t, data)
	if fmt.Sprint(got) != "[aaaa cccc]" {
		t.Fatalf("records kept: %q", got)
	}
}

func TestScanTornTailAtEveryCut(t *testing.T) {
	full := frame("one", "two", "three is longer")
	last := len(frame("one", "two"))
	for cut := last + 1; cut < len(full); cut++ {
		got, dmg := scanAll(t, full[:cut])
		if fmt.Sprint(got) != "[one two]" {
			t.Fatalf("cut %d: records kept %q", cut, got)
		}
		if len(dmg) != 1 || !dmg[0].Torn || dmg[0].Start != int64(last) || dmg[0].End != int64(cut) {
			t.Fatalf("cut %d: damage %v", cut, dmg)
		}
	}
}

func TestScanGarbageOnly(t *testing.T) {
	got, dmg := scanAll(t, bytes.Repeat([]byte{0xAB}, 100))
	if len(got) != 0 || len(dmg) != 1 || dmg[0].Torn || dmg[0].End != 100 {
		t.Fatalf("got %q damage %v", got, dmg)
	}
}

func TestWriterRefusesHugePayload(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewWriter(&buf).Write(make([]byte, MaxPayload+1)); err != ErrTooLarge {
		t.Fatalf("err %v", err)
	}
}

func FuzzScan(f *testing.F) {
	f.Add(frame("a", "bb"))
	f.Add(frame("x")[:7])
	f.Add([]byte{0x0C, 0xA1, 0xAD, 0x5C, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var covered int64
		err := Scan(data, func(off int64, p []byte) error {
			if off != covered {
				t.Fatalf("record at %d, expected %d", off, covered)
			}
			covered = off + int64(HeaderSize+len(p))
			return nil
		}, func(d Damage) {
			if d.Start != covered || d.End <= d.Start {
				t.Fatalf("damage %v after %d", d, covered)
			}
			covered = d.End
		})
		if err != nil || covered != int64(len(data)) {
			t.Fatalf("scan covered %d of %d: %v", covered, len(data), err)
		}
	})
}
