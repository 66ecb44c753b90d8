// Package iec104pcap extracts the IEC 60870-5-104 APDUs of a capture
// (pcap or pcapng), for the codec's tests and the testbench's outstation
// simulator. It reassembles each TCP direction by arrival order and cuts
// it with iec104.Split.
package iec104pcap

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scadaotel/scadaotel/internal/iec104"
)

// Port is the IEC 104 TCP port.
const Port = 2404

// APDU is one frame found in a capture.
type APDU struct {
	Frame      int    // 1-based packet number, as Wireshark counts
	FromServer bool   // sent by the outstation (source port 2404)
	Garbage    int    // octets skipped before its start octet
	Raw        []byte // the whole APDU
}

// Capture is what ReadFile found.
type Capture struct {
	APDUs []APDU
	// Malformed counts start octets followed by an impossible length.
	Malformed int
	// MalformedFrames lists the packet numbers where they were found.
	MalformedFrames []int
}

type flow struct {
	buf  []byte
	next uint32 // the TCP sequence number after the last octet read
}

type flowKey struct {
	src, dst         string
	srcPort, dstPort uint16
}

// ReadFile reads the capture at path.
func ReadFile(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Read reads a pcap or pcapng stream.
func Read(r io.Reader) (*Capture, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("cannot read capture header: %w", err)
	}
	var src packetSource
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		src, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(br)
	}
	if err != nil {
		return nil, err
	}
	c := &Capture{}
	flows := map[flowKey]*flow{}
	for n := 1; ; n++ {
		data, _, err := src.ReadPacketData()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("packet %d: %w", n, err)
		}
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tl, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || (tl.SrcPort != Port && tl.DstPort != Port) || len(tl.Payload) == 0 {
			continue
		}
		nl := pkt.NetworkLayer()
		if nl == nil {
			continue
		}
		k := flowKey{nl.NetworkFlow().Src().String(), nl.NetworkFlow().Dst().String(), uint16(tl.SrcPort), uint16(tl.DstPort)}
		fl := flows[k]
		if fl == nil {
			fl = &flow{next: tl.Seq}
			flows[k] = fl
		}
		payload := tl.Payload
		// a retransmission repeats octets already read: keep only the new ones
		if d := int32(tl.Seq - fl.next); d < 0 {
			if int(-d) >= len(payload) {
				continue
			}
			payload = payload[-d:]
		}
		fl.next = tl.Seq + uint32(len(tl.Payload))
		buf := append(fl.buf, payload...)
		frame := n
		bad, rest := iec104.Split(buf, func(b []byte, garbage int) {
			c.APDUs = append(c.APDUs, APDU{Frame: frame, FromServer: tl.SrcPort == Port, Garbage: garbage, Raw: append([]byte(nil), b...)})
		})
		for range bad {
			c.MalformedFrames = append(c.MalformedFrames, n)
		}
		c.Malformed += bad
		fl.buf = append([]byte(nil), rest...)
	}
	return c, nil
}
