package promremotewritereceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/internal/httpserver"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// staleNaNBits is Prometheus' staleness marker.
const staleNaNBits = 0x7ff0000000000002

type rwReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Metrics
	server *httpserver.Server
	// decodes holds a slot per request being read, decompressed, decoded
	// and handed on (max_concurrent_decodes).
	decodes chan struct{}

	mSamples  metric.Int64Counter
	mRefused  metric.Int64Counter
	mSkipped  metric.Int64Counter
	mRejected metric.Int64Counter
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics) (*rwReceiver, error) {
	r := &rwReceiver{cfg: cfg, set: set, next: next, decodes: make(chan struct{}, max(cfg.MaxConcurrentDecodes, 1))}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/receivers/promremotewritereceiver")
	var err error
	if r.mSamples, err = m.Int64Counter(MetricSamples, metric.WithDescription("Samples accepted (acknowledged after the pipeline returned)."), metric.WithUnit("{sample}")); err != nil {
		return nil, err
	}
	if r.mRefused, err = m.Int64Counter(MetricRefusedRequests, metric.WithDescription("Requests refused (bad body, no tenant, pipeline error)."), metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if r.mRejected, err = m.Int64Counter(MetricRejectedSamples, metric.WithDescription("Samples refused because their series cannot be stored as sent (metric or label name, no name), by tenant and reason."), metric.WithUnit("{sample}")); err != nil {
		return nil, err
	}
	if r.mSkipped, err = m.Int64Counter(MetricSkippedHistograms, metric.WithDescription("Native histogram points not converted (float counts or custom buckets)."), metric.WithUnit("{point}")); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rwReceiver) Start(ctx context.Context, host component.Host) error {
	ln, err := httpserver.ListenHTTP(ctx, &r.cfg.ServerConfig)
	if err != nil {
		return fmt.Errorf("prometheus_remote_write: endpoint %s: %w", r.cfg.NetAddr.Endpoint, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/write", r.handleWrite)
	// confighttp decodes "Content-Encoding: snappy" bodies whole before
	// the handler runs; this decoder waits until the handler reads, so the
	// decoding happens inside a max_concurrent_decodes slot.
	srv, err := r.cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux,
		confighttp.WithDecoder("snappy", lazySnappy(r.cfg.MaxDecodedSize)))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("prometheus_remote_write: %w", err)
	}
	r.server = httpserver.Start("prometheus_remote_write", srv, ln, host, r.set.Logger)
	r.set.Logger.Info("Prometheus remote-write receiver listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (r *rwReceiver) Shutdown(ctx context.Context) error {
	return r.server.Shutdown(ctx)
}

func (r *rwReceiver) refuse(ctx context.Context, w http.ResponseWriter, code int, msg string) {
	r.mRefused.Add(ctx, 1)
	http.Error(w, msg, code)
}

func (r *rwReceiver) handleWrite(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	if req.Method != http.MethodPost {
		r.refuse(ctx, w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	tenant := tenants.FromContext(ctx)
	if !tenants.ValidID(tenant) {
		code, reason := tenants.NoTenantStatus(ctx)
		r.refuse(ctx, w, code, reason)
		return
	}
	// Reading decompresses: at most max_concurrent_decodes bodies are
	// inflated, decoded and in the pipeline at once.
	select {
	case r.decodes <- struct{}{}:
		defer func() { <-r.decodes }()
	case <-ctx.Done():
		r.refuse(ctx, w, http.StatusServiceUnavailable, "gave up waiting to decode: "+ctx.Err().Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, r.cfg.MaxDecodedSize+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes after decompression (max_request_body_size)", tooLarge.Limit))
		return
	case errors.Is(err, errDecodedTooLarge):
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, err.Error())
		return
	case err != nil:
		r.refuse(ctx, w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	case int64(len(body)) > r.cfg.MaxDecodedSize:
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes after decompression (max_decoded_size)", r.cfg.MaxDecodedSize))
		return
	}
	wr, err := decodeWriteRequest(body, r.cfg.MaxDecodedSize)
	if errors.Is(err, errDecodedTooLarge) {
		r.refuse(ctx, w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if err != nil {
		r.refuse(ctx, w, http.StatusBadRequest, err.Error())
		return
	}
	if n, reason, detail := rejectedSamples(wr); n > 0 {
		// Nothing of a request with series the storage cannot keep as sent
		// is acknowledged.
		r.mRejected.Add(ctx, int64(n), metric.WithAttributes(tenants.SelfMetricTenant(tenant), attribute.String("reason", reason)))
		r.refuse(ctx, w, http.StatusBadRequest, fmt.Sprintf("%d samples cannot be stored, request refused; first: %s", n, detail))
		return
	}
	recordMetadata(wr, tenant)
	md, samples, skipped := toMetrics(wr, tenant)
	if skipped > 0 {
		r.mSkipped.Add(ctx, int64(skipped))
	}
	if samples == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := r.next.ConsumeMetrics(ctx, md); err != nil {
		code := http.StatusServiceUnavailable // Prometheus retries 5xx
		if consumererror.IsPermanent(err) {
			code = http.StatusBadRequest
		}
		msg := err.Error()
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			msg = st.Message() // not "rpc error: code = ... desc = ..."
		}
		r.refuse(ctx, w, code, msg)
		return
	}
	r.mSamples.Add(ctx, int64(samples))
	w.WriteHeader(http.StatusNoContent)
}

// rejectedSamples counts the samples of series seriesProblem refuses and
// returns the first problem.
func rejectedSamples(wr *prompb.WriteRequest) (n int, reason, detail string) {
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		points := len(ts.Samples) + len(ts.Histograms)
		if points == 0 {
			continue
		}
		if r, d := seriesProblem(ts); r != "" {
			if n == 0 {
				reason, detail = r, d
			}
			n += points
		}
	}
	return n, reason, detail
}

// recordMetadata hands the request's metric metadata (Prometheus sends it
// in its own requests, without samples) to the embedded store's per-tenant
// metadata, when the store is open in this process (embedded mode): it
// serves /api/v1/metadata. It is descriptive only and bounded per tenant.
func recordMetadata(wr *prompb.WriteRequest, tenant string) {
	if len(wr.Metadata) == 0 {
		return
	}
	st := vmstore.Current()
	if st == nil {
		return
	}
	for _, m := range wr.Metadata {
		st.SetMetadata(tenant, m.MetricFamilyName, vmstore.MetricMetadata{
			Type: strings.ToLower(m.Type.String()),
			Help: m.Help,
			Unit: m.Unit,
		})
	}
}

// toMetrics turns remote-write series into one resource (stamped with the
// tenant) holding one gauge per series: labels become datapoint attributes
// (the reserved scada_tenant label is dropped), staleness markers become
// no-recorded-value points. Native histograms with an exponential schema
// (-4..8) and integer counts become exponential histograms (the same
// bucket boundaries: OTLP scale = schema); float-count and custom-bucket
// native histograms are counted in skipped and not converted.
func toMetrics(wr *prompb.WriteRequest, tenant string) (md pmetric.Metrics, samples, skipped int) {
	md = pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenant)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/scadaotel/scadaotel/receivers/promremotewritereceiver")
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		if len(ts.Samples) == 0 && len(ts.Histograms) == 0 {
			continue
		}
		name := ""
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			}
		}
		if name == "" {
			continue
		}
		// The series' labels are built once; every point gets a copy
		// (one exact-size allocation, no per-label key lookup or growth).
		attrs := pcommon.NewMap()
		attrs.EnsureCapacity(len(ts.Labels))
		for _, l := range ts.Labels {
			if l.Name == "__name__" || l.Name == tenants.MetricLabel {
				continue
			}
			attrs.PutStr(l.Name, l.Value)
		}
		if len(ts.Samples) > 0 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(name)
			dps := m.SetEmptyGauge().DataPoints()
			dps.EnsureCapacity(len(ts.Samples))
			for _, s := range ts.Samples {
				dp := dps.AppendEmpty()
				attrs.CopyTo(dp.Attributes())
				dp.SetTimestamp(pcommon.Timestamp(s.Timestamp * 1e6))
				if math.Float64bits(s.Value) == staleNaNBits {
					dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				} else {
					dp.SetDoubleValue(s.Value)
				}
				samples++
			}
		}
		if len(ts.Histograms) > 0 {
			n, skip := addNativeHistograms(sm, name, attrs, ts.Histograms)
			samples += n
			skipped += skip
		}
	}
	return md, samples, skipped
}

// addNativeHistograms appends one exponential histogram metric holding
// the convertible points of hs.
func addNativeHistograms(sm pmetric.ScopeMetrics, name string, attrs pcommon.Map, hs []prompb.Histogram) (points, skipped int) {
	var dps pmetric.ExponentialHistogramDataPointSlice
	for i := range hs {
		h := &hs[i]
		if h.IsFloatHistogram() || h.Schema < -4 || h.Schema > 8 ||
			!denseFits(h.PositiveSpans) || !denseFits(h.NegativeSpans) {
			skipped++
			continue
		}
		if points == 0 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(name)
			eh := m.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = eh.DataPoints()
		}
		points++
		dp := dps.AppendEmpty()
		attrs.CopyTo(dp.Attributes())
		dp.SetTimestamp(pcommon.Timestamp(h.Timestamp * 1e6))
		if math.Float64bits(h.Sum) == staleNaNBits {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			continue
		}
		dp.SetScale(h.Schema)
		dp.SetCount(h.GetCountInt())
		dp.SetSum(h.Sum)
		dp.SetZeroCount(h.GetZeroCountInt())
		dp.SetZeroThreshold(h.ZeroThreshold)
		fillBuckets(dp.Positive(), h.PositiveSpans, h.PositiveDeltas)
		fillBuckets(dp.Negative(), h.NegativeSpans, h.NegativeDeltas)
	}
	return points, skipped
}

// maxDenseBuckets bounds the dense bucket array a point may expand to, so
// a crafted span gap cannot make the receiver allocate without limit.
const maxDenseBuckets = 4096

// denseFits reports whether spans are well-formed (gaps >= 0 after the
// first) and expand to at most maxDenseBuckets buckets.
func denseFits(spans []prompb.BucketSpan) bool {
	n := int64(0)
	for i, sp := range spans {
		if i > 0 {
			if sp.Offset < 0 {
				return false
			}
			n += int64(sp.Offset)
		}
		n += int64(sp.Length)
		if n > maxDenseBuckets {
			return false
		}
	}
	return true
}

// fillBuckets expands Prometheus' spans and delta-encoded counts into
// OTLP's dense buckets. Prometheus bucket i is (base^(i-1), base^i], OTLP
// bucket k is (base^k, base^(k+1)]: the OTLP offset is the first index
// minus one.
func fillBuckets(b pmetric.ExponentialHistogramDataPointBuckets, spans []prompb.BucketSpan, deltas []int64) {
	if len(spans) == 0 {
		return
	}
	counts := b.BucketCounts()
	var cur int64
	k := 0
	for si, sp := range spans {
		if si == 0 {
			b.SetOffset(sp.Offset - 1)
		} else {
			for j := int32(0); j < sp.Offset; j++ {
				counts.Append(0)
			}
		}
		for j := uint32(0); j < sp.Length && k < len(deltas); j++ {
			cur += deltas[k]
			k++
			counts.Append(uint64(max(cur, 0))) // corrupt input: never a negative count
		}
	}
}

// errDecodedTooLarge: a snappy body whose length header is over
// max_decoded_size (answered 413 without decoding it).
var errDecodedTooLarge = errors.New("body over max_decoded_size after decompression")

func decodedTooLarge(n int, maxDecoded int64) error {
	return fmt.Errorf("%w: snappy header says %d bytes, max_decoded_size is %d", errDecodedTooLarge, n, maxDecoded)
}

// decodeWriteRequest decodes a remote-write body. confighttp (with
// lazySnappy) undoes "Content-Encoding: snappy" already (block format, as
// Prometheus sends it); a body that is still snappy-compressed (sent
// without the header) is decoded here, only if its length header is
// within maxDecoded.
func decodeWriteRequest(body []byte, maxDecoded int64) (*prompb.WriteRequest, error) {
	var wr prompb.WriteRequest
	if n, err := snappy.DecodedLen(body); err == nil {
		// A plain protobuf body can parse as a snappy length header too:
		// only a body that also decodes is snappy.
		if int64(n) <= maxDecoded {
			if dec, err := snappy.Decode(nil, body); err == nil && wr.Unmarshal(dec) == nil {
				return &wr, nil
			}
		} else if wr.Unmarshal(body) != nil {
			return nil, decodedTooLarge(n, maxDecoded)
		} else {
			return &wr, nil
		}
	}
	wr = prompb.WriteRequest{}
	if err := wr.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("body is neither snappy-compressed nor plain remote-write protobuf: %w", err)
	}
	return &wr, nil
}
