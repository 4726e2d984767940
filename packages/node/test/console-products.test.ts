/**
 * The Products page (loan-product pool, console/products.ts) on the console fixture: 3 products (two of
 * bank-a, one of bank-b) and 5 enterprises' pre-approved lines. Matching is checked against the rules
 * worked out by hand below (band admitted and line >= max(least line, bottom of the range), amount capped
 * at the top); search, filters and sort through the page's query; role rules: an operator sees every
 * product's matched enterprises, a bank analyst only its own bank's (another bank's: the count only;
 * within its own product, enterprises another bank pre-approved are counted, not listed),
 * a bank analyst cannot create or change another bank's product (not even by moving it to its own bank),
 * the auditor does not open the page; CSRF as on every console POST; typed field errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from './console-fixture.ts';

let fx: ConsoleFixture;
afterEach(async () => {
  await fx?.close();
});

/** Product names in table order on a products page. */
function names(body: string): string[] {
  return [...body.matchAll(/<a href="\/console\/products\/[^"]+">([^<]+)<\/a>/g)].map((m) => m[1]!);
}

async function as(user: { username: string }): Promise<ConsoleClient> {
  const c = new ConsoleClient(fx.base);
  expect(await c.login(user.username)).toBe(303);
  return c;
}

describe('console Products page', () => {
  it('matches pre-approved lines by band and line (independent hand-worked reference)', async () => {
    fx = await startConsoleFixture();
    const ids = fx.products.store
      .all<{ enterprise: string }>('SELECT enterprise FROM console_preapprovals ORDER BY rowid')
      .map((r) => r.enterprise);
    // a-working-capital admits A, B from 200,000: e0 (A 1.5M), e1 (B 250k), e2 (A 3M, lends 2M cap)
    const wc = fx.products.matches(fx.products.get('a-working-capital')!);
    expect(new Set(wc.map((m) => m.enterprise))).toEqual(new Set([ids[0], ids[1], ids[2]]));
    expect(wc.find((m) => m.enterprise === ids[2])!.amount).toBe(2_000_000);
    // a-micro admits B, C from 10,000: e1 (B), e3 (C 40k)
    expect(new Set(fx.products.matches(fx.products.get('a-micro')!).map((m) => m.enterprise))).toEqual(
      new Set([ids[1], ids[3]]),
    );
    // b-tax-credit admits A from 100,000: e0, e2
    expect(new Set(fx.products.matches(fx.products.get('b-tax-credit')!).map((m) => m.enterprise))).toEqual(
      new Set([ids[0], ids[2]]),
    );
  });

  it('searches, filters and sorts', async () => {
    fx = await startConsoleFixture();
    const c = await as(USERS.operator);
    const all = await c.request('/console/products');
    expect(all.status).toBe(200);
    expect(names(all.body)).toEqual(['Micro loan', 'Tax credit line', 'Working capital']);
    expect(names((await c.request('/console/products?q=micro')).body)).toEqual(['Micro loan']);
    expect(names((await c.request('/console/products?bank=bank-b')).body)).toEqual(['Tax credit line']);
    expect(names((await c.request('/console/products?band=C')).body)).toEqual(['Micro loan']);
    expect(names((await c.request('/console/products?amount=500000')).body)).toEqual([
      'Tax credit line',
      'Working capital',
    ]);
    expect(names((await c.request('/console/products?sort=rate&order=desc')).body)).toEqual([
      'Micro loan',
      'Tax credit line',
      'Working capital',
    ]);
    expect(names((await c.request('/console/products?sort=matches&order=desc')).body)[0]).toBe(
      'Working capital',
    );
  });

  it("lists matched enterprises to the product's bank and the operator, counts only to another bank", async () => {
    fx = await startConsoleFixture();
    const ids = fx.products.store
      .all<{ enterprise: string }>('SELECT enterprise FROM console_preapprovals ORDER BY rowid')
      .map((r) => r.enterprise);
    const a = await as(USERS.analystA);
    const own = await a.request('/console/products/a-working-capital');
    expect(own.status).toBe(200);
    // its own pre-approvals by name; bank-b's pre-approved e2 counted only
    for (const i of [0, 1]) expect(own.body).toContain(ids[i]!);
    expect(own.body).not.toContain(ids[2]!);
    expect(own.body).toContain('And 1 pre-approved by other banks (count only).');
    expect(own.body).toContain('<dd id="matched">3</dd>');
    const other = await a.request('/console/products/b-tax-credit');
    expect(other.status).toBe(200);
    expect(other.body).toContain('<dd id="matched">2</dd>');
    for (const id of ids) expect(other.body).not.toContain(id);
    expect(other.body).not.toContain('Change this product');
    const op = await as(USERS.operator);
    const b = await op.request('/console/products/b-tax-credit');
    for (const i of [0, 2]) expect(b.body).toContain(ids[i]!);
    expect((await op.request('/console/products/nope')).status).toBe(404);
  });

  it("a bank analyst cannot create or change another bank's product; its own saves; bad fields are named", async () => {
    fx = await startConsoleFixture();
    const b = await as(USERS.analystB);
    const page = await b.request('/console/products');
    const csrf = ConsoleClient.csrfOf(page.body);
    const form = {
      csrf,
      id: 'a-micro',
      name: 'Hijacked',
      bank: 'bank-b',
      rateBp: '100',
      termMonths: '6',
      lineMin: '0',
      lineMax: '1000',
      bands: 'A',
      minLine: '0',
    };
    // moving bank-a's product to bank-b, or writing it as bank-a: both refused
    expect((await b.request('/console/products', { form })).status).toBe(403);
    expect((await b.request('/console/products', { form: { ...form, bank: 'bank-a' } })).status).toBe(403);
    expect(
      (await b.request('/console/products', { form: { ...form, id: 'new-a', bank: 'bank-a' } })).status,
    ).toBe(403);
    expect(fx.products.get('a-micro')!.name).toBe('Micro loan');
    expect(fx.products.get('new-a')).toBeUndefined();
    // its own bank's product saves
    const ok = await b.request('/console/products', { form: { ...form, id: 'b-new', name: 'Green loan' } });
    expect(ok.status).toBe(303);
    expect(fx.products.get('b-new')).toMatchObject({ bank: 'bank-b', name: 'Green loan', bands: ['A'] });
    // a typed error names the field
    const bad = await b.request('/console/products', {
      form: { ...form, id: 'b-bad', lineMin: '5000', lineMax: '10' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('field lineMax');
    // CSRF
    expect((await b.request('/console/products', { form: { ...form, id: 'b-x', csrf: 'x' } })).status).toBe(
      403,
    );
  });

  it('the auditor does not open or change products', async () => {
    fx = await startConsoleFixture();
    const c = await as(USERS.auditor);
    expect((await c.request('/console/products')).status).toBe(403);
    expect((await c.request('/console/products/a-micro')).status).toBe(403);
  });
});
