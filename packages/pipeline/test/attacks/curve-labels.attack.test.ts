/**
 * Attack: reading individual labels off a released ROC curve. A ROC curve through every distinct score
 * (as `rocCurve` gives, and as a report over the guest's own rows draws it) moves up one step for each
 * bad and right one step for each good, in score order: whoever sees the curve and can rank enterprises
 * by score (a host knows its own partial score; a platform user sees the model) reads each enterprise's
 * default label. Source: Matthews & Harel, "An examination of the ROC curve and its privacy implications"
 * (Pattern Recognition Letters 2013), reconstructing labels from ROC points; the same holds of lift and
 * KS tables at one row per point.
 *
 * What it would recover: the default label of a planted enterprise (the one bad among the riskiest
 * rows) from the curve the Models page draws.
 *
 * Weakened configuration: the curve at one row per point (the exact ROC vertices). The attacker
 * recovers every label, the planted one included. Default (`evaluationCurves`): points are groups of
 * >= max(50, 1% of rows) rows; the attacker learns the group's bad count only, and its best guess of the
 * planted row's label is the group's bad rate (here 1 in >= 50), so it cannot name the bad row.
 */
import { rocCurve, seededRng, uniform } from '@fedscore/core';
import { evaluationCurves } from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';

/** Labels in descending score order from consecutive curve vertices: an up-step is a bad. */
function labelsFromVertices(fpr: ArrayLike<number>, tpr: ArrayLike<number>, P: number, N: number): number[] {
  const out: number[] = [];
  for (let k = 1; k < fpr.length; k++) {
    const bads = Math.round((tpr[k]! - tpr[k - 1]!) * P);
    const goods = Math.round((fpr[k]! - fpr[k - 1]!) * N);
    // A vertex covering several rows says only how many of them are bad.
    if (bads + goods === 1) out.push(bads);
    else for (let r = 0; r < bads + goods; r++) out.push(Number.NaN);
  }
  return out;
}

describe('attack: labels from a released ROC curve', () => {
  // 600 rows, distinct scores; the secret: the riskiest 60 rows are good except the planted row at rank 7.
  const n = 600;
  const rng = seededRng(99);
  const z = Float64Array.from({ length: n }, (_, i) => 10 - i / 60 + uniform(rng) * 1e-6);
  const y = Float64Array.from({ length: n }, (_, i) => (i >= 60 ? (uniform(rng) < 0.25 ? 1 : 0) : 0));
  const PLANTED = 7;
  y[PLANTED] = 1;
  const P = y.reduce((a, b) => a + b, 0);
  const N = n - P;

  it('weakened (one row per point): recovers every label, the planted one included', () => {
    const c = rocCurve(y, z);
    const labels = labelsFromVertices(c.fpr, c.tpr, P, N);
    expect(labels.length).toBe(n);
    expect(labels[PLANTED]).toBe(1);
    expect(labels).toEqual([...y]);
  });

  it('default (groups of >= the floor): the planted label is not recoverable', () => {
    const g = evaluationCurves(y, z);
    const fpr = [0];
    const tpr = [0];
    let rows = 0;
    let bads = 0;
    for (const x of g.groups) {
      rows += x.rows;
      bads += x.bads;
      fpr.push((rows - bads) / N);
      tpr.push(bads / P);
    }
    const labels = labelsFromVertices(fpr, tpr, P, N);
    expect(labels.length).toBe(n);
    // No row's label is read off the curve; for the planted row the attacker knows only its group's
    // bad count: 1 bad among >= 50 rows.
    expect(labels.every((l) => Number.isNaN(l))).toBe(true);
    const first = g.groups[0]!;
    expect(first.rows).toBeGreaterThanOrEqual(50);
    expect(first.bads).toBe(1);
    expect(first.bads / first.rows).toBeLessThanOrEqual(1 / 50);
  });
});
