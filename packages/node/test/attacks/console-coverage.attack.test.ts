/**
 * Attack: differencing on aggregate statistics -- the "tracker" attack on statistical databases
 * (Denning, Denning and Schwartz, "The tracker: a threat to statistical database security", ACM TODS
 * 4(1), 1979; Dinur and Nissim, PODS 2003): two counts over sets that differ by one individual give
 * that individual's value, however large the sets.
 *
 * What it would recover: whether the government holds a value of a feature (here `years_filed` of
 * 'credit-history') for one chosen enterprise. The bank is the guest of its jobs and chooses the ids it
 * brings to PSI, so it can run a job aligned on a set S of 50 enterprises and a second on S plus its
 * target; the Indicators page's coverage over each job's aligned set then differs by exactly the
 * target's present/missing bit. The 50-row floor does not stop this (both sets are above it).
 *
 * Weakened configuration: `canSeeAlignedCoverage` allows the bank analyst. anna (bank-a) recovers the
 * bit for two targets (one with a value, one without). Default (ROLE_ACCESS): only the platform operator
 * sees coverage over aligned sets; anna's Indicators page shows coverage over the whole table only, the
 * same before and after her jobs, and she recovers nothing.
 */
import { type ConsoleAccess, enterpriseSetFingerprint, ROLE_ACCESS, validateJobSpec } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from '../console-fixture.ts';

const WEAKENED: ConsoleAccess = { ...ROLE_ACCESS, canSeeAlignedCoverage: () => true };

let fx: ConsoleFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** A finished PSI of bank-a with the government over these rows of 'credit-history'. */
function alignedJob(f: ConsoleFixture, id: string, rows: number[]): void {
  const spec = validateJobSpec({
    id,
    guest: 'bank-a',
    hosts: ['government'],
    data: { 'bank-a': 'bank-a-loans', government: 'credit-history' },
  });
  f.jobs.put({ ...spec, id }, 'bank-a');
  f.jobs.setAttempt(id, 'psi', 1);
  f.jobs.saveCheckpoint(id, 'psi', 1, { rows, test: [] });
  f.audit.append({
    kind: 'data_use',
    actor: 'bank-a',
    dataOwner: 'government',
    purpose: 'training',
    job: id,
    enterpriseFingerprint: enterpriseSetFingerprint(rows.map((r) => f.historyIds[r]!)),
    enterpriseCount: rows.length,
  });
}

/** The coverage (%) anna reads for 'years_filed' on the Indicators page, every such cell. */
async function readCoverage(c: ConsoleClient): Promise<string> {
  const body = (await c.request('/console/indicators')).body;
  return [...body.matchAll(/<td>years_filed<\/td><td>(?:numeric<\/td><td>)?([\d.]+) %/g)]
    .map((m) => m[1])
    .join(',');
}

/** Whether each target row has a value, as anna infers it; undefined where she cannot tell. */
async function attack(access?: ConsoleAccess): Promise<(boolean | undefined)[]> {
  fx = await startConsoleFixture(access === undefined ? {} : { access });
  const c = new ConsoleClient(fx.base);
  expect(await c.login(USERS.analystA.username)).toBe(303);
  const base = Array.from({ length: 50 }, (_, i) => i);
  const out: (boolean | undefined)[] = [];
  for (const [k, target] of [50, 51].entries()) {
    alignedJob(fx, `job-s${k}`, base);
    const before = await readCoverage(c);
    alignedJob(fx, `job-t${k}`, [...base, target]);
    const after = await readCoverage(c);
    // The aligned-set cell is the one that changed; the whole-table cell is the same in both.
    const b = before.split(',');
    const a = after.split(',');
    const i = a.findIndex((x, j) => x !== b[j]);
    if (i < 0 || b.length !== a.length) {
      out.push(undefined);
      continue;
    }
    const present = (pct: string, n: number) => Math.round((Number(pct) / 100) * n);
    out.push(present(a[i]!, 51) - present(b[i]!, 50) === 1);
  }
  return out;
}

describe('attack: differencing two aligned-set coverages on the Indicators page', () => {
  it("recovers a chosen enterprise's missing value when the bank sees aligned-set coverage", async () => {
    // Row 50 has a value (50 % 4 = 2), row 51 has none (51 % 4 = 3).
    expect(await attack(WEAKENED)).toEqual([true, false]);
  });

  it('fails with the default roles: the bank sees whole-table coverage only', async () => {
    expect(await attack()).toEqual([undefined, undefined]);
  });
});
