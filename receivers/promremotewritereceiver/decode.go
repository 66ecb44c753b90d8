package promremotewritereceiver

import (
	"bufio"
	"bytes"
	"io"

	"github.com/golang/snappy"
)

// snappyFramed starts every snappy framed stream.
var snappyFramed = []byte{0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y'}

// lazySnappy decodes "Content-Encoding: snappy" bodies (block format, or
// the framed format some senders use under that name) on the handler's
// first Read rather than before the handler runs, and refuses a block whose
// length header is over maxDecoded without decoding it.
func lazySnappy(maxDecoded int64) func(io.ReadCloser) (io.ReadCloser, error) {
	return func(body io.ReadCloser) (io.ReadCloser, error) {
		return &lazySnappyBody{orig: body, maxDecoded: maxDecoded}, nil
	}
}

type lazySnappyBody struct {
	orig       io.ReadCloser
	maxDecoded int64
	r          io.Reader
	err        error
}

func (b *lazySnappyBody) Read(p []byte) (int, error) {
	if b.r == nil && b.err == nil {
		b.r, b.err = b.open()
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.r.Read(p)
}

func (b *lazySnappyBody) open() (io.Reader, error) {
	br := bufio.NewReader(b.orig)
	if head, _ := br.Peek(len(snappyFramed)); bytes.Equal(head, snappyFramed) {
		return snappy.NewReader(br), nil // streamed; the handler stops at max_decoded_size
	}
	// The compressed body is read whole (bounded by max_request_body_size),
	// its decoded length checked before anything is allocated for it.
	compressed, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	n, err := snappy.DecodedLen(compressed)
	if err != nil {
		return nil, err
	}
	if int64(n) > b.maxDecoded {
		return nil, decodedTooLarge(n, b.maxDecoded)
	}
	dec, err := snappy.Decode(nil, compressed)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(dec), nil
}

func (b *lazySnappyBody) Close() error { return b.orig.Close() }
