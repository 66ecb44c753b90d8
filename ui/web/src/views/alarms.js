// Process alarms (ISA-18.2) of the alarm connector: the alarm list shown
// above every view, the shelve dialog, and the Alarms view (every alarm,
// the EEMUA 191 figures and the journal of operator actions). Every
// string of an alarm (ids, messages, stations, reasons, actors) is text.
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, num, time, language } from '../i18n.js';

const states = new Set(['normal', 'active_unacked', 'active_acked', 'rtn_unacked', 'shelved', 'suppressed', 'out_of_service']);
const priorities = ['critical', 'high', 'medium', 'low'];
const actions = new Set(['ack', 'shelve', 'unshelve']);
const shelveDurations = ['15m', '30m', '1h', '2h', '8h', '24h'];
const changed = 'scadaui:alarms-changed';

export function stateText(s) { return states.has(s) ? t('alarm.state.' + s) : s; }
export function priorityText(p) { return priorities.includes(p) ? t('alarm.priority.' + p) : p; }
function actionText(a) { return actions.has(a) ? t('alarm.action.' + a) : a; }
export function alarmMessage(a) {
  const m = a.message || {};
  return m[language()] || m.en || m['zh-CN'] || '';
}

const canAck = (a) => a.state === 'active_unacked' || a.state === 'rtn_unacked';
const canShelve = (a) => ['normal', 'active_unacked', 'active_acked', 'rtn_unacked', 'shelved'].includes(a.state);

// Tells every alarm component on the page to refresh now.
function announce() { window.dispatchEvent(new Event(changed)); }

function valueText(a) {
  if (a.value == null) return '';
  const unit = a.unit ? ' ' + a.unit : '';
  let s = num(a.value) + unit;
  if (a.limit != null) s += ' ' + t('alarm.limit', { limit: num(a.limit) + unit });
  return s;
}

// shelveDialog asks the duration and the reason, then shelves.
function shelveDialog(a) {
  const reason = h('input', { type: 'text', id: 'shelve-reason', maxlength: 1024, 'aria-required': 'true' });
  const duration = h('select', { id: 'shelve-duration' },
    shelveDurations.map((d) => h('option', { value: d, selected: d === '1h' }, t('alarm.shelve.d' + d))));
  const err = h('p', { class: 'error', id: 'shelve-error', role: 'alert' });
  const dlg = h('dialog', { class: 'shelve-dialog', id: 'shelve-dialog' });
  const form = h('form', { method: 'dialog' },
    h('h3', {}, t('alarm.shelve.title', { id: a.alarm_id })),
    h('p', { class: 'muted' }, alarmMessage(a)),
    h('label', { for: 'shelve-duration' }, t('alarm.shelve.duration')), duration,
    h('label', { for: 'shelve-reason' }, t('alarm.shelve.reason')), reason,
    err,
    h('div', { class: 'dialog-buttons' },
      h('button', { type: 'button', id: 'shelve-cancel', onclick: () => dlg.close() }, t('alarm.shelve.cancel')),
      h('button', { type: 'submit', id: 'shelve-confirm', class: 'primary' }, t('alarm.shelve.confirm'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    if (!reason.value.trim()) {
      err.textContent = t('alarm.shelve.needReason');
      return;
    }
    try {
      await api.alarmAction(a.alarm_id, 'shelve', { duration: duration.value, reason: reason.value.trim() });
      dlg.close();
      announce();
    } catch (e) {
      err.textContent = t('error.generic', { msg: e.message });
    }
  });
  dlg.append(form);
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  reason.focus();
}

async function act(a, action, status, onAuthLost) {
  status.textContent = '';
  try {
    await api.alarmAction(a.alarm_id, action, {});
    announce();
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return onAuthLost();
    status.textContent = t('error.generic', { msg: e.message });
  }
}

// alarmTable renders alarms as table rows, with their buttons when the
// token may act (operator role); an action's error is shown in status.
function alarmTable(list, status, withButtons, onAuthLost) {
  return [
    h('thead', {}, h('tr', {}, ['alarm.col.priority', 'alarm.col.time', 'alarm.col.alarm', 'alarm.col.station', 'alarm.col.value',
      'alarm.col.state', withButtons ? 'alarm.col.actions' : null].filter(Boolean).map((k) => h('th', {}, t(k))))),
    h('tbody', {}, list.map((a) => h('tr', { class: 'alarm-row', 'data-alarm': a.alarm_id, 'data-state': a.state, 'data-priority': a.priority },
      h('td', {}, h('span', { class: 'prio prio-' + (priorities.includes(a.priority) ? a.priority : 'other') }, priorityText(a.priority))),
      h('td', { class: 'alarm-time' }, a.since ? time(Date.parse(a.since)) : ''),
      h('td', {}, h('span', { class: 'alarm-id mono' }, a.alarm_id), ' ', h('span', { class: 'alarm-msg' }, alarmMessage(a)),
        a.chattering ? h('span', { class: 'badge small chatter' }, t('alarm.chattering')) : null),
      h('td', {}, a.station || ''),
      h('td', { class: 'alarm-value num' }, valueText(a)),
      h('td', {}, h('span', { class: 'alarm-state st-' + a.state }, stateText(a.state)),
        a.state === 'shelved' && a.shelved_until ? h('span', { class: 'muted small' }, ' ' + t('alarm.until', { time: time(Date.parse(a.shelved_until)) })) : null),
      withButtons ? h('td', { class: 'alarm-actions' },
        canAck(a) ? h('button', { type: 'button', class: 'ack', onclick: () => act(a, 'ack', status, onAuthLost) }, t('alarm.ack')) : null,
        canShelve(a) ? h('button', { type: 'button', class: 'shelve', onclick: () => shelveDialog(a) }, t('alarm.shelve')) : null,
        a.state === 'shelved' ? h('button', { type: 'button', class: 'unshelve', onclick: () => act(a, 'unshelve', status, onAuthLost) }, t('alarm.unshelve')) : null) : null))),
  ];
}

// alarmBar is the list of standing alarms above every view (refreshed
// every 2 s and after each action); can.act: show the action buttons.
// barLimit: the alarm bar shows the first alarms by priority; the Alarms
// view shows up to viewLimit, and says how many there are in all.
const barLimit = 50;
const viewLimit = 1000;

export function alarmBar(onAuthLost, can) {
  const status = h('span', { class: 'status', id: 'alarm-bar-status' });
  const actionErr = h('span', { class: 'error', id: 'alarm-action-error', role: 'alert' });
  const count = h('b', { id: 'alarm-count' }, '0');
  const more = h('span', { class: 'muted', id: 'alarm-bar-more' });
  const table = h('table', { class: 'alarms compact', id: 'alarm-bar-list' });
  const el = h('section', { class: 'alarm-bar', id: 'alarm-bar', 'aria-live': 'polite' },
    h('div', { class: 'alarm-bar-head' }, h('a', { href: '#/alarms' }, t('alarm.bar.title')), ' ', count, ' ', more, ' ', status, ' ', actionErr),
    table);
  let stopped = false;
  let timer = null;
  let shown = '';
  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await api.alarms(true, barLimit);
      if (stopped) return;
      const list = data.alarms || [];
      const total = data.total ?? list.length;
      count.textContent = String(total);
      more.textContent = total > list.length ? t('alarm.bar.more', { shown: list.length, total }) : '';
      el.classList.toggle('none', !list.length);
      status.textContent = list.length ? '' : t('alarm.bar.none');
      // Rebuilt only when something changed, so a button is never pulled
      // away from under the operator's pointer.
      const key = JSON.stringify(list);
      if (key !== shown) {
        shown = key;
        clear(table).append(...(list.length ? alarmTable(list, actionErr, can.act, onAuthLost) : []));
      }
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    if (!stopped) timer = setTimeout(refresh, 2000);
  }
  window.addEventListener(changed, refresh);
  refresh();
  return { el, stop() { stopped = true; clearTimeout(timer); window.removeEventListener(changed, refresh); } };
}

// alarmsView: every alarm of the tenant, the EEMUA 191 figures and the
// journal of operator actions (refreshed every 5 s); can.act: show the
// action buttons.
export function alarmsView(main, onAuthLost, can) {
  const status = h('p', { class: 'status', id: 'alarms-status' }, t('common.loading'));
  const actionErr = h('p', { class: 'error', id: 'alarms-action-error', role: 'alert' });
  const list = h('table', { class: 'alarms', id: 'alarms-all' });
  const more = h('p', { class: 'muted', id: 'alarms-more' });
  const kpis = h('div', { class: 'kpis', id: 'alarm-kpis' });
  const journal = h('table', { class: 'journal', id: 'alarm-journal' });
  main.append(h('h2', {}, t('alarm.view.title')), status, actionErr,
    h('h3', {}, t('alarm.kpi.title')), kpis,
    h('h3', {}, t('alarm.view.all')), more, list,
    h('h3', {}, t('alarm.journal.title')), journal);
  let stopped = false;
  let timer = null;
  let shown = '';

  function renderKPIs(k) {
    const row = (key, value, id) => h('tr', {}, h('th', {}, t(key)), h('td', { class: 'num', id }, value));
    const byPrio = priorities.map((p) => priorityText(p) + ': ' + num((k.active_by_priority || {})[p] || 0, 0)).join(', ');
    clear(kpis).append(h('table', { class: 'figures' }, h('tbody', {},
      row('alarm.kpi.last10m', num(k.alarms_last_10m, 0) + ' ' + t('alarm.kpi.target'), 'kpi-last10m'),
      row('alarm.kpi.flood', k.in_flood ? t('alarm.kpi.inFlood') : t('alarm.kpi.noFlood'), 'kpi-flood'),
      row('alarm.kpi.floodPeriods', num(k.flood_periods, 0), 'kpi-flood-periods'),
      row('alarm.kpi.active', byPrio, 'kpi-active'),
      row('alarm.kpi.chattering', (k.chattering || []).join(', ') || '—', 'kpi-chattering'),
      row('alarm.kpi.stale', (k.stale || []).join(', ') || '—', 'kpi-stale'))),
    h('h3', {}, t('alarm.kpi.badActors')),
    (k.bad_actors || []).length
      ? h('table', { class: 'figures', id: 'kpi-bad-actors' },
        h('thead', {}, h('tr', {}, h('th', {}, t('alarm.col.alarm')), h('th', {}, t('alarm.kpi.raises24h')))),
        h('tbody', {}, k.bad_actors.map((b) => h('tr', {}, h('td', { class: 'mono' }, b.alarm_id), h('td', { class: 'num' }, num(b.raises_24h, 0))))))
      : h('p', { class: 'muted' }, t('alarm.kpi.noBadActors')));
  }

  function renderJournal(j) {
    const acts = j.actions || [];
    clear(journal).append(
      h('thead', {}, h('tr', {}, ['alarm.journal.time', 'alarm.journal.actor', 'alarm.journal.action', 'alarm.col.alarm',
        'alarm.journal.change', 'alarm.journal.reason'].map((k) => h('th', {}, t(k))))),
      h('tbody', {}, acts.length ? acts.map((a) => h('tr', { class: 'journal-row', 'data-action': a.action, 'data-alarm': a.alarm_id },
        h('td', {}, a.time ? time(Date.parse(a.time)) : ''),
        h('td', { class: 'mono' }, a.actor || ''),
        h('td', {}, actionText(a.action), a.shelved_until ? ' ' + t('alarm.until', { time: time(Date.parse(a.shelved_until)) }) : ''),
        h('td', { class: 'mono' }, a.alarm_id),
        h('td', {}, stateText(a.from_state) + ' → ' + stateText(a.to_state)),
        h('td', {}, a.reason || ''))) : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, t('alarm.journal.none')))));
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [all, k, j] = await Promise.all([api.alarms(false, viewLimit), api.alarmKPIs(), api.alarmJournal(100)]);
      if (stopped) return;
      status.textContent = '';
      const shownN = (all.alarms || []).length;
      more.textContent = (all.total ?? shownN) > shownN ? t('alarm.bar.more', { shown: shownN, total: all.total }) : '';
      const key = JSON.stringify(all.alarms);
      if (key !== shown) {
        shown = key;
        clear(list).append(...alarmTable(all.alarms || [], actionErr, can.act, onAuthLost));
      }
      renderKPIs(k);
      renderJournal(j);
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
    if (!stopped) timer = setTimeout(refresh, 5000);
  }
  window.addEventListener(changed, refresh);
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); window.removeEventListener(changed, refresh); } };
}
