package pcapreplay

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/google/gopacket/layers"
)

// maxMBAPLength is the largest MBAP length field accepted: unit id plus the
// 253-byte maximum PDU, with slack for non-conforming devices.
const maxMBAPLength = 260

// direction is one half of a TCP connection.
type direction struct {
	src, dst netip.AddrPort
}

// half is the reassembly state of one direction.
type half struct {
	started bool
	next    uint32 // next expected sequence number
	pending []byte // bytes of an MBAP frame not yet complete
}

// conversation holds the requests of one TCP connection that may still be
// answered, newest last.
type conversation struct {
	requests []*Transaction
}

type assembler struct {
	port   uint16
	c      *Capture
	halves map[direction]*half
	convs  map[direction]*conversation // keyed by client->server
}

func newAssembler(port uint16) *assembler {
	return &assembler{
		port:   port,
		c:      &Capture{Series: map[Key][]Sample{}},
		halves: map[direction]*half{},
		convs:  map[direction]*conversation{},
	}
}

func (a *assembler) packet(frame int, ts time.Time, lt layers.LinkType, data []byte, truncated bool) {
	seg, ok := decodeSegment(frame, ts, lt, data)
	if !ok {
		return
	}
	if seg.src.Port() != a.port && seg.dst.Port() != a.port {
		return
	}
	a.c.Stats.Segments++
	if truncated {
		a.c.Stats.TruncatedFrames++
	}
	d := direction{seg.src, seg.dst}
	h := a.halves[d]
	if h == nil {
		h = &half{}
		a.halves[d] = h
	}
	if seg.syn {
		// A new connection on the same address pair starts clean.
		h.started, h.next, h.pending = true, seg.seq+1, nil
		return
	}
	p := seg.payload
	if len(p) == 0 {
		if seg.fin && h.started {
			h.next = seg.seq + 1
		}
		return
	}
	if !h.started {
		h.started, h.next = true, seg.seq
	}
	switch diff := int64(int32(seg.seq - h.next)); {
	case diff < 0:
		// Retransmission: keep only bytes not seen yet.
		if -diff >= int64(len(p)) {
			a.c.Stats.Retransmissions++
			return
		}
		p = p[-diff:]
	case diff > 0:
		// Bytes missing from the capture: a frame in progress is lost.
		a.c.Stats.GapBytes += int(diff)
		if len(h.pending) > 0 {
			a.c.Stats.LostFrames++
			h.pending = nil
		}
	}
	h.next = seg.seq + uint32(len(seg.payload))
	a.frames(h, seg, p)
}

// frames cuts MBAP frames out of one segment's new bytes. Like Wireshark, it
// decides at the start of a segment whether the bytes look like Modbus/TCP
// (protocol id 0, length 2..260); a segment that does not is skipped whole
// and counted as non-Modbus.
func (a *assembler) frames(h *half, seg segment, p []byte) {
	first := true
	for len(p) > 0 {
		if len(h.pending) > 0 {
			need := frameLen(h.pending) - len(h.pending)
			if len(h.pending) < 6 {
				need = 6 - len(h.pending)
			}
			if need > len(p) {
				h.pending = append(h.pending, p...)
				return
			}
			h.pending = append(h.pending, p[:need]...)
			p = p[need:]
			if len(h.pending) >= 6 && !plausibleHeader(h.pending) {
				a.c.Stats.MalformedFrames++
				h.pending = nil
				first = true
				continue
			}
			if len(h.pending) < 6 || frameLen(h.pending) > len(h.pending) {
				continue
			}
			a.frame(seg, h.pending)
			h.pending = nil
			first = false
			continue
		}
		if first && !plausibleHeader(p) {
			a.c.Stats.NonModbusSegments++
			a.c.Stats.NonModbusBytes += len(p)
			return
		}
		if len(p) >= 6 && !plausibleHeader(p) {
			// Garbage after a valid frame in the same segment.
			a.c.Stats.MalformedFrames++
			a.c.Stats.NonModbusBytes += len(p)
			return
		}
		first = false
		if len(p) < 6 || frameLen(p) > len(p) {
			h.pending = append([]byte(nil), p...)
			return
		}
		n := frameLen(p)
		a.frame(seg, p[:n])
		p = p[n:]
	}
}

func frameLen(b []byte) int { return 6 + int(binary.BigEndian.Uint16(b[4:6])) }

// plausibleHeader checks as much of an MBAP header as b holds. Unlike
// Wireshark, which wants 8 bytes at the start of a segment, a shorter start
// is kept, so that a frame split anywhere is reassembled.
func plausibleHeader(b []byte) bool {
	if len(b) >= 4 && binary.BigEndian.Uint16(b[2:4]) != 0 {
		return false
	}
	if len(b) < 6 {
		return true
	}
	l := binary.BigEndian.Uint16(b[4:6])
	return binary.BigEndian.Uint16(b[2:4]) == 0 && l >= 2 && l <= maxMBAPLength
}

// frame handles one complete MBAP frame b (header included) that ended in seg.
func (a *assembler) frame(seg segment, b []byte) {
	pdu := &PDU{
		Frame:    seg.frame,
		Time:     seg.time,
		TransID:  binary.BigEndian.Uint16(b[0:2]),
		Length:   binary.BigEndian.Uint16(b[4:6]),
		Unit:     b[6],
		Function: b[7],
		Data:     append([]byte(nil), b[8:]...),
	}
	if seg.dst.Port() == a.port {
		pdu.Request, pdu.Client, pdu.Server = true, seg.src, seg.dst
	} else {
		pdu.Client, pdu.Server = seg.dst, seg.src
	}
	a.c.PDUs = append(a.c.PDUs, pdu)
	a.c.Stats.PDUs++
	a.pair(pdu)
}

// pair links a request or a response to its transaction.
func (a *assembler) pair(pdu *PDU) {
	key := direction{pdu.Client, pdu.Server}
	conv := a.convs[key]
	if conv == nil {
		conv = &conversation{}
		a.convs[key] = conv
	}
	if pdu.Request {
		a.c.Stats.Requests++
		t := &Transaction{Request: pdu, Function: pdu.Function}
		t.decodeRequest()
		conv.requests = append(conv.requests, t)
		a.c.Transactions = append(a.c.Transactions, t)
		pdu.Transaction = t
		return
	}
	a.c.Stats.Responses++
	fc := pdu.Function & 0x7f
	var t *Transaction
	for i := len(conv.requests) - 1; i >= 0; i-- {
		r := conv.requests[i]
		if r.Request.Frame < pdu.Frame && r.Request.TransID == pdu.TransID &&
			r.Request.Unit == pdu.Unit && r.Function == fc {
			t = r
			break
		}
	}
	if t == nil {
		a.c.Stats.Orphans++
		t = &Transaction{Function: fc}
		a.c.Transactions = append(a.c.Transactions, t)
	} else if t.Response != nil {
		// A second answer to the same request: keep the transaction
		// for the first and record the duplicate on its own.
		a.c.Stats.DuplicateResponses++
		t = &Transaction{Request: t.Request, Function: fc, Address: t.Address, Quantity: t.Quantity, Values: t.Values}
		a.c.Transactions = append(a.c.Transactions, t)
	}
	t.Response = pdu
	pdu.Transaction = t
	t.decodeResponse()
	a.record(t)
}

func (a *assembler) finish() {
	for _, t := range a.c.Transactions {
		if t.Request != nil && t.Response == nil {
			a.c.Stats.Unanswered++
		}
		if t.Response != nil && t.Exception != 0 {
			a.c.Stats.Exceptions++
		}
	}
}
