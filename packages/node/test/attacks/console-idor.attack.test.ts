/**
 * Attack: insecure direct object reference (IDOR) across banks in the console (docs/console.md).
 * Source: OWASP Top 10 2021 A01 "Broken Access Control" and the OWASP Web Security Testing Guide,
 * WSTG-ATHZ-04 "Testing for Insecure Direct Object References": a logged-in user edits the id in a URL
 * to reach an object of another tenant.
 *
 * What it would recover: a bank analyst of bank-b, logged in to the platform's console, guesses the URL of
 * bank-a's job (`/console/jobs/job-a1`), its live event stream, or its model (`/console/models/
 * bank-a-credit@1`) and reads which government datasets bank-a trained on, its hosts, its stages, its
 * model's metrics and features -- a competitor's model-development activity on the public-credit platform.
 *
 * The same through the console's JSON API (`/console/api/jobs`, `/console/api/jobs/job-a1`,
 * `/console/api/models`, `/console/api/models/bank-a-credit@1`): bank-a's job id, hosts and model id.
 *
 * Weakened configuration: the same console with its per-object scope checks switched off (every job and
 * model visible to every logged-in role, the page-level role check kept). The analyst recovers bank-a's
 * datasets and metrics. Default (ROLE_ACCESS): each of those URLs answers 404 with exactly the body of a
 * job or model that does not exist, so the analyst cannot even tell that the id is taken.
 */
import { type ConsoleAccess, ROLE_ACCESS } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from '../console-fixture.ts';

const WEAKENED: ConsoleAccess = {
  ...ROLE_ACCESS,
  canSeeJob: () => true,
  canSeeModel: () => true,
  canChangeModel: () => true,
};

/** What bank-b's analyst learns about bank-a by guessing URLs. */
async function probe(
  fx: ConsoleFixture,
): Promise<{ statuses: number[]; recovered: string[]; bodies: string[] }> {
  const c = new ConsoleClient(fx.base);
  expect(await c.login(USERS.analystB.username)).toBe(303);
  const urls = ['/console/jobs/job-a1', '/console/jobs/job-a1/events', '/console/models/bank-a-credit%401'];
  const statuses: number[] = [];
  const bodies: string[] = [];
  for (const u of urls) {
    const r = await c.request(u);
    statuses.push(r.status);
    bodies.push(r.body);
  }
  const all = bodies.join('\n');
  // bank-a's secrets of model development: its dataset name, its metrics, its model id.
  const recovered = ['bank-a-loans', 'bank-a-run-1', 'AUC 0.74', '"status":"done"'].filter((s) =>
    all.includes(s),
  );
  return { statuses, recovered, bodies };
}

/** What bank-b's analyst learns about bank-a from the JSON API (lists and guessed ids). */
async function probeApi(
  fx: ConsoleFixture,
): Promise<{ statuses: number[]; recovered: string[]; bodies: string[] }> {
  const c = new ConsoleClient(fx.base);
  expect(await c.login(USERS.analystB.username)).toBe(303);
  const urls = ['/jobs', '/jobs/job-a1', '/models', '/models/bank-a-credit%401'];
  const statuses: number[] = [];
  const bodies: string[] = [];
  for (const u of urls) {
    const r = await c.request(`/console/api${u}`);
    statuses.push(r.status);
    bodies.push(r.body);
  }
  const all = bodies.join('\n');
  const recovered = ['"id":"job-a1"', '"guest":"bank-a"', 'bank-a-run-1'].filter((s) => all.includes(s));
  return { statuses, recovered, bodies };
}

describe('attack: IDOR across banks in the console', () => {
  let fx: ConsoleFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it("recovers bank-a's job and model when the scope check is off", async () => {
    fx = await startConsoleFixture({ access: WEAKENED });
    const r = await probe(fx);
    expect(r.statuses).toEqual([200, 200, 200]);
    expect(r.recovered).toEqual(['bank-a-loans', 'bank-a-run-1', 'AUC 0.74', '"status":"done"']);
  });

  it('fails with the default roles: 404, indistinguishable from an id that does not exist', async () => {
    fx = await startConsoleFixture();
    const r = await probe(fx);
    expect(r.statuses).toEqual([404, 404, 404]);
    expect(r.recovered).toEqual([]);
    const c = new ConsoleClient(fx.base);
    await c.login(USERS.analystB.username);
    const missingJob = await c.request('/console/jobs/job-nope');
    const missingModel = await c.request('/console/models/nope%401');
    expect(r.bodies[0]).toBe(missingJob.body);
    expect(r.bodies[2]).toBe(missingModel.body);
  });

  it("recovers bank-a's job and model through the JSON API when the scope check is off", async () => {
    fx = await startConsoleFixture({ access: WEAKENED });
    const r = await probeApi(fx);
    expect(r.statuses).toEqual([200, 200, 200, 200]);
    expect(r.recovered).toEqual(['"id":"job-a1"', '"guest":"bank-a"', 'bank-a-run-1']);
  });

  it('fails through the JSON API with the default roles: lists without them, 404 like a missing id', async () => {
    fx = await startConsoleFixture();
    const r = await probeApi(fx);
    expect(r.statuses).toEqual([200, 404, 200, 404]);
    expect(r.recovered).toEqual([]);
    const c = new ConsoleClient(fx.base);
    await c.login(USERS.analystB.username);
    expect(r.bodies[1]).toBe((await c.request('/console/api/jobs/job-nope')).body);
    expect(r.bodies[3]).toBe((await c.request('/console/api/models/nope%401')).body);
  });
});
