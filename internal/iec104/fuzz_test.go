package iec104_test

import (
	"reflect"
	"testing"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/iec104pcap"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
)

// FuzzDecodeAPDU: any octets give a frame or an error, never a panic; an
// ASDU that decodes encodes back to octets that decode to the same ASDU.
// Seeds: every APDU of both captures, malformed ones included.
func FuzzDecodeAPDU(f *testing.F) {
	for _, name := range []string{"JavaRMI_and_IEC_Misc", "TestDissectIec104"} {
		c, err := iec104pcap.ReadFile(thirdparty.Capture(f, "iec104-iti/"+name+".pcap"))
		if err != nil {
			f.Fatal(err)
		}
		for _, a := range c.APDUs {
			f.Add(a.Raw)
		}
	}
	f.Add([]byte{0x68, 0x04, 0x07, 0, 0, 0})
	f.Add([]byte{0x68, 0x02, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		apdu, err := iec104.Parse(b)
		if err != nil || apdu.Format != iec104.FormatI {
			return
		}
		for _, p := range []iec104.Params{iec104.DefaultParams, {COTSize: 1, CASize: 1, IOASize: 1}, {COTSize: 2, CASize: 2, IOASize: 2}} {
			a, err := p.Decode(apdu.ASDU, nil)
			if err != nil {
				continue
			}
			enc, err := p.Encode(nil, a)
			if err != nil {
				t.Fatalf("%+v decodes but does not encode: %v", a, err)
			}
			back, err := p.Decode(enc, nil)
			if err != nil {
				t.Fatalf("re-encoded % x does not decode: %v", enc, err)
			}
			// NaN floats compare unequal: compare the raw bits instead
			for i := range back.Objects {
				back.Objects[i].Value, a.Objects[i].Value = 0, 0
			}
			if !reflect.DeepEqual(a, back) {
				t.Fatalf("round trip changed the ASDU:\n%+v\n%+v", a, back)
			}
		}
	})
}
