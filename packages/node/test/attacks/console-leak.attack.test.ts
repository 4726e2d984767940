/**
 * Attack: reading raw data values off the console's pages (docs/console.md, docs/threat-model.md).
 * Source: OWASP Top 10 2021 A01/A04 (excessive data exposure: an API or page that serialises whole stored
 * objects instead of the fields it needs); the planted-secret method of this project's privacy tests
 * (docs/conventions.md: plant a known secret and search every captured byte for it).
 *
 * What it would recover: a raw feature value of an enterprise (planted as a WOE bin edge in the binning
 * checkpoint, a model weight in the train checkpoint and the registry artifact, and a job event detail),
 * the labels of the aligned rows (planted in the PSI checkpoint) and an enterprise's score (planted in the
 * evaluate checkpoint) -- all of which a job's store rows can hold; the feature value is also a cell of the
 * node's own dataset, which the Indicators page profiles (types and coverage).
 *
 * Weakened configuration: a console that shows a job as "reading the JSON" does today (the job's stored
 * checkpoints, events and registry artifacts serialised whole, read through the same store APIs the
 * console uses): every planted secret is recovered from it. Default: the console is logged in as each
 * role, every page and every linked job, model, comparison and event stream is fetched, and every read
 * of the JSON API (lists, each job, model and product, the catalogue, the audit log, consents, samples,
 * usage, alerts), and no planted
 * secret appears in any byte of any response (headers and bodies).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConsoleClient,
  type ConsoleFixture,
  type Planted,
  startConsoleFixture,
  USERS,
} from '../console-fixture.ts';

const PLANTED: Required<Planted> = {
  featureValue: '48213.7719',
  labels: '[1,0,0,1,1,0,1,0,0,0,1,1,0,1,1,1,0,0,1,0,1]',
  score: '0.81372946',
};
const needles = (): string[] => [
  PLANTED.featureValue,
  PLANTED.labels,
  PLANTED.labels.slice(1, -1),
  PLANTED.score,
];

/** Every byte the console serves to a role: follow every same-console link from the overview. */
async function crawl(fx: ConsoleFixture, username: string): Promise<string> {
  const c = new ConsoleClient(fx.base);
  expect(await c.login(username)).toBe(303);
  const seen = new Set<string>();
  const queue = ['/console/', '/console/static/console.js', '/console/static/console.css'];
  const captured: string[] = [];
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (seen.has(path) || seen.size > 200) continue;
    seen.add(path);
    const r = await c.request(path);
    captured.push(JSON.stringify([...r.headers]), r.body);
    for (const m of r.body.matchAll(/href="(\/console\/[^"]*)"/g)) {
      const href = m[1]!.replaceAll('&amp;', '&');
      if (href.endsWith('/logout')) continue;
      queue.push(href);
      if (/^\/console\/jobs\/[^/]+$/.test(href)) queue.push(`${href}/events`);
    }
  }
  // The JSON API's reads (console/api.ts): every list, and each job and model by id.
  const api = [
    '/session',
    '/jobs',
    '/models',
    '/catalogue',
    '/audit',
    '/consents',
    '/samples',
    '/usage',
    '/products',
    '/alerts',
  ]
    .concat(fx.jobs.list().map((j) => `/jobs/${encodeURIComponent(j.id)}`))
    .concat(fx.models.list().map((m) => `/models/${encodeURIComponent(m.ref)}`))
    .concat(fx.products.search().map((p) => `/products/${encodeURIComponent(p.product.id)}`));
  for (const path of api) captured.push((await c.request(`/console/api${path}`)).body);
  // The comparison form's every pair.
  const refs = fx.models.list().map((m) => m.ref);
  for (const a of refs) {
    for (const b of refs) {
      const r = await c.request(
        `/console/models/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`,
      );
      captured.push(r.body);
    }
  }
  expect(seen.size).toBeGreaterThan(5);
  return captured.join('\n');
}

describe('attack: raw values on the console pages', () => {
  let fx: ConsoleFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('recovers every planted secret from a job shown as its stored JSON (weakened)', async () => {
    fx = await startConsoleFixture({ planted: PLANTED });
    const dump = JSON.stringify({
      checkpoints: ['psi', 'binning', 'train', 'evaluate', 'publish'].map((s) =>
        fx!.jobs.checkpoint('job-a1', s as 'psi'),
      ),
      events: fx.jobs.events('job-a1'),
      artifacts: fx.models.artifacts('bank-a-credit@1'),
    });
    for (const n of needles()) expect(dump, n).toContain(n);
  });

  it('serves no planted secret to any role, on any page, in any byte (default)', async () => {
    fx = await startConsoleFixture({ planted: PLANTED });
    let served = '';
    for (const u of Object.values(USERS)) served += await crawl(fx, u.username);
    // The crawl reached bank-a's job and model pages (where the secrets live in the store).
    expect(served).toContain('Job job-a1');
    expect(served).toContain('Model bank-a-credit@1');
    expect(served).toContain('(withheld)');
    for (const n of needles()) expect(served.includes(n), n).toBe(false);
    // Nor any shorter rendering of the numbers (a page rounding them to 4 digits would show these).
    expect(served.includes('48213.77')).toBe(false);
    expect(served.includes('0.8137')).toBe(false);
  });
});
