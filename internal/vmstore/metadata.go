package vmstore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/scadaotel/scadaotel/tenants"
)

// MetricMetadata is what /api/v1/metadata reports for one metric family.
type MetricMetadata struct {
	Type string `json:"type"` // counter, gauge, histogram, summary, info, stateset, unknown...
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// MaxMetadataPerTenant bounds the families remembered per tenant; more are
// not recorded (a client inventing names cannot grow memory without limit).
const MaxMetadataPerTenant = 10000

// metadataFile holds the metadata beside the storage, written by Persist
// and Close, read by Open. VictoriaMetrics' own metadata store is not per
// tenant (single-node) and lives in memory only, so it is not used.
const metadataFile = "scadaotel-metric-metadata.json"

// metadataRegistry is the per-tenant metric metadata.
type metadataRegistry struct {
	mu       sync.RWMutex
	byTenant map[string]map[string]MetricMetadata
	dirty    bool
	path     string
}

func loadMetadata(dir string) (*metadataRegistry, error) {
	m := &metadataRegistry{byTenant: map[string]map[string]MetricMetadata{}, path: filepath.Join(dir, metadataFile)}
	b, err := os.ReadFile(m.path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vmstore: cannot read metric metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m.byTenant); err != nil {
		// Metadata is descriptive only: a damaged file is started over.
		m.byTenant = map[string]map[string]MetricMetadata{}
	}
	return m, nil
}

// save writes the registry when it changed (temp file, fsync, rename).
func (m *metadataRegistry) save() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty {
		return nil
	}
	b, err := json.Marshal(m.byTenant)
	if err != nil {
		return err
	}
	tmp := m.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("vmstore: cannot save metric metadata: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, m.path)
	}
	if err != nil {
		return fmt.Errorf("vmstore: cannot save metric metadata: %w", err)
	}
	m.dirty = false
	return nil
}

// SetMetadata records the metadata of family for tenant. It reports false
// when the tenant is invalid or already has MaxMetadataPerTenant families.
func (s *Store) SetMetadata(tenant, family string, md MetricMetadata) bool {
	if !tenants.ValidID(tenant) || family == "" {
		return false
	}
	m := s.meta
	m.mu.RLock()
	old, ok := m.byTenant[tenant][family]
	m.mu.RUnlock()
	if ok && old == md {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fams := m.byTenant[tenant]
	if fams == nil {
		fams = map[string]MetricMetadata{}
		m.byTenant[tenant] = fams
	}
	if _, ok := fams[family]; !ok && len(fams) >= MaxMetadataPerTenant {
		return false
	}
	if cur, ok := fams[family]; ok && isBare(md) && !isBare(cur) {
		// A series seen without its family's metadata (a remote-written
		// series arrives as a gauge with no help) never replaces the
		// family's own metadata (Prometheus sends it separately).
		return true
	}
	fams[family] = md
	m.dirty = true
	return true
}

// Metadata returns tenant's metadata, families sorted by name, at most
// limit families (<= 0: all), only metric when it is not empty.
func (s *Store) Metadata(tenant, metric string, limit int) ([]string, map[string]MetricMetadata) {
	m := s.meta
	m.mu.RLock()
	defer m.mu.RUnlock()
	fams := m.byTenant[tenant]
	out := map[string]MetricMetadata{}
	var names []string
	if metric != "" {
		if md, ok := fams[metric]; ok && !isSeriesOfFamily(fams, metric, md) {
			out[metric] = md
			names = append(names, metric)
		}
		return names, out
	}
	for n, md := range fams {
		if !isSeriesOfFamily(fams, n, md) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	for _, n := range names {
		out[n] = fams[n]
	}
	return names, out
}

// serveMetadata answers /api/v1/metadata (Prometheus format) with the
// caller's tenant's metadata only. limit_per_metric is accepted; there is
// one entry per family.
func (s *Store) serveMetadata(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "cannot parse request parameters: "+err.Error())
		return
	}
	limit := 0
	if v := r.Form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("cannot parse limit=%q: %v", v, err))
			return
		}
		limit = n
	}
	if v := r.Form.Get("limit_per_metric"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("cannot parse limit_per_metric=%q: %v", v, err))
			return
		}
	}
	_, fams := s.Metadata(tenant, r.Form.Get("metric"), limit)
	data := make(map[string][]MetricMetadata, len(fams))
	for n, md := range fams {
		data[n] = []MetricMetadata{md}
	}
	b, err := json.Marshal(struct {
		Status string                      `json:"status"`
		Data   map[string][]MetricMetadata `json:"data"`
	}{"success", data})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// isBare reports whether md says nothing but "gauge": what a series
// without its family's metadata is recorded as.
func isBare(md MetricMetadata) bool {
	return (md.Type == "gauge" || md.Type == "unknown" || md.Type == "") && md.Help == "" && md.Unit == ""
}

// familySuffixes are the series a histogram or summary family is exposed
// as; Prometheus lists the family only, not these.
var familySuffixes = map[string][]string{
	"histogram":      {"_bucket", "_sum", "_count", "_created"},
	"gaugehistogram": {"_bucket", "_gsum", "_gcount"},
	"summary":        {"_sum", "_count", "_created"},
}

// scrapeSeries are the series Prometheus adds to every scrape; they have
// no metadata in Prometheus (nor is any sent by remote write), so a bare
// entry recorded from them is not listed.
var scrapeSeries = map[string]bool{
	"up":                                    true,
	"scrape_duration_seconds":               true,
	"scrape_samples_scraped":                true,
	"scrape_samples_post_metric_relabeling": true,
	"scrape_series_added":                   true,
	"scrape_timeout_seconds":                true,
	"scrape_sample_limit":                   true,
	"scrape_body_size_bytes":                true,
}

// isSeriesOfFamily reports whether name is a bare entry for one of the
// series of a histogram or summary family that has its own metadata
// (x_bucket, x_sum, x_count of histogram x), or one of Prometheus' own
// scrape series (up, scrape_*).
func isSeriesOfFamily(fams map[string]MetricMetadata, name string, md MetricMetadata) bool {
	if !isBare(md) {
		return false
	}
	if scrapeSeries[name] {
		return true
	}
	for typ, sufs := range familySuffixes {
		for _, suf := range sufs {
			if base, ok := strings.CutSuffix(name, suf); ok && base != "" && fams[base].Type == typ {
				return true
			}
		}
	}
	return false
}
