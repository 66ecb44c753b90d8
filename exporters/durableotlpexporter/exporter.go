package durableotlpexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

type durableExporter struct {
	cfg      *Config
	set      exporter.Settings
	logger   *zap.Logger
	tel      *telemetry
	dead     *deadletter.Store
	sender   *sender
	conn     *grpc.ClientConn
	host     component.Host
	fullOnce sync.Mutex
	full     bool
}

func newExporter(set exporter.Settings, cfg *Config) (*durableExporter, error) {
	dead, err := deadletter.Open(cfg.DeadLetter)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(set.TelemetrySettings, dead.Dir(), set.Logger)
	if err != nil {
		return nil, err
	}
	return &durableExporter{cfg: cfg, set: set, logger: set.Logger, tel: tel, dead: dead}, nil
}

func (e *durableExporter) start(ctx context.Context, host component.Host) error {
	e.host = host
	conn, err := e.cfg.ClientConfig.ToClientConn(ctx, host.GetExtensions(), e.set.TelemetrySettings,
		configgrpcUserAgent(e.set.BuildInfo))
	if err != nil {
		return err
	}
	e.conn = conn
	headers := map[string]string{}
	for k, v := range e.cfg.ClientConfig.Headers.Iter {
		headers[k] = string(v)
	}
	e.sender = newSender(ptraceotlp.NewGRPCClient(conn), metadata.New(headers),
		grpc.WaitForReady(e.cfg.ClientConfig.WaitForReady))
	return nil
}

func (e *durableExporter) shutdown(context.Context) error {
	var errs []error
	if e.conn != nil {
		errs = append(errs, e.conn.Close())
	}
	errs = append(errs, e.dead.Close(), e.tel.close())
	return errors.Join(errs...)
}

// pushTraces sends td in requests under the byte bound. It returns nil only
// when every span is at the destination or in the dead-letter area; on a
// retryable error it returns what is left, so a retry never resends what
// the destination already took.
func (e *durableExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	if e.sender == nil {
		return errNotStarted
	}
	parts := splitTraces(td, e.cfg.MaxRequestBytes)
	if len(parts) > 1 {
		e.tel.splits.Add(ctx, int64(len(parts)-1))
	}
	for i, p := range parts {
		if err := e.sendPart(ctx, p); err != nil {
			left := append([]ptrace.Traces{remainder(err, p)}, parts[i+1:]...)
			return consumererror.NewTraces(err, mergeTraces(left...))
		}
	}
	return nil
}

// sendPart sends one request of at most MaxRequestBytes (or one span larger
// than that) and deals with the answer.
func (e *durableExporter) sendPart(ctx context.Context, td ptrace.Traces) error {
	if size := sizer.TracesSize(td); size > e.cfg.MaxRequestBytes {
		return e.deadLetter(ctx, td, "too_large",
			fmt.Sprintf("one span of %d bytes is larger than max_request_bytes %d", size, e.cfg.MaxRequestBytes))
	}
	err := e.sender.export(ctx, td, e.tel.rejected)
	switch out, delay := classify(err); out {
	case sent:
		return nil
	case tooLarge:
		a, b, ok := halve(td)
		if !ok {
			return e.deadLetter(ctx, td, "too_large", err.Error())
		}
		e.tel.splits.Add(ctx, 1)
		e.logger.Warn("destination refused a request as too large; sending it in halves (lower max_request_bytes to avoid this)",
			zap.Int("bytes", sizer.TracesSize(td)), zap.Error(err))
		if err := e.sendPart(ctx, a); err != nil {
			return consumererror.NewTraces(err, mergeTraces(remainder(err, a), b))
		}
		return e.sendPart(ctx, b)
	case permanent:
		return e.deadLetter(ctx, td, reason(err), err.Error())
	default:
		if delay > 0 {
			return exporterhelper.NewThrottleRetry(err, delay)
		}
		return err
	}
}

// deadLetter stores td per tenant and succeeds only once all of it is on
// disk; a failed write is retryable (the request stays in the queue).
func (e *durableExporter) deadLetter(ctx context.Context, td ptrace.Traces, reason, detail string) error {
	groups := byTenant(td)
	for i, g := range groups {
		data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(g.td)
		if err == nil {
			err = e.dead.Put(deadletter.Entry{
				Time: timeNow(), Tenant: g.tenant, Signal: "traces", Reason: reason, Detail: detail,
				Items: g.td.SpanCount(), Data: data,
			})
		}
		if err != nil {
			e.reportFull(err)
			left := make([]ptrace.Traces, 0, len(groups)-i)
			for _, r := range groups[i:] {
				left = append(left, r.td)
			}
			return consumererror.NewTraces(fmt.Errorf("request refused by the destination (%s: %s) and not yet in the dead-letter area: %w", reason, detail, err), mergeTraces(left...))
		}
		e.tel.deadLettered(ctx, g.tenant, reason, g.td.SpanCount())
		e.logger.Error("destination refused spans for good; kept in the dead-letter area for replay",
			zap.String("tenant", g.tenant), zap.String("reason", reason), zap.String("detail", detail),
			zap.Int("spans", g.td.SpanCount()), zap.String("directory", e.dead.Dir()))
	}
	e.reportFull(nil)
	return nil
}

// reportFull turns the dead-letter volume's reserve into component status,
// once per change.
func (e *durableExporter) reportFull(err error) {
	full := errors.Is(err, diskreserve.ErrFull)
	e.fullOnce.Lock()
	defer e.fullOnce.Unlock()
	if full == e.full || e.host == nil {
		return
	}
	e.full = full
	if full {
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
	} else {
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

// remainder is what of part still needs sending after err.
func remainder(err error, part ptrace.Traces) ptrace.Traces {
	var te consumererror.Traces
	if errors.As(err, &te) {
		return te.Data()
	}
	return part
}
