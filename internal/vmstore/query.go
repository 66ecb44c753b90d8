package vmstore

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmselect/promql"
	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmselect/searchutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"

	"github.com/scadaotel/scadaotel/tenants"
)

// Series is one query result series.
type Series struct {
	Labels     map[string]string // "__name__" holds the metric name, if any
	Timestamps []int64           // milliseconds
	Values     []float64
}

// tenantFilters is the enforced filter set {scada_tenant="<tenant>"}: the
// engine ANDs it into every series selector of a query (the mechanism behind
// VictoriaMetrics' extra_label), so no query text can reach another tenant.
func tenantFilters(tenant string) ([][]storage.TagFilter, error) {
	if err := tenants.CheckID(tenant); err != nil {
		return nil, fmt.Errorf("vmstore: refusing a read without a valid tenant: %w", err)
	}
	return [][]storage.TagFilter{{{Key: []byte(tenants.MetricLabel), Value: []byte(tenant)}}}, nil
}

// QueryRange evaluates a MetricsQL query over [start, end] for one tenant.
// As in ServeAPI, the tenant label is removed from every series before
// the expression sees it (see hide.go) and is in no answer.
func (s *Store) QueryRange(tenant, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 || end.Before(start) {
		return nil, fmt.Errorf("vmstore: bad range start=%s end=%s step=%s", start, end, step)
	}
	return s.exec(tenant, query, start.UnixMilli(), end.UnixMilli(), step.Milliseconds(), false)
}

// QueryInstant evaluates a MetricsQL query at one instant for one tenant.
func (s *Store) QueryInstant(tenant, query string, at time.Time) ([]Series, error) {
	ts := at.UnixMilli()
	return s.exec(tenant, query, ts, ts, (5 * time.Minute).Milliseconds(), true)
}

func (s *Store) exec(tenant, query string, start, end, step int64, firstPointOnly bool) ([]Series, error) {
	etfs, err := tenantFilters(tenant)
	if err != nil {
		return nil, err
	}
	ec := &promql.EvalConfig{
		Start:               start,
		End:                 end,
		Step:                step,
		MaxPointsPerSeries:  1_000_000,
		Deadline:            searchutil.NewDeadline(time.Now(), 30*time.Second, "vmstore query timeout"),
		MayCache:            true,
		RoundDigits:         100,
		EnforcedTagFilterss: etfs,
		CacheTagFilters:     etfs,
	}
	hq := hideTenant(query)
	ec.QueryStats = promql.NewQueryStats(hq.text, nil, ec)
	res, err := promql.Exec(nil, ec, hq.text, firstPointOnly)
	if err != nil {
		return nil, fmt.Errorf("vmstore: query %q: %s", query, cleanError(err.Error(), query, hq))
	}
	out := make([]Series, 0, len(res))
	for i := range res {
		r := &res[i]
		lb := make(map[string]string, len(r.MetricName.Tags)+1)
		if len(r.MetricName.MetricGroup) > 0 {
			lb["__name__"] = string(r.MetricName.MetricGroup)
		}
		for _, t := range r.MetricName.Tags {
			if string(t.Key) != tenants.MetricLabel {
				lb[string(t.Key)] = string(t.Value)
			}
		}
		out = append(out, Series{
			Labels:     lb,
			Timestamps: append([]int64(nil), r.Timestamps...),
			Values:     append([]float64(nil), r.Values...),
		})
	}
	return out, nil
}
