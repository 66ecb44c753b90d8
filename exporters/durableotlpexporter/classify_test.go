package durableotlpexporter

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestClassify(t *testing.T) {
	throttled, _ := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)})
	cases := []struct {
		err   error
		want  outcome
		delay time.Duration
	}{
		{nil, sent, 0},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5728379 vs. 4194304)"), tooLarge, 0},
		{throttled.Err(), retry, 3 * time.Second},
		{status.Error(codes.ResourceExhausted, "quota"), retry, 0},
		{status.Error(codes.Unavailable, "down"), retry, 0},
		{status.Error(codes.Internal, "panic"), retry, 0},
		{errors.New("connection reset"), retry, 0},
		{status.Error(codes.InvalidArgument, "bad"), permanent, 0},
		{status.Error(codes.PermissionDenied, "no"), permanent, 0},
		{status.Error(codes.Unimplemented, "no traces"), permanent, 0},
	}
	for _, c := range cases {
		got, d := classify(c.err)
		if got != c.want || d != c.delay {
			t.Errorf("%v: got %v %v, want %v %v", c.err, got, d, c.want, c.delay)
		}
	}
	if r := reason(status.Error(codes.InvalidArgument, "x")); r != "invalid_argument" {
		t.Errorf("reason %q", r)
	}
}
