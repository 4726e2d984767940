/**
 * Bins, merges and statistics against hand-computed references: numpy's linear quantiles, pandas'
 * right-closed intervals, scipy's chi2_contingency(correction=False), and WOE/IV by the DOMAIN formula.
 * Tolerances: 1e-12 for closed-form values.
 */
import { type Column, seededRng } from '@fedscore/core';
import {
  applyMergePlan,
  assignBins,
  binLabels,
  binTotals,
  chiSquare2x2,
  featureStats,
  fitBins,
  ivStrength,
  type NumericBins,
  planMerge,
  quantileSorted,
  shareableSummary,
  woeTable,
  woeTransform,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const num = (name: string, values: number[]): Column => ({
  kind: 'numeric',
  name,
  values: Float64Array.from(values),
  missing: values.filter(Number.isNaN).length,
});

describe('featureStats', () => {
  it('numeric: matches numpy (mean, ddof=1 std, linear quantiles)', () => {
    const s = featureStats(num('x', [4, 1, Number.NaN, 3, 2, 2]), { quantiles: [0, 0.25, 0.5, 0.9, 1] });
    expect(s).toMatchObject({ rows: 6, count: 5, missing: 1, distinct: 4, min: 1, max: 4 });
    expect(s.missingRate).toBeCloseTo(1 / 6, 12);
    expect(s.mean).toBeCloseTo(2.4, 12);
    // numpy.std([4,1,3,2,2], ddof=1) = 1.140175425099138
    expect(s.std).toBeCloseTo(1.140175425099138, 12);
    // numpy.quantile([1,2,2,3,4], [0,.25,.5,.9,1]) = [1, 2, 2, 3.6, 4]
    expect(s.quantiles.map((q) => q[1])).toEqual([1, 2, 2, expect.closeTo(3.6, 12), 4]);
  });

  it('categorical: counts and top categories; the summary shares only allowed fields', () => {
    const col: Column = {
      kind: 'categorical',
      name: 'sector',
      codes: Int32Array.from([0, 1, 1, -1, 2, 1]),
      categories: ['a', 'b', 'c'],
      missing: 1,
    };
    const s = featureStats(col);
    expect(s).toMatchObject({ count: 5, missing: 1, distinct: 3 });
    expect(s.topCategories[0]).toEqual(['b', 3]);
    const shared = shareableSummary('gov', [s, featureStats(num('tax', [1, 2]))], { withhold: ['tax'] });
    expect(shared).toEqual([
      {
        party: 'gov',
        name: 'sector',
        kind: 'categorical',
        count: 5,
        missing: 1,
        missingRate: 1 / 6,
        distinct: 3,
      },
    ]);
  });

  it('rejects quantile levels outside [0, 1] naming the field', () => {
    expect(() => featureStats(num('x', [1]), { quantiles: [1.5] })).toThrow(
      expect.objectContaining({ code: 'out_of_range', field: 'quantiles[0]' }),
    );
  });
});

describe('bins', () => {
  const x = num('x', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, Number.NaN]);

  it('quantile edges are numpy linear quantiles; intervals are right-closed; missing is the last bin', () => {
    const bins = fitBins(x, { method: 'quantile', bins: 4 });
    // numpy.quantile(1..10, [.25,.5,.75]) = [3.25, 5.5, 7.75]
    expect(bins).toMatchObject({ kind: 'numeric', edges: [3.25, 5.5, 7.75], missing: true });
    expect([...assignBins(x, bins)]).toEqual([0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4]);
    expect(binLabels(bins)[0]).toEqual({ lower: null, upper: 3.25, missing: false });
    expect(binLabels(bins)[4]).toEqual({ lower: null, upper: null, missing: true });
  });

  it('quantile edges by selection equal those of a full ascending sort (ties, NaN, skew, tiny columns)', () => {
    // Reference: numpy's linear quantile on the sorted non-missing values, duplicates dropped, and a cut
    // point equal to the maximum dropped (the top bin must not be empty). Exact equality: the selection
    // must pick the same order statistics as the sort.
    const rng = seededRng(6);
    const u = (): number => rng.nextUint32() / 2 ** 32;
    const reference = (values: Float64Array, k: number): number[] => {
      const sorted = Float64Array.from(values.filter((v) => !Number.isNaN(v))).sort();
      const out: number[] = [];
      for (let i = 1; i < k; i++) {
        const c = quantileSorted(sorted, i / k);
        if (c < sorted[sorted.length - 1]! && (out.length === 0 || c > out[out.length - 1]!)) out.push(c);
      }
      return out;
    };
    const columns: Float64Array[] = [];
    for (const n of [1, 2, 3, 17, 100, 5000, 40_000]) {
      columns.push(Float64Array.from({ length: n }, () => u() * 100 - 50));
      columns.push(Float64Array.from({ length: n }, () => Math.floor(u() * 4))); // few distinct values
      columns.push(Float64Array.from({ length: n }, () => (u() < 0.6 ? 0 : Math.exp(u() * 12)))); // zeros + skew
      columns.push(Float64Array.from({ length: n }, () => (u() < 0.1 ? Number.NaN : u())));
      columns.push(Float64Array.from({ length: n }, (_, i) => n - i)); // descending
    }
    for (const [c, values] of columns.entries()) {
      for (const k of [2, 5, 10, 50]) {
        const column = num(`c${c}`, [...values]);
        if (column.kind !== 'numeric' || values.every(Number.isNaN)) continue;
        expect((fitBins(column, { bins: k }) as NumericBins).edges, `column ${c}, ${k} bins`).toEqual(
          reference(values, k),
        );
      }
    }
  });

  it('equal width splits [min, max]; a value on an edge goes left (pandas.cut right=True)', () => {
    const bins = fitBins(num('x', [0, 10, 5, 2.5]), { method: 'equal-width', bins: 4 });
    expect(bins).toMatchObject({ edges: [2.5, 5, 7.5], missing: false });
    expect([...assignBins(num('x', [2.5, 2.6, 10, -3, 99]), bins)]).toEqual([0, 1, 3, 0, 3]);
  });

  it('a missing value where the bins have no missing bin is a typed error', () => {
    const bins = fitBins(num('x', [1, 2, 3]), { bins: 2 });
    expect(() => assignBins(num('x', [Number.NaN]), bins)).toThrow(
      expect.objectContaining({ code: 'missing_value', field: 'x' }),
    );
  });

  it('categorical: frequent categories own a bin, the rest share "other", unseen go to "other"', () => {
    const col: Column = {
      kind: 'categorical',
      name: 'c',
      codes: Int32Array.from([0, 0, 0, 1, 1, 2, 3, -1]),
      categories: ['a', 'b', 'c', 'd', 'e'],
      missing: 1,
    };
    const bins = fitBins(col, { maxCategories: 2 });
    expect(bins).toMatchObject({ groups: [['a'], ['b'], ['c', 'd']], otherGroup: 2, missing: true });
    expect([...assignBins({ ...col, codes: Int32Array.from([4, 0, -1]) }, bins)]).toEqual([2, 0, 3]);
  });

  it('chi-square of a 2x2 table equals scipy chi2_contingency(correction=False)', () => {
    // [[10, 20], [30, 40]]: expected [[12, 18], [28, 42]] -> 4/12 + 4/18 + 4/28 + 4/42
    expect(chiSquare2x2(10, 20, 30, 40)).toBeCloseTo(4 / 12 + 4 / 18 + 4 / 28 + 4 / 42, 12);
    expect(chiSquare2x2(0, 0, 3, 4)).toBe(0);
  });

  it('ChiMerge reaches the target, merges only neighbours, keeps the missing bin apart', () => {
    // 8 fine bins: bad rates 0.1,0.1,0.12,0.3,0.32,0.6,0.62,0.6 (100 rows each) + missing bin.
    const count = [100, 100, 100, 100, 100, 100, 100, 100, 40];
    const bad = [10, 10, 12, 30, 32, 60, 62, 60, 20];
    const plan = planMerge(count, bad, true, true, { bins: 3, chiThreshold: 3.841, minBinFraction: 0 });
    expect(plan).toEqual([0, 0, 0, 1, 1, 2, 2, 2, 3]);
    const bins = applyMergePlan(
      { kind: 'numeric', name: 'x', edges: [1, 2, 3, 4, 5, 6, 7], missing: true },
      plan,
    );
    expect(bins).toMatchObject({ edges: [3, 5], missing: true });
  });

  it('monotone merging pools violators of the bad-rate trend', () => {
    const count = [100, 100, 100, 100];
    const bad = [10, 30, 20, 50];
    const plan = planMerge(count, bad, false, true, { chimerge: false, monotone: true, minBinFraction: 0 });
    expect(plan).toEqual([0, 1, 1, 2]);
  });

  it('a numeric merge plan must group neighbours in order', () => {
    expect(() =>
      applyMergePlan({ kind: 'numeric', name: 'x', edges: [1, 2], missing: false }, [0, 1, 0]),
    ).toThrow(expect.objectContaining({ code: 'invalid_argument', field: 'plan[2]' }));
  });
});

describe('WOE and IV', () => {
  it('follow ln(good share / bad share) and sum (g - b) WOE, with 0.5 for zero counts', () => {
    const t = woeTable([30, 50, 20], [10, 5, 0]);
    const G = 100;
    const B = 15;
    const w0 = Math.log(30 / G / (10 / B));
    const w1 = Math.log(50 / G / (5 / B));
    const w2 = Math.log(20 / G / (0.5 / B));
    expect(t.bins.map((b) => b.woe)).toEqual([w0, w1, w2].map((w) => expect.closeTo(w, 12)));
    const iv = (30 / G - 10 / B) * w0 + (50 / G - 5 / B) * w1 + (20 / G - 0.5 / B) * w2;
    expect(t.iv).toBeCloseTo(iv, 12);
    expect(ivStrength(0.01)).toBe('useless');
    expect(ivStrength(0.2)).toBe('medium');
    expect(ivStrength(0.6)).toBe('suspicious');
  });

  it('needs both classes', () => {
    expect(() => woeTable([3, 4], [0, 0])).toThrow(expect.objectContaining({ code: 'single_class' }));
  });

  it('woeTransform maps every row to its bin WOE', () => {
    const x = num('x', [1, 5, Number.NaN, 9]);
    const bins = { kind: 'numeric' as const, name: 'x', edges: [4], missing: true };
    const labels = [0, 1, 1, 0];
    const t = binTotals(assignBins(x, bins), 3, labels);
    expect([...t.count]).toEqual([1, 2, 1]);
    const out = woeTransform(x, { party: 'p', name: 'x', bins, woe: [0.5, -0.25, -1], iv: 0 });
    expect([...out]).toEqual([0.5, -0.25, -1, -0.25]);
  });
});
