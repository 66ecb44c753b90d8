package durableotlpexporter

import (
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// outcome of one send, as the exporter acts on it.
type outcome int

const (
	sent      outcome = iota
	retry             // transient: the request stays queued and is retried
	tooLarge          // the destination's size limit: split and retry the halves
	permanent         // will never succeed as it is: dead-letter it
)

// classify maps a gRPC export error. Unlike the core OTLP exporter, which
// drops on every non-retryable code, it retries whatever may heal by itself
// (Internal and Unknown included: a restarting server answers those too)
// and keeps the rest on disk.
func classify(err error) (outcome, time.Duration) {
	if err == nil {
		return sent, 0
	}
	st := status.Convert(err)
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.OK:
		return sent, 0
	case codes.ResourceExhausted:
		// grpc-go: "grpc: received message larger than max (N vs. M)".
		msg := strings.ToLower(st.Message())
		if delay == 0 && (strings.Contains(msg, "larger than max") || strings.Contains(msg, "message too large")) {
			return tooLarge, 0
		}
		return retry, delay
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented, codes.NotFound, codes.AlreadyExists:
		return permanent, 0
	default:
		return retry, delay
	}
}

// reason is the dead-letter reason for a permanent error: the gRPC code in
// snake case ("invalid_argument").
func reason(err error) string {
	return toSnake(status.Code(err).String())
}

func toSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
