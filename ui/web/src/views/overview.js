// Overview: every station of the tenant with its RTU state (up, stale,
// comm lost), last poll age and latest pressure; firing alerts first.
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, age, time } from '../i18n.js';

const stateClass = { up: 'st-up', stale: 'st-stale', comm_lost: 'st-lost', unknown: 'st-unknown' };

export function overviewView(main, onAuthLost) {
  const status = h('p', { class: 'status', id: 'overview-status' }, t('common.loading'));
  const alertsBox = h('section', { class: 'firing', id: 'firing' });
  const table = h('table', { class: 'stations', id: 'stations' });
  main.append(h('h2', {}, t('overview.title')), status, alertsBox, table);
  let timer = null;
  let stopped = false;

  function row(s) {
    const link = h('a', { href: '#/station/' + encodeURIComponent(s.station), class: 'station-link' }, s.station);
    return h('tr', { class: 'station', 'data-state': s.state },
      h('td', { class: 'name' }, link, s.firing ? h('span', { class: 'badge firing' }, t('overview.firingCount', { n: s.firing })) : null),
      h('td', {}, h('span', { class: 'badge ' + (stateClass[s.state] || 'st-unknown'), 'data-testid': 'state' }, t('state.' + (stateClass[s.state] ? s.state : 'unknown')))),
      h('td', {}, s.rtus.map((r) => h('div', { class: 'rtu' },
        h('span', { class: 'rtu-name' }, r.rtu), ' ',
        h('span', { class: 'badge small ' + (stateClass[r.state] || 'st-unknown') }, t('state.' + r.state)), ' ',
        h('span', { class: 'age', title: time(r.last_poll_ms) }, t('overview.polled', { age: age(r.age_s) }))))),
      h('td', {}, s.pressure.length ? s.pressure.map((p) => h('div', { class: 'pressure' },
        h('span', { class: 'point' }, p.point), ' ',
        h('b', { class: 'value' }, num(p.value)), ' ',
        h('span', { class: 'unit' }, p.unit), ' ',
        h('span', { class: 'age', title: time(p.at_ms) }, '(' + age(p.age_s) + ')'))) : h('span', { class: 'muted' }, t('overview.noPressure'))));
  }

  function renderAlerts(data) {
    clear(alertsBox);
    if (data.alerts_error) alertsBox.append(h('p', { class: 'warn' }, t('overview.alertsUnavailable')));
    if (!data.firing.length) return;
    alertsBox.append(h('h3', {}, t('overview.firing')), h('ul', {}, data.firing.map((a) => h('li', { class: 'alert-item' },
      h('span', { class: 'badge firing' }, t('alerts.state.firing')), ' ',
      h('b', {}, a.service), a.station ? [' · ', a.station] : null, ' ',
      t('alerts.rate', { rate: num(a.peak_error_rate * 100, 1), threshold: num(a.threshold * 100, 1) })))));
  }

  async function refresh() {
    try {
      const data = await api.overview();
      if (stopped) return;
      renderAlerts(data);
      clear(table).append(
        h('thead', {}, h('tr', {},
          h('th', {}, t('overview.station')), h('th', {}, t('overview.state')),
          h('th', {}, t('overview.rtus')), h('th', {}, t('overview.pressure')))),
        h('tbody', {}, data.stations.map(row)));
      status.textContent = data.stations.length
        ? t('overview.updated', { time: time(data.now_ms), n: data.stations.length })
        : t('overview.empty');
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    // Every 500 ms (the pressure poll interval): a comm loss, which the
    // receiver reports at the first failed poll, shows within 3 intervals.
    if (!stopped) timer = setTimeout(refresh, 500);
  }
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
