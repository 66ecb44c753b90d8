package scadauiextension

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/exporters/vmexporter"
	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/processors/tenantstampprocessor"
	"github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"
	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
	"github.com/scadaotel/scadaotel/tenants"
)

// The Appliance view: what the appliance itself is doing, from its own
// metrics (the collector's Prometheus telemetry endpoint), scraped every
// telemetry_interval and kept for applianceWindow to compute rates.
//
// Only known metrics are shown (readMetrics). A series carrying the
// self-metric tenant attribute (`tenant`: tenant ingest, trace-ID repair,
// dead letter) is shown
// to that tenant only and never summed into
// anything another tenant sees; the appliance-wide ones (per receiver,
// exporter, queue; disk) carry no tenant and are shown when
// shared_figures is on.

const (
	applianceWindow = 15 * time.Minute
	// rateWindow: the current rates are averaged over about this long.
	rateWindow = 30 * time.Second
	// diskEvery bounds how often the directories are walked.
	diskEvery = 30 * time.Second
)

type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

type snapshot struct {
	at      time.Time
	samples []promSample
}

// parseExposition reads the Prometheus text format into samples (counter,
// gauge and untyped values; a `_total` suffix is dropped from names).
func parseExposition(r io.Reader) ([]promSample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	var out []promSample
	for name, f := range fams {
		name = strings.TrimSuffix(name, "_total")
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Untyped != nil:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			out = append(out, promSample{name: name, labels: labelMap(m.GetLabel()), value: v})
		}
	}
	return out, nil
}

func labelMap(ls []*dto.LabelPair) map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.GetName()] = l.GetValue()
	}
	return m
}

// sampleTenant is the tenant a series belongs to ("" when appliance-wide).
// Self-metrics name it tenants.SelfMetricAttribute; a series carrying the
// stored series' label instead (none should) is still kept to its tenant.
func sampleTenant(l map[string]string) (string, bool) {
	if v, ok := l[tenants.SelfMetricAttribute]; ok {
		return v, true
	}
	if v, ok := l[tenants.MetricLabel]; ok {
		return v, true
	}
	return "", false
}

type diskView struct {
	Path         string `json:"path"`
	UsedBytes    int64  `json:"used_bytes"`
	FSFreeBytes  uint64 `json:"fs_free_bytes"`
	FSTotalBytes uint64 `json:"fs_total_bytes"`
	Error        string `json:"error,omitempty"`
}

// dirUsage is the size of the files under dir and the free/total bytes of
// its file system.
func dirUsage(dir string) diskView {
	d := diskView{Path: dir}
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if e != nil && e.IsDir() {
				return fs.SkipDir // a directory removed while walking (merges)
			}
			return nil
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				d.UsedBytes += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		d.Error = err.Error()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		d.Error = err.Error()
	} else {
		d.FSFreeBytes = st.Bavail * uint64(st.Bsize)
		d.FSTotalBytes = st.Blocks * uint64(st.Bsize)
	}
	return d
}

// scraper keeps the recent snapshots of the telemetry endpoint.
type scraper struct {
	fetch    func(ctx context.Context) (io.ReadCloser, error)
	interval time.Duration
	paths    func() []string
	logger   *zap.Logger

	mu      sync.Mutex
	snaps   []snapshot // oldest first
	lastErr string
	disk    []diskView
	diskAt  time.Time
}

// scrapeOnce takes one snapshot (and the disk figures when due).
func (s *scraper) scrapeOnce(ctx context.Context) {
	now := time.Now()
	var samples []promSample
	body, err := s.fetch(ctx)
	if err == nil {
		samples, err = parseExposition(body)
		body.Close()
	}
	var disk []diskView
	s.mu.Lock()
	due := s.diskAt.IsZero() || now.Sub(s.diskAt) >= diskEvery
	s.mu.Unlock()
	if due {
		for _, p := range s.paths() {
			disk = append(disk, dirUsage(p))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if due {
		s.disk, s.diskAt = disk, now
	}
	if err != nil {
		if s.lastErr == "" && s.logger != nil {
			s.logger.Warn("scada_ui: cannot read the appliance's telemetry endpoint", zap.Error(err))
		}
		s.lastErr = err.Error()
		return
	}
	s.lastErr = ""
	s.snaps = append(s.snaps, snapshot{at: now, samples: samples})
	for len(s.snaps) > 0 && now.Sub(s.snaps[0].at) > applianceWindow {
		s.snaps = s.snaps[1:]
	}
}

func (s *scraper) run(ctx context.Context) {
	s.scrapeOnce(ctx)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.scrapeOnce(ctx)
		}
	}
}

func (s *scraper) state() ([]snapshot, []diskView, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.snaps), slices.Clone(s.disk), s.lastErr
}

// httpFetch reads url (the collector's Prometheus endpoint) as text.
func httpFetch(client *http.Client, url string) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("telemetry_endpoint %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("telemetry_endpoint %s: HTTP %d", url, resp.StatusCode)
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, 32<<20), resp.Body}, nil
	}
}

// The answer of GET /ui/api/appliance. Rates are per second over about
// rateWindow (null until two snapshots exist); totals since the start.
type applianceView struct {
	NowMs     int64   `json:"now_ms"`
	IntervalS float64 `json:"interval_s"`
	Shared    bool    `json:"shared"`
	// Administrator names the administrator asking (then every tenant's
	// figures are summed into tenant_ingest and the shared ones are shown).
	Administrator string          `json:"administrator,omitempty"`
	ScrapeError   string          `json:"scrape_error,omitempty"`
	UptimeS       *float64        `json:"uptime_s,omitempty"`
	RSSBytes      *float64        `json:"rss_bytes,omitempty"`
	Tenant        []tenantIngest  `json:"tenant_ingest"`
	Receivers     []receiverRow   `json:"receivers"`
	StoredPerS    *float64        `json:"stored_samples_per_s,omitempty"`
	Queues        []queueRow      `json:"queues"`
	Exports       []exportRow     `json:"exports"`
	Repair        []counterRow    `json:"repair"`
	DeadLetter    deadLetterView  `json:"dead_letter"`
	Disk          []diskView      `json:"disk"`
	History       applianceSeries `json:"history"`
}

type tenantIngest struct {
	Signal       string             `json:"signal"`
	AcceptedPerS *float64           `json:"accepted_per_s"`
	AcceptedTot  float64            `json:"accepted_total"`
	ItemsPerS    *float64           `json:"items_per_s"` // spans, metric data points or log records accepted
	ItemsTot     float64            `json:"items_total"`
	RefusedPerS  *float64           `json:"refused_per_s"`
	RefusedTot   float64            `json:"refused_total"`
	Reasons      map[string]float64 `json:"refused_by_reason"`
}

type receiverRow struct {
	Receiver     string   `json:"receiver"`
	Signal       string   `json:"signal"`
	AcceptedPerS *float64 `json:"accepted_per_s"`
	RefusedPerS  *float64 `json:"refused_per_s"`
	FailedPerS   *float64 `json:"failed_per_s"`
	AcceptedTot  float64  `json:"accepted_total"`
	RefusedTot   float64  `json:"refused_total"`
}

type queueRow struct {
	Queue      string   `json:"queue"`
	Depth      float64  `json:"depth"`
	Capacity   *float64 `json:"capacity,omitempty"`
	OldestAgeS *float64 `json:"oldest_age_s,omitempty"`
	Unit       string   `json:"unit"`
	Own        bool     `json:"tenant_own"`
}

type exportRow struct {
	Exporter   string   `json:"exporter"`
	Signal     string   `json:"signal"`
	SentPerS   *float64 `json:"sent_per_s"`
	FailedPerS *float64 `json:"failed_per_s"`
	SentTot    float64  `json:"sent_total"`
	FailedTot  float64  `json:"failed_total"`
}

// deadLetterView: the caller's data a destination refused for good, kept
// in a dead-letter area: the trace store's (durable_otlp: spans on disk,
// spans written), and, as reasons prefixed with their exporter, the raw
// error spans Kafka refused (kafka_alerts) and the data points a remote
// VictoriaMetrics refused (victoriametrics remote mode).
type deadLetterView struct {
	StoredSpans float64           `json:"stored_spans"` // on disk now
	PerS        *float64          `json:"spans_per_s"`  // written to the area per second
	Total       float64           `json:"spans_total"`  // written since the start
	Reasons     []deadLetterCause `json:"by_reason"`
}

type deadLetterCause struct {
	Reason string   `json:"reason"`
	PerS   *float64 `json:"per_s"`
	Total  float64  `json:"total"`
}

type counterRow struct {
	Counter string   `json:"counter"`
	Total   float64  `json:"total"`
	PerS    *float64 `json:"per_s"`
}

// applianceSeries: rates per snapshot interval for the ingest chart.
type applianceSeries struct {
	Timestamps []int64         `json:"timestamps"`
	Series     []historySeries `json:"series"`
}

type historySeries struct {
	Key    string     `json:"key"` // "tenant.<signal>" (the caller's accepted items/s) or "all.<signal>" (all receivers' accepted items/s)
	Values []*float64 `json:"values"`
}

// view of one snapshot for one tenant: the visible series only.
type tview struct {
	at time.Time
	m  map[string]float64 // key(name, labels) -> value
	s  []promSample
}

func seriesKey(name string, l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + l[k])
	}
	return b.String()
}

// visibleTo keeps the series a caller may see: a tenant its own (the
// self-metrics carry the tenant's pseudonym, tenants.SelfMetricPseudonym)
// and the appliance-wide ones when shared; an administrator (tenant "")
// every series.
func visibleTo(snap snapshot, tenant string, shared bool) tview {
	v := tview{at: snap.at, m: map[string]float64{}}
	own := tenants.SelfMetricPseudonym(tenant)
	for _, s := range snap.samples {
		switch t, ok := sampleTenant(s.labels); {
		case tenant == "":
		case ok && t != own && t != tenant:
			continue
		case !ok && !shared:
			continue
		}
		v.s = append(v.s, s)
		v.m[seriesKey(s.name, s.labels)] = s.value
	}
	return v
}

// counterRate of a counter between two views (nil when unknown or reset).
func counterRate(prev, cur *tview, s promSample) *float64 {
	if prev == nil {
		return nil
	}
	p, ok := prev.m[seriesKey(s.name, s.labels)]
	if !ok {
		p = 0 // appeared since: counted from zero
	}
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 || s.value < p {
		return nil
	}
	r := (s.value - p) / dt
	return &r
}

func addPtr(dst **float64, v *float64) {
	if v == nil {
		return
	}
	if *dst == nil {
		x := 0.0
		*dst = &x
	}
	**dst += *v
}

var receiverSignals = map[string]string{"spans": "traces", "metric_points": "metrics", "log_records": "logs"}

// buildAppliance is the Appliance view's answer for tenant: each panel
// reads the newest snapshot (rates against the one about rateWindow
// before), the chart reads every interval. Only series visibleTo the tenant
// reach any panel.
func buildAppliance(snaps []snapshot, disk []diskView, scrapeErr, tenant string, shared bool, interval time.Duration, now time.Time) applianceView {
	out := applianceView{NowMs: now.UnixMilli(), IntervalS: interval.Seconds(), Shared: shared, ScrapeError: scrapeErr,
		Tenant: []tenantIngest{}, Receivers: []receiverRow{}, Queues: []queueRow{}, Exports: []exportRow{},
		Repair: []counterRow{}, Disk: []diskView{}, DeadLetter: deadLetterView{Reasons: []deadLetterCause{}},
		History: applianceSeries{Timestamps: []int64{}, Series: []historySeries{}}}
	if shared {
		out.Disk = append(out.Disk, disk...)
	}
	views := make([]tview, len(snaps))
	for i, s := range snaps {
		views[i] = visibleTo(s, tenant, shared)
	}
	if len(views) == 0 {
		return out
	}
	p := newPanels(rateBase(views))
	for _, s := range p.cur.s {
		_ = p.tenantIngest(s) || p.receiver(s) || p.export(s) || p.queue(s) || p.repairCounter(s) ||
			p.deadLetter(s) || p.process(s, &out)
	}
	out.Tenant = p.tenantRows()
	out.Receivers = p.receiverRows()
	out.Exports = p.exportRows()
	out.Queues = p.queueRows()
	out.Repair = p.repairRows()
	out.DeadLetter = p.deadLetterFigures()
	out.History = ingestHistory(views)
	return out
}

// rateBase returns the newest view and the one rates are taken against:
// the newest at least rateWindow older, else the oldest (nil when only one).
func rateBase(views []tview) (cur, prev *tview) {
	cur = &views[len(views)-1]
	for i := len(views) - 2; i >= 0; i-- {
		prev = &views[i]
		if cur.at.Sub(views[i].at) >= rateWindow {
			break
		}
	}
	return cur, prev
}

// panels gathers the rows of each panel from the newest view's series.
// Each panel method takes the series it shows and reports whether it did.
type panels struct {
	prev, cur *tview
	ingest    map[string]*tenantIngest // by signal
	receivers map[string]*receiverRow  // by receiver and signal
	exports   map[string]*exportRow    // by exporter and signal
	queues    map[string]*queueRow     // by queue
	repair    map[string]*counterRow   // by counter
	dlStored  float64
	dlReasons map[string]*deadLetterCause // by reason
}

func newPanels(cur, prev *tview) *panels {
	return &panels{prev: prev, cur: cur, ingest: map[string]*tenantIngest{}, receivers: map[string]*receiverRow{},
		exports: map[string]*exportRow{}, queues: map[string]*queueRow{}, repair: map[string]*counterRow{},
		dlReasons: map[string]*deadLetterCause{}}
}

func (p *panels) rate(s promSample) *float64 { return counterRate(p.prev, p.cur, s) }

// tenantIngest: the caller's requests and items accepted and requests
// refused by tenantstamp, per signal.
func (p *panels) tenantIngest(s promSample) bool {
	if _, own := sampleTenant(s.labels); !own {
		return false
	}
	row := func() *tenantIngest {
		sig := s.labels["signal"]
		if p.ingest[sig] == nil {
			p.ingest[sig] = &tenantIngest{Signal: sig, Reasons: map[string]float64{}}
		}
		return p.ingest[sig]
	}
	switch s.name {
	case tenantstampprocessor.MetricAcceptedRequests:
		ts := row()
		ts.AcceptedTot += s.value
		addPtr(&ts.AcceptedPerS, p.rate(s))
	case tenantstampprocessor.MetricAcceptedItems:
		ts := row()
		ts.ItemsTot += s.value
		addPtr(&ts.ItemsPerS, p.rate(s))
	case tenantstampprocessor.MetricRefusedRequests:
		ts := row()
		ts.RefusedTot += s.value
		ts.Reasons[s.labels["reason"]] += s.value
		addPtr(&ts.RefusedPerS, p.rate(s))
	default:
		return false
	}
	return true
}

// receiver: every receiver's accepted / refused / failed items
// (appliance-wide), per receiver and signal.
func (p *panels) receiver(s promSample) bool {
	if _, own := sampleTenant(s.labels); own || !strings.HasPrefix(s.name, "otelcol_receiver_") {
		return false
	}
	kind, item, _ := strings.Cut(strings.TrimPrefix(s.name, "otelcol_receiver_"), "_")
	sig, ok := receiverSignals[item]
	if !ok || (kind != "accepted" && kind != "refused" && kind != "failed") {
		return true // a receiver series this view does not show
	}
	name := s.labels["receiver"]
	if s.labels["transport"] != "" {
		name += " (" + s.labels["transport"] + ")"
	}
	k := name + "\x00" + sig
	if p.receivers[k] == nil {
		p.receivers[k] = &receiverRow{Receiver: name, Signal: sig}
	}
	r, rt := p.receivers[k], p.rate(s)
	switch kind {
	case "accepted":
		r.AcceptedTot += s.value
		addPtr(&r.AcceptedPerS, rt)
	case "refused":
		r.RefusedTot += s.value
		addPtr(&r.RefusedPerS, rt)
	default:
		addPtr(&r.FailedPerS, rt)
	}
	return true
}

// export: items sent and failed per exporter and signal (appliance-wide),
// and the Kafka alert exporter's records.
func (p *panels) export(s promSample) bool {
	_, own := sampleTenant(s.labels)
	var row *exportRow
	var sent bool
	switch {
	case (strings.HasPrefix(s.name, "otelcol_exporter_sent_") || strings.HasPrefix(s.name, "otelcol_exporter_send_failed_")) && !own:
		item := strings.TrimPrefix(strings.TrimPrefix(s.name, "otelcol_exporter_sent_"), "otelcol_exporter_send_failed_")
		sig, ok := receiverSignals[item]
		if !ok {
			return true // an exporter series this view does not show
		}
		row = p.exportRow(s.labels["exporter"], sig)
		sent = strings.HasPrefix(s.name, "otelcol_exporter_sent_")
	case s.name == kafkaalertexporter.MetricSentRecords || s.name == kafkaalertexporter.MetricSendFailures:
		row = p.exportRow("kafka_alerts", "alert_records")
		sent = s.name == kafkaalertexporter.MetricSentRecords
	default:
		return false
	}
	if sent {
		row.SentTot += s.value
		addPtr(&row.SentPerS, p.rate(s))
	} else {
		row.FailedTot += s.value
		addPtr(&row.FailedPerS, p.rate(s))
	}
	return true
}

func (p *panels) exportRow(exporter, signal string) *exportRow {
	k := exporter + "\x00" + signal
	if p.exports[k] == nil {
		p.exports[k] = &exportRow{Exporter: exporter, Signal: signal}
	}
	return p.exports[k]
}

// queue: sending-queue depths and capacities, the Kafka alert queue's
// in-flight records and oldest age, pending alert events, SCADA retry
// batches (summed over RTUs: no RTU name, maybe another tenant's, is
// shown) and the caller's held spans.
func (p *panels) queue(s promSample) bool {
	_, own := sampleTenant(s.labels)
	switch {
	case s.name == "otelcol_exporter_queue_size" && !own:
		p.queueRow(s.labels["exporter"], "items", false).Depth += s.value
	case s.name == "otelcol_exporter_queue_capacity" && !own:
		c := s.value
		p.queueRow(s.labels["exporter"], "items", false).Capacity = &c
	case s.name == kafkaalertexporter.MetricInFlightRecords:
		p.queueRow("kafka_alerts", "records", own).Depth += s.value
	case s.name == kafkaalertexporter.MetricOldestQueuedAge:
		a := s.value
		p.queueRow("kafka_alerts", "records", own).OldestAgeS = &a
	case s.name == errorfanoutconnector.MetricPendingAlertEvents:
		p.queueRow("errorfanout", "events", own).Depth += s.value
	case s.name == scadareceiver.MetricPendingRetry && !own:
		p.queueRow("scada", "batches", false).Depth += s.value
	case s.name == traceidrepairprocessor.MetricHeldSpans && own:
		p.queueRow("traceidrepair", "spans", true).Depth += s.value
	default:
		return false
	}
	return true
}

func (p *panels) queueRow(name, unit string, own bool) *queueRow {
	if p.queues[name] == nil {
		p.queues[name] = &queueRow{Queue: name, Unit: unit, Own: own}
	}
	return p.queues[name]
}

// repairCounter: the caller's trace-ID repair counters (repairCounters).
func (p *panels) repairCounter(s promSample) bool {
	if _, own := sampleTenant(s.labels); !own || !strings.HasPrefix(s.name, repairPrefix) {
		return false
	}
	i := slices.IndexFunc(repairCounters, func(c repairCounter) bool { return c.metric == s.name })
	if i < 0 {
		return true // a repair series this view does not show
	}
	c := repairCounters[i].key
	if p.repair[c] == nil {
		p.repair[c] = &counterRow{Counter: c}
	}
	p.repair[c].Total += s.value
	addPtr(&p.repair[c].PerS, p.rate(s))
	return true
}

// deadLetter: the caller's spans in the durable_otlp dead-letter area
// (gauge, by tenant) and written to it (counter, by tenant and reason).
// Series without a tenant are never shown here.
func (p *panels) deadLetter(s promSample) bool {
	if _, own := sampleTenant(s.labels); !own {
		return false
	}
	switch s.name {
	case durableotlpexporter.MetricDeadLetterStored:
		p.dlStored += s.value
	case durableotlpexporter.MetricDeadLetterSpans, kafkaalertexporter.MetricDeadLetterSpans, vmexporter.MetricRemoteDeadLetterPoints:
		r := s.labels["reason"]
		switch s.name {
		case kafkaalertexporter.MetricDeadLetterSpans:
			r = "kafka_alerts: " + r
		case vmexporter.MetricRemoteDeadLetterPoints:
			r = "victoriametrics: " + r
		}
		if p.dlReasons[r] == nil {
			p.dlReasons[r] = &deadLetterCause{Reason: r}
		}
		p.dlReasons[r].Total += s.value
		addPtr(&p.dlReasons[r].PerS, p.rate(s))
	default:
		return false
	}
	return true
}

func (p *panels) deadLetterFigures() deadLetterView {
	v := deadLetterView{StoredSpans: p.dlStored,
		Reasons: sortedRows(p.dlReasons, func(a, b deadLetterCause) int { return cmp.Compare(a.Reason, b.Reason) })}
	for _, c := range v.Reasons {
		v.Total += c.Total
		addPtr(&v.PerS, c.PerS)
	}
	return v
}

// process: samples written to the metrics store, uptime and RSS
// (appliance-wide).
func (p *panels) process(s promSample, out *applianceView) bool {
	if _, own := sampleTenant(s.labels); own {
		return false
	}
	v := s.value
	switch s.name {
	case vmexporter.MetricSamples:
		out.StoredPerS = p.rate(s)
	case "otelcol_process_uptime":
		out.UptimeS = &v
	case "otelcol_process_memory_rss":
		out.RSSBytes = &v
	default:
		return false
	}
	return true
}

// sortedRows returns the map's rows sorted by cmpFn (never nil).
func sortedRows[T any](m map[string]*T, cmpFn func(a, b T) int) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	slices.SortFunc(out, cmpFn)
	return out
}

func (p *panels) tenantRows() []tenantIngest {
	return sortedRows(p.ingest, func(a, b tenantIngest) int { return cmp.Compare(a.Signal, b.Signal) })
}

func (p *panels) receiverRows() []receiverRow {
	return sortedRows(p.receivers, func(a, b receiverRow) int {
		return cmp.Or(cmp.Compare(a.Receiver, b.Receiver), cmp.Compare(a.Signal, b.Signal))
	})
}

func (p *panels) exportRows() []exportRow {
	return sortedRows(p.exports, func(a, b exportRow) int {
		return cmp.Or(cmp.Compare(a.Exporter, b.Exporter), cmp.Compare(a.Signal, b.Signal))
	})
}

func (p *panels) queueRows() []queueRow {
	return sortedRows(p.queues, func(a, b queueRow) int { return cmp.Compare(a.Queue, b.Queue) })
}

func (p *panels) repairRows() []counterRow {
	out := []counterRow{}
	for _, c := range repairCounters {
		if p.repair[c.key] != nil {
			out = append(out, *p.repair[c.key])
		}
	}
	return out
}

// ingestHistory is the chart: per interval, the caller's accepted items/s
// by signal (tenantstamp's spans, data points, log records) and (shared)
// the accepted items/s of all receivers by signal, so the two compare.
func ingestHistory(views []tview) applianceSeries {
	out := applianceSeries{Timestamps: []int64{}, Series: []historySeries{}}
	hist := map[string][]*float64{}
	n := len(views) - 1
	for i := 1; i < len(views); i++ {
		p, c := &views[i-1], &views[i]
		out.Timestamps = append(out.Timestamps, c.at.UnixMilli())
		for _, s := range c.s {
			key, ok := historyKey(s)
			if !ok {
				continue
			}
			if hist[key] == nil {
				hist[key] = make([]*float64, n)
			}
			addPtr(&hist[key][i-1], counterRate(p, c, s))
		}
	}
	for k, v := range hist {
		out.Series = append(out.Series, historySeries{Key: k, Values: v})
	}
	slices.SortFunc(out.Series, func(a, b historySeries) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// historyKey is the chart line a series adds to: "tenant.<signal>" or
// "all.<signal>".
func historyKey(s promSample) (string, bool) {
	switch {
	case s.name == tenantstampprocessor.MetricAcceptedItems:
		if _, own := sampleTenant(s.labels); own {
			return "tenant." + s.labels["signal"], true
		}
	case strings.HasPrefix(s.name, "otelcol_receiver_accepted_"):
		if sig, ok := receiverSignals[strings.TrimPrefix(s.name, "otelcol_receiver_accepted_")]; ok {
			return "all." + sig, true
		}
	}
	return "", false
}

func (e *uiExtension) appliance(w http.ResponseWriter, _ *http.Request, id identity) {
	if e.scraper == nil {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "the Appliance view is off (telemetry_endpoint is empty)"})
		return
	}
	snaps, disk, scrapeErr := e.scraper.state()
	v := buildAppliance(snaps, disk, scrapeErr, id.tenant, e.cfg.SharedFigures || id.admin != "", e.cfg.TelemetryInterval, e.now())
	v.Administrator = id.admin
	httpjson.Write(w, http.StatusOK, v)
}

// diskPaths: the metrics store's directory and the configured ones.
func (e *uiExtension) diskPaths() []string {
	var out []string
	if st := vmstore.Current(); st != nil {
		out = append(out, filepath.Dir(st.Path()))
	}
	for _, p := range e.cfg.DiskPaths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
