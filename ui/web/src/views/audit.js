// Audit trail (administrators with the audit role only): the records of
// the appliance's hash-chained audit trail, a page at a time from a record
// number. Every field (actors, tenants, objects, details) is text.
import { api, APIError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, time } from '../i18n.js';

const pageSize = 100;
const outcomes = new Set(['success', 'failure', 'refused']);

export function auditView(main, onAuthLost) {
  const status = h('p', { class: 'status', id: 'audit-status' }, t('common.loading'));
  const from = h('input', { type: 'number', id: 'audit-from', min: 1, value: 1, class: 'num' });
  const table = h('table', { class: 'journal audit', id: 'audit-records' });
  const earlier = h('button', { type: 'button', id: 'audit-earlier' }, t('audit.earlier'));
  const later = h('button', { type: 'button', id: 'audit-later' }, t('audit.later'));
  const form = h('form', { class: 'audit-controls', id: 'audit-form' },
    h('label', { for: 'audit-from' }, t('audit.from')), from,
    h('button', { type: 'submit', id: 'audit-show' }, t('audit.show')), earlier, later);
  main.append(h('h2', {}, t('audit.title')), h('p', { class: 'muted' }, t('audit.hint')), form, status, table);
  let stopped = false;
  let last = 0; // the last record number shown

  async function load(start) {
    start = Math.max(1, Math.floor(Number(start)) || 1);
    from.value = String(start);
    status.textContent = t('common.loading');
    try {
      const data = await api.audit(start, pageSize);
      if (stopped) return;
      const recs = data.records || [];
      last = recs.length ? recs[recs.length - 1].seq : start - 1;
      status.textContent = recs.length ? t('audit.shown', { first: recs[0].seq, last }) : t('audit.none');
      later.disabled = recs.length < pageSize;
      earlier.disabled = start <= 1;
      clear(table).append(
        h('thead', {}, h('tr', {}, ['audit.col.seq', 'audit.col.time', 'audit.col.actor', 'audit.col.tenant', 'audit.col.source',
          'audit.col.action', 'audit.col.object', 'audit.col.outcome', 'audit.col.detail'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, recs.map((r) => h('tr', { class: 'audit-row', 'data-seq': String(r.seq), 'data-action': r.action, 'data-outcome': r.outcome },
          h('td', { class: 'num' }, String(r.seq)),
          h('td', {}, r.time ? time(Date.parse(r.time)) : ''),
          h('td', { class: 'mono audit-actor' }, r.actor || ''),
          h('td', { class: 'audit-tenant' }, r.tenant || ''),
          h('td', { class: 'mono' }, r.source || ''),
          h('td', { class: 'mono audit-action' }, r.action || ''),
          h('td', { class: 'mono audit-object' }, r.object || ''),
          h('td', {}, outcomes.has(r.outcome) ? t('audit.outcome.' + r.outcome) : (r.outcome || '')),
          h('td', { class: 'audit-detail' }, (r.detail || '') + (r.count > 1 ? ' ' + t('audit.count', { n: r.count }) : ''))))));
    } catch (e) {
      if (stopped) return;
      if (e instanceof APIError && e.status === 401) return onAuthLost();
      status.textContent = t('error.generic', { msg: e.message });
    }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(from.value); });
  earlier.addEventListener('click', () => load(Number(from.value) - pageSize));
  later.addEventListener('click', () => load(last + 1));
  load(1);
  return { stop() { stopped = true; } };
}
