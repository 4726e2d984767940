/**
 * Attack: differencing two releases of an aggregate -- the "tracker" attack on statistical databases
 * (Denning, Denning and Schwartz, "The tracker: a threat to statistical database security", ACM TODS
 * 4(1), 1979): two shares over sets that differ by one individual give that individual's value.
 *
 * What it would recover: whether a bank holds a value of a feature (here `collateral_appraisal`) for one
 * enterprise it has just taken on. The platform node receives the bank's feature profile before and after
 * (a bank republishes when its data changes) and knows from elsewhere (a loan registration) that exactly
 * this enterprise was added; with exact shares, coverage x rows before and after differ by the target's
 * present/missing bit. The 50-row floor does not stop this (both datasets are above it).
 *
 * Weakened configuration: rates published to one basis point (`stepOf: () => 1`): the platform recovers
 * the bit for both targets (one with a value, one without). Default (`rateStepBp`: one percentage point
 * at these sizes): both targets give the same published profile, so the platform's guess is the same for
 * both and is wrong for one of them. Rounding is not a formal guarantee: a change that crosses a rounding
 * boundary still shows (docs/protocols/feature-catalogue.md); the sizes here are the common case of a
 * change within one step.
 */
import { type Column, createTable, generateUniqueUsccs, seededRng, type Table } from '@fedscore/core';
import { BASIS_POINTS, type PublishedDataset, profileDataset } from '@fedscore/node';
import { describe, expect, it } from 'vitest';

const ids = generateUniqueUsccs(seededRng(4242), 202);

/** The bank's data: 200 enterprises, 150 with an appraisal; plus the target when `target` is given. */
function bankTable(target?: 'present' | 'missing'): Table {
  const n = target === undefined ? 200 : 201;
  const values = Float64Array.from({ length: n }, (_, i) =>
    i < 200 ? (i % 4 === 0 ? Number.NaN : 100 + i) : target === 'present' ? 512 : Number.NaN,
  );
  let missing = 0;
  for (const v of values) if (Number.isNaN(v)) missing++;
  const columns: Column[] = [{ kind: 'numeric', name: 'collateral_appraisal', values, missing }];
  return createTable({ ids: ids.slice(0, n), columns });
}

/** The platform's guess from two releases: did the one added enterprise bring a value? */
function guess(before: PublishedDataset, after: PublishedDataset, rowsBefore: number): boolean {
  const share = (d: PublishedDataset): number => d.features[0]!.coverageBp / BASIS_POINTS;
  const withValueBefore = Math.round(share(before) * rowsBefore);
  const withValueAfter = Math.round(share(after) * (rowsBefore + 1));
  return withValueAfter > withValueBefore;
}

function attack(stepOf?: (rows: number) => number): { present: boolean; missing: boolean } {
  const before = profileDataset('loans', bankTable(), {}, stepOf);
  return {
    present: guess(before, profileDataset('loans', bankTable('present'), {}, stepOf), 200),
    missing: guess(before, profileDataset('loans', bankTable('missing'), {}, stepOf), 200),
  };
}

describe('attack: the platform differences two releases of a bank feature profile', () => {
  it('weakened (rates to one basis point): recovers the target bit for both targets', () => {
    expect(attack(() => 1)).toEqual({ present: true, missing: false });
  });

  it('default (rates rounded to the step): the two targets look the same, so one guess is wrong', () => {
    const r = attack();
    expect(r.present).toBe(r.missing);
    // The whole published dataset is the same byte for byte: rows (201 -> 200), coverage, missing rate.
    expect(profileDataset('loans', bankTable('present'))).toEqual(
      profileDataset('loans', bankTable('missing')),
    );
  });
});
