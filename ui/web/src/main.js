// App shell: login, header (who is logged in: tenant, token name and
// roles, or the administrator and its role; language, logout), navigation
// and a hash router (#/overview, #/station/<name>, #/alarms, #/alerts,
// #/audit, ...), and the alarm list above every view. What the token's
// roles may not do is not shown (the APIs refuse it all the same).
import { api, APIError } from './api.js';
import { h, clear } from './dom.js';
import { t, language, languages, setLanguage, onLanguage } from './i18n.js';
import { overviewView } from './views/overview.js';
import { stationView } from './views/station.js';
import { alertsView } from './views/alerts.js';
import { servicesView } from './views/services.js';
import { tracesView, traceView } from './views/traces.js';
import { applianceView } from './views/appliance.js';
import { alarmBar, alarmsView } from './views/alarms.js';
import { auditView } from './views/audit.js';

const root = document.getElementById('app');
let me = null;
let current = null; // the mounted view: { el, stop() }
let bar = null; // the alarm list above every view

function stopView() {
  if (current && current.stop) current.stop();
  current = null;
  if (bar) bar.stop();
  bar = null;
}

function langSwitch() {
  return h('div', { class: 'lang', role: 'group', 'aria-label': t('lang.label') },
    languages.map((l) => h('button', {
      type: 'button', class: l === language() ? 'on' : '', 'data-lang': l,
      onclick: () => setLanguage(l),
    }, t('lang.' + l))));
}

function showLogin(message) {
  stopView();
  me = null;
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error', id: 'login-error', role: 'alert' }, message || '');
  const form = h('form', { class: 'login', id: 'login-form' },
    h('h1', {}, t('app.title')),
    h('label', { for: 'token' }, t('login.token')),
    input,
    h('button', { type: 'submit', id: 'login-submit' }, t('login.submit')),
    err,
    h('p', { class: 'hint' }, t('login.hint')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      await api.login(input.value);
      input.value = '';
      await start();
    } catch (e) {
      if (e instanceof APIError && e.status === 401) err.textContent = t('login.refused');
      else if (e instanceof APIError && e.status === 429) err.textContent = t('login.limited', { s: (e.data && e.data.retry_after_s) || '?' });
      else err.textContent = t('error.generic', { msg: e.message });
    }
  });
  clear(root).appendChild(h('main', { class: 'login-page' }, langSwitch(), form));
  input.focus();
}

const nav = [
  ['overview', 'nav.overview'],
  ['alarms', 'nav.alarms'],
  ['alerts', 'nav.alerts'],
  ['services', 'nav.services'],
  ['traces', 'nav.traces'],
  ['appliance', 'nav.appliance'],
  ['audit', 'nav.audit'],
];

const knownRoles = new Set(['ingest', 'viewer', 'operator', 'tenant-admin', 'system', 'security', 'audit']);
const roleText = (r) => (knownRoles.has(r) ? t('role.' + r) : r);

// allowed: may the logged-in token open view n? An administrator sees the
// views of its role only (audit: the audit trail; system, security: the
// Appliance view); a tenant's token every view that is on but the audit
// trail.
function allowed(n) {
  if (n === 'trace') n = 'traces';
  if (me.administrator) return (n === 'audit' && me.views.audit) || (n === 'appliance' && me.views.appliance);
  if (n === 'audit') return false;
  return !(n in me.views) || me.views[n];
}

// who: the header's account block. The token's name (or, for a token
// without one, how the audit trail names it) and roles are text.
function who() {
  const roles = (me.roles || []).map(roleText).join(', ');
  if (me.administrator) {
    return h('span', { class: 'tenant who', id: 'who' }, t('header.administrator'), ': ',
      h('b', { id: 'token-name' }, me.administrator), ' ', h('span', { class: 'roles', id: 'roles', title: t('header.roles') }, '(' + roles + ')'));
  }
  return h('span', { class: 'tenant who', id: 'who' },
    h('span', { title: t('header.tenant') }, t('header.tenant'), ': ', h('b', { id: 'tenant' }, me.tenant)), ' · ',
    h('span', { title: t('header.token') }, t('header.token'), ': ', h('b', { id: 'token-name' }, me.token || me.actor || '')), ' ',
    h('span', { class: 'roles', id: 'roles', title: t('header.roles') }, '(' + roles + ')'));
}

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  return { name: name || 'overview', arg: rest.length ? decodeURIComponent(rest.join('/')) : '' };
}

function render() {
  if (!me) return;
  stopView();
  const r = route();
  const main = h('main', { id: 'view' });
  const header = h('header', {},
    h('span', { class: 'brand' }, t('app.title')),
    h('nav', {}, nav
      .filter(([n]) => allowed(n))
      .map(([n, key]) => h('a', { href: '#/' + n, class: r.name === n || (n === 'traces' && r.name === 'trace') ? 'on' : '', 'data-nav': n }, t(key)))),
    who(),
    langSwitch(),
    h('button', { type: 'button', id: 'logout', onclick: logout }, t('header.logout')));
  clear(root).append(header);
  const onAuthLost = () => showLogin(t('login.expired'));
  if (me.administrator) {
    root.append(main);
    if ((r.name === 'audit' || !me.views.appliance) && me.views.audit) current = auditView(main, onAuthLost);
    else if (me.views.appliance) current = applianceView(main, onAuthLost);
    else main.append(h('p', { class: 'status', id: 'no-views' }, t('header.noViews')));
    return;
  }
  // Acknowledge, shelve and unshelve need the operator role.
  const can = { act: (me.roles || []).includes('operator') };
  if (me.views.alarms) {
    bar = alarmBar(onAuthLost, can);
    root.append(bar.el);
  }
  root.append(main);
  if (r.name === 'station' && r.arg) current = stationView(main, r.arg, onAuthLost, { alarms: me.views.alarms });
  else if (r.name === 'alarms' && me.views.alarms) current = alarmsView(main, onAuthLost, can);
  else if (r.name === 'alerts' && me.views.alerts) current = alertsView(main, onAuthLost);
  else if (r.name === 'services') current = servicesView(main, onAuthLost);
  else if (r.name === 'traces' && me.views.traces) current = tracesView(main, onAuthLost);
  else if (r.name === 'trace' && r.arg && me.views.traces) current = traceView(main, r.arg, onAuthLost);
  else if (r.name === 'appliance' && me.views.appliance) current = applianceView(main, onAuthLost);
  else current = overviewView(main, onAuthLost);
}

async function logout() {
  try { await api.logout(); } catch { /* the session is gone either way */ }
  // The next person to sign in starts at the overview.
  history.replaceState(null, '', '#/overview');
  showLogin('');
}

async function start() {
  try {
    me = await api.me();
    if (!me.tenant && !me.administrator) return showLogin('');
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return showLogin('');
    return showLogin(t('error.generic', { msg: e.message }));
  }
  render();
}

window.addEventListener('hashchange', render);
onLanguage(() => (me ? render() : showLogin('')));
document.documentElement.lang = language();
start();
