// Station view performance in Debian's Chromium (playwright-core), run by
// extensions/scadauiextension/perf_browser_test.go against the real binary holding 20 pressure
// series of 24 h at 500 ms: time from the click on "24 h" to the charts
// drawn and painted, and long tasks (PerformanceObserver 'longtask', the
// main thread busy > 50 ms) while the view updates live.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const url = env('UI_URL');
const station = env('STATION');
const art = env('ARTIFACTS');
const renderBudget = Number(env('RENDER_BUDGET_MS'));
const longBudget = Number(env('LONG_TASK_BUDGET_MS'));
const problems = [];
const profile = mkdtempSync(join(tmpdir(), 'scadaui-perf-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
});
// Installed before any page script: every long task from the start.
await ctx.addInitScript(() => {
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push({ start: e.startTime, ms: e.duration }); })
    .observe({ type: 'longtask', buffered: true });
});

const renders = (page, range) => page.evaluate((r) => performance.getEntriesByName('scadaui:station-rendered')
  .filter((m) => m.detail.range === r).map((m) => ({ at: m.startTime, ...m.detail })), range);
const longTasks = (page, from) => page.evaluate((f) => window.__long.filter((x) => x.start >= f), from);
const maxMs = (ls) => Math.round(Math.max(0, ...ls.map((x) => x.ms)));
const measured = {};

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url);
  await page.click('button[data-lang="en"]');
  await page.fill('#token', env('TOKEN'));
  await page.click('#login-submit');
  await page.waitForSelector('#tenant');

  console.log('- 5 min view, live every second, 20 series');
  const t5 = await page.evaluate((s) => { const t = performance.now(); location.hash = '#/station/' + encodeURIComponent(s); return t; }, station);
  await page.waitForFunction(() => performance.getEntriesByName('scadaui:station-rendered').some((m) => m.detail.range === 300));
  const first5 = (await renders(page, 300))[0];
  measured.render_5m_ms = Math.round(first5.at - t5);
  assert.equal(first5.series, 20);
  await page.waitForFunction(() => performance.getEntriesByName('scadaui:station-rendered').filter((m) => m.detail.range === 300).length >= 6, null, { timeout: 20000 });
  const live5 = await renders(page, 300);
  const long5 = await longTasks(page, first5.at);
  measured.live_5m_updates = live5.length - 1;
  measured.live_5m_long_tasks = long5.length;
  measured.live_5m_max_long_task_ms = maxMs(long5);
  console.log(`  first render ${measured.render_5m_ms} ms; ${live5.length - 1} live updates: ${long5.length} long tasks, longest ${maxMs(long5)} ms`);

  console.log('- 24 h view: click to charts drawn, then live updates');
  const t0 = await page.evaluate(() => { const t = performance.now(); document.querySelector('button[data-range="86400"]').click(); return t; });
  await page.waitForFunction(() => performance.getEntriesByName('scadaui:station-rendered').some((m) => m.detail.range === 86400), null, { timeout: 10000 });
  const first = (await renders(page, 86400))[0];
  measured.render_24h_ms = Math.round(first.at - t0);
  measured.render_24h_points = first.points;
  const longFirst = await longTasks(page, t0);
  measured.render_24h_long_tasks = longFirst.length;
  measured.render_24h_max_long_task_ms = maxMs(longFirst);
  console.log(`  20 series x ${first.points} points drawn ${measured.render_24h_ms} ms after the click (budget ${renderBudget} ms); long tasks meanwhile: ${longFirst.length}, longest ${maxMs(longFirst)} ms`);
  assert.equal(first.series, 20);
  assert.ok(first.points >= 1440, `24 h at a 60 s step: ${first.points} points`);
  assert.ok(measured.render_24h_ms < renderBudget, `24 h view rendered in ${measured.render_24h_ms} ms, budget ${renderBudget} ms`);
  await page.screenshot({ path: join(art, 'station-24h.png'), fullPage: true });
  // Two live refreshes (every 10 s beyond 1 h).
  await page.waitForFunction(() => performance.getEntriesByName('scadaui:station-rendered').filter((m) => m.detail.range === 86400).length >= 3, null, { timeout: 30000 });
  const long24 = await longTasks(page, first.at);
  measured.live_24h_updates = (await renders(page, 86400)).length - 1;
  measured.live_24h_long_tasks = long24.length;
  measured.live_24h_max_long_task_ms = maxMs(long24);
  console.log(`  ${measured.live_24h_updates} live updates: ${long24.length} long tasks, longest ${maxMs(long24)} ms (budget ${longBudget} ms)`);
  // The responsiveness budget is for live updates; the first
  // render has its own (< 1 s, asserted above) and is only reported.
  for (const [name, ls] of [['5 min live', long5], ['24 h live', long24]]) {
    assert.ok(maxMs(ls) <= longBudget, `${name}: a long task of ${maxMs(ls)} ms, budget ${longBudget} ms`);
  }
  assert.deepEqual(problems, []);
  writeFileSync(join(art, 'perf.json'), JSON.stringify(measured));
  console.log('measured ' + JSON.stringify(measured));
  console.log('ok: station view performance within budget');
} catch (e) {
  console.error('FAIL:', e.message);
  console.error('measured so far ' + JSON.stringify(measured));
  if (problems.length) console.error('also:', problems.join('\n'));
  process.exitCode = 1;
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
