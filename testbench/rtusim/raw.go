package rtusim

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
)

// rawServer is a plain TCP listener for the faults a Modbus server library
// cannot produce: hang (read requests, never answer), garbage (answer with
// bytes that are not Modbus/TCP) and drop (send part of a valid reply, then
// close the connection).
type rawServer struct {
	r     *RTU
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newRawServer(r *RTU) (*rawServer, error) {
	l, err := net.Listen("tcp", r.Addr)
	if err != nil {
		return nil, err
	}
	s := &rawServer{r: r, l: l, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *rawServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *rawServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:6]))
		if n < 1 || n > 260 {
			return
		}
		body := make([]byte, n-1)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		s.r.requests.Add(1)
		s.r.faulted.Add(1)
		switch s.r.Fault().Mode {
		case FaultHang:
			// Keep reading so the client's requests pile up unanswered.
		case FaultGarbage:
			junk := make([]byte, 9+rand.IntN(24))
			for i := range junk {
				junk[i] = byte(rand.UintN(256))
			}
			junk[2], junk[3] = 0xde, 0xad // never protocol id 0
			if _, err := c.Write(junk); err != nil {
				return
			}
		case FaultDrop:
			reply := s.reply(hdr, body)
			_, _ = c.Write(reply[:len(reply)/2])
			return
		default:
			return
		}
	}
}

// reply builds the valid answer to a read request (or an echo for writes),
// of which drop mode sends only the first half.
func (s *rawServer) reply(hdr, body []byte) []byte {
	out := append([]byte(nil), hdr...)
	var pdu []byte
	if len(body) >= 5 {
		fc := body[0]
		addr := binary.BigEndian.Uint16(body[1:3])
		n := binary.BigEndian.Uint16(body[3:5])
		if t, ok := TableForFunction(fc); ok && fc <= 4 && n > 0 && n <= 125 {
			vals, _ := s.r.Bank.read(hdr[6], t, addr, n)
			if t == Coil || t == Discrete {
				b := make([]byte, (len(vals)+7)/8)
				for i, v := range vals {
					if v != 0 {
						b[i/8] |= 1 << (i % 8)
					}
				}
				pdu = append([]byte{fc, byte(len(b))}, b...)
			} else {
				pdu = []byte{fc, byte(2 * len(vals))}
				for _, v := range vals {
					pdu = binary.BigEndian.AppendUint16(pdu, v)
				}
			}
		}
	}
	if pdu == nil {
		pdu = body
	}
	binary.BigEndian.PutUint16(out[4:6], uint16(len(pdu)+1))
	return append(out, pdu...)
}
