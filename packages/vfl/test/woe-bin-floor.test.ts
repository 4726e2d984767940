/**
 * The WOE bin floor (docs/protocols/woe-binning.md, "Bin-size floor"): no bin whose label sum leaves the
 * label owner has fewer than max(50, 1% of the rows) rows. Checked at the floor's boundaries, which the
 * attack test (attacks/woe-tiny-bin.attack.test.ts) does not reach: the rounding of 1%, the host's
 * label-free merge order (hand-computed plans), a bin of exactly the floor kept, a missing bin folded
 * into the largest value bin only below the floor, and the guest's own refusal of one row less.
 */
import { type Column, seededRng, uniform } from '@fedscore/core';
import {
  floorMergePlan,
  MIN_RELEASED_BIN_ROWS,
  MIN_RELEASED_BIN_SHARE,
  minReleasedBinRows,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { runBoth } from './woe-binning-fixtures.ts';

/** A categorical column whose categories (and missing rows, code -1) have the given row counts. */
function categorical(name: string, counts: readonly number[], missing = 0): Column {
  const codes: number[] = [];
  counts.forEach((n, c) => {
    for (let i = 0; i < n; i++) codes.push(c);
  });
  for (let i = 0; i < missing; i++) codes.push(-1);
  return {
    kind: 'categorical',
    name,
    codes: Int32Array.from(codes),
    categories: counts.map((_, c) => `c${c}`),
    missing,
  };
}

function labelsFor(rows: number): Float64Array {
  const rng = seededRng('woe-bin-floor');
  return Float64Array.from({ length: rows }, () => (uniform(rng) < 0.3 ? 1 : 0));
}

/** A numeric column: `groups` of [count, low, high) uniform values, then `missing` NaN rows. */
function numeric(name: string, groups: readonly (readonly [number, number, number])[], missing = 0): Column {
  const rng = seededRng(`woe-bin-floor/${name}`);
  const values: number[] = [];
  for (const [n, lo, hi] of groups) for (let i = 0; i < n; i++) values.push(lo + (hi - lo) * uniform(rng));
  for (let i = 0; i < missing; i++) values.push(Number.NaN);
  return { kind: 'numeric', name, values: Float64Array.from(values), missing };
}

const NONE_GUEST = { scheme: 'none', insecure: true, releaseWoe: true } as const;
const NONE_HOST = { allowSchemes: ['none' as const], insecure: true };

describe('WOE bin floor: max(50, 1% of rows)', () => {
  it('is 50 up to 5000 rows, then 1% rounded up', () => {
    expect(MIN_RELEASED_BIN_ROWS).toBe(50);
    expect(MIN_RELEASED_BIN_SHARE).toBe(0.01);
    expect(minReleasedBinRows(0)).toBe(50);
    expect(minReleasedBinRows(1000)).toBe(50);
    expect(minReleasedBinRows(5000)).toBe(50);
    expect(minReleasedBinRows(5001)).toBe(51); // 50.01 rows: one more, never fewer than 1%
    expect(minReleasedBinRows(10_000)).toBe(100);
    expect(minReleasedBinRows(12_345)).toBe(124);
  });

  it('floorMergePlan: the smallest bin below the floor joins its smaller neighbour (hand-computed)', () => {
    // 5 (smallest) joins 60 (smaller than 70): [10, 65, 70]; then 10 joins its only neighbour.
    expect(floorMergePlan([10, 60, 5, 70], false, 50)).toEqual([0, 0, 0, 1]);
    // A tie between the neighbours goes left.
    expect(floorMergePlan([60, 5, 60], false, 50)).toEqual([0, 0, 1]);
    // The smallest first, not the first small one: 20 joins 100 on its right, then 30 joins the
    // smaller of 120 and 100 (right).
    expect(floorMergePlan([20, 100, 30, 100], false, 50)).toEqual([0, 0, 1, 1]);
    // The smallest first even when it is not the first small one: 20 joins its left (tie), then 30.
    expect(floorMergePlan([30, 100, 20, 100], false, 50)).toEqual([0, 0, 0, 1]);
    // Of two equally small bins, the first goes first: 30 joins 100 on its right, then the other 30
    // joins the smaller neighbour (100, right).
    expect(floorMergePlan([30, 100, 30, 100, 60], false, 50)).toEqual([0, 0, 1, 1, 2]);
    // Exactly the floor stays; one less merges.
    expect(floorMergePlan([50, 50], false, 50)).toEqual([0, 1]);
    expect(floorMergePlan([49, 60], false, 50)).toEqual([0, 0]);
    expect(floorMergePlan([60, 49], false, 50)).toEqual([0, 0]);
    // Empty bins release nothing and are left alone.
    expect(floorMergePlan([0, 60, 0, 60], false, 50)).toEqual([0, 1, 2, 3]);
    // Everything merged and still below the floor: one group (the caller refuses it).
    expect(floorMergePlan([10, 20], false, 50)).toEqual([0, 0]);
    expect(floorMergePlan([10], false, 50)).toEqual([0]);
    // The missing bin (last) is never merged and keeps a group of its own after the value bins.
    expect(floorMergePlan([10, 60, 70, 3], true, 50)).toEqual([0, 0, 1, 2]);
    expect(floorMergePlan([10, 3], true, 50)).toEqual([0, 1]);
    // An empty bin between two small ones is absorbed by the merge that spans it.
    expect(floorMergePlan([30, 0, 30, 100], false, 50)).toEqual([0, 0, 0, 1]);
  });

  it('floorMergePlan on random counts: contiguous groups, rows kept, every released group at the floor', () => {
    const rng = seededRng('woe-bin-floor/plans');
    for (let t = 0; t < 300; t++) {
      const n = 1 + Math.floor(uniform(rng) * 12);
      const hasMissing = uniform(rng) < 0.5 && n > 1;
      const count = Array.from({ length: n }, () =>
        uniform(rng) < 0.2 ? 0 : Math.floor(uniform(rng) * 120),
      );
      const min = 50;
      const plan = floorMergePlan(count, hasMissing, min);
      const valueBins = hasMissing ? n - 1 : n;
      expect(plan).toHaveLength(n);
      // Groups numbered 0, 1, ... in order, each a run of neighbouring bins.
      for (let i = 1; i < valueBins; i++) expect(plan[i]! - plan[i - 1]!).toBeGreaterThanOrEqual(0);
      for (let i = 1; i < valueBins; i++) expect(plan[i]! - plan[i - 1]!).toBeLessThanOrEqual(1);
      if (valueBins > 0) expect(plan[0]).toBe(0);
      const groups = valueBins > 0 ? plan[valueBins - 1]! + 1 : 0;
      if (hasMissing) expect(plan[n - 1]).toBe(groups);
      const sums = new Array<number>(groups).fill(0);
      for (let i = 0; i < valueBins; i++) sums[plan[i]!]! += count[i]!;
      expect(sums.reduce((a, b) => a + b, 0)).toBe(count.slice(0, valueBins).reduce((a, b) => a + b, 0));
      if (groups > 1) for (const s of sums) expect(s === 0 || s >= min, `${count} -> ${plan}`).toBe(true);
      // Nothing merged that was not needed: with no small non-empty bin the plan is the identity.
      if (!count.slice(0, valueBins).some((k) => k > 0 && k < min)) {
        expect(plan).toEqual(count.map((_, i) => i));
      }
    }
  });

  it('a bin of exactly the floor is released as it is; the guest sees it', async () => {
    const labels = labelsFor(1000);
    const { guest } = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [900, 50, 50])], ...NONE_HOST },
    );
    expect(guest.features[0]!.count).toEqual([900, 50, 50]);
    expect(guest.features[0]!.missingBin).toBe(false);
  });

  it('a missing bin of the floor keeps its own bin; one row less is folded into the largest value bin', async () => {
    const labels = labelsFor(1000);
    const kept = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [600, 350], 50)], ...NONE_HOST },
    );
    expect(kept.guest.features[0]!.count).toEqual([600, 350, 50]);
    expect(kept.guest.features[0]!.missingBin).toBe(true);

    const folded = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [351, 600], 49)], ...NONE_HOST },
    );
    const view = folded.guest.features[0]!;
    // Categories in fitted order (most frequent first): c1 (600) then c0 (351); the 49 join c1.
    expect(view.count).toEqual([649, 351]);
    expect(view.missingBin).toBe(false);
    const own = folded.host.features[0]!;
    expect(own.count).toEqual([600, 351, 49]);
    expect(own.model!.woe).toHaveLength(3);
    expect(own.model!.woe[2]).toBe(own.model!.woe[0]);

    // Two largest bins of the same size: the first takes the missing rows.
    const tie = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [476, 476], 48)], ...NONE_HOST },
    );
    expect(tie.guest.features[0]!.count).toEqual([524, 476]);
    expect(tie.host.features[0]!.model!.woe[2]).toBe(tie.host.features[0]!.model!.woe[0]);
  });

  it('the host refuses a column whose non-missing rows are below the floor, with the counts', async () => {
    const labels = labelsFor(1000);
    await expect(
      runBoth({ labels, ...NONE_GUEST }, { columns: [categorical('rare', [40], 960)], ...NONE_HOST }),
    ).rejects.toMatchObject({ code: 'out_of_range', field: 'rare', details: { rows: 40, minimum: 50 } });
  });

  it('the guest refuses a published bin one row below its own floor, and accepts the floor', async () => {
    // The host skips its floor (the attack test's weakened host); the guest checks against 1% of 6000.
    const labels = labelsFor(6000);
    const refused = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [5882, 59, 59])], ...NONE_HOST, unsafeAllowSmallBins: true },
    ).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'out_of_range',
      field: 'features[0].counts',
      details: { rows: 59, minimum: 60 },
    });
    const accepted = await runBoth(
      { labels, ...NONE_GUEST },
      { columns: [categorical('sector', [5880, 60, 60])], ...NONE_HOST, unsafeAllowSmallBins: true },
    );
    expect(accepted.guest.features[0]!.count).toEqual([5880, 60, 60]);
  });

  it('the guest refuses a small first bin too', async () => {
    const labels = labelsFor(6000);
    const refused = await runBoth(
      { labels, ...NONE_GUEST },
      {
        columns: [
          numeric('low', [
            [59, 0, 0.5],
            [5941, 5.5, 10],
          ]),
        ],
        binning: { method: 'equal-width', bins: 2 },
        ...NONE_HOST,
        unsafeAllowSmallBins: true,
      },
    ).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'out_of_range', details: { rows: 59, minimum: 60 } });
  });

  it('numeric: small missing rows join the largest value bin wherever it is, counted and summed with it', async () => {
    const labels = labelsFor(1000);
    const { guest, host } = await runBoth(
      { labels, ...NONE_GUEST },
      {
        columns: [
          numeric(
            'skew',
            [
              [300, 0, 1],
              [651, 9, 10],
            ],
            49,
          ),
        ],
        binning: { method: 'equal-width', bins: 2 },
        ...NONE_HOST,
      },
    );
    const view = guest.features[0]!;
    expect(view.count).toEqual([300, 700]);
    expect(view.missingBin).toBe(false);
    // The label sums cover the same rows as the counts: the missing rows summed into bin 1 (reference:
    // the planted layout, rows 0-299 in bin 0, the rest and the missing rows in bin 1).
    const bad = [0, 0];
    labels.forEach((y, i) => {
      bad[i < 300 ? 0 : 1]! += y;
    });
    expect(view.bad).toEqual(bad);
    view.count.forEach((n, b) => {
      expect(view.bad[b]! + view.good[b]!).toBe(n);
    });
    const own = host.features[0]!;
    expect(own.count).toEqual([300, 651, 49]);
    expect(own.model!.woe[2]).toBe(own.model!.woe[1]);
  });
});
