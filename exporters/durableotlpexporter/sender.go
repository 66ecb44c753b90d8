package durableotlpexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// sender makes one OTLP gRPC export call; the exporter and the dead-letter
// replay command share it.
type sender struct {
	client ptraceotlp.GRPCClient
	md     metadata.MD
	opts   []grpc.CallOption
}

func newSender(client ptraceotlp.GRPCClient, md metadata.MD, opts ...grpc.CallOption) *sender {
	return &sender{client: client, md: md, opts: opts}
}

// export sends td as one request. A partial success (spans the destination
// accepted the request of but rejected) is reported to onRejected: the
// destination does not say which spans, so they cannot be kept.
func (s *sender) export(ctx context.Context, td ptrace.Traces, onRejected func(ctx context.Context, tenant string, n int64, msg string)) error {
	if len(s.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	resp, err := s.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td), s.opts...)
	if err != nil {
		return err
	}
	if ps := resp.PartialSuccess(); ps.RejectedSpans() > 0 && onRejected != nil {
		onRejected(ctx, firstTenant(td), ps.RejectedSpans(), ps.ErrorMessage())
	}
	return nil
}

func configgrpcUserAgent(bi component.BuildInfo) configgrpc.ToClientConnOption {
	return configgrpc.WithGrpcDialOption(grpc.WithUserAgent(bi.Command + "/" + bi.Version))
}

// timeNow is replaced in tests.
var timeNow = func() time.Time { return time.Now().UTC() }
