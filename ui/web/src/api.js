// The UI's own API (/ui/api/...). The session cookie is HttpOnly and sent
// by the browser; the page never sees the token after login.

export class APIError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

async function call(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch { /* empty or not JSON */ }
  if (!resp.ok) throw new APIError(resp.status, (data && data.error) || `HTTP ${resp.status}`, data);
  return data;
}

export const api = {
  login: (token) => call('POST', '/ui/api/login', { token }),
  logout: () => call('POST', '/ui/api/logout'),
  me: () => call('GET', '/ui/api/me'),
  overview: () => call('GET', '/ui/api/overview'),
  station: (station, rangeS) => call('GET', '/ui/api/station?' + new URLSearchParams({ station, range: String(rangeS) })),
  services: (rangeS) => call('GET', '/ui/api/services?' + new URLSearchParams({ range: String(rangeS) })),
  traceServices: () => call('GET', '/ui/api/traces/services'),
  traceSearch: (q) => call('GET', '/ui/api/traces/search?' + new URLSearchParams(q)),
  trace: (id) => call('GET', '/ui/api/traces/trace/' + encodeURIComponent(id)),
  alerts: () => call('GET', '/ui/api/alerts'),
  // A page of the list (highest priority first) and data.total: a flood
  // of thousands is never sent whole every refresh.
  alarms: (activeOnly, limit, station) => call('GET', '/ui/api/alarms?' + new URLSearchParams({
    active: String(!!activeOnly), limit: String(limit), ...(station ? { station } : {}) })),
  alarmKPIs: () => call('GET', '/ui/api/alarm-kpis'),
  alarmJournal: (limit) => call('GET', '/ui/api/alarm-journal?' + new URLSearchParams({ limit: String(limit) })),
  alarmAction: (id, action, body) => call('POST', '/ui/api/alarms/' + encodeURIComponent(id) + '/' + action, body || {}),
  appliance: () => call('GET', '/ui/api/appliance'),
  audit: (from, limit) => call('GET', '/ui/api/audit?' + new URLSearchParams({ from: String(from), limit: String(limit) })),
};
