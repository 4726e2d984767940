/**
 * The held-out evaluation as aggregate groups (evaluation-curves.ts), checked against independent
 * references: every group's boundary is a vertex of the exact ROC curve of @fedscore/core's `rocCurve`
 * (the curve through all rows), the group sums equal direct sums over the rows of each score range, every
 * group meets the floor max(50, 1% of rows), ties are never split, and stored curves that break the
 * floor or do not add up are refused.
 */
import { rocCurve, seededRng, uniform } from '@fedscore/core';
import { checkEvaluationCurves, evaluationCurves } from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';

function scoredSet(n: number, seed: number, tieEvery = 0): { y: Float64Array; z: Float64Array } {
  const rng = seededRng(seed);
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = uniform(rng) < 0.2 ? 1 : 0;
    const s = (y[i] === 1 ? 0.8 : -0.4) + 1.2 * (uniform(rng) - 0.5) * 2;
    // Rounded scores make runs of ties.
    z[i] = tieEvery > 0 ? Math.round(s * tieEvery) / tieEvery : s;
  }
  return { y, z };
}

describe('evaluation curves', () => {
  for (const [n, ties] of [
    [1000, 0],
    [2400, 8],
    [130, 0],
  ] as const) {
    it(`${n} rows${ties ? ' with ties' : ''}: groups on the exact ROC curve, sums by range, floor met`, () => {
      const { y, z } = scoredSet(n, n + ties, ties);
      const c = evaluationCurves(y, z);
      const floor = Math.max(50, Math.ceil(0.01 * n));
      expect(c.minRows).toBe(floor);
      expect(c.rows).toBe(n);
      expect(c.bads).toBe(y.reduce((a, b) => a + b, 0));
      expect(c.groups.length).toBeLessThanOrEqual(20);
      // Distinct scores: about min(20, n / floor) groups (ties make fewer, larger ones).
      if (ties === 0) expect(c.groups.length).toBeGreaterThanOrEqual(Math.min(20, Math.floor(n / floor)) - 1);
      else expect(c.groups.length).toBeGreaterThan(3);
      const exact = rocCurve(y, z);
      const P = c.bads;
      const N = n - c.bads;
      let cumRows = 0;
      let cumBads = 0;
      for (const [k, g] of c.groups.entries()) {
        expect(g.rows, `group ${k}`).toBeGreaterThanOrEqual(floor);
        // Direct sums over the rows whose score lies in the group's range.
        let rows = 0;
        let bads = 0;
        let pd = 0;
        for (let i = 0; i < n; i++) {
          if (z[i]! >= g.minScore && z[i]! <= g.maxScore) {
            rows++;
            bads += y[i]!;
            pd += 1 / (1 + Math.exp(-z[i]!));
          }
        }
        // Ties never split: the range holds exactly the group's rows.
        expect([rows, bads]).toEqual([g.rows, g.bads]);
        expect(g.meanPd).toBeCloseTo(pd / rows, 12);
        if (k > 0) expect(g.maxScore).toBeLessThan(c.groups[k - 1]!.minScore);
        cumRows += g.rows;
        cumBads += g.bads;
        // The vertex at threshold minScore of the exact curve (tolerance: float division only).
        const t = exact.thresholds.indexOf(g.minScore);
        expect(t, `group ${k} threshold`).toBeGreaterThan(0);
        expect(exact.tpr[t]).toBeCloseTo(cumBads / P, 12);
        expect(exact.fpr[t]).toBeCloseTo((cumRows - cumBads) / N, 12);
      }
      expect(cumRows).toBe(n);
      expect(checkEvaluationCurves(c)).toBe(c);
    });
  }

  it('refuses a set below the floor, and stored curves below the floor or not adding up', () => {
    const { y, z } = scoredSet(40, 3);
    expect(() => evaluationCurves(y, z)).toThrow(expect.objectContaining({ code: 'privacy_floor' }));
    const c = evaluationCurves(...(Object.values(scoredSet(1000, 5)) as [Float64Array, Float64Array]));
    const split = {
      ...c,
      groups: [
        { ...c.groups[0]!, rows: 10, bads: 0 },
        { ...c.groups[0]!, rows: c.groups[0]!.rows - 10 },
        ...c.groups.slice(1),
      ],
    };
    expect(() => checkEvaluationCurves(split)).toThrow(/below the floor/);
    expect(() => checkEvaluationCurves({ ...c, minRows: 1 })).toThrow(/below the floor of 50/);
    expect(() => checkEvaluationCurves({ ...c, bads: c.bads + 1 })).toThrow(/add up/);
    expect(() => evaluationCurves([0, 2], [0.1, 0.2])).toThrow(/0\/1 labels/);
  });
});
