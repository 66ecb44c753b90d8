// Services: each service's error rate over time against its threshold
// line (from the errorfanout connector's metrics); services above their
// threshold first.
import uPlot from 'uplot';
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time, language } from '../i18n.js';

const ranges = [[300, 'range.5m'], [3600, 'range.1h'], [21600, 'range.6h'], [86400, 'range.24h'], [604800, 'range.7d']];
const pct = (v) => (v == null ? null : v * 100);

export function servicesView(main, onAuthLost) {
  let rangeS = 300;
  let stopped = false;
  let timer = null;
  let plots = new Map(); // service -> uPlot
  const status = h('p', { class: 'status', id: 'services-status' }, t('common.loading'));
  const rangeBar = h('div', { class: 'ranges', role: 'group', 'aria-label': t('station.range') });
  const box = h('div', { class: 'charts', id: 'services' });
  main.append(h('h2', {}, t('services.title')), rangeBar, status, box);

  function renderRanges() {
    clear(rangeBar).append(...ranges.map(([s, key]) => h('button', {
      type: 'button', class: s === rangeS ? 'on' : '', 'data-range': s,
      onclick: () => { rangeS = s; renderRanges(); destroy(); refresh(); },
    }, t(key))));
  }
  function destroy() {
    for (const p of plots.values()) p.plot.destroy();
    plots = new Map();
    clear(box);
  }
  function tickLabel(ms) {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString(language(), rangeS <= 3600
      ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
      : { hour: '2-digit', minute: '2-digit', hour12: false });
    return rangeS > 86400 ? d.toLocaleDateString(language(), { month: '2-digit', day: '2-digit' }) + ' ' + hm : hm;
  }
  const width = () => Math.max(320, (box.clientWidth || main.clientWidth || 800) - 8);

  function render(d) {
    const names = d.services.map((s) => s.service).join('\n');
    if (box.dataset.names !== names) {
      destroy();
      box.dataset.names = names;
      for (const s of d.services) {
        const el = h('div', { class: 'chart' });
        const head = h('h3', { class: 'service' + (s.above ? ' above' : '') },
          h('span', { class: 'service-name' }, s.service), ' ',
          h('span', { class: 'service-now' }));
        box.append(h('section', { class: 'service-block', 'data-above': s.above ? '1' : '0' }, head, el));
        plots.set(s.service, {
          head,
          plot: new uPlot({
            width: width(), height: 200, ms: 1,
            axes: [{ values: (u, sp) => sp.map(tickLabel) }, { label: '%' }],
            scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.2)] } },
            series: [
              { label: t('station.time'), value: (u, v) => (v == null ? '—' : time(v)) },
              { label: t('services.errorRate'), stroke: '#d62728', width: 1.5, spanGaps: false, value: (u, v) => (v == null ? '—' : num(v, 2) + ' %') },
              { label: t('services.threshold'), stroke: '#555', width: 1, dash: [6, 4], value: (u, v) => (v == null ? '—' : num(v, 2) + ' %') },
            ],
          }, [[]], el),
        });
      }
    }
    for (const s of d.services) {
      const p = plots.get(s.service);
      p.plot.setData([d.timestamps, s.ratio.map(pct), s.threshold.map(pct)]);
      p.head.querySelector('.service-now').textContent = s.last == null ? '' : t('services.now', {
        rate: num(s.last * 100, 2), threshold: s.last_threshold == null ? '—' : num(s.last_threshold * 100, 2),
      });
    }
    status.textContent = d.services.length ? t('station.updated', { time: time(d.end_ms), step: num(d.step_ms / 1000, 0) }) : t('services.none');
  }

  async function refresh() {
    clearTimeout(timer);
    const asked = rangeS;
    try {
      const d = await api.services(rangeS);
      if (stopped || asked !== rangeS) return;
      render(d);
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    if (!stopped) timer = setTimeout(refresh, rangeS <= 3600 ? 2000 : 10000);
  }
  renderRanges();
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); destroy(); } };
}
