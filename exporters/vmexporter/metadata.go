package vmexporter

import (
	"strings"
	"sync"

	prw "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// metaKey identifies what decides a metric's Prometheus metadata.
type metaKey struct {
	tenant, name, unit, help string
	typ                      pmetric.MetricType
	monotonic                bool
}

// maxSeenMetadata bounds the recorder's memory; past it, it starts over
// (re-recording an unchanged entry is a no-op in the store).
const maxSeenMetadata = 100000

// metadataRecorder hands the metric metadata (type, help, unit) of each
// tenant's metrics to the store, translating a metric only the first time
// it is seen: a map lookup per metric per batch, nothing per sample.
type metadataRecorder struct {
	settings prw.Settings
	mu       sync.Mutex
	seen     map[metaKey]struct{}
}

func newMetadataRecorder(settings prw.Settings) *metadataRecorder {
	return &metadataRecorder{settings: settings, seen: map[metaKey]struct{}{}}
}

func (m *metadataRecorder) record(md pmetric.Metrics, set func(tenant, family string, mm vmstore.MetricMetadata) bool) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		tenant := tenants.FromResource(rms.At(i).Resource())
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m.recordOne(tenant, ms.At(k), set)
			}
		}
	}
}

func (m *metadataRecorder) recordOne(tenant string, metric pmetric.Metric, set func(string, string, vmstore.MetricMetadata) bool) {
	key := metaKey{tenant: tenant, name: metric.Name(), unit: metric.Unit(), help: metric.Description(), typ: metric.Type()}
	if metric.Type() == pmetric.MetricTypeSum {
		key.monotonic = metric.Sum().IsMonotonic()
	}
	m.mu.Lock()
	_, ok := m.seen[key]
	if !ok {
		if len(m.seen) >= maxSeenMetadata {
			m.seen = map[metaKey]struct{}{}
		}
		m.seen[key] = struct{}{}
	}
	m.mu.Unlock()
	if ok {
		return
	}
	// A data-point-less copy: the translator names by type and unit only.
	one := pmetric.NewMetrics()
	nm := one.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	nm.SetName(metric.Name())
	nm.SetUnit(metric.Unit())
	nm.SetDescription(metric.Description())
	metric.Metadata().CopyTo(nm.Metadata())
	switch metric.Type() {
	case pmetric.MetricTypeGauge:
		nm.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		nm.SetEmptySum().SetIsMonotonic(metric.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		nm.SetEmptyHistogram()
	case pmetric.MetricTypeExponentialHistogram:
		nm.SetEmptyExponentialHistogram()
	case pmetric.MetricTypeSummary:
		nm.SetEmptySummary()
	default:
		return
	}
	mds, _ := prw.OtelMetricsToMetadata(one, m.settings)
	for _, e := range mds {
		if e == nil || e.MetricFamilyName == "" {
			continue
		}
		set(tenant, e.MetricFamilyName, vmstore.MetricMetadata{
			Type: strings.ToLower(e.Type.String()),
			Help: e.Help,
			Unit: e.Unit,
		})
	}
}
