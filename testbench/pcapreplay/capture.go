package pcapreplay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// DefaultPort is the Modbus TCP port.
const DefaultPort = 502

// Options tune Read.
type Options struct {
	// Port is the server port that marks Modbus traffic (default 502).
	Port uint16
}

// packetSource is what both pcapgo readers provide.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// ReadFile reads a pcap or pcapng file and reconstructs its Modbus traffic.
func ReadFile(path string, opts Options) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Read(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Read reads a pcap or pcapng stream and reconstructs its Modbus traffic.
// A truncated last packet ends the capture without an error, as it does in
// Wireshark.
func Read(r io.Reader, opts Options) (*Capture, error) {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("cannot read capture header: %w", err)
	}
	var src packetSource
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("cannot read pcapng header: %w", err)
		}
		src = ng
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("cannot read pcap header: %w", err)
		}
		src = pr
	}

	a := newAssembler(opts.Port)
	frame := 0
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read packet after frame %d: %w", frame, err)
		}
		frame++
		a.packet(frame, ci.Timestamp, src.LinkType(), data, ci.CaptureLength < ci.Length)
	}
	a.c.Stats.Frames = frame
	a.finish()
	return a.c, nil
}

// segment is one TCP segment's payload with the packet it came in.
type segment struct {
	frame    int
	time     time.Time
	src, dst netip.AddrPort
	seq      uint32
	syn, fin bool
	payload  []byte
}

func decodeSegment(frame int, ts time.Time, lt layers.LinkType, data []byte) (segment, bool) {
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var srcIP, dstIP netip.Addr
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		// Later fragments carry no TCP header.
		if ip.FragOffset != 0 {
			return segment{}, false
		}
		srcIP, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dstIP, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		srcIP, _ = netip.AddrFromSlice(ip.SrcIP)
		dstIP, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return segment{}, false
	}
	tcp, ok := pkt.TransportLayer().(*layers.TCP)
	if !ok {
		return segment{}, false
	}
	return segment{
		frame:   frame,
		time:    ts,
		src:     netip.AddrPortFrom(srcIP, uint16(tcp.SrcPort)),
		dst:     netip.AddrPortFrom(dstIP, uint16(tcp.DstPort)),
		seq:     tcp.Seq,
		syn:     tcp.SYN,
		fin:     tcp.FIN,
		payload: tcp.Payload,
	}, true
}
