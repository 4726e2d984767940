/**
 * OIDC login of the console in a real browser: Debian's Chromium (playwright-core, no browser download)
 * clicks "Sign in with Test IdP" on the console's login page, fills the provider's own login and
 * consent forms (oidc-provider 9 on loopback, test/oidc-fixture.ts), comes back through the callback to
 * the console as the bank analyst of its claims, and still gets 404 on another bank's job.
 */
import { existsSync } from 'node:fs';
import { ConsoleOidc } from '@fedscore/node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, startConsoleFixture } from './console-fixture.ts';
import { type OidcIdp, SECRET_ENV, startOidcIdp } from './oidc-fixture.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log('console OIDC browser test skipped: no Chromium at /usr/bin/chromium');
}

describe.skipIf(CHROMIUM === undefined)('console OIDC login in headless Chromium', () => {
  let idp: OidcIdp;
  let fx: ConsoleFixture;
  let browser: Browser;
  beforeAll(async () => {
    idp = await startOidcIdp();
    fx = await startConsoleFixture({
      localAccounts: false,
      oidc: (base) => new ConsoleOidc(idp.config(base), { env: { [SECRET_ENV]: idp.secret } }),
    });
    idp.serve(fx.base);
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
    await idp?.close();
  });

  it('signs a bank analyst in through the provider, scoped to its bank', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // The provider's own pages are not the console's; only console pages must be clean.
      if (m.type() === 'error' && page.url().startsWith(fx.base)) errors.push(m.text());
    });
    try {
      await page.goto(`${fx.base}/console/jobs`);
      expect(page.url()).toBe(`${fx.base}/console/login`);
      expect(await page.locator('input[name="password"]').count()).toBe(0);
      await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
      await page.waitForURL((u) => u.href.startsWith(idp.issuer));
      await page.locator('input[name="login"]').fill('alice');
      await page.locator('input[name="password"]').fill('any password');
      await page.locator('button[type="submit"]').click();
      // The provider's consent form, then back to the console.
      await page.waitForURL((u) => u.href.startsWith(fx.base) || /\/interaction\//.test(u.pathname));
      if (!page.url().startsWith(fx.base)) await page.locator('button[type="submit"]').first().click();
      await page.waitForURL(`${fx.base}/console/`);
      await expect.poll(() => page.textContent('nav')).toContain('oidc:alice (bank-analyst, bank-a)');
      await page.goto(`${fx.base}/console/jobs`);
      expect(await page.textContent('main')).toContain('job-a1');
      expect(await page.textContent('main')).not.toContain('job-b1');
      expect(errors).toEqual([]);
      const other = await page.goto(`${fx.base}/console/jobs/job-b1`);
      expect(other?.status()).toBe(404);
      expect(await page.textContent('main')).toContain('no such job');
    } finally {
      await context.close();
    }
  }, 60_000);
});
