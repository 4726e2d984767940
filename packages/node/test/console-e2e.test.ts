/**
 * The console end to end with real party nodes (docs/console.md, Tests): a bank node with the console on
 * (the job's guest, so its coordinator) and a government node, in this process over gRPC + mutual TLS on
 * loopback, with a small generated population. In headless Chromium (Debian's, through playwright-core)
 * a bank analyst logs in, submits a hetero-LR job through the Jobs page's form of fields (plaintext
 * scheme 'none' with the form's opt-in box, which both nodes' `accept` allows, to keep it fast), and watches the job page follow the nodes' runners
 * over server-sent events without a reload: the stage moves from PSI to publish and the labelled
 * progress bar counts training epochs; at `done` the page links the registered model, which opens with
 * its metrics and its four held-out charts drawn.
 *
 * Pacing: an epoch of this job takes milliseconds, well under the console's 1-second live tick, so the
 * bank's progress callback holds the process for a little over a tick at each epoch report (after
 * which the runner records that epoch) — the stream then has a tick in which to carry each epoch.
 * Skips, saying why, where no Chromium is installed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProgressCallback } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import { ConsoleAccounts, type EvaluateCheckpoint, type PartyNode } from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, trainingConsents } from '@fedscore/node/testing';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportChartAssets } from './console-fixture.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log('console e2e test skipped: no Chromium at /usr/bin/chromium (apt-get install -y chromium)');
}

const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];
const PASSWORD = 'correct horse battery staple';
const EPOCHS = 3;

describe.skipIf(CHROMIUM === undefined)('console end to end with real party nodes', () => {
  let cluster: NodeCluster<Party>;
  let nodes: Record<Party, PartyNode>;
  let browser: Browser;

  beforeAll(async () => {
    let files = { bank: '', government: '' };
    cluster = await NodeCluster.create({
      parties: PARTIES,
      http: true,
      config: (p): NodeConfigOverrides => ({
        data:
          p === 'bank'
            ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
            : { credit: { path: files.government, id: ID_COLUMN } },
        accept: { plaintextScheme: true },
        ...(p === 'bank' && { console: { enabled: true } }),
      }),
    });
    // 600 customers: a held-out fifth of >= 100 rows, two groups of the release floor, so curves exist.
    const w = await writePopulation(
      { enterprises: 800, bankCustomers: 600, seed: 17 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
    // Pacing (file comment): hold a little over one live tick at each training epoch's report.
    const pace: ProgressCallback = (p) => {
      if (p.unit === 'epoch') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_200);
    };
    nodes = await cluster.startAll({}, { bank: { progress: pace, consoleCharts: reportChartAssets() } });
    const t = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
    nodes.government.consents.grantAll(trainingConsents(t.ids, 'bank'));
    await new ConsoleAccounts(nodes.bank.store, { cost: { logN: 10, r: 8, p: 1 } }).create({
      username: 'anna',
      role: 'bank-analyst',
      bank: 'bank',
      password: PASSWORD,
    });
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
    await cluster?.close();
  });

  it('logs in, submits a job on the Jobs page, watches it run live to done, and opens its model', async () => {
    const base = `http://127.0.0.1:${cluster.httpPorts.bank}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const external: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) external.push(r.url());
    });
    // What the job page shows as it changes (survives the reload at the end).
    const seen: { stage: string; progress: string; status: string; loads: number }[] = [];
    await page.exposeFunction('recordJobView', (v: (typeof seen)[number]) => seen.push(v));

    await page.goto(`${base}/console/login`);
    await page.getByLabel('Username').fill('anna');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/console/`);

    await page.goto(`${base}/console/jobs`);
    // The form of fields, as a user fills it: hetero-LR, the plaintext scheme with its opt-in box (both
    // nodes' accept allows it), no binning, EPOCHS epochs; the rest the job's defaults.
    await page.getByLabel('Kind').selectOption('hetero-lr');
    await page.getByLabel(/^Job id/).fill('e2e-1');
    // The host is a box of the bank node's peers, the bank's dataset a choice of its own.
    await page
      .getByRole('group', { name: /^Hosts/ })
      .getByLabel('government')
      .check();
    await page.getByLabel(/^Dataset of bank/).selectOption('loans');
    await page.getByLabel(/^Datasets/).fill('government=credit');
    await page.getByLabel('Encryption scheme').selectOption('none');
    await page.getByLabel(/Allow scheme none/).check();
    await page.getByLabel(/^Epochs/).fill(String(EPOCHS));
    await page.getByLabel(/WOE binning/).uncheck();
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(`${base}/console/jobs/e2e-1`);
    // Record every change of the job's facts from now on, with how many page loads there were.
    const watch = () =>
      page.evaluate(() => {
        const w = window as unknown as { recordJobView: (v: unknown) => void };
        const loads = Number(sessionStorage.getItem('loads') ?? '0') + 1;
        sessionStorage.setItem('loads', String(loads));
        const view = () => ({
          stage: document.getElementById('job-stage')?.textContent ?? '',
          progress: document.getElementById('job-progress-text')?.textContent ?? '',
          status: document.getElementById('job-status')?.textContent ?? '',
          loads,
        });
        w.recordJobView(view());
        new MutationObserver(() => w.recordJobView(view())).observe(document.getElementById('job')!, {
          subtree: true,
          childList: true,
          characterData: true,
          attributes: true,
        });
      });
    await watch();
    // The script reloads the page once the job has ended: that load shows the finished job.
    await page.waitForFunction(() => document.getElementById('job-status')?.textContent === 'done', null, {
      timeout: 45_000,
    });
    await page.waitForLoadState('load');

    const live = seen.filter((v) => v.loads === 1);
    const stages = [...new Set(live.map((v) => v.stage.replace(/ \(attempt \d+\)$/, '')))];
    const epochs = [...new Set(live.map((v) => v.progress).filter((t) => /^epoch \d+ of \d+$/.test(t)))];
    // Without a reload: the stages followed in order, and the bar counted at least two epochs.
    expect(stages.filter((s) => s !== '-')).toEqual(
      ['psi', 'binning', 'train', 'evaluate', 'publish'].filter((s) => stages.includes(s)),
    );
    expect(stages).toContain('train');
    expect(epochs.length).toBeGreaterThanOrEqual(2);
    for (const e of epochs) expect(e).toMatch(new RegExp(`^epoch [1-${EPOCHS}] of ${EPOCHS}$`));
    expect(live.some((v) => v.status === 'running')).toBe(true);
    expect(live.at(-1)?.status).toBe('done');

    // The finished job's page (reloaded) links the registered model; the model page opens.
    const job = nodes.bank.jobs.require('e2e-1');
    expect(job.status).toBe('done');
    expect(await page.locator('#job-progress').count()).toBe(0);
    const link = page.getByRole('link', { name: 'e2e-1@1' });
    await link.click();
    await page.waitForURL(`${base}/console/models/e2e-1%401`);
    expect(await page.locator('h1').textContent()).toContain('e2e-1@1');
    // Its Metrics table gives the AUC the guest's evaluate stage computed on the held-out rows.
    const auc = nodes.bank.jobs.requireCheckpoint<EvaluateCheckpoint>('e2e-1', 'evaluate').auc;
    expect(auc).toBeGreaterThan(0.6);
    const metrics = page.locator('table', { has: page.locator('caption', { hasText: /^Metrics$/ }) });
    expect(
      Number(await metrics.locator('tr', { hasText: /^auc/ }).locator('td').nth(1).textContent()),
    ).toBeCloseTo(auc!, 3);
    // Its held-out curves, drawn from the evaluate stage's group aggregates by the report's uPlot script.
    expect(await page.locator('#report-data').count()).toBe(1);
    await page.waitForFunction(() => document.body.dataset['chartsDone'] === 'yes');
    for (const id of ['roc', 'ks', 'calibration', 'lift']) {
      expect(await page.locator(`#${id}`).getAttribute('data-drawn'), id).toBe('yes');
    }
    expect(await page.locator('#report-errors').textContent()).toBe('');
    expect(nodes.bank.models.get('e2e-1@1').ref).toBe('e2e-1@1');
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    await context.close();
  }, 90_000);
});
