package iec104

// Split cuts a byte stream (one direction of a TCP connection) into
// APDUs the way a tolerant reader such as a protocol analyser does: octets
// before a start octet are skipped and reported as garbage, a start octet
// with an impossible length is reported as malformed and skipped. It
// returns the complete frames found, the garbage and malformed counts, and
// the octets left over (an incomplete frame at the end). A link-layer
// client never resynchronises like this: it closes the connection.
func Split(b []byte, each func(frame []byte, garbage int)) (malformed int, rest []byte) {
	garbage := 0
	for len(b) > 0 {
		if b[0] != StartByte {
			garbage++
			b = b[1:]
			continue
		}
		n, err := FrameLen(b)
		if err == ErrShort {
			return malformed, b
		}
		if err != nil {
			malformed++
			b = b[1:]
			continue
		}
		if len(b) < n {
			return malformed, b
		}
		each(b[:n], garbage)
		garbage = 0
		b = b[n:]
	}
	return malformed, b
}
