package promremotewritereceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// staleNaNBits is Prometheus' staleness marker.
const staleNaNBits = 0x7ff0000000000002

type rwReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Metrics
	server *http.Server
	wg     sync.WaitGroup

	mSamples metric.Int64Counter
	mRefused metric.Int64Counter
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics) (*rwReceiver, error) {
	r := &rwReceiver{cfg: cfg, set: set, next: next}
	m := set.MeterProvider.Meter("github.com/scadaotel/scadaotel/receivers/promremotewritereceiver")
	var err error
	if r.mSamples, err = m.Int64Counter("promremotewrite.samples", metric.WithDescription("Samples accepted (acknowledged after the pipeline returned).")); err != nil {
		return nil, err
	}
	if r.mRefused, err = m.Int64Counter("promremotewrite.refused_requests", metric.WithDescription("Requests refused (bad body, no tenant, pipeline error).")); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rwReceiver) Start(ctx context.Context, host component.Host) error {
	ln, err := r.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("prometheus_remote_write: endpoint %s: %w", r.cfg.NetAddr.Endpoint, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/write", r.handleWrite)
	r.server, err = r.cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("prometheus_remote_write: %w", err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	r.set.Logger.Info("Prometheus remote-write receiver listening", zap.String("endpoint", ln.Addr().String()))
	return nil
}

func (r *rwReceiver) Shutdown(ctx context.Context) error {
	if r.server == nil {
		return nil
	}
	err := r.server.Shutdown(ctx)
	r.wg.Wait()
	return err
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
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.refuse(ctx, w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	wr, err := decodeWriteRequest(body, r.cfg.MaxRequestBodySize)
	if err != nil {
		r.refuse(ctx, w, http.StatusBadRequest, err.Error())
		return
	}
	recordMetadata(wr, tenant)
	md, samples := toMetrics(wr, tenant)
	if samples == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := r.next.ConsumeMetrics(ctx, md); err != nil {
		code := http.StatusServiceUnavailable // Prometheus retries 5xx
		if consumererror.IsPermanent(err) {
			code = http.StatusBadRequest
		}
		r.refuse(ctx, w, code, err.Error())
		return
	}
	r.mSamples.Add(ctx, int64(samples))
	w.WriteHeader(http.StatusNoContent)
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
// no-recorded-value points. Native histograms are not converted.
func toMetrics(wr *prompb.WriteRequest, tenant string) (pmetric.Metrics, int) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), tenant)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/scadaotel/scadaotel/receivers/promremotewritereceiver")
	samples := 0
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		if len(ts.Samples) == 0 {
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
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		dps := m.SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(len(ts.Samples))
		// The series' labels are built once; every sample gets a copy
		// (one exact-size allocation, no per-label key lookup or growth).
		attrs := pcommon.NewMap()
		attrs.EnsureCapacity(len(ts.Labels))
		for _, l := range ts.Labels {
			if l.Name == "__name__" || l.Name == tenants.MetricLabel {
				continue
			}
			attrs.PutStr(l.Name, l.Value)
		}
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
	return md, samples
}

// decodeWriteRequest decodes a remote-write body. confighttp normally
// undoes "Content-Encoding: snappy" already (block format, as Prometheus
// sends it); a body that is still snappy-compressed is decoded here.
func decodeWriteRequest(body []byte, maxBody int64) (*prompb.WriteRequest, error) {
	var wr prompb.WriteRequest
	if n, err := snappy.DecodedLen(body); err == nil && (maxBody <= 0 || int64(n) <= 4*maxBody) {
		if dec, err := snappy.Decode(nil, body); err == nil && wr.Unmarshal(dec) == nil {
			return &wr, nil
		}
	}
	wr = prompb.WriteRequest{}
	if err := wr.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("body is neither snappy-compressed nor plain remote-write protobuf: %w", err)
	}
	return &wr, nil
}
