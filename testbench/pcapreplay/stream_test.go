package pcapreplay

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapBuilder writes a synthetic capture of one client/server connection.
type pcapBuilder struct {
	t        *testing.T
	buf      bytes.Buffer
	w        *pcapgo.Writer
	ts       time.Time
	cSeq     uint32
	sSeq     uint32
	frameNum int
}

func newPcap(t *testing.T) *pcapBuilder {
	b := &pcapBuilder{t: t, ts: time.Unix(1700000000, 0), cSeq: 1000, sSeq: 9000}
	b.w = pcapgo.NewWriter(&b.buf)
	if err := b.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return b
}

// send writes one segment; toServer picks the direction. seq overrides the
// running sequence number when non-nil (retransmissions, gaps).
func (b *pcapBuilder) send(toServer bool, payload []byte, seq *uint32) int {
	b.t.Helper()
	b.ts = b.ts.Add(10 * time.Millisecond)
	cli, srv := net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 502, ACK: true, Window: 1000}
	running := &b.cSeq
	if !toServer {
		ip.SrcIP, ip.DstIP = srv, cli
		tcp.SrcPort, tcp.DstPort = 502, 40000
		running = &b.sSeq
	}
	tcp.Seq = *running
	if seq != nil {
		tcp.Seq = *seq
	}
	if seq == nil || *seq == *running {
		*running += uint32(len(payload))
	}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		b.t.Fatal(err)
	}
	data := sb.Bytes()
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: b.ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		b.t.Fatal(err)
	}
	b.frameNum++
	return b.frameNum
}

func mbap(tid uint16, unit byte, pdu ...byte) []byte {
	b := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(b, tid)
	binary.BigEndian.PutUint16(b[4:], uint16(len(pdu)+1))
	b[6] = unit
	return append(b, pdu...)
}

func readHolding(tid uint16, unit byte, addr, n uint16) []byte {
	return mbap(tid, unit, 3, byte(addr>>8), byte(addr), byte(n>>8), byte(n))
}

func holdingReply(tid uint16, unit byte, vals ...uint16) []byte {
	pdu := []byte{3, byte(2 * len(vals))}
	for _, v := range vals {
		pdu = append(pdu, byte(v>>8), byte(v))
	}
	return mbap(tid, unit, pdu...)
}

func TestStreamReassembly(t *testing.T) {
	b := newPcap(t)
	// Two pipelined requests in one segment.
	b.send(true, append(readHolding(1, 5, 100, 2), readHolding(2, 5, 200, 1)...), nil)
	// The first reply split over three segments, the last segment also
	// carrying the second reply.
	r1, r2 := holdingReply(1, 5, 11, 12), holdingReply(2, 5, 21)
	b.send(false, r1[:3], nil)
	b.send(false, r1[3:9], nil)
	f := b.send(false, append(r1[9:], r2...), nil)
	// A retransmission of the whole of it must not duplicate anything.
	retrans := b.sSeq - uint32(len(r1)+len(r2)-9)
	b.send(false, append(r1[9:], r2...), &retrans)
	// Non-Modbus bytes on port 502 are skipped.
	b.send(true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), nil)
	// An exception reply and an unanswered request.
	b.send(true, readHolding(3, 5, 9000, 1), nil)
	b.send(false, mbap(3, 5, 0x83, 2), nil)
	b.send(true, readHolding(4, 5, 100, 1), nil)
	// A gap: a reply whose first bytes are missing from the capture is
	// dropped, and the stream resynchronises on the next segment.
	lost := holdingReply(4, 5, 99)
	skip := b.sSeq + 4
	b.send(false, lost[4:], &skip)
	b.sSeq += uint32(len(lost))
	b.send(true, readHolding(5, 5, 101, 1), nil)
	f5 := b.send(false, holdingReply(5, 5, 13), nil)

	c, err := Read(&b.buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	server := c.PDUs[0].Server
	check := func(addr uint16, want ...uint16) {
		t.Helper()
		got := c.Series[Key{Server: server, Unit: 5, Function: 3, Address: addr}]
		if len(got) != len(want) {
			t.Fatalf("address %d: %d samples %+v, want %v", addr, len(got), got, want)
		}
		for i, s := range got {
			if s.Value != want[i] {
				t.Errorf("address %d sample %d = %d, want %d", addr, i, s.Value, want[i])
			}
		}
	}
	check(100, 11)
	check(101, 12, 13)
	check(200, 21)
	if got := c.Series[Key{Server: server, Unit: 5, Function: 3, Address: 200}][0]; got.Frame != f || got.Latency != 30*time.Millisecond {
		t.Errorf("reply completed in frame %d after %v, want frame %d after 30ms", got.Frame, got.Latency, f)
	}
	if got := c.Series[Key{Server: server, Unit: 5, Function: 3, Address: 101}][1].Frame; got != f5 {
		t.Errorf("resynchronised reply in frame %d, want %d", got, f5)
	}
	st := c.Stats
	if st.Exceptions != 1 || st.Unanswered != 1 || st.Retransmissions != 1 || st.NonModbusSegments != 2 || st.GapBytes != 4 {
		t.Errorf("stats %+v: want 1 exception, 1 unanswered, 1 retransmission, 2 non-Modbus segments (HTTP, headless tail), gap of 4 bytes", st)
	}
}
