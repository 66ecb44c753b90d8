package scadareceiver

import (
	"encoding/binary"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scadaotel/scadaotel/internal/thirdparty"
)

// pcapResponses returns the TCP payloads sent from port 502 (Modbus
// replies, including the captures' malformed ones).
func pcapResponses(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.SrcPort != 502 || len(tcp.Payload) == 0 {
			continue
		}
		out = append(out, append([]byte(nil), tcp.Payload...))
	}
	return out
}

func TestPcapSeedsPresent(t *testing.T) {
	n := len(pcapResponses(t, thirdparty.Capture(t, "modbus-iti/modbus_test_data_part2.pcap")))
	if n < 100 {
		t.Fatalf("only %d Modbus replies extracted from modbus_test_data_part2.pcap", n)
	}
}

// FuzzResponse feeds arbitrary bytes to the client as the reply to a read:
// the receiver's read path must never panic, must return exactly the
// requested number of registers on success, and must classify every error.
// Seeds: the Modbus replies of the ITI sweep over function codes (130
// exceptions, malformed frames) and of the zeek captures.
func FuzzResponse(f *testing.F) {
	for _, rel := range []string{
		"modbus-iti/modbus_test_data_part2.pcap",
		"zeek/modbus-and-non-modbus-p502.pcap",
		"zeek/modbus-eit.pcap",
		"zeek/4SICS-GeekLounge-151022-min.pcap",
	} {
		for _, p := range pcapResponses(f, thirdparty.Capture(f, rel)) {
			f.Add(p)
		}
	}
	f.Add(frame(1, 1, []byte{3, 6, 0, 1, 0, 2, 0, 3}))
	f.Add(frame(1, 1, []byte{1, 2, 0xff, 0x03}))
	f.Add([]byte("garbage"))

	var reply atomic.Pointer[[]byte]
	srv := startRaw(f, func(c net.Conn, req []byte) bool {
		out := append([]byte(nil), (*reply.Load())...)
		if len(out) >= 2 { // answer the request's transaction so parsing goes deeper
			binary.BigEndian.PutUint16(out, reqTxn(req))
		}
		_, _ = c.Write(out)
		return false // close: a short reply ends in EOF, not a timeout
	})
	reads := []readReq{{reg: regHolding, addr: 0, count: 3}, {reg: regCoil, addr: 0, count: 10}, {reg: regInput, addr: 5, count: 1}}
	f.Fuzz(func(t *testing.T, data []byte) {
		reply.Store(&data)
		for i := range reads {
			l := &link{url: srv.url(), timeout: 200 * time.Millisecond, rc: ReconnectConfig{InitialInterval: time.Nanosecond, MaxInterval: time.Nanosecond}}
			regs, _, err := l.read(time.Now(), 1, &reads[i], nil)
			l.close()
			if err == nil {
				if len(regs) != reads[i].count {
					t.Fatalf("success with %d registers for a read of %d", len(regs), reads[i].count)
				}
				continue
			}
			if kind, _ := classify(err); kind == "" {
				t.Fatalf("unclassified error %v", err)
			}
		}
	})
}
