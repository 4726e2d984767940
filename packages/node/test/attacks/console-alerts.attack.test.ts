/**
 * Attack: another party reads a bank's borrowers from the post-loan Alerts page -- broken object-level
 * authorization (OWASP API Security Top 10 2023, API1; OWASP WSTG-ATHZ-04, insecure direct object
 * references), the same class as console-idor.
 *
 * What it would recover: which enterprises bank-a lends to and which of them had a court judgment or tax
 * arrears (their USCCs, from the alert list, from a guessed `/console/alerts/<government>/<seq>` URL, from
 * the JSON API's `GET /console/api/alerts`, or from the operator's view) -- bank-a's loan book and its borrowers' distress, for a competitor or for the
 * platform's operator.
 *
 * Weakened configuration: `canSeeAlerts` allows every role and `canSeeBank` every bank. bert (bank-b's
 * analyst) and olga (the platform operator) recover bank-a's alerted borrowers. Default (ROLE_ACCESS):
 * neither page, URL nor the JSON API shows any of them (the guessed URL is 404), the operator gets counts per bank.
 */
import { type ConsoleAccess, ROLE_ACCESS } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from '../console-fixture.ts';

const WEAKENED: ConsoleAccess = {
  ...ROLE_ACCESS,
  canSeeAlerts: () => true,
  canSeeBank: () => true,
};

let fx: ConsoleFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** The alerted borrowers of bank-a that `user` finds on the Alerts page and by guessing alert URLs. */
async function attack(user: { username: string }, access?: ConsoleAccess): Promise<string[]> {
  fx = await startConsoleFixture({ alerts: true, ...(access !== undefined && { access }) });
  const c = new ConsoleClient(fx.base);
  expect(await c.login(user.username)).toBe(303);
  let bodies = (await c.request('/console/alerts')).body;
  for (let seq = 1; seq <= 10; seq++) bodies += (await c.request(`/console/alerts/government/${seq}`)).body;
  // The JSON API's read of the same page (console/api.ts), on its own: it must leak exactly as the page.
  const api = (await c.request('/console/api/alerts')).body;
  expect(fx.alerted.filter((id) => api.includes(id))).toEqual(fx.alerted.filter((id) => bodies.includes(id)));
  return fx.alerted.filter((id) => bodies.includes(id) || api.includes(id));
}

describe("attack: reading a bank's borrowers from the Alerts page", () => {
  it("recovers bank-a's alerted borrowers when the alert scope checks are off", async () => {
    expect(await attack(USERS.analystB, WEAKENED)).toHaveLength(2);
    await fx!.close();
    fx = undefined;
    expect(await attack(USERS.operator, WEAKENED)).toHaveLength(2);
  });

  it('fails with the default roles: no borrower on any page, the guessed URLs are 404', async () => {
    expect(await attack(USERS.analystB)).toEqual([]);
    const c = new ConsoleClient(fx!.base);
    await c.login(USERS.analystB.username);
    expect((await c.request('/console/alerts/government/3')).status).toBe(404);
    await fx!.close();
    fx = undefined;
    expect(await attack(USERS.operator)).toEqual([]);
  });
});
