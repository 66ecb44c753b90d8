// Appliance: what the appliance itself is doing, from its own metrics:
// this pipeline's ingest (requests/s and spans, samples or log records per
// second), trace-ID repair counters and dead-letter spans, and (when the
// server shows appliance-wide figures) receivers, queue depths and ages,
// Jaeger / Kafka export, disk use and the process.
import uPlot from 'uplot';
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time, language } from '../i18n.js';

const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const rateText = (v) => (v == null ? '—' : num(v, v < 10 ? 2 : 0));
// The caller's accepted items per second, in the signal's own unit.
const itemsUnit = (sig) => t(['traces', 'metrics', 'logs'].includes(sig) ? 'appliance.itemsUnit.' + sig : 'appliance.itemsUnit.other');
const known = (prefix, k) => (['traces', 'metrics', 'logs', 'alert_records', 'items', 'records', 'events', 'batches', 'spans',
  'repaired', 'repaired_spans', 'ambiguous', 'unmatched', 'held', 'refused', 'release_failed'].includes(k) ? t(prefix + k) : k);

function bytes(v) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return num(v, i ? 1 : 0) + ' ' + units[i];
}

function table(id, heads, rows) {
  return h('table', { id, class: 'figures' },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

// The caller's spans the trace store refused for good: kept on disk in
// the durable_otlp exporter's dead-letter area, and written to it per
// reason (the gRPC code, as `scadaotel dead-letter list` shows it).
function deadLetter(dl) {
  return [h('h3', { id: 'dead-letter-title' }, t('appliance.deadLetter')),
    h('p', { id: 'dead-letter-stored' }, t('appliance.deadLetterStored', { n: num(dl.stored_spans, 0) })),
    dl.by_reason.length ? table('dead-letter', [t('appliance.reason'), t('appliance.deadLetterPerS'), t('appliance.deadLetterTotal')],
      dl.by_reason.map((r) => h('tr', { 'data-reason': r.reason },
        h('td', { class: 'mono' }, r.reason), h('td', { class: 'num' }, rateText(r.per_s)), h('td', { class: 'num total' }, num(r.total, 0)))))
      : h('p', { class: 'muted', id: 'no-dead-letter' }, t('appliance.noDeadLetter'))];
}

export function applianceView(main, onAuthLost) {
  const status = h('p', { class: 'status', id: 'appliance-status' }, t('common.loading'));
  const chartBox = h('div', { class: 'chart', id: 'appliance-chart' });
  const body = h('div', { id: 'appliance' });
  main.append(h('h2', {}, t('appliance.title')), status,
    h('h3', {}, t('appliance.ingestChart')), chartBox, body);
  let stopped = false;
  let timer = null;
  let plot = null;
  let plotKeys = '';

  function seriesLabel(key) {
    const [who, sig] = key.split('.');
    return t(who === 'tenant' ? 'appliance.series.tenant' : 'appliance.series.all', { signal: known('signal.', sig) });
  }

  function renderChart(hist) {
    const keys = hist.series.map((s) => s.key).join('\n');
    if (!plot || keys !== plotKeys) {
      if (plot) plot.destroy();
      clear(chartBox);
      plotKeys = keys;
      plot = new uPlot({
        width: Math.max(320, (chartBox.clientWidth || main.clientWidth || 800) - 8), height: 200, ms: 1,
        axes: [{ values: (u, sp) => sp.map((ms) => new Date(ms).toLocaleTimeString(language(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })) },
          { label: t('appliance.perSecond') }],
        scales: { x: { time: true } },
        series: [{ label: t('station.time'), value: (u, v) => (v == null ? '—' : time(v)) },
          ...hist.series.map((s, i) => ({ label: seriesLabel(s.key), stroke: colors[i % colors.length], width: 1.5, value: (u, v) => rateText(v) }))],
      }, [[]], chartBox);
    }
    plot.setData([hist.timestamps, ...hist.series.map((s) => s.values)]);
  }

  function render(d) {
    const parts = [];
    parts.push(h('h3', {}, t('appliance.tenantIngest')),
      d.tenant_ingest.length ? table('tenant-ingest',
        [t('appliance.signal'), t('appliance.requestsPerS'), t('appliance.itemsPerS'), t('appliance.requestsRefusedPerS'), t('appliance.refusedTotal')],
        d.tenant_ingest.map((r) => h('tr', { 'data-signal': r.signal },
          h('td', {}, known('signal.', r.signal)),
          h('td', { class: 'num accepted' }, rateText(r.accepted_per_s)),
          h('td', { class: 'num items' }, h('span', { class: 'n' }, rateText(r.items_per_s)), ' ', itemsUnit(r.signal)),
          h('td', { class: 'num refused' }, rateText(r.refused_per_s)),
          h('td', {}, num(r.refused_total, 0), Object.keys(r.refused_by_reason).length
            ? [' (', Object.entries(r.refused_by_reason).map(([k, v]) => `${k}: ${num(v, 0)}`).join(', '), ')'] : null))))
        : h('p', { class: 'muted' }, t('appliance.noIngest')));
    parts.push(h('h3', {}, t('appliance.repair')),
      d.repair.length ? table('repair', [t('appliance.counter'), t('appliance.total'), t('appliance.perS')],
        d.repair.map((r) => h('tr', { 'data-counter': r.counter },
          h('td', {}, known('repair.', r.counter)), h('td', { class: 'num total' }, num(r.total, 0)), h('td', { class: 'num' }, rateText(r.per_s)))))
        : h('p', { class: 'muted' }, t('appliance.noRepair')));
    if (d.dead_letter) parts.push(...deadLetter(d.dead_letter));
    if (!d.shared) {
      parts.push(h('p', { class: 'muted', id: 'shared-hidden' }, t('appliance.sharedHidden')));
    } else {
      parts.push(h('h3', {}, t('appliance.queues')), table('queues',
        [t('appliance.queue'), t('appliance.depth'), t('appliance.capacity'), t('appliance.oldest')],
        d.queues.map((q) => h('tr', { 'data-queue': q.queue },
          h('td', {}, q.queue),
          h('td', { class: 'num depth' }, num(q.depth, 0), ' ', known('unit.', q.unit)),
          h('td', { class: 'num' }, q.capacity == null ? '—' : [num(q.capacity, 0), ' (', num(q.capacity ? (100 * q.depth) / q.capacity : 0, 1), ' %)']),
          h('td', { class: 'num age' }, q.oldest_age_s == null ? '—' : t('appliance.seconds', { n: num(q.oldest_age_s, 1) }))))));
      parts.push(h('h3', {}, t('appliance.exports')), table('exports',
        [t('appliance.exporter'), t('appliance.signal'), t('appliance.state'), t('appliance.sentPerS'), t('appliance.failedPerS'), t('appliance.sentTotal'), t('appliance.failedTotal')],
        d.exports.map((x) => {
          const state = x.failed_per_s > 0 ? 'failing' : x.sent_per_s > 0 ? 'sending' : 'idle';
          return h('tr', { 'data-exporter': x.exporter, 'data-state': state },
            h('td', {}, x.exporter), h('td', {}, known('signal.', x.signal)),
            h('td', {}, h('span', { class: 'badge ' + { failing: 'st-lost', sending: 'st-up', idle: 'st-unknown' }[state] }, t('appliance.export.' + state))),
            h('td', { class: 'num sent' }, rateText(x.sent_per_s)), h('td', { class: 'num' }, rateText(x.failed_per_s)),
            h('td', { class: 'num' }, num(x.sent_total, 0)), h('td', { class: 'num' }, num(x.failed_total, 0)));
        })));
      parts.push(h('h3', {}, t('appliance.receivers')), table('receivers',
        [t('appliance.receiver'), t('appliance.signal'), t('appliance.acceptedPerS'), t('appliance.refusedPerS'), t('appliance.failedPerS')],
        d.receivers.map((r) => h('tr', { 'data-receiver': r.receiver, 'data-signal': r.signal },
          h('td', {}, r.receiver), h('td', {}, known('signal.', r.signal)),
          h('td', { class: 'num accepted' }, rateText(r.accepted_per_s)), h('td', { class: 'num' }, rateText(r.refused_per_s)),
          h('td', { class: 'num' }, rateText(r.failed_per_s))))));
      if (d.stored_samples_per_s != null) parts.push(h('p', { id: 'stored' }, t('appliance.stored', { n: rateText(d.stored_samples_per_s) })));
      parts.push(h('h3', {}, t('appliance.disk')), table('disk',
        [t('appliance.path'), t('appliance.used'), t('appliance.free'), t('appliance.fsTotal')],
        d.disk.map((x) => h('tr', {},
          h('td', { class: 'mono' }, x.path), h('td', { class: 'num used' }, bytes(x.used_bytes)),
          h('td', { class: 'num' }, bytes(x.fs_free_bytes)), h('td', { class: 'num' }, bytes(x.fs_total_bytes))))));
      if (d.uptime_s != null) {
        parts.push(h('p', { id: 'process' }, t('appliance.process', {
          uptime: num(d.uptime_s / 3600, 2), rss: d.rss_bytes == null ? '—' : bytes(d.rss_bytes),
        })));
      }
    }
    clear(body).append(...parts);
    renderChart(d.history);
    status.textContent = d.scrape_error ? t('appliance.scrapeError', { msg: d.scrape_error })
      : t('appliance.updated', { time: time(d.now_ms), s: num(d.interval_s, 0) });
  }

  async function refresh() {
    clearTimeout(timer);
    let every = 5000;
    try {
      const d = await api.appliance();
      if (stopped) return;
      every = Math.max(1000, d.interval_s * 1000);
      render(d);
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    if (!stopped) timer = setTimeout(refresh, every);
  }
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); if (plot) plot.destroy(); } };
}
