/**
 * Evaluation and stability wrappers against core metrics computed directly (exact): negating a
 * "higher is better" score, calibration only with probabilities, PSI with missing values left out.
 */
import { auc, ks, normal, populationStabilityIndex, seededRng, uniform } from '@fedscore/core';
import { evaluateScores, stabilityReport } from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';

describe('evaluation and stability', () => {
  const rng = seededRng(2);
  const n = 1500;
  const points = Float64Array.from({ length: n }, () => 600 + 40 * normal(rng));
  const labels = Float64Array.from(points, (s) =>
    uniform(rng) < 1 / (1 + Math.exp((s - 560) / 20)) ? 1 : 0,
  );

  it('scorecard points: AUC/KS of the negated score, Gini = 2 AUC - 1', () => {
    const neg = Float64Array.from(points, (s) => -s);
    const e = evaluateScores(labels, points, { higherIsBetter: true });
    expect(e.auc).toBe(auc(labels, neg));
    expect(e.ks).toBe(ks(labels, neg).ks);
    expect(e.gini).toBeCloseTo(2 * e.auc - 1, 12);
    expect(e.calibration).toBeUndefined();
    const pd = Float64Array.from(points, (s) => 1 / (1 + Math.exp((s - 560) / 20)));
    expect(evaluateScores(labels, pd, { pd }).calibration?.counts.reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('PSI per column, missing values counted and left out', () => {
    const a = Float64Array.from({ length: n }, () => normal(rng));
    const b = Float64Array.from({ length: n }, (_, i) => (i % 10 === 0 ? Number.NaN : normal(rng, 0.5)));
    const r = stabilityReport({ x: a }, { x: b }, ['x']);
    expect(r.rows[0]!.actualMissing).toBe(150);
    expect(r.rows[0]!.psi).toBe(
      populationStabilityIndex(
        a,
        b.filter((v) => !Number.isNaN(v)),
      ).psi,
    );
    expect(() => stabilityReport({ x: a }, {}, ['x'])).toThrow(/'x'/);
  });
});
