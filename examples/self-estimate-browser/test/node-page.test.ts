/**
 * The enterprise's page served by the bank's node (/estimate/, packages/node/src/console/self-estimate.ts)
 * in Debian's Chromium (playwright-core, no browser download) on a phone-sized viewport, under Chromium's
 * network emulation (CDP Network.emulateNetworkConditions): 20 ms latency, 10 Mbit/s down, 4 Mbit/s up (a
 * throttled 4G profile; CPU not throttled). The page fetches the form, encrypts the example figures with
 * its own key, posts them and decrypts the answer, which must equal the plaintext scorecard and rules
 * computed here (band and line exact). Measured from the browser's own network log: the bytes of one
 * estimate (form + run: bodies and headers) must be <= 1 MiB and the estimate (submit to result, on the
 * page's clock) <= 2 s, the first one included; the page and node-seal's WASM (compiled while the user
 * types, before the first submit) are reported beside it. No console error (a CSP
 * violation is one), no request to another origin. Skips where no Chromium is installed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSelfEstimatePageHandler, ESTIMATE_CONTENT_SECURITY_POLICY } from '@fedscore/node';
import { buildSelfEstimateCompactModel, decideCredit, scoreApplicant } from '@fedscore/scoring';
import { type Browser, chromium, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELDS, RULES, SCORECARD } from '../src/product.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) console.log('self-estimate page test skipped: no Chromium at /usr/bin/chromium');

const root = join(import.meta.dirname, '..');
/** The stated 4G profile (bytes per second). */
const PROFILE = { offline: false, latency: 20, downloadThroughput: 10e6 / 8, uploadThroughput: 4e6 / 8 };

describe.skipIf(CHROMIUM === undefined)('the bank node serves the self-estimate page', () => {
  let server: Server;
  let base: string;
  let browser: Browser;
  beforeAll(async () => {
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', 'build.ts'],
        { cwd: root, timeout: 120_000 },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    const handler = createSelfEstimatePageHandler({
      model: buildSelfEstimateCompactModel(SCORECARD, RULES, {
        product: 'demo credit line',
        revealScore: true,
      }),
      assetsDir: join(root, 'dist'),
      perMinute: 20,
    });
    server = createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
      ],
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('estimates on a throttled 4G profile within 1 MiB and 2 s, equal to the plaintext decision', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', PROFILE);
    const errors: string[] = [];
    const foreign: string[] = [];
    const finished: Request[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    page.on('requestfinished', (r) => finished.push(r));
    const query = new URLSearchParams(FIELDS.map((f) => [f.name, String(f.example)]));
    const t0 = Date.now();
    const response = await page.goto(`${base}/estimate/?${query}`);
    expect(response?.headers()['content-security-policy']).toBe(ESTIMATE_CONTENT_SECURITY_POLICY);
    // ready: the form is shown and node-seal's WASM compiled (the page loads it while the user types)
    await page.locator('#figures[data-ready]').waitFor();
    const loadMs = Date.now() - t0;
    // every field has a label the browser associates with it
    for (const f of FIELDS)
      await expect(page.getByLabel(f.name.replace(/_/g, ' '), { exact: false }).count()).resolves.toBe(1);
    const inputs = Object.fromEntries(FIELDS.map((f) => [f.name, f.example]));
    const score = scoreApplicant(SCORECARD, inputs);
    const decision = decideCredit(RULES, score, inputs);
    const rounds: { ms: number; bytes: number }[] = [];
    for (let round = 0; round < 2; round++) {
      finished.length = 0;
      await page.keyboard.press('Tab'); // keyboard: the button is reachable and submits
      await page.getByRole('button', { name: 'Estimate my line' }).click();
      const result = page.locator('#result[data-done]');
      await result.waitFor({ timeout: 60_000 });
      expect(await result.getAttribute('data-done')).toBe('1');
      expect(await result.getAttribute('data-band')).toBe(decision.band ?? '');
      expect(await result.getAttribute('data-line')).toBe(String(decision.line));
      let bytes = 0;
      for (const r of finished) {
        const path = new URL(r.url()).pathname;
        if (path !== '/estimate/form' && path !== '/estimate/run') continue;
        const s = await r.sizes();
        bytes += s.requestBodySize + s.requestHeadersSize + s.responseBodySize + s.responseHeadersSize;
      }
      rounds.push({ ms: Number(await result.getAttribute('data-ms')), bytes });
      if (round === 0 && process.env['FEDSCORE_CONSOLE_SCREENSHOTS']) {
        const dir = join(process.cwd(), process.env['FEDSCORE_CONSOLE_SCREENSHOTS']);
        mkdirSync(dir, { recursive: true });
        await page.screenshot({ path: join(dir, 'estimate-page.png'), fullPage: true });
      }
    }
    console.log(
      `self-estimate page on 4G (20 ms, 10/4 Mbit/s): page + WASM ready (gzip) in ${loadMs} ms; ` +
        rounds
          .map(
            (r, i) =>
              `estimate ${i + 1}: ${r.ms} ms, ${r.bytes} bytes (${(r.bytes / 2 ** 20).toFixed(3)} MiB)`,
          )
          .join('; '),
    );
    for (const r of rounds) {
      expect(r.bytes).toBeGreaterThan(100_000);
      expect(r.bytes).toBeLessThanOrEqual(1024 * 1024);
      expect(r.ms).toBeLessThanOrEqual(2000);
    }
    expect(errors, errors.join('\n')).toEqual([]);
    expect(foreign).toEqual([]);
    await context.close();
  }, 180_000);
});
