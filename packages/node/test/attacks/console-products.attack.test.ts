/**
 * Attack: a bank analyst reads another bank's customers from the Products page -- the enterprises
 * matched by bank-a's products, with the band and line bank-a pre-approved them for (broken object-level
 * authorization, OWASP API Security Top 10 2023, API1; the same class as console-idor). Would recover:
 * bank-a's pre-approved enterprises (ids) and their lines.
 * Defence: `ConsoleAccess.canSeeProductMatches` (the product's bank or the operator) and, per matched row,
 * `canSeeBank` (only the bank that pre-approved it): others get the count only.
 * Weakened configuration (both checks allow everyone): bert (bank-b) recovers bank-a's pre-approved
 * enterprise ids, from the pages and from the JSON API's product reads alike; the default: none of them
 * appears in any product page or JSON API answer bert can read.
 */
import { type ConsoleAccess, ROLE_ACCESS } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from '../console-fixture.ts';

const WEAKENED: ConsoleAccess = {
  ...ROLE_ACCESS,
  canSeeProductMatches: () => true,
  canSeeBank: () => true,
};

let fx: ConsoleFixture;
afterEach(async () => {
  await fx?.close();
});

/** The enterprise ids bank-a pre-approved that bert finds on any product page and in the JSON API's. */
async function attack(access?: ConsoleAccess): Promise<{ pages: string[]; api: string[] }> {
  fx = await startConsoleFixture(access === undefined ? {} : { access });
  const secret = fx.products.store
    .all<{ enterprise: string }>("SELECT enterprise FROM console_preapprovals WHERE bank = 'bank-a'")
    .map((r) => r.enterprise);
  expect(secret.length).toBeGreaterThan(0);
  const c = new ConsoleClient(fx.base);
  expect(await c.login(USERS.analystB.username)).toBe(303);
  let bodies = (await c.request('/console/products')).body;
  let api = (await c.request('/console/api/products')).body;
  for (const id of ['a-working-capital', 'a-micro', 'b-tax-credit']) {
    bodies += (await c.request(`/console/products/${id}`)).body;
    api += (await c.request(`/console/api/products/${id}`)).body;
  }
  return {
    pages: secret.filter((id) => bodies.includes(id)),
    api: secret.filter((id) => api.includes(id)),
  };
}

describe('attack: another bank customers through the Products page', () => {
  it('recovers bank-a pre-approved enterprises when the checks are off', async () => {
    const found = await attack(WEAKENED);
    expect(found.pages.length).toBeGreaterThan(0);
    expect(found.api.length).toBeGreaterThan(0);
  });

  it('fails with the default access rules', async () => {
    expect(await attack()).toEqual({ pages: [], api: [] });
  });
});
