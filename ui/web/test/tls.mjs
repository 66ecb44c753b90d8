// Browser test of the UI over TLS (issue 22) in Debian's Chromium
// (playwright-core). Run by collector/tls_e2e_test.go (TestTLSOnEveryListener),
// which starts the real binary with the certificate `scadaotel certs init`
// made and runs this script twice, each time with HOME pointing at an NSS
// database (HOME/.pki/nssdb, where Chromium on Linux reads the authorities a
// user added):
//   EXPECT=trusted    the database trusts the CA (certutil -A -t C,,): the
//                     page opens by the certificate's host name, a tenant
//                     token logs in, the header names the tenant and token,
//                     the UI's API answers through the page, the session
//                     cookie is Secure. Plain http:// gets no UI before,
//                     and is taken to https:// after (HSTS).
//   EXPECT=untrusted  an empty database: the navigation fails with
//                     net::ERR_CERT_AUTHORITY_INVALID and nothing is shown.
// Further variables: UI_URL (https://HOST:PORT/), RESOLVE_TO (the address
// HOST resolves to in the browser, e.g. 127.0.0.1), TOKEN, TENANT, ACTOR
// (what the header shows for the token), CA_NAME (the CA's common name),
// ARTIFACTS (screenshot directory).
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const url = env('UI_URL');
const { hostname, origin } = new URL(url);
const expect = env('EXPECT');
assert.ok(expect === 'trusted' || expect === 'untrusted', `EXPECT=${expect}`);
const nssdb = join(env('HOME'), '.pki', 'nssdb');
assert.ok(existsSync(join(nssdb, 'cert9.db')), `no NSS database at ${nssdb}`);

const step = (msg) => console.log('-', msg);
const problems = [];
const profile = mkdtempSync(join(tmpdir(), 'scadaui-tls-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  // No --ignore-certificate-errors: the certificate is checked as for a
  // user. The host name resolves to the appliance on loopback.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP ${hostname} ${env('RESOLVE_TO')}`],
  viewport: { width: 1280, height: 860 },
});

try {
  const page = ctx.pages()[0] || await ctx.newPage();
  if (expect === 'untrusted') {
    step(`open ${url} with an empty NSS database: refused as an unknown authority`);
    let err = null;
    try {
      await page.goto(url, { timeout: 20000 });
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${url} opened although the CA is not trusted`);
    assert.match(err.message, /net::ERR_CERT_AUTHORITY_INVALID/, `navigation error: ${err.message}`);
    console.log('  navigation failed:', err.message.split('\n')[0]);
    // Chromium's error page takes the navigation's place (waitForSelector
    // survives that navigation, a plain page.$ may not): no login form, and
    // no cookie was ever set.
    await page.waitForSelector('#login-form', { state: 'detached', timeout: 5000 });
    assert.deepEqual(await ctx.cookies(), [], 'a cookie was set behind an untrusted certificate');
  } else {
    const plain = url.replace(/^https:/, 'http:');
    step(`plain ${plain} (before any https visit): no UI`);
    // In a page of its own: a failed navigation's error page must not
    // interrupt the next one.
    const first = await ctx.newPage();
    let shown = false;
    try {
      const r = await first.goto(plain, { timeout: 10000 });
      console.log(`  HTTP ${r.status()}: ${(await first.textContent('body')).trim().slice(0, 80)}`);
      shown = r.status() === 200 || (await first.$('#login-form')) !== null;
    } catch (e) {
      console.log(`  ${e.message.split('\n')[0]}`);
    }
    await first.close();
    assert.equal(shown, false, `${plain} showed the UI`);

    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()} at ${m.location().url}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // The one request elsewhere is the deliberate http:// navigation below.
    page.on('request', (r) => { if (new URL(r.url()).origin !== origin && r.url() !== plain) problems.push(`request to another origin: ${r.url()}`); });

    step(`open ${url} trusting the CA in the NSS database`);
    const resp = await page.goto(url, { timeout: 20000 });
    assert.equal(resp.status(), 200, `${url}: HTTP ${resp.status()}`);
    const sec = await resp.securityDetails();
    assert.ok(sec, 'no TLS details for the page');
    console.log(`  ${sec.protocol}, certificate ${sec.subjectName} issued by ${sec.issuer}`);
    assert.equal(sec.issuer, env('CA_NAME'));
    assert.equal(await page.evaluate(() => window.isSecureContext), true, 'the page is not a secure context');

    step('log in with the tenant token: the header names the tenant and the token');
    await page.click('button[data-lang="en"]');
    await page.waitForSelector('#login-form');
    await page.fill('#token', env('TOKEN'));
    await page.click('#login-submit');
    await page.waitForSelector('#who', { timeout: 15000 });
    assert.equal(await page.textContent('#tenant'), env('TENANT'));
    assert.equal(await page.textContent('#token-name'), env('ACTOR'));

    step('the UI API answers through the page (its own calls to the trace and alert APIs over TLS too)');
    const api = await page.evaluate(async () => {
      const out = {};
      for (const p of ['/ui/api/me', '/ui/api/alerts', '/ui/api/traces/services']) {
        const r = await fetch(p);
        out[p] = [r.status, r.status === 200 ? await r.json() : await r.text()];
      }
      return out;
    });
    for (const [p, [status, body]] of Object.entries(api)) assert.equal(status, 200, `${p}: ${status} ${JSON.stringify(body)}`);
    assert.equal(api['/ui/api/me'][1].tenant, env('TENANT'));
    const cookies = await ctx.cookies(origin);
    assert.ok(cookies.length > 0, 'no session cookie');
    for (const c of cookies) assert.equal(c.secure, true, `cookie ${c.name} is not Secure`);
    await page.screenshot({ path: join(env('ARTIFACTS'), 'tls-logged-in.png') });

    step('plain http:// again: the browser goes to https:// by itself (Strict-Transport-Security)');
    await page.goto(plain, { timeout: 10000 });
    assert.equal(new URL(page.url()).protocol, 'https:', `after HSTS, ${plain} stayed at ${page.url()}`);
    await page.waitForSelector('#who', { timeout: 15000 });
    assert.deepEqual(problems, [], 'problems in the page');
  }
  console.log('ok');
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
