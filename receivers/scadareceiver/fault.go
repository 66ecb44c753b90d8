package scadareceiver

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/simonvetter/modbus"
)

// Fault kinds, the values of the self-metric attribute "kind".
const (
	faultTimeout    = "timeout"
	faultRefused    = "refused"
	faultException  = "exception"
	faultMalformed  = "malformed"
	faultDisconnect = "disconnect"
	faultOther      = "other"
)

// errBadTxnID replaces the library's timeout when the reply carried a
// transaction id that did not match the request (the library skips such
// frames and then times out).
var errBadTxnID = errors.New("reply carried a wrong transaction id")

// errBackoff is returned without I/O while a link waits to reconnect.
var errBackoff = errors.New("waiting to reconnect")

var exceptionCodes = map[error]int{
	modbus.ErrIllegalFunction:         1,
	modbus.ErrIllegalDataAddress:      2,
	modbus.ErrIllegalDataValue:        3,
	modbus.ErrServerDeviceFailure:     4,
	modbus.ErrAcknowledge:             5,
	modbus.ErrServerDeviceBusy:        6,
	modbus.ErrMemoryParityError:       8,
	modbus.ErrGWPathUnavailable:       10,
	modbus.ErrGWTargetFailedToRespond: 11,
}

// classify maps a read error to a fault kind and, for Modbus exceptions,
// the exception code (0 otherwise).
func classify(err error) (kind string, code int) {
	if err == nil {
		return "", 0
	}
	if c, ok := exceptionCodes[err]; ok {
		return faultException, c
	}
	var me modbus.Error
	switch {
	case errors.Is(err, errBadTxnID):
		return faultMalformed, 0
	case errors.Is(err, modbus.ErrRequestTimedOut), os.IsTimeout(err):
		return faultTimeout, 0
	case errors.Is(err, syscall.ECONNREFUSED):
		return faultRefused, 0
	case errors.Is(err, modbus.ErrProtocolError), errors.Is(err, modbus.ErrBadUnitId),
		errors.Is(err, modbus.ErrBadTransactionId), errors.Is(err, modbus.ErrUnknownProtocolId),
		errors.Is(err, modbus.ErrShortFrame), errors.Is(err, modbus.ErrBadCRC):
		return faultMalformed, 0
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return faultDisconnect, 0
	case errors.As(err, &me):
		return faultOther, 0
	}
	// The library formats unknown exception codes as text.
	if s := err.Error(); strings.HasPrefix(s, "unknown exception code (") {
		var c int
		for _, r := range strings.TrimSuffix(strings.TrimPrefix(s, "unknown exception code ("), ")") {
			if r < '0' || r > '9' {
				return faultException, 0
			}
			c = c*10 + int(r-'0')
		}
		return faultException, c
	}
	return faultOther, 0
}

// isException reports whether the device answered (with an exception):
// the connection is healthy and needs no reconnect.
func isException(err error) bool {
	k, _ := classify(err)
	return k == faultException
}
