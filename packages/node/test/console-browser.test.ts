/**
 * The console in a real browser: Debian's Chromium (/usr/bin/chromium, installed by .ci/run; never a
 * downloaded browser) driven by playwright-core against the console on loopback. Logs in as each role,
 * opens every page the role has, follows a running job live until it finishes (server-sent events),
 * cancels a running job and retries it with the job page's buttons, checks
 * that no page logs a console error (a Content-Security-Policy violation is one) and that the browser
 * makes no request outside the node, that a logged-out user is sent to the login page, that every form
 * control has a label, and that a bank analyst who types another bank's job URL gets "not found".
 * With FEDSCORE_CONSOLE_SCREENSHOTS=<dir> it saves a screenshot of each page (docs/images/console-*.png).
 * Skips, saying why, where no Chromium is installed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { progressDetail, progressThrottle, validateJobSpec } from '@fedscore/node';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, PASSWORD, startConsoleFixture, USERS } from './console-fixture.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log('console browser test skipped: no Chromium at /usr/bin/chromium (apt-get install -y chromium)');
}
const SHOTS = process.env['FEDSCORE_CONSOLE_SCREENSHOTS'];

describe.skipIf(CHROMIUM === undefined)('console in headless Chromium', () => {
  let fx: ConsoleFixture;
  let browser: Browser;
  beforeAll(async () => {
    fx = await startConsoleFixture({ alerts: true });
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
  });

  async function open(): Promise<{
    page: Page;
    errors: string[];
    external: string[];
    close: () => Promise<void>;
  }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const external: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (new URL(r.url()).origin !== fx.base) external.push(r.url());
    });
    return { page, errors, external, close: () => context.close() };
  }

  async function login(page: Page, username: string): Promise<void> {
    await page.goto(`${fx.base}/console/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${fx.base}/console/`);
  }

  async function unlabelled(page: Page): Promise<string[]> {
    return page.$$eval('input:not([type=hidden]), textarea, select', (els) =>
      els
        .filter((e) => e.id === '' || document.querySelector(`label[for="${e.id}"]`) === null)
        .map((e) => e.outerHTML.slice(0, 80)),
    );
  }

  /**
   * Text whose contrast with its background is below WCAG 2.2's 1.4.3 minimum (4.5:1; 3:1 for large
   * text: >= 24 px, or >= 18.66 px bold). The background is the first opaque one up the tree; the
   * relative luminance and ratio are WCAG's definitions, computed here from the rendered colours.
   */
  async function lowContrast(page: Page): Promise<string[]> {
    return page.evaluate(() => {
      const rgb = (c: string): [number, number, number, number] => {
        const m = c.match(/rgba?\(([^)]+)\)/);
        if (m === null) return [0, 0, 0, 0];
        const v = m[1]!
          .split(/[ ,/]+/)
          .filter((x) => x !== '')
          .map(Number);
        return [v[0]!, v[1]!, v[2]!, v[3] ?? 1];
      };
      const lum = ([r, g, b]: number[]) => {
        const ch = (x: number) => {
          const s = x / 255;
          return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * ch(r!) + 0.7152 * ch(g!) + 0.0722 * ch(b!);
      };
      const background = (e: Element | null): number[] => {
        for (let n = e; n !== null; n = n.parentElement) {
          const c = rgb(getComputedStyle(n).backgroundColor);
          if (c[3] === 1) return c;
        }
        return [255, 255, 255, 1];
      };
      const bad: string[] = [];
      for (const e of document.body.querySelectorAll('*')) {
        const own = [...e.childNodes].some((n) => n.nodeType === 3 && (n.textContent ?? '').trim() !== '');
        if (!own || (e as HTMLElement).offsetParent === null) continue;
        const st = getComputedStyle(e);
        const fg = rgb(st.color);
        const bg = background(e);
        // A translucent colour over its background (WCAG measures what is shown).
        const shown = fg.slice(0, 3).map((x, i) => x * fg[3]! + bg[i]! * (1 - fg[3]!));
        const [hi, lo] = [lum(shown), lum(bg)].sort((a, b) => b - a);
        const ratio = (hi! + 0.05) / (lo! + 0.05);
        const px = Number.parseFloat(st.fontSize);
        const large = px >= 24 || (px >= 18.66 && Number(st.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5))
          bad.push(`${e.tagName} ${ratio.toFixed(2)}: ${e.textContent?.slice(0, 40)}`);
      }
      return bad;
    });
  }

  /** A page wider than the window (a laptop must scroll sideways to read it). */
  async function overflows(page: Page): Promise<boolean> {
    return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  }

  it('sends a logged-out user to the login page', async () => {
    const b = await open();
    for (const path of ['/console/', '/console/jobs/job-a1', '/console/audit']) {
      await b.page.goto(`${fx.base}${path}`);
      expect(b.page.url()).toBe(`${fx.base}/console/login`);
    }
    expect(await b.page.locator('h1').textContent()).toBe('Log in');
    expect(b.errors).toEqual([]);
    expect(b.external).toEqual([]);
    await b.close();
  }, 60_000);

  it('shows the operator every page with no console error and no request outside the node', async () => {
    const b = await open();
    await login(b.page, USERS.operator.username);
    const pages: [string, string][] = [
      ['', 'Overview'],
      ['jobs', 'Jobs'],
      ['jobs/job-a1', 'Job job-a1'],
      ['models', 'Models'],
      ['models/bank-a-credit%401', 'Model bank-a-credit@1'],
      ['models/compare?a=bank-a-credit%401&b=bank-b-credit%401', 'Compare models'],
      ['indicators', 'Indicators'],
      ['samples', 'Samples'],
      ['algorithms', 'Algorithms'],
      ['audit', 'Audit'],
      ['audit/reconcile', 'Reconcile'],
      ['consent', 'Consent'],
      ['usage', 'Usage'],
      ['products', 'Products'],
      ['products?band=A&sort=rate&order=desc', 'Products'],
      ['products/a-working-capital', 'Working capital'],
      ['alerts', 'Alerts'],
    ];
    if (SHOTS !== undefined) mkdirSync(SHOTS, { recursive: true });
    for (const [path, title] of pages) {
      const r = await b.page.goto(`${fx.base}/console/${path}`);
      expect(r?.status(), path).toBe(200);
      expect(await b.page.locator('h1').textContent(), path).toBe(title);
      expect(await unlabelled(b.page), path).toEqual([]);
      expect(await lowContrast(b.page), path).toEqual([]);
      expect(await overflows(b.page), `${path} is wider than a 1280-pixel laptop window`).toBe(false);
      // A model page with held-out curves: every chart drew (the report's script marks it).
      if ((await b.page.locator('#report-data').count()) > 0) {
        await b.page.waitForFunction(() => document.body.dataset['chartsDone'] === 'yes');
        for (const id of ['roc', 'ks', 'calibration', 'lift']) {
          expect(await b.page.locator(`#${id}`).getAttribute('data-drawn'), `${path} ${id}`).toBe('yes');
        }
        expect(await b.page.locator('#report-errors').textContent(), path).toBe('');
        if (SHOTS !== undefined) {
          await b.page.screenshot({ path: join(SHOTS, 'console-models-charts.png'), fullPage: true });
        }
        // The downloaded report draws the same charts on its own (inlined scripts, no network).
        const report = await b.page.request.get(`${fx.base}/console/${path}/report`);
        expect(report.headers()['content-disposition'], path).toContain('attachment');
        const offline = await b.page.context().newPage();
        const offlineErrors: string[] = [];
        offline.on('console', (m) => {
          if (m.type() === 'error') offlineErrors.push(m.text());
        });
        offline.on('request', (r) => {
          if (!r.url().startsWith('data:') && r.url() !== 'about:blank') b.external.push(r.url());
        });
        await offline.setContent(await report.text());
        await offline.waitForFunction(() => document.body.dataset['chartsDone'] === 'yes');
        for (const id of ['roc', 'ks', 'calibration', 'lift']) {
          expect(await offline.locator(`#${id}`).getAttribute('data-drawn'), `report ${id}`).toBe('yes');
        }
        expect(offlineErrors).toEqual([]);
        await offline.close();
      }
      if (SHOTS !== undefined) {
        const name =
          path === ''
            ? 'overview'
            : `${path.split('?')[0]!.replace(/%40/g, '@').replace(/[/@]/g, '-')}${path.startsWith('products?') ? '-filtered' : ''}`;
        await b.page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: false });
      }
    }
    // Keyboard: the first Tab stop is a link of the page, and focus is visible (outline set by the CSS).
    await b.page.keyboard.press('Tab');
    expect(await b.page.evaluate(() => document.activeElement?.tagName)).toBe('A');
    expect(b.errors).toEqual([]);
    expect(b.external).toEqual([]);
    // Log out: the session is gone and pages redirect again.
    await b.page.getByRole('button', { name: 'Log out' }).click();
    await b.page.waitForURL(`${fx.base}/console/login`);
    await b.page.goto(`${fx.base}/console/jobs`);
    expect(b.page.url()).toBe(`${fx.base}/console/login`);
    await b.close();
  }, 120_000);

  it('opens every page of each other role with no console error, readable and keyboard-reachable', async () => {
    const expected: Record<string, string[]> = {
      [USERS.analystA.username]: [
        'jobs',
        'models',
        'indicators',
        'samples',
        'algorithms',
        'audit',
        'consent',
        'usage',
        'products',
        'alerts',
      ],
      [USERS.analystB.username]: [
        'jobs',
        'models',
        'indicators',
        'samples',
        'algorithms',
        'audit',
        'consent',
        'usage',
        'products',
        'alerts',
      ],
      [USERS.auditor.username]: ['algorithms', 'audit', 'consent', 'usage', 'alerts'],
    };
    for (const [username, pages] of Object.entries(expected)) {
      const b = await open();
      await login(b.page, username);
      // The navigation offers exactly the role's pages, and Tab reaches each link, then Log out, in order.
      const links = await b.page.locator('nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(links, username).toEqual(pages.map((p) => `/console/${p}`));
      await b.page.locator('body').focus();
      const order: string[] = [];
      for (let i = 0; i < pages.length + 2; i++) {
        await b.page.keyboard.press('Tab');
        order.push(
          await b.page.evaluate(() => {
            const e = document.activeElement;
            // Focus is visible: the stylesheet's outline on :focus-visible.
            const outline = e === null ? 'none' : getComputedStyle(e).outlineStyle;
            return `${e?.getAttribute('href') ?? e?.textContent}${outline === 'none' ? ' (no outline)' : ''}`;
          }),
        );
      }
      expect(order, username).toEqual(['/console/', ...pages.map((p) => `/console/${p}`), 'Log out']);
      for (const p of pages) {
        const r = await b.page.goto(`${fx.base}/console/${p}`);
        expect(r?.status(), `${username} ${p}`).toBe(200);
        expect(await b.page.locator('h1').textContent(), `${username} ${p}`).toBe(
          p[0]!.toUpperCase() + p.slice(1),
        );
        expect(await unlabelled(b.page), `${username} ${p}`).toEqual([]);
        expect(await lowContrast(b.page), `${username} ${p}`).toEqual([]);
        expect(await overflows(b.page), `${username} ${p}`).toBe(false);
      }
      // A page outside the role: refused, not shown.
      if (username === USERS.auditor.username) {
        for (const p of ['jobs', 'models/bank-a-credit%401', 'indicators', 'samples', 'products']) {
          const r = await b.page.goto(`${fx.base}/console/${p}`);
          expect(r?.status(), `auditor ${p}`).toBe(403);
          expect(await b.page.locator('main').textContent()).not.toContain('bank-a-credit@1');
        }
        expect(b.errors.filter((e) => !e.includes('403'))).toEqual([]);
      } else {
        expect(b.errors, username).toEqual([]);
      }
      expect(b.external, username).toEqual([]);
      await b.close();
    }
    // The checks see a failure: light grey text (#aaa on white, 2.3:1) and a table wider than the window.
    const c = await open();
    await login(c.page, USERS.auditor.username);
    await c.page.goto(`${fx.base}/console/algorithms`);
    await c.page.evaluate(() => {
      (document.querySelector('main p') as HTMLElement).style.color = '#aaa';
    });
    expect((await lowContrast(c.page)).join()).toMatch(/^P 2\.3\d:/);
    await c.page.evaluate(() => {
      (document.querySelector('main table') as HTMLElement).style.minWidth = '1600px';
    });
    expect(await overflows(c.page)).toBe(true);
    await c.close();
  }, 120_000);

  it('submits a job from the form, shows a refused spec with its field, and follows the job to done', async () => {
    const b = await open();
    await login(b.page, USERS.operator.username);
    await b.page.goto(`${fx.base}/console/jobs`);
    const spec = {
      id: 'job-form1',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
    };
    // The form of fields: a value the spec's validation refuses comes back on the Jobs page with the field
    // marked and everything as typed; no job is made.
    await b.page.getByLabel('Kind').selectOption('hetero-lr');
    await b.page.getByLabel(/^Job id/).fill('job-form1');
    await b.page
      .getByRole('group', { name: /^Hosts/ })
      .getByLabel('bank-a')
      .check();
    await b.page.getByLabel(/^Datasets/).fill('government=credit, bank-a=loans');
    await b.page.getByLabel('Encryption scheme').selectOption('paillier');
    await b.page.getByLabel(/^Epochs/).fill('0');
    await b.page.getByRole('button', { name: 'Submit', exact: true }).click();
    expect(await b.page.getByRole('alert').textContent()).toContain('field train.maxEpochs');
    expect(await b.page.getByLabel(/^Epochs/).getAttribute('aria-invalid')).toBe('true');
    expect(await b.page.getByLabel(/^Epochs/).inputValue()).toBe('0');
    expect(await b.page.getByLabel(/^Datasets/).inputValue()).toBe('government=credit, bank-a=loans');
    expect(await b.page.getByLabel('Encryption scheme').inputValue()).toBe('paillier');
    expect(fx.jobs.get('job-form1')).toBeUndefined();
    if (SHOTS !== undefined) {
      await b.page.screenshot({ path: join(SHOTS, 'console-jobs-refused.png'), fullPage: true });
    }
    // The advanced JSON alternative: refused, its text kept and the section left open.
    await b.page.getByText('Advanced: the whole spec as JSON').click();
    await b.page.getByLabel(/Job spec/).fill(JSON.stringify({ ...spec, binning: { bins: 1 } }));
    await b.page.getByRole('button', { name: 'Submit JSON' }).click();
    expect(await b.page.getByRole('alert').textContent()).toContain('field binning.bins');
    expect(await b.page.getByLabel(/Job spec/).inputValue()).toContain('"bins":1');
    expect(fx.jobs.get('job-form1')).toBeUndefined();
    // Corrected in the form (still filled in): submitted, the job page opens.
    await b.page.goto(`${fx.base}/console/jobs`);
    await b.page.getByLabel(/^Job id/).fill('job-form1');
    await b.page
      .getByRole('group', { name: /^Hosts/ })
      .getByLabel('bank-a')
      .check();
    await b.page.getByLabel(/^Datasets/).fill('government=credit, bank-a=loans');
    await b.page.getByLabel(/^Epochs/).fill('5');
    // Fields once only in the JSON: a second host box, the guest's other dataset, bins, the CKKS preset and
    // the consent purpose, picked by keyboard and mouse like a user.
    await b.page
      .getByRole('group', { name: /^Hosts/ })
      .getByLabel('bank-b')
      .check();
    await b.page.getByLabel(/^Datasets/).fill('bank-a=loans, bank-b=loans');
    await b.page.getByLabel(/^Dataset of government/).selectOption('credit-history');
    await b.page.getByLabel(/^Bins per feature/).fill('8');
    await b.page.getByLabel('CKKS parameters').selectOption('ckks-8192');
    await b.page.getByLabel('Consent purpose').selectOption('scoring');
    await b.page.getByRole('button', { name: 'Submit', exact: true }).click();
    await b.page.waitForURL(`${fx.base}/console/jobs/job-form1`);
    expect(await b.page.locator('#job-status').textContent()).toBe('submitted');
    const picked = fx.jobs.require('job-form1').spec;
    expect(picked.hosts).toEqual(['bank-a', 'bank-b']);
    expect(picked.data).toEqual({ government: 'credit-history', 'bank-a': 'loans', 'bank-b': 'loans' });
    expect(picked.binning.bins).toBe(8);
    expect(picked.train.ckksPreset).toBe('ckks-8192');
    expect(picked.consent.purpose).toBe('scoring');
    expect(fx.jobs.require('job-form1').spec.train.maxEpochs).toBe(5);
    // The fixture has no runner: the test moves the job along as the node's runner would, and the open
    // page follows it over server-sent events, then shows the finished job.
    fx.jobs.setAttempt('job-form1', 'psi', 1);
    await b.page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'running');
    // At the end the page's script reloads the page: wait for that load, or the next goto races it.
    const reloaded = b.page.waitForEvent('load');
    fx.jobs.finish('job-form1');
    await b.page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'done');
    await reloaded;
    await b.page.goto(`${fx.base}/console/jobs`);
    expect(await b.page.locator('main').textContent()).toContain('job-form1');
    expect(b.errors.filter((e) => !e.includes('400'))).toEqual([]);
    expect(b.external).toEqual([]);
    await b.close();
  }, 60_000);

  it('follows a running job live until it is done (server-sent events)', async () => {
    const spec = validateJobSpec({
      id: 'job-a2',
      guest: 'bank-a',
      hosts: ['government'],
      data: { 'bank-a': 'bank-a-loans', government: 'credit' },
    });
    fx.jobs.put({ ...spec, id: 'job-a2' }, 'bank-a');
    fx.jobs.setAttempt('job-a2', 'psi', 1);
    const b = await open();
    await login(b.page, USERS.analystA.username);
    await b.page.goto(`${fx.base}/console/jobs/job-a2`);
    expect(await b.page.locator('#job-status').textContent()).toBe('running');
    fx.jobs.setAttempt('job-a2', 'binning', 2);
    await b.page.waitForFunction(
      () => document.getElementById('job-stage')?.textContent === 'binning (attempt 2)',
    );
    // The Stages table follows without a reload: psi done, binning running, the later stages waiting.
    const stages = await b.page
      .locator('table', { has: b.page.locator('caption', { hasText: /^Stages$/ }) })
      .locator('tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent).join(' ')),
      );
    expect(stages).toEqual([
      'psi done',
      'binning running',
      'train waiting',
      'evaluate waiting',
      'publish waiting',
    ]);
    // Progress within a stage: the labelled bar follows the epoch counter the runner records.
    const bar = b.page.getByRole('progressbar', { name: 'Stage progress' });
    expect(await bar.count()).toBe(1);
    expect(await b.page.locator('#job-progress-text').textContent()).toBe('not reported yet');
    fx.jobs.setAttempt('job-a2', 'train', 2);
    const record = progressThrottle((p) =>
      fx.jobs.event('job-a2', 'progress', 'train', 2, progressDetail(p)),
    );
    record({ stage: 'hetero-lr epoch', done: 1, total: 3, unit: 'epoch' });
    await b.page.waitForFunction(
      () => document.getElementById('job-progress-text')?.textContent === 'epoch 1 of 3',
    );
    record({ stage: 'hetero-lr epoch', done: 2, total: 3, unit: 'epoch' });
    await b.page.waitForFunction(
      () => document.getElementById('job-progress-text')?.textContent === 'epoch 2 of 3',
    );
    expect(
      await bar.evaluate((e) => [(e as HTMLProgressElement).value, (e as HTMLProgressElement).max]),
    ).toEqual([2, 3]);
    fx.jobs.finish('job-a2');
    await b.page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'done');
    expect(b.errors).toEqual([]);
    expect(b.external).toEqual([]);
    await b.close();
  }, 60_000);

  it('cancels a running job and retries it with the buttons of its page', async () => {
    // A job this (government) node coordinates; the fixture has no runner, so the test plays its part.
    const spec = validateJobSpec({
      id: 'job-g1',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
    });
    fx.jobs.put({ ...spec, id: 'job-g1' }, 'government');
    fx.jobs.setAttempt('job-g1', 'train', 0);
    const b = await open();
    await login(b.page, USERS.operator.username);
    await b.page.goto(`${fx.base}/console/jobs/job-g1`);
    await b.page.getByRole('button', { name: 'Cancel job job-g1' }).click();
    await b.page.waitForURL(`${fx.base}/console/jobs/job-g1`);
    expect(await b.page.locator('.actions').textContent()).toBe('cancelling');
    expect(fx.jobs.require('job-g1').cancelRequestedBy).toBe('console:olga');
    // The runner cancels it: the live page reloads with the job cancelled and a Retry button.
    fx.jobs.markCancelled('job-g1');
    await b.page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'cancelled');
    await b.page.getByRole('button', { name: 'Retry job job-g1' }).waitFor();
    if (SHOTS !== undefined) {
      await b.page.screenshot({ path: join(SHOTS, 'console-jobs-job-cancelled.png'), fullPage: false });
    }
    await b.page.getByRole('button', { name: 'Retry job job-g1' }).click();
    await b.page.waitForURL(`${fx.base}/console/jobs/job-g1`);
    expect(await b.page.locator('#job-status').textContent()).toBe('running');
    expect(fx.jobs.require('job-g1').status).toBe('running');
    expect(
      [...fx.audit.entries({ job: 'job-g1', kind: 'job_change' })].map((e) => [
        e.details?.['action'],
        e.details?.['by'],
      ]),
    ).toEqual([
      ['cancel', 'console:olga'],
      ['retry', 'console:olga'],
    ]);
    expect(b.errors).toEqual([]);
    expect(b.external).toEqual([]);
    await b.close();
  }, 60_000);

  it("shows a bank analyst its own bank only, and 'not found' for another bank's job by URL", async () => {
    const b = await open();
    await login(b.page, USERS.analystB.username);
    await b.page.goto(`${fx.base}/console/jobs`);
    const text = await b.page.locator('main').textContent();
    expect(text).toContain('job-b1');
    expect(text).not.toContain('job-a1');
    const r = await b.page.goto(`${fx.base}/console/jobs/job-a1`);
    expect(r?.status()).toBe(404);
    expect(await b.page.locator('h1').textContent()).toBe('Not found');
    // Models: bank-a's model is neither listed nor opened by URL (nor compared with its own).
    await b.page.goto(`${fx.base}/console/models`);
    const models = await b.page.locator('main').textContent();
    expect(models).toContain('bank-b-credit@1');
    expect(models).not.toContain('bank-a-credit');
    for (const path of [
      'models/bank-a-credit%401',
      'models/bank-a-credit%401/report',
      'models/compare?a=bank-b-credit%401&b=bank-a-credit%401',
    ]) {
      const m = await b.page.goto(`${fx.base}/console/${path}`);
      expect(m?.status(), path).toBe(404);
      expect(await b.page.locator('h1').textContent(), path).toBe('Not found');
      expect(await b.page.locator('main').textContent(), path).not.toContain('0.74');
    }
    // Products: bank-a's product shows its matched count, no enterprise and no edit form
    await b.page.goto(`${fx.base}/console/products/a-working-capital`);
    expect(await b.page.locator('#matched').textContent()).toBe('3');
    expect(await b.page.getByRole('button', { name: 'Save product' }).count()).toBe(0);
    // its own bank's product: a labelled edit form, saved through the UI
    await b.page.goto(`${fx.base}/console/products/b-tax-credit`);
    await b.page.getByLabel('Rate (basis points a year)').fill('395');
    await b.page.getByRole('button', { name: 'Save product' }).click();
    await b.page.waitForURL(`${fx.base}/console/products/b-tax-credit`);
    expect(await b.page.locator('main').textContent()).toContain('3.95% a year');
    // (the 404 of job-a1 above is the only console message)
    expect(b.errors.filter((e) => !e.includes('404'))).toEqual([]);
    await b.close();
  }, 60_000);

  it("shows a bank analyst its own alerts, filtered and acknowledged by keyboard; another bank's is 404", async () => {
    const b = await open();
    await login(b.page, USERS.analystA.username);
    await b.page.getByRole('link', { name: 'Alerts' }).click();
    await b.page.waitForURL(`${fx.base}/console/alerts`);
    expect(await b.page.locator('h1').textContent()).toBe('Alerts');
    expect(await unlabelled(b.page)).toEqual([]);
    const rows = () =>
      b.page
        .locator('table', { has: b.page.locator('caption', { hasText: /^Alerts \(/ }) })
        .locator('tbody tr');
    expect(await rows().count()).toBe(3);
    expect(await b.page.locator('main').textContent()).toContain(fx.alerted[0]);
    if (SHOTS !== undefined) {
      await b.page.screenshot({ path: join(SHOTS, 'console-alerts-analyst.png'), fullPage: false });
    }
    // Filter by severity with the keyboard: the labelled select, then Enter on the button.
    await b.page.getByLabel('Severity').selectOption('high');
    await b.page.getByRole('button', { name: 'Filter' }).press('Enter');
    await b.page.waitForURL(/severity=high/);
    expect(await rows().count()).toBe(1);
    // Acknowledge alert 3 with the keyboard (the form posts its CSRF token).
    await b.page.getByRole('button', { name: 'Acknowledge alert 3 from government' }).focus();
    await b.page.keyboard.press('Enter');
    await b.page.waitForURL(`${fx.base}/console/alerts/government/3`);
    expect(await b.page.locator('#alert').getAttribute('data-acknowledged')).toBe('true');
    expect(await b.page.locator('#ack').textContent()).toContain('acknowledged by anna');
    expect(fx.alerts.get('government', 3)?.acknowledged?.by).toBe('anna');
    expect(b.errors).toEqual([]);
    expect(b.external).toEqual([]);
    await b.close();
    // bank-b's analyst: no borrower of bank-a on the page, and the guessed URL is "not found".
    const c = await open();
    await login(c.page, USERS.analystB.username);
    await c.page.goto(`${fx.base}/console/alerts`);
    const text = await c.page.locator('main').textContent();
    for (const id of fx.alerted) expect(text).not.toContain(id);
    const r = await c.page.goto(`${fx.base}/console/alerts/government/3`);
    expect(r?.status()).toBe(404);
    expect(await c.page.locator('h1').textContent()).toBe('Not found');
    await c.close();
  }, 60_000);

  it('shows the auditor a tampered audit log as broken', async () => {
    const b = await open();
    await login(b.page, USERS.auditor.username);
    await b.page.goto(`${fx.base}/console/audit`);
    expect(await b.page.locator('#chain').getAttribute('data-ok')).toBe('true');
    fx.store.exec('DROP TRIGGER audit_log_no_update');
    fx.store.run("UPDATE audit_log SET purpose = 'marketing' WHERE seq = 1");
    await b.page.reload();
    expect(await b.page.locator('#chain').getAttribute('data-ok')).toBe('false');
    expect(await b.page.getByRole('alert').textContent()).toContain('broken at entry 1');
    expect(b.errors).toEqual([]);
    await b.close();
  }, 60_000);
});
