// Browser test of the operator UI in Debian's Chromium (playwright-core).
// Run by extensions/scadauiextension/browser_test.go, which starts the real binary and passes:
// UI_URL, TOKEN_A/B, TENANT_A/B, STATIONS_A/B (newline separated),
// XSS_STATION, LOST_STATION, ARTIFACTS (screenshot directory), CONTROL_URL
// (stop an RTU, set compressor-7's pressure, read an alarm's Kafka records),
// ALARM_A/ALARM_A_HH/ALARM_B (alarm ids), ACTOR_A (tenant A's token as actor).
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const stationsA = env('STATIONS_A').split('\n');
const stationsB = env('STATIONS_B').split('\n');
const xss = env('XSS_STATION');
const lost = env('LOST_STATION');
const serviceA = env('SERVICE_A');
const serviceB = env('SERVICE_B');
const firingStation = env('FIRING_STATION');
const scriptSpan = env('SCRIPT_SPAN');
const repairedTrace = env('REPAIRED_TRACE');
const originalID = env('ORIGINAL_ID');
const art = env('ARTIFACTS');
const control = env('CONTROL_URL');
const pollMs = Number(env('POLL_INTERVAL_MS'));
const alarmA = env('ALARM_A');
const alarmAHH = env('ALARM_A_HH');
const alarmB = env('ALARM_B');
const actorA = env('ACTOR_A');
const measured = {};
const en = JSON.parse(readFileSync(new URL('../src/i18n/en.json', import.meta.url)));
const zh = JSON.parse(readFileSync(new URL('../src/i18n/zh-CN.json', import.meta.url)));

const problems = [];
// Steps that provoke a refused request set this: Chromium logs every
// non-2xx fetch as a console error ("Failed to load resource").
let expectRefusal = false;
const profile = mkdtempSync(join(tmpdir(), 'scadaui-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
});

function watch(page, name) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expectRefusal && /^Failed to load resource: the server responded with a status of (40[14]|429)/.test(m.text())) return;
    problems.push(`${name}: console error: ${m.text()} at ${m.location().url}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('dialog', async (d) => { problems.push(`${name}: a dialog ran: ${d.type()} ${d.message()}`); await d.dismiss(); });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin && u.protocol !== 'data:') problems.push(`${name}: request to another host: ${r.url()}`);
  });
}

const step = (msg) => console.log('-', msg);

// Texts of the page's visible text nodes (trimmed, non-empty).
const texts = (page) => page.evaluate(() => {
  const out = [];
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = w.nextNode(); n; n = w.nextNode()) {
    const s = n.nodeValue.trim();
    if (s) out.push(s);
  }
  return out;
});

// English messages still on a zh-CN page (messages whose zh text differs).
async function untranslated(page) {
  const ts = new Set(await texts(page));
  const left = [];
  for (const [k, v] of Object.entries(en)) {
    if (zh[k] === v || /\{\w+\}/.test(v)) continue;
    if (ts.has(v)) left.push(`${k}="${v}"`);
  }
  for (const t of ts) if (/^[a-z]+\.[a-zA-Z.]+$/.test(t) && t in en) left.push(`raw key ${t}`);
  return left;
}

async function stationRows(page) {
  await page.waitForSelector('#stations tbody tr.station', { timeout: 15000 });
  return page.$$eval('#stations tbody tr.station', (rows) => rows.map((r) => ({
    name: r.querySelector('.station-link').textContent,
    state: r.getAttribute('data-state'),
  })));
}

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page, 'A');
  await page.goto(url);
  // Start in English whatever the machine's locale.
  await page.click('button[data-lang="en"]');

  step('wrong token is refused');
  await page.fill('#token', 'not-a-valid-token');
  expectRefusal = true;
  await page.click('#login-submit');
  await page.waitForFunction(() => (document.querySelector('#login-error')?.textContent ?? '') !== '');
  expectRefusal = false;
  assert.equal(await page.textContent('#login-error'), en['login.refused']);
  assert.equal((await ctx.cookies()).length, 0, 'no cookie after a refused login');

  step('login with tenant A token');
  await page.fill('#token', env('TOKEN_A'));
  await page.click('#login-submit');
  await page.waitForSelector('#tenant');
  assert.equal(await page.textContent('#tenant'), env('TENANT_A'));
  const cookies = await ctx.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.ok(!cookies[0].value.includes(env('TOKEN_A')), 'the token is not in the cookie');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is not readable by scripts');

  step('overview lists the simulated stations, all up');
  let rows;
  for (let i = 0; i < 40; i++) {
    rows = await stationRows(page);
    if (rows.length === stationsA.length && rows.every((r) => r.state === 'up')) break;
    await page.waitForTimeout(250);
  }
  assert.deepEqual(rows.map((r) => ({ ...r, state: 'up' })), rows, 'every station up before one RTU stops');

  step('stopping one RTU shows its station comm lost within 3 poll intervals');
  // The page notes (in its own clock, the machine's) when the row turns.
  await page.evaluate((name) => {
    window.__lostAt = 0;
    const check = () => {
      for (const tr of document.querySelectorAll('#stations tr.station')) {
        if (tr.querySelector('.station-link').textContent === name && tr.dataset.state === 'comm_lost' && !window.__lostAt) window.__lostAt = Date.now();
      }
    };
    new MutationObserver(check).observe(document.getElementById('view'), { subtree: true, childList: true, attributes: true });
  }, lost);
  const { stopped_ms: stoppedMs } = await (await fetch(control + '/stop-rtu')).json();
  await page.waitForFunction(() => window.__lostAt > 0, null, { timeout: 10000 });
  const shownMs = await page.evaluate(() => window.__lostAt);
  measured.comm_lost_shown_ms = shownMs - stoppedMs;
  console.log(`  comm lost shown ${shownMs - stoppedMs} ms after the RTU stopped (budget ${3 * pollMs} ms = 3 poll intervals of ${pollMs} ms)`);
  assert.ok(shownMs - stoppedMs <= 3 * pollMs, `comm lost shown after ${shownMs - stoppedMs} ms, want <= ${3 * pollMs} ms (3 poll intervals)`);
  rows = await stationRows(page);
  assert.deepEqual(rows.map((r) => r.name).sort(), [...stationsA].sort());
  for (const r of rows) assert.equal(r.state, r.name === lost ? 'comm_lost' : 'up', `state of ${r.name}`);
  assert.equal(rows[0].name, firingStation, 'the station with a firing alert is listed first');
  assert.equal(rows[1].name, lost, 'then the comm-lost station');
  await page.waitForSelector('#firing .alert-item');
  assert.ok((await page.textContent('#firing')).includes(serviceA), 'the firing alert is listed on the overview');
  const pressure = await page.$$eval('#stations tr.station', (trs) => trs.map((tr) => [
    tr.querySelector('.station-link').textContent, tr.querySelector('.pressure .value')?.textContent, tr.querySelector('.pressure .unit')?.textContent]));
  assert.deepEqual(pressure.find((p) => p[0] === 'compressor-7').slice(1), ['123.4', 'bar']);

  step('a station named like HTML is shown as text');
  assert.ok(rows.some((r) => r.name === xss));
  assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0, 'no <img> element was created');
  await page.screenshot({ path: join(art, 'overview-en.png'), fullPage: true });

  step('station view: live chart and valve timeline');
  await page.click('#stations a.station-link >> text=compressor-7');
  await page.waitForSelector('#charts .uplot canvas');
  await page.waitForSelector('#valves .seg.vs-open');
  assert.equal(await page.textContent('#station-name'), 'compressor-7');
  assert.ok((await page.textContent('#charts .u-legend')).includes('discharge'));
  const before = await page.textContent('#station-status');
  await page.waitForFunction((b) => (document.querySelector('#station-status')?.textContent ?? b) !== b, before, { timeout: 5000 });
  await page.click('button[data-range="3600"]');
  await page.waitForSelector('button[data-range="3600"].on');
  await page.waitForSelector('#charts .uplot canvas');
  await page.click('button[data-range="300"]');
  await page.waitForSelector('#charts .uplot canvas');
  await page.screenshot({ path: join(art, 'station-en.png'), fullPage: true });

  step('alarm limits are drawn on the station chart');
  await page.waitForSelector(`#charts .chart-limits .limit-item[data-alarm="${alarmA}"]`, { timeout: 10000 });
  assert.equal(await page.getAttribute(`.limit-item[data-alarm="${alarmA}"]`, 'data-limit'), '150');
  assert.equal(await page.getAttribute(`.limit-item[data-alarm="${alarmAHH}"]`, 'data-limit'), '200');
  assert.ok((await page.textContent(`.limit-item[data-alarm="${alarmA}"]`)).includes('discharge H 150 bar'));

  step('a limit crossing shows in the alarm list; acknowledging gives one more Kafka record');
  const records = async () => (await fetch(control + '/alarm-records?alarm=' + encodeURIComponent(alarmA))).json();
  const waitRecords = async (n) => {
    let rs = [];
    for (let i = 0; i < 60; i++) {
      rs = await records();
      if (rs.length >= n) break;
      await page.waitForTimeout(250);
    }
    await page.waitForTimeout(1000); // and no more come
    return records();
  };
  assert.equal(await page.$(`#alarm-bar tr[data-alarm="${alarmA}"]`), null, 'no alarm before the crossing');
  assert.deepEqual(await records(), [], 'no record before the crossing');
  await fetch(control + '/set-pressure?value=1600'); // 160.0 bar: above H (150), below HH (200)
  const rowA = `#alarm-bar tr[data-alarm="${alarmA}"]`;
  await page.waitForSelector(`${rowA}[data-state="active_unacked"]`, { timeout: 10000 });
  assert.equal(await page.$(`#alarm-bar tr[data-alarm="${alarmAHH}"]`), null, 'HH stays normal');
  assert.equal(await page.getAttribute(`${rowA} .prio`, 'class'), 'prio prio-high');
  assert.equal(await page.textContent(`${rowA} .alarm-state`), en['alarm.state.active_unacked']);
  assert.equal(await page.textContent(`${rowA} .alarm-value`), '160 bar ' + en['alarm.limit'].replace('{limit}', '150 bar'));
  assert.equal(await page.textContent(`${rowA} .alarm-msg`), 'Compressor-7 <i>discharge</i> H: 160 bar (limit 150)', 'the message is text');
  assert.equal(await page.$$eval('#alarm-bar i', (n) => n.length), 0, 'no <i> element from the message');
  assert.ok(/\d/.test(await page.textContent(`${rowA} .alarm-time`)), 'the alarm time is shown');
  let recs = await waitRecords(1);
  assert.deepEqual(recs.map((r) => r.transition), ['raise'], 'one record for the crossing');
  await page.click(`${rowA} button.ack`);
  await page.waitForSelector(`${rowA}[data-state="active_acked"]`, { timeout: 10000 });
  assert.equal(await page.$(`${rowA} button.ack`), null, 'nothing left to acknowledge');
  recs = await waitRecords(2);
  assert.deepEqual(recs.map((r) => [r.transition, r.state, r.seq]), [['raise', 'active_unacked', 1], ['ack', 'active_acked', 2]],
    'acknowledging in the UI gives exactly one more record');
  assert.equal(recs[1].actor, actorA, 'the ack record names who acknowledged');
  await page.screenshot({ path: join(art, 'alarms-bar-en.png'), fullPage: true });

  step('shelving asks duration and reason');
  await page.click(`${rowA} button.shelve`);
  await page.waitForSelector('#shelve-dialog[open]');
  await page.click('#shelve-confirm');
  assert.equal(await page.textContent('#shelve-error'), en['alarm.shelve.needReason']);
  await page.selectOption('#shelve-duration', '30m');
  const shelveReason = '<b>transmitter</b> check';
  await page.fill('#shelve-reason', shelveReason);
  await page.click('#shelve-confirm');
  await page.waitForSelector('#shelve-dialog', { state: 'detached' });
  await page.waitForSelector(`${rowA}[data-state="shelved"] button.unshelve`, { timeout: 10000 });
  recs = await waitRecords(3);
  assert.deepEqual(recs.map((r) => r.transition), ['raise', 'ack', 'shelve']);
  assert.equal(recs[2].reason, shelveReason);

  step('alarms view: every alarm, EEMUA figures and the journal');
  await page.click('a[data-nav="alarms"]');
  await page.waitForSelector('#alarm-journal tr.journal-row');
  const journal = await page.$$eval('#alarm-journal tr.journal-row', (rs) => rs.map((r) => [r.dataset.action, r.dataset.alarm, r.lastElementChild.textContent, r.children[1].textContent]));
  assert.deepEqual(journal, [['shelve', alarmA, shelveReason, actorA], ['ack', alarmA, '', actorA]], 'journal, newest first');
  assert.equal(await page.$$eval('#alarm-journal b', (n) => n.length), 0, 'the reason is text');
  const allA = await page.$$eval('#alarms-all tr.alarm-row', (rs) => rs.map((r) => r.dataset.alarm));
  assert.ok(allA.includes(alarmA) && allA.includes(alarmAHH), `all alarms: ${allA}`);
  assert.ok(!allA.includes(alarmB), "tenant A's view lists tenant B's alarm");
  assert.ok(Number(await page.textContent('#kpi-last10m').then((s) => s.split(' ')[0])) >= 1, 'raises in the last 10 minutes');
  assert.ok((await page.textContent('#kpi-active')).includes(en['alarm.priority.high']));
  await page.screenshot({ path: join(art, 'alarms-en.png'), fullPage: true });

  step('alerts view shows the error burst as firing');
  await page.click('a[data-nav="alerts"]');
  await page.waitForSelector('#alerts tbody tr[data-state="firing"]');
  assert.ok((await page.textContent('#alerts tbody tr[data-state="firing"]')).includes(serviceA));
  await page.screenshot({ path: join(art, 'alerts-en.png'), fullPage: true });

  step('services view: error rate above its threshold line');
  await page.click('a[data-nav="services"]');
  await page.waitForSelector('#services .service-block .uplot canvas');
  const svcs = await page.$$eval('#services .service-block', (bs) => bs.map((b) => [b.querySelector('.service-name').textContent, b.dataset.above]));
  assert.deepEqual(svcs[0], [serviceA, '1'], 'the service above its threshold comes first');
  assert.deepEqual(svcs.slice(1), [['cobol-batch', '0']]);
  await page.screenshot({ path: join(art, 'services-en.png'), fullPage: true });

  step('traces: search repaired only, waterfall marks the repaired hop, script-named span is text');
  await page.click('a[data-nav="traces"]');
  let found = false;
  for (let i = 0; i < 30 && !found; i++) {
    await page.goto(url + '/#/overview');
    await page.goto(url + '/#/traces');
    await page.waitForFunction(() => (document.querySelector('#traces-status')?.textContent ?? '') !== '' && !(document.querySelector('#traces-status')?.textContent ?? '').includes('…'));
    const opts = await page.$$eval('#trace-service option', (os) => os.map((o) => o.value));
    if (opts.includes('cobol-batch')) found = true; else await page.waitForTimeout(1000);
  }
  assert.ok(found, 'cobol-batch never appeared in the trace services');
  await page.selectOption('#trace-service', 'cobol-batch');
  await page.check('#trace-repaired');
  await page.click('#trace-submit');
  await page.waitForSelector('#traces tr.trace-row');
  assert.equal(await page.textContent('#traces tr.trace-row td.mono'), repairedTrace);
  await page.screenshot({ path: join(art, 'traces-en.png'), fullPage: true });
  await page.click('#traces tr.trace-row a.trace-link');
  await page.waitForSelector('#waterfall .span-row');
  assert.equal(await page.$$eval('#waterfall .span-row', (r) => r.length), 3);
  assert.ok((await page.$$eval('#waterfall .span-name', (n) => n.map((x) => x.textContent))).includes(scriptSpan));
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'the script-named span ran');
  assert.ok((await page.textContent('#waterfall .span-row[data-repair="repaired"] .original')).includes(originalID));
  await page.screenshot({ path: join(art, 'trace-en.png'), fullPage: true });

  step("an alert's trace id opens its waterfall");
  await page.click('a[data-nav="alerts"]');
  await page.waitForSelector('#alerts a.alert-trace');
  await page.click('#alerts a.alert-trace');
  await page.waitForSelector('#waterfall .span-row .bar.err', { timeout: 15000 });

  step('the HTML-named station page shows its name as text');
  await page.goto(url + '/#/station/' + encodeURIComponent(xss));
  await page.waitForSelector('#charts .uplot canvas');
  assert.equal(await page.textContent('#station-name'), xss);
  assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0);

  step('appliance view: this pipeline\'s ingest (requests/s, spans/s), repair and dead letter, queues, exports, disk');
  await page.click('a[data-nav="appliance"]');
  await page.waitForFunction(() => {
    const acc = document.querySelector('#tenant-ingest tr[data-signal="traces"] .accepted');
    const items = document.querySelector('#tenant-ingest tr[data-signal="traces"] .items .n');
    const rep = document.querySelector('#repair tr[data-counter="repaired"] .total');
    return acc && acc.textContent !== '—' && Number(acc.textContent) > 0 && items && Number(items.textContent.replace(/[^\d.]/g, '')) > 0 &&
      rep && rep.textContent === '1';
  }, null, { timeout: 15000 });
  // Tenant A sends 20 spans per request: spans/s is above requests/s, in its unit.
  const ingestA = await page.$eval('#tenant-ingest tr[data-signal="traces"]', (r) => ({
    req: Number(r.querySelector('.accepted').textContent.replace(/[^\d.]/g, '')),
    items: Number(r.querySelector('.items .n').textContent.replace(/[^\d.]/g, '')),
    text: r.querySelector('.items').textContent,
  }));
  assert.ok(ingestA.items > ingestA.req, `spans/s ${ingestA.items} not above requests/s ${ingestA.req}`);
  assert.ok(ingestA.text.endsWith(en['appliance.itemsUnit.traces']), `items cell ${ingestA.text}`);
  await page.waitForSelector('#exports tr[data-exporter="otlp_http/jaeger"][data-state="sending"]', { timeout: 10000 });
  await page.waitForSelector('#queues tr[data-queue="otlp_http/jaeger"]');
  assert.ok(await page.$$eval('#receivers tr[data-receiver="otlp (http)"][data-signal="traces"]', (r) => r.length) === 1);
  assert.ok(/\d/.test(await page.textContent('#disk tbody tr .used')), 'disk use of the metrics store shown');
  await page.waitForSelector('#appliance-chart .uplot canvas');
  assert.ok((await page.textContent('#appliance-chart .u-legend')).includes(en['appliance.series.tenant'].replace('{signal}', en['signal.traces'])));
  // Dead letter: this config sends traces without durable_otlp, so none.
  assert.equal(await page.textContent('#dead-letter-title'), en['appliance.deadLetter']);
  assert.equal(await page.textContent('#dead-letter-stored'), en['appliance.deadLetterStored'].replace('{n}', '0'));
  assert.ok(await page.$('#no-dead-letter'), 'no dead-letter row for this pipeline');
  await page.screenshot({ path: join(art, 'appliance-en.png'), fullPage: true });

  step('中文 translates every view and is remembered');
  await page.goto(url + '/#/overview');
  await page.waitForSelector('#stations tbody tr.station');
  await page.click('button[data-lang="zh-CN"]');
  await page.waitForSelector('#stations tbody tr.station');
  await page.waitForTimeout(1200);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  assert.deepEqual(await untranslated(page), [], 'overview has untranslated messages');
  await page.screenshot({ path: join(art, 'overview-zh-CN.png'), fullPage: true });
  await page.click('#stations a.station-link >> text=compressor-7');
  await page.waitForSelector('#valves .seg');
  await page.waitForTimeout(1200);
  assert.deepEqual(await untranslated(page), [], 'station view has untranslated messages');
  await page.screenshot({ path: join(art, 'station-zh-CN.png'), fullPage: true });
  for (const v of ['alarms', 'alerts', 'services', 'appliance', 'traces']) {
    await page.click(`a[data-nav="${v}"]`);
    await page.waitForSelector({ alarms: '#alarm-journal tr.journal-row', alerts: '#alerts tbody tr', services: '#services .service-block', appliance: '#exports tbody tr', traces: '#traces tr.trace-row' }[v]);
    await page.waitForTimeout(500);
    assert.deepEqual(await untranslated(page), [], `${v} view has untranslated messages`);
    if (v === 'appliance') await page.screenshot({ path: join(art, 'appliance-zh-CN.png'), fullPage: true });
    if (v === 'alarms') await page.screenshot({ path: join(art, 'alarms-zh-CN.png'), fullPage: true });
  }
  await page.reload();
  await page.waitForSelector('#trace-search');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN', 'language remembered after reload');

  step('log out: the session is gone');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  expectRefusal = true;
  assert.equal(await page.evaluate(async () => (await fetch('/ui/api/overview')).status), 401);
  expectRefusal = false;
  assert.deepEqual(await untranslated(page), [], 'login page has untranslated messages');

  step('tenant B sees only its own stations');
  await page.fill('#token', env('TOKEN_B'));
  await page.click('#login-submit');
  await page.waitForSelector('#tenant');
  assert.equal(await page.textContent('#tenant'), env('TENANT_B'));
  const rowsB = await stationRows(page);
  assert.deepEqual(rowsB.map((r) => r.name).sort(), [...stationsB].sort());
  const all = (await texts(page)).join('\n');
  for (const s of stationsA) assert.ok(!all.includes(s), `tenant B's page shows tenant A's station ${s}`);
  const probe = await page.evaluate(async (s) => {
    const r = await fetch('/ui/api/station?' + new URLSearchParams({ station: s, range: '300', tenant: 'west-pipeline-01' }),
      { headers: { 'X-SCADA-Tenant-Hint': 'west-pipeline-01' } });
    return { status: r.status, body: await r.json() };
  }, 'compressor-7');
  assert.equal(probe.status, 200);
  assert.deepEqual(probe.body.pressure, [], "tenant B's session gets none of tenant A's points");
  assert.deepEqual(probe.body.valves, []);
  assert.equal(await page.$$eval('#firing .alert-item', (a) => a.length), 0, 'tenant B sees no firing alert of tenant A');
  await page.screenshot({ path: join(art, 'overview-tenant-b.png'), fullPage: true });
  step("tenant B sees none of tenant A's alarms and cannot act on them");
  await page.waitForFunction(() => (document.querySelector('#alarm-bar-status')?.textContent ?? '') !== '');
  assert.equal(await page.textContent('#alarm-count'), '0', "tenant B's alarm list is empty (its alarm is normal)");
  await page.goto(url + '/#/alarms');
  await page.waitForSelector('#alarms-all tr.alarm-row');
  assert.deepEqual(await page.$$eval('#alarms-all tr.alarm-row', (rs) => rs.map((r) => r.dataset.alarm)), [alarmB]);
  assert.equal(await page.$$eval('#alarm-journal tr.journal-row', (r) => r.length), 0, "tenant B's journal shows A's actions");
  const alarmTexts = (await texts(page)).join('\n');
  for (const leak of [alarmA, 'Compressor-7', 'transmitter', actorA]) assert.ok(!alarmTexts.includes(leak), `tenant B's alarms view shows ${leak}`);
  expectRefusal = true;
  const probeAlarm = await page.evaluate(async (ids) => {
    const out = [];
    for (const id of ids) {
      for (const action of ['ack', 'unshelve']) {
        const r = await fetch('/ui/api/alarms/' + encodeURIComponent(id) + '/' + action, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"reason":"probe"}' });
        out.push([r.status, (await r.text()).replaceAll(id, 'ID')]);
      }
    }
    return out;
  }, [alarmA, 'no-such-alarm:H']);
  expectRefusal = false;
  assert.deepEqual(probeAlarm.slice(0, 2), probeAlarm.slice(2), "tenant A's alarm answers like a missing one");
  assert.equal(probeAlarm[0][0], 404);
  recs = await records();
  assert.deepEqual(recs.map((r) => r.transition), ['raise', 'ack', 'shelve'], "tenant B's attempts changed nothing of A's");

  await page.click('a[data-nav="services"]');
  await page.waitForSelector('#services .service-block');
  assert.deepEqual(await page.$$eval('#services .service-name', (n) => n.map((x) => x.textContent)), [serviceB]);
  await page.click('a[data-nav="alerts"]');
  await page.waitForFunction(() => document.querySelector('#alerts thead') || (document.querySelector('.status')?.textContent ?? '') !== '');
  await page.waitForTimeout(500);
  const allB = (await texts(page)).join('\n');
  assert.ok(!allB.includes(serviceA), "tenant B's alerts view shows tenant A's service");
  await page.click('a[data-nav="traces"]');
  await page.waitForFunction(() => (document.querySelector('#traces-status')?.textContent ?? '') !== '' && !(document.querySelector('#traces-status')?.textContent ?? '').includes('…'));
  const optsB = await page.$$eval('#trace-service option', (os) => os.map((o) => o.value));
  assert.ok(!optsB.includes(serviceA) && !optsB.includes('cobol-batch'), `tenant B sees tenant A's trace services: ${optsB}`);
  await page.click('a[data-nav="appliance"]');
  await page.waitForFunction(() => {
    const acc = document.querySelector('#tenant-ingest tr[data-signal="traces"] .accepted');
    const items = document.querySelector('#tenant-ingest tr[data-signal="traces"] .items .n');
    return acc && acc.textContent !== '—' && Number(acc.textContent) > 0 && items && Number(items.textContent.replace(/[^\d.]/g, '')) > 0;
  }, null, { timeout: 15000 });
  // B's own spans go through the repair step too, but only A had a
  // fragment repaired.
  assert.equal(await page.$$eval('#repair tr[data-counter="repaired"]', (r) => r.length), 0, "tenant B sees tenant A's repair counter");
  const applianceB = await page.evaluate(async () => (await fetch('/ui/api/appliance')).text());
  for (const leak of [env('TENANT_A'), 'west']) assert.ok(!applianceB.includes(leak), `tenant B's appliance answer names ${leak}`);
  expectRefusal = true;
  const probeTrace = await page.evaluate(async (id) => (await fetch('/ui/api/traces/trace/' + id)).status, repairedTrace);
  expectRefusal = false;
  assert.equal(probeTrace, 404, "tenant B can open tenant A's trace");

  step('repeated wrong tokens are rate-limited with a translated message');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  expectRefusal = true;
  let limitedText = '';
  for (let i = 0; i < 15 && !limitedText; i++) {
    await page.fill('#token', 'wrong-token-' + i);
    await page.click('#login-submit');
    await page.waitForFunction(() => (document.querySelector('#login-error')?.textContent ?? '') !== '');
    const txt = await page.textContent('#login-error');
    if (txt !== zh['login.refused']) limitedText = txt;
  }
  expectRefusal = false;
  assert.match(limitedText, new RegExp('^' + zh['login.limited'].replace('{s}', '\\d+') + '$'), `rate-limit message: ${limitedText}`);

  assert.deepEqual(problems, [], 'console errors, dialogs or outside requests');
  writeFileSync(join(art, 'measured.json'), JSON.stringify(measured));
  console.log('ok: all browser checks passed');
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
