// Browser test of what each role sees (issue 22), in Debian's Chromium
// (playwright-core). Run by extensions/scadauiextension/roles_browser_test.go,
// which starts the real binary and passes: UI_URL, TENANT, ALARM (an alarm
// standing unacknowledged), VIEWER_TOKEN/NAME, OPERATOR_TOKEN/NAME,
// AUDIT_TOKEN/NAME (an administrator with the audit role), SYSTEM_TOKEN (a
// system administrator), CONTROL_URL (/revoke takes the operator's token
// out of the tenants file), ARTIFACTS (screenshot directory).
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const url = env('UI_URL');
const origin = new URL(url).origin;
const alarm = env('ALARM');
const art = env('ARTIFACTS');
const en = JSON.parse(readFileSync(new URL('../src/i18n/en.json', import.meta.url)));
const zh = JSON.parse(readFileSync(new URL('../src/i18n/zh-CN.json', import.meta.url)));

const problems = [];
let expectRefusal = false; // a step provoking a refused request sets this
const profile = mkdtempSync(join(tmpdir(), 'scadaui-roles-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
});
const step = (msg) => console.log('-', msg);

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expectRefusal && /^Failed to load resource: the server responded with a status of 40[13]/.test(m.text())) return;
    problems.push(`console error: ${m.text()} at ${m.location().url}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { problems.push(`a dialog ran: ${d.type()} ${d.message()}`); await d.dismiss(); });
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) problems.push(`request to another host: ${r.url()}`); });
  await page.goto(url);
  await page.click('button[data-lang="en"]');

  async function login(token) {
    await page.waitForSelector('#login-form');
    await page.fill('#token', token);
    await page.click('#login-submit');
    await page.waitForSelector('#who');
  }
  async function logout() {
    await page.click('#logout');
    await page.waitForSelector('#login-form');
  }
  const navs = () => page.$$eval('header nav a', (as) => as.map((a) => a.getAttribute('data-nav')));
  const buttons = (scope) => page.$$eval(scope + ' button.ack, ' + scope + ' button.shelve, ' + scope + ' button.unshelve', (b) => b.length);
  const alarmRow = (scope) => `${scope} tr.alarm-row[data-alarm="${alarm}"]`;

  step('viewer: the header names the token, tenant and role; no action buttons');
  await login(env('VIEWER_TOKEN'));
  assert.equal(await page.textContent('#tenant'), env('TENANT'));
  assert.equal(await page.textContent('#token-name'), env('VIEWER_NAME'));
  assert.equal(await page.textContent('#roles'), '(' + en['role.viewer'] + ')');
  assert.ok(!(await navs()).includes('audit'), 'a viewer has no audit view');
  await page.waitForSelector(alarmRow('#alarm-bar-list'));
  assert.equal(await buttons('#alarm-bar-list'), 0, "a viewer's alarm list shows action buttons");
  assert.ok(!(await page.textContent('#alarm-bar-list')).includes(en['alarm.col.actions']));
  await page.screenshot({ path: join(art, 'roles-viewer-en.png') });
  await page.click('a[data-nav="alarms"]');
  await page.waitForSelector(alarmRow('#alarms-all'));
  assert.equal(await buttons('#alarms-all'), 0, "a viewer's Alarms view shows action buttons");
  // Hidden, and refused all the same.
  expectRefusal = true;
  const probe = await page.evaluate(async (id) => {
    const r = await fetch('/ui/api/alarms/' + encodeURIComponent(id) + '/ack', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    return [r.status, await r.text()];
  }, alarm);
  const audit = await page.evaluate(async () => (await fetch('/ui/api/audit')).status);
  expectRefusal = false;
  assert.equal(probe[0], 403, `a viewer's acknowledge: ${probe}`);
  assert.match(probe[1], /needs operator/);
  assert.ok(audit === 401 || audit === 403, `a viewer reads the audit trail: ${audit}`);
  await page.goto(url + '#/audit');
  await page.waitForSelector('#who');
  assert.equal(await page.$('#audit-records'), null, 'a viewer opened the audit view by its address');
  await logout();

  step('operator: the buttons are there');
  await login(env('OPERATOR_TOKEN'));
  assert.equal(await page.textContent('#token-name'), env('OPERATOR_NAME'));
  assert.equal(await page.textContent('#roles'), '(' + en['role.operator'] + ', ' + en['role.viewer'] + ')');
  await page.waitForSelector(alarmRow('#alarm-bar-list') + ' button.ack');
  assert.ok(await buttons('#alarm-bar-list') >= 2, 'acknowledge and shelve on the alarm list');
  await page.click('a[data-nav="alarms"]');
  await page.waitForSelector(alarmRow('#alarms-all') + ' button.shelve');

  step('zh-CN header');
  await page.click('button[data-lang="zh-CN"]');
  await page.waitForSelector('#who');
  assert.equal(await page.textContent('#roles'), '(' + zh['role.operator'] + ', ' + zh['role.viewer'] + ')');
  assert.ok((await page.textContent('#who')).includes(zh['header.token']));
  await page.click('button[data-lang="en"]');

  step("a revoked token's session goes back to the login form with a message");
  expectRefusal = true;
  const revoked = await fetch(env('CONTROL_URL') + '/revoke');
  assert.equal(revoked.status, 200);
  await page.waitForSelector('#login-form', { timeout: 15000 });
  await page.waitForFunction(() => (document.querySelector('#login-error')?.textContent ?? '') !== '');
  assert.equal(await page.textContent('#login-error'), en['login.expired']);
  assert.equal((await ctx.cookies()).length, 0, 'the session cookie is cleared');
  // The revoked token logs in no more.
  await page.fill('#token', env('OPERATOR_TOKEN'));
  await page.click('#login-submit');
  await page.waitForFunction((m) => document.querySelector('#login-error')?.textContent === m, en['login.refused']);
  expectRefusal = false;

  step('a system administrator has no audit view');
  await login(env('SYSTEM_TOKEN'));
  assert.ok(!(await navs()).includes('audit'));
  assert.equal(await page.textContent('#roles'), '(' + en['role.system'] + ')');
  await page.goto(url + '#/audit');
  await page.waitForSelector('#who');
  assert.equal(await page.$('#audit-records'), null, 'a system administrator opened the audit view');
  expectRefusal = true;
  const sysAudit = await page.evaluate(async () => (await fetch('/ui/api/audit')).status);
  expectRefusal = false;
  assert.equal(sysAudit, 403, 'a system administrator reads the audit trail');
  await logout();

  step('the audit administrator sees the audit view only, records as text');
  await login(env('AUDIT_TOKEN'));
  assert.equal(await page.textContent('#token-name'), env('AUDIT_NAME'));
  assert.equal(await page.textContent('#roles'), '(' + en['role.audit'] + ')');
  assert.equal(await page.$('#tenant'), null, 'an administrator has no tenant');
  assert.deepEqual(await navs(), ['audit']);
  assert.equal(await page.$('#alarm-bar'), null, 'an administrator sees no alarms');
  await page.waitForSelector('#audit-records tr.audit-row');
  const rows = await page.$$eval('#audit-records tr.audit-row', (rs) => rs.map((r) => ({
    action: r.getAttribute('data-action'), actor: r.querySelector('.audit-actor').textContent, outcome: r.getAttribute('data-outcome'),
  })));
  for (const [actor, action] of [[env('VIEWER_NAME'), 'login'], [env('VIEWER_NAME'), 'logout'], [env('OPERATOR_NAME'), 'login'],
    ['admin:' + env('AUDIT_NAME'), 'login'], ['admin:ops-1', 'role_refused']]) {
    assert.ok(rows.some((r) => r.actor === actor && r.action === action), `audit view has no ${action} of ${actor}: ${JSON.stringify(rows)}`);
  }
  await page.click('button[data-lang="zh-CN"]');
  await page.waitForSelector('#audit-records tr.audit-row');
  assert.equal(await page.textContent('#audit-records thead th:nth-child(3)'), zh['audit.col.actor']);
  await page.screenshot({ path: join(art, 'audit-zh-CN.png'), fullPage: true });
  await page.click('button[data-lang="en"]');
  await logout();

  assert.deepEqual(problems, [], 'console errors, dialogs or outside requests');
  console.log('ok: all role checks passed');
} catch (e) {
  console.error('FAIL:', e.message);
  try {
    const p = ctx.pages()[0];
    console.error('page text at failure:\n' + (await p.evaluate(() => document.body.innerText)));
  } catch { /* page gone */ }
  if (problems.length) console.error('also:', problems.join('\n'));
  process.exitCode = 1;
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
