package vmexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// remoteExporter writes each tenant's series by Prometheus remote write
// (protobuf + snappy) to the URL its tenant maps to. It sits behind the
// exporterhelper sending queue (persistent with a storage extension) and
// retry sender; the queue stores pmetric data, whose resources keep
// scada.tenant, so the tenant is never lost while data waits.
type remoteExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    component.TelemetrySettings
	conv   *converter
	client *http.Client
	ua     string

	mSamples  metric.Int64Counter
	mRequests metric.Int64Counter
	mBytes    metric.Int64Counter
	mRefused  metric.Int64Counter
	mDead     metric.Int64Counter

	// dead keeps what the server refuses for good (4xx other than 429).
	dead *deadletter.Store
}

func createRemoteMetrics(ctx context.Context, set exporter.Settings, cfg *Config) (exporter.Metrics, error) {
	r, err := newRemoteExporter(cfg, set)
	if err != nil {
		return nil, err
	}
	exp, err := exporterhelper.NewMetrics(ctx, set, cfg, r.push,
		exporterhelper.WithStart(r.start),
		exporterhelper.WithShutdown(func(context.Context) error { return r.dead.Close() }),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// The HTTP client's timeout bounds each attempt.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithQueue(cfg.Remote.QueueConfig),
		exporterhelper.WithRetry(cfg.Remote.BackOffConfig),
	)
	if err != nil {
		return nil, err
	}
	return &remoteFront{Metrics: exp, r: r}, nil
}

// remoteFront refuses, before the queue, data that could never be
// delivered (no tenant, or a tenant without an accountID), so the sender
// gets a clear error instead of an acknowledgement followed by a drop.
type remoteFront struct {
	exporter.Metrics
	r *remoteExporter
}

func (f *remoteFront) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if err := f.r.check(md); err != nil {
		f.r.mRefused.Add(ctx, 1)
		return consumererror.NewPermanent(fmt.Errorf("victoriametrics exporter: refusing batch: %w", err))
	}
	return f.Metrics.ConsumeMetrics(ctx, md)
}

func newRemoteExporter(cfg *Config, set exporter.Settings) (*remoteExporter, error) {
	conv, err := newConverter(cfg)
	if err != nil {
		return nil, err
	}
	r := &remoteExporter{cfg: cfg, logger: set.Logger, tel: set.TelemetrySettings, conv: conv,
		ua: "scadaotel/" + set.BuildInfo.Version}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/exporters/vmexporter")
	r.mSamples, err = m.Int64Counter(MetricRemoteSamples, metric.WithDescription("Samples accepted by the VictoriaMetrics server, by tenant."), metric.WithUnit("{sample}"))
	if err == nil {
		r.mRequests, err = m.Int64Counter(MetricRemoteRequests, metric.WithDescription("Remote-write requests by result (ok, retryable, permanent)."), metric.WithUnit("{request}"))
	}
	if err == nil {
		r.mBytes, err = m.Int64Counter(MetricRemoteSentBytes, metric.WithDescription("Snappy-compressed request bytes accepted by the server."), metric.WithUnit("By"))
	}
	if err == nil {
		r.mRefused, err = m.Int64Counter(MetricRefusedBatches, metric.WithDescription("Batches refused (no tenant, tenant without account_id)."), metric.WithUnit("{batch}"))
	}
	if err == nil {
		r.mDead, err = m.Int64Counter(MetricRemoteDeadLetterPoints, metric.WithDescription("Data points the server refused for good, kept in the dead-letter area, by tenant."), metric.WithUnit("{datapoint}"))
	}
	if err != nil {
		return nil, fmt.Errorf("victoriametrics exporter: cannot create self-metrics: %w", err)
	}
	if r.dead, err = deadletter.Open(cfg.Remote.DeadLetter); err != nil {
		return nil, fmt.Errorf("victoriametrics exporter: remote.dead_letter: %w", err)
	}
	return r, nil
}

func (r *remoteExporter) start(ctx context.Context, host component.Host) error {
	c, err := r.cfg.Remote.ToClient(ctx, host.GetExtensions(), r.tel)
	if err != nil {
		return fmt.Errorf("victoriametrics exporter: remote: %w", err)
	}
	r.client = c
	return nil
}

// check verifies every resource has a valid tenant that can be routed.
func (r *remoteExporter) check(md pmetric.Metrics) error {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		t := tenants.FromResource(rms.At(i).Resource())
		if !tenants.ValidID(t) {
			return fmt.Errorf("resource %d: %w (got %q)", i, errNoTenant, t)
		}
		if _, err := r.endpoint(t); err != nil {
			return fmt.Errorf("resource %d: %w", i, err)
		}
	}
	return nil
}

// endpoint fills the URL template for tenant. Both values are escaped,
// though a valid tenant id and a number need no escaping.
func (r *remoteExporter) endpoint(tenant string) (string, error) {
	tmpl := r.cfg.Remote.Endpoint
	acc := ""
	if r.cfg.Remote.usesAccountID() {
		a, ok := r.cfg.Remote.TenantAccountIDs[tenant]
		if !ok {
			return "", fmt.Errorf("tenant %q has no entry in remote.tenant_account_ids", tenant)
		}
		acc = strconv.FormatUint(uint64(a), 10)
	}
	return strings.NewReplacer(placeholderTenant, url.PathEscape(tenant), placeholderAccountID, acc).Replace(tmpl), nil
}

// remoteSink collects converted series per tenant.
type remoteSink struct {
	labels  []vmstore.Label
	dropped error
	order   []string
	by      map[string]*tenantWrite
}

type tenantWrite struct {
	series  []prompb.TimeSeries
	samples int
}

func (s *remoteSink) scratch() *[]vmstore.Label { return &s.labels }
func (s *remoteSink) addDropped(err error)      { s.dropped = errors.Join(s.dropped, err) }

func (s *remoteSink) addSeries(tenant string, labels []vmstore.Label, samples []prompb.Sample) {
	w := s.by[tenant]
	if w == nil {
		w = &tenantWrite{}
		s.by[tenant] = w
		s.order = append(s.order, tenant)
	}
	ls := make([]prompb.Label, len(labels))
	for i, l := range labels {
		ls[i] = prompb.Label{Name: l.Name, Value: l.Value}
	}
	w.series = append(w.series, prompb.TimeSeries{Labels: ls, Samples: samples})
	w.samples += len(samples)
}

func (s *remoteSink) addCached(tenant string, cs *cachedSeries, samples []prompb.Sample) {
	w := s.by[tenant]
	if w == nil {
		w = &tenantWrite{}
		s.by[tenant] = w
		s.order = append(s.order, tenant)
	}
	w.series = append(w.series, prompb.TimeSeries{Labels: cs.prom, Samples: append([]prompb.Sample(nil), samples...)})
	w.samples += len(samples)
}

// push converts md and writes each tenant's part. Tenants whose write
// failed with a retryable error are returned as a partial error, so the
// retry sender (and, across restarts, the persistent queue) resends only
// them.
func (r *remoteExporter) push(ctx context.Context, md pmetric.Metrics) error {
	sink := &remoteSink{by: map[string]*tenantWrite{}}
	if err := r.conv.convert(md, sink); err != nil {
		r.mRefused.Add(ctx, 1)
		// Already acknowledged (it came out of the queue): keep it.
		return r.deadLetter(ctx, md, nil, "unconvertible", err)
	}
	if sink.dropped != nil {
		r.logger.Debug("some metrics could not be translated", zap.Error(sink.dropped))
	}
	var retryable []error
	var failed map[string]bool
	var throttle time.Duration
	for _, tenant := range sink.order {
		w := sink.by[tenant]
		err := r.writeTenant(ctx, tenant, w, r.metadataFor(md, tenant))
		if err == nil {
			r.mSamples.Add(ctx, int64(w.samples), metric.WithAttributes(tenants.SelfMetricTenant(tenant)))
			continue
		}
		if consumererror.IsPermanent(err) {
			if derr := r.deadLetter(ctx, md, map[string]bool{tenant: true}, "refused", err); derr != nil {
				// Not on disk: keep it in the queue and retry.
				retryable = append(retryable, derr)
				if failed == nil {
					failed = map[string]bool{}
				}
				failed[tenant] = true
			}
			continue
		}
		var te *throttleError
		if errors.As(err, &te) && te.delay > throttle {
			throttle = te.delay
		}
		retryable = append(retryable, err)
		if failed == nil {
			failed = map[string]bool{}
		}
		failed[tenant] = true
	}
	if len(retryable) == 0 {
		return nil // the permanent refusals are in the dead-letter area
	}
	err := errors.Join(retryable...)
	if throttle > 0 {
		err = exporterhelper.NewThrottleRetry(err, throttle)
	}
	if len(failed) == len(sink.order) {
		return err
	}
	rest := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if failed[tenants.FromResource(rms.At(i).Resource())] {
			rms.At(i).CopyTo(rest.ResourceMetrics().AppendEmpty())
		}
	}
	return consumererror.NewMetrics(err, rest)
}

// metadataFor returns the metric metadata (type, help, unit) of tenant's
// resources, sent with the series so the server's /api/v1/metadata knows them.
func (r *remoteExporter) metadataFor(md pmetric.Metrics, tenant string) []prompb.MetricMetadata {
	one := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if tenants.FromResource(rms.At(i).Resource()) == tenant {
			rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
		}
	}
	mds, err := prw.OtelMetricsToMetadata(one, r.conv.settings)
	if err != nil {
		r.logger.Debug("metric metadata incomplete", zap.Error(err))
	}
	seen := make(map[string]bool, len(mds))
	out := make([]prompb.MetricMetadata, 0, len(mds))
	for _, m := range mds {
		if m == nil || seen[m.MetricFamilyName] {
			continue
		}
		seen[m.MetricFamilyName] = true
		out = append(out, *m)
	}
	return out
}

// writeTenant sends one tenant's series, split into requests of at most
// remote.max_request_bytes (uncompressed).
func (r *remoteExporter) writeTenant(ctx context.Context, tenant string, w *tenantWrite, meta []prompb.MetricMetadata) error {
	u, err := r.endpoint(tenant)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	max := r.cfg.Remote.MaxRequestBytes
	req := prompb.WriteRequest{Metadata: meta}
	size := req.Size()
	var comp []byte
	flush := func() error {
		if len(req.Timeseries) == 0 && len(req.Metadata) == 0 {
			return nil
		}
		data, err := req.Marshal()
		if err != nil {
			return consumererror.NewPermanent(fmt.Errorf("encoding remote-write request for tenant %q: %w", tenant, err))
		}
		comp = snappy.Encode(comp[:cap(comp)], data)
		if err := r.send(ctx, u, comp); err != nil {
			return err
		}
		req.Timeseries, req.Metadata, size = req.Timeseries[:0], nil, 0
		return nil
	}
	for i := range w.series {
		ts := &w.series[i]
		n := ts.Size() + 8 // field tag and length prefix, generously
		if size+n > max && len(req.Timeseries) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		req.Timeseries = append(req.Timeseries, *ts)
		size += n
	}
	return flush()
}

type throttleError struct {
	err   error
	delay time.Duration
}

func (e *throttleError) Error() string { return e.err.Error() }
func (e *throttleError) Unwrap() error { return e.err }

// send POSTs one snappy-compressed remote-write body. 2xx: done; 429 and
// 5xx and network errors: retryable; other 4xx: permanent (retrying the
// same body cannot succeed).
func (r *remoteExporter) send(ctx context.Context, u string, body []byte) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		r.mRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "permanent")))
		return consumererror.NewPermanent(fmt.Errorf("remote write to %s: %w", u, err))
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	hreq.Header.Set("User-Agent", r.ua)
	resp, err := r.client.Do(hreq)
	if err != nil {
		r.mRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "retryable")))
		return fmt.Errorf("remote write to %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		r.mRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "ok")))
		r.mBytes.Add(ctx, int64(len(body)))
		return nil
	}
	err = fmt.Errorf("remote write to %s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(msg)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5 {
		r.mRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "retryable")))
		if d, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && d > 0 {
			return &throttleError{err: err, delay: time.Duration(d) * time.Second}
		}
		return err
	}
	r.mRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("result", "permanent")))
	return consumererror.NewPermanent(err)
}

// deadLetter keeps the resources of md of the given tenants (all when nil)
// in the dead-letter area, one entry per tenant, each fsync'ed. An error
// means not all of it is on disk: the caller keeps it queued (retryable).
func (r *remoteExporter) deadLetter(ctx context.Context, md pmetric.Metrics, only map[string]bool, reason string, cause error) error {
	by := map[string]pmetric.Metrics{}
	var order []string
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		t := tenants.FromResource(rms.At(i).Resource())
		if only != nil && !only[t] {
			continue
		}
		one, ok := by[t]
		if !ok {
			one = pmetric.NewMetrics()
			by[t] = one
			order = append(order, t)
		}
		rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
	}
	var errs []error
	for _, t := range order {
		data, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(by[t])
		if err == nil {
			err = r.dead.Put(deadletter.Entry{Time: time.Now().UTC(), Tenant: t, Signal: "metrics", Reason: reason,
				Detail: cause.Error(), Items: by[t].DataPointCount(), Data: data})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %q refused by the server (%v) and not yet in the dead-letter area: %w", t, cause, err))
			continue
		}
		r.mDead.Add(ctx, int64(by[t].DataPointCount()), metric.WithAttributes(tenants.SelfMetricTenant(t), attribute.String("reason", reason)))
		r.logger.Error("VictoriaMetrics server refused a tenant's data for good; kept in the dead-letter area for replay",
			zap.String("tenant", t), zap.String("reason", reason), zap.Int("data_points", by[t].DataPointCount()),
			zap.String("directory", r.dead.Dir()), zap.Error(cause))
	}
	return errors.Join(errs...)
}
