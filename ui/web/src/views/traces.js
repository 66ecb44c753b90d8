// Traces: search the tenant's traces (service, station, time range, error
// only, repaired only) and show one trace as a waterfall with repaired MQ
// hops marked and their original trace id shown.
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time } from '../i18n.js';

const lookbacks = [['1h', 'range.1h'], ['6h', 'range.6h'], ['24h', 'range.24h'], ['168h', 'range.7d']];

function tagMap(tags) {
  const m = {};
  for (const kv of tags || []) m[kv.key] = kv.value;
  return m;
}
const isError = (s) => { const m = tagMap(s.tags); return m.error === true || m.error === 'true' || m['otel.status_code'] === 'ERROR'; };
const repairOf = (s) => tagMap(s.tags)['scada.traceid.repair'];

export function tracesView(main, onAuthLost) {
  const service = h('select', { id: 'trace-service' });
  const station = h('input', { id: 'trace-station', type: 'text', placeholder: t('traces.stationAny') });
  const lookback = h('select', { id: 'trace-lookback' }, lookbacks.map(([v, k]) => h('option', { value: v }, t(k))));
  const errOnly = h('input', { id: 'trace-errors', type: 'checkbox' });
  const repOnly = h('input', { id: 'trace-repaired', type: 'checkbox' });
  const status = h('p', { class: 'status', id: 'traces-status' });
  const list = h('table', { class: 'traces', id: 'traces' });
  const form = h('form', { class: 'trace-search', id: 'trace-search' },
    h('label', {}, t('traces.service'), ' ', service), ' ',
    h('label', {}, t('traces.station'), ' ', station), ' ',
    h('label', {}, t('traces.lookback'), ' ', lookback), ' ',
    h('label', {}, errOnly, ' ', t('traces.errorsOnly')), ' ',
    h('label', {}, repOnly, ' ', t('traces.repairedOnly')), ' ',
    h('button', { type: 'submit', id: 'trace-submit' }, t('traces.search')));
  main.append(h('h2', {}, t('traces.title')), form, status, list);
  let stopped = false;

  const fail = (e) => {
    if (stopped) return;
    if (e instanceof APIError && e.status === 401) return onAuthLost();
    status.textContent = t('error.generic', { msg: e.message });
  };

  async function search() {
    status.textContent = t('common.loading');
    const tags = {};
    if (errOnly.checked) tags.error = 'true';
    if (repOnly.checked) tags['scada.traceid.repair'] = 'repaired';
    if (station.value.trim()) tags['scada.station'] = station.value.trim();
    const q = { service: service.value, lookback: lookback.value, limit: '50' };
    if (Object.keys(tags).length) q.tags = JSON.stringify(tags);
    try {
      const res = await api.traceSearch(q);
      if (stopped) return;
      const traces = (res.data || []).map((tr) => {
        const spans = tr.spans || [];
        const min = Math.min(...spans.map((s) => s.startTime));
        const max = Math.max(...spans.map((s) => s.startTime + s.duration));
        const ids = new Set(spans.map((s) => s.spanID));
        const root = spans.find((s) => !(s.references || []).some((r) => ids.has(r.spanID))) || spans[0];
        return { id: tr.traceID, root, min, dur: max - min, n: spans.length, err: spans.some(isError), rep: spans.some((s) => repairOf(s) === 'repaired'), svc: tr.processes?.[root?.processID]?.serviceName || '' };
      }).sort((a, b) => b.min - a.min);
      status.textContent = traces.length ? t('traces.found', { n: traces.length }) : t('traces.none');
      clear(list).append(
        h('thead', {}, h('tr', {}, ['traces.col.start', 'traces.col.root', 'traces.col.spans', 'traces.col.duration', 'traces.col.flags', 'traces.col.id'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, traces.map((tr) => h('tr', { class: 'trace-row' },
          h('td', {}, time(tr.min / 1000)),
          h('td', {}, h('a', { href: '#/trace/' + encodeURIComponent(tr.id), class: 'trace-link' }, tr.svc + ': ' + (tr.root?.operationName || ''))),
          h('td', {}, String(tr.n)),
          h('td', {}, num(tr.dur / 1000, 1) + ' ms'),
          h('td', {}, tr.err ? h('span', { class: 'badge firing' }, t('traces.error')) : null, ' ',
            tr.rep ? h('span', { class: 'badge repaired' }, t('traces.repaired')) : null),
          h('td', { class: 'mono' }, tr.id)))));
    } catch (e) { fail(e); }
  }

  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  (async () => {
    try {
      const res = await api.traceServices();
      if (stopped) return;
      const names = (res.data || []).slice().sort();
      clear(service).append(...names.map((n) => h('option', { value: n }, n)));
      if (names.length) search(); else status.textContent = t('traces.noServices');
    } catch (e) { fail(e); }
  })();
  return { stop() { stopped = true; } };
}

export function traceView(main, id, onAuthLost) {
  const status = h('p', { class: 'status', id: 'trace-status' }, t('common.loading'));
  const box = h('div', { class: 'waterfall', id: 'waterfall' });
  main.append(h('p', {}, h('a', { href: '#/traces' }, '← ' + t('nav.traces'))),
    h('h2', {}, t('traces.trace'), ' ', h('span', { class: 'mono', id: 'trace-id' }, id)), status, box);
  let stopped = false;
  (async () => {
    try {
      const res = await api.trace(id);
      if (stopped) return;
      const tr = (res.data || [])[0];
      if (!tr) { status.textContent = t('traces.notFound'); return; }
      const spans = tr.spans.slice().sort((a, b) => a.startTime - b.startTime);
      const byID = new Map(spans.map((s) => [s.spanID, s]));
      const depth = (s, seen = 0) => {
        const p = (s.references || []).find((r) => byID.has(r.spanID));
        return p && seen < 64 ? 1 + depth(byID.get(p.spanID), seen + 1) : 0;
      };
      const min = spans[0].startTime;
      const total = Math.max(1, Math.max(...spans.map((s) => s.startTime + s.duration)) - min);
      const repaired = spans.filter((s) => repairOf(s) === 'repaired').length;
      status.textContent = t('traces.summary', { n: spans.length, ms: num(total / 1000, 1), repaired });
      for (const s of spans) {
        const tags = tagMap(s.tags);
        const rep = tags['scada.traceid.repair'];
        const bar = h('div', { class: 'bar' + (isError(s) ? ' err' : '') + (rep === 'repaired' ? ' rep' : '') });
        bar.style.left = ((s.startTime - min) / total * 100) + '%';
        bar.style.width = Math.max(0.3, s.duration / total * 100) + '%';
        const label = h('div', { class: 'span-label' },
          h('span', { class: 'span-service' }, tr.processes?.[s.processID]?.serviceName || ''), ' ',
          h('span', { class: 'span-name' }, s.operationName),
          rep === 'repaired' ? [' ', h('span', { class: 'badge repaired' }, t('traces.repairedHop')),
            ' ', h('span', { class: 'original' }, t('traces.original', { id: String(tags['scada.traceid.original'] || '?') }))] : null,
          rep && rep !== 'repaired' ? [' ', h('span', { class: 'badge st-stale' }, String(rep))] : null);
        label.style.paddingLeft = (depth(s) * 14) + 'px';
        box.append(h('div', { class: 'span-row', 'data-repair': rep || '' }, label,
          h('div', { class: 'track' }, bar), h('div', { class: 'span-dur' }, num(s.duration / 1000, 2) + ' ms')));
      }
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = e instanceof APIError && e.status === 404 ? t('traces.notFound') : t('error.generic', { msg: e.message });
    }
  })();
  return { stop() { stopped = true; } };
}
