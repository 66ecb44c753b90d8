// Alerts: firing and resolved episodes from the error-rate fan-out, with
// the delivery state of each event (pending, queued to Kafka).
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time } from '../i18n.js';

export function alertsView(main, onAuthLost) {
  const status = h('p', { class: 'status' }, t('common.loading'));
  const table = h('table', { class: 'alerts', id: 'alerts' });
  main.append(h('h2', {}, t('alerts.title')), status, table);
  let stopped = false;
  let timer = null;

  function delivery(ep) {
    const ds = (ep.events || []).map((ev) => ev.state + ': ' + t('alerts.delivery.' + (ev.delivery === 'queued' ? 'queued' : 'pending')));
    return ds.join(', ');
  }

  function traceIDs(ep) {
    const ids = [];
    for (const ev of ep.events || []) for (const id of ev.trace_ids || []) if (typeof id === 'string' && !ids.includes(id)) ids.push(id);
    return ids.slice(0, 5);
  }

  async function refresh() {
    try {
      const data = await api.alerts();
      if (stopped) return;
      const eps = data.episodes;
      status.textContent = eps.length ? '' : t('alerts.none');
      clear(table).append(
        h('thead', {}, h('tr', {}, ['alerts.col.state', 'alerts.col.service', 'alerts.col.station', 'alerts.col.started',
          'alerts.col.resolved', 'alerts.col.peak', 'alerts.col.delivery', 'alerts.col.traces'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, eps.map((ep) => h('tr', { 'data-state': ep.state },
          h('td', {}, h('span', { class: 'badge ' + (ep.state === 'firing' ? 'firing' : 'st-up') }, t(ep.state === 'firing' ? 'alerts.state.firing' : 'alerts.state.resolved'))),
          h('td', {}, ep.service),
          h('td', {}, ep.station || ''),
          h('td', {}, ep.started_at ? time(Date.parse(ep.started_at)) : ''),
          h('td', {}, ep.resolved_at ? time(Date.parse(ep.resolved_at)) : ''),
          h('td', {}, t('alerts.rate', { rate: num(ep.peak_error_rate * 100, 1), threshold: num(ep.threshold * 100, 1) })),
          h('td', {}, delivery(ep)),
          h('td', { class: 'trace-ids' }, traceIDs(ep).map((id) => h('a', { href: '#/trace/' + encodeURIComponent(id), class: 'mono alert-trace' }, id.slice(0, 12) + '…', ' ')))))));
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    if (!stopped) timer = setTimeout(refresh, 5000);
  }
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
