/**
 * Metrics against scikit-learn: the vectors in fixtures/metrics_reference.json were produced by
 * scripts/sklearn_reference.py (sklearn's roc_auc_score, roc_curve, brier_score_loss, calibration_curve,
 * confusion_matrix and friends; PSI and the lift table by numpy with our definition, since sklearn has
 * neither). Tolerance: 1e-9 absolute on every statistic; counts must match exactly.
 */
import { readFileSync } from 'node:fs';
import {
  auc,
  brier,
  calibrationBins,
  confusionAt,
  FedscoreError,
  gini,
  ks,
  ksCurve,
  liftTable,
  nearestRankPercentile,
  populationStabilityIndex,
  psiBand,
  rocCurve,
  summarizeBinary,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

const TOL = 1e-9;

interface CalibrationRef {
  bins: number;
  strategy: 'uniform' | 'quantile';
  prob_true: number[];
  prob_pred: number[];
  counts_numpy: number[];
}
interface PsiRef {
  bins: number;
  strategy: 'uniform' | 'quantile';
  epsilon: number;
  edges: number[];
  expected_counts: number[];
  actual_counts: number[];
  contributions: number[];
  psi: number;
}
interface MetricCase {
  name: string;
  labels: number[];
  scores: number[];
  weights: number[] | null;
  is_prob: boolean;
  roc_auc: number;
  gini: number;
  roc_curve: { fpr: number[]; tpr: number[]; thresholds_after_first: number[] };
  ks: number;
  ks_threshold: number | null;
  confusion: Record<
    'threshold' | 'tn' | 'fp' | 'fn' | 'tp' | 'precision' | 'recall' | 'accuracy' | 'f1',
    number
  >;
  brier?: number;
  calibration?: Record<string, CalibrationRef>;
  lift_numpy?: {
    bins: number;
    bin: number[];
    count: number[];
    positives: number[];
    rate: number[];
    capture: number[];
    lift: number[];
    cumulative_lift: number[];
  };
  psi_actual?: number[];
  psi_numpy?: PsiRef[];
}

const reference = JSON.parse(
  readFileSync(new URL('./fixtures/metrics_reference.json', import.meta.url), 'utf8'),
) as { versions: Record<string, string>; metric_cases: MetricCase[] };

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol = TOL): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `index ${i}`).toBeLessThanOrEqual(tol);
  }
}

function weightOpt(c: MetricCase) {
  return c.weights === null ? {} : { sampleWeight: Float64Array.from(c.weights) };
}

describe(`metrics vs scikit-learn ${reference.versions['sklearn']} (tolerance ${TOL})`, () => {
  for (const c of reference.metric_cases) {
    describe(c.name, () => {
      const y = Float64Array.from(c.labels);
      const s = Float64Array.from(c.scores);
      it('AUC and Gini equal roc_auc_score', () => {
        expect(Math.abs(auc(y, s, weightOpt(c)) - c.roc_auc)).toBeLessThanOrEqual(TOL);
        expect(Math.abs(gini(y, s, weightOpt(c)) - c.gini)).toBeLessThanOrEqual(TOL);
      });
      it('ROC curve equals roc_curve(drop_intermediate=False)', () => {
        const roc = rocCurve(y, s, weightOpt(c));
        expectClose(roc.fpr, c.roc_curve.fpr);
        expectClose(roc.tpr, c.roc_curve.tpr);
        expect(roc.thresholds[0]).toBe(Infinity);
        expectClose(roc.thresholds.subarray(1), c.roc_curve.thresholds_after_first, 0);
      });
      it('KS equals max(tpr - fpr) at the same threshold', () => {
        const k = ks(y, s, weightOpt(c));
        expect(Math.abs(k.ks - c.ks)).toBeLessThanOrEqual(TOL);
        expect(k.threshold).toBe(c.ks_threshold ?? Infinity);
        const curve = ksCurve(y, s, weightOpt(c));
        expect(curve.ks).toBe(k.ks);
        expectClose(curve.cumPositive, c.roc_curve.tpr.slice(1));
        expectClose(curve.cumNegative, c.roc_curve.fpr.slice(1));
      });
      it('confusion counts and rates equal confusion_matrix / precision / recall / accuracy / f1', () => {
        const r = confusionAt(y, s, c.confusion.threshold, weightOpt(c));
        for (const key of ['tn', 'fp', 'fn', 'tp', 'precision', 'recall', 'accuracy', 'f1'] as const) {
          expect(Math.abs(r[key] - c.confusion[key]), key).toBeLessThanOrEqual(TOL);
        }
      });
      if (c.brier !== undefined) {
        it('Brier score equals brier_score_loss', () => {
          expect(Math.abs(brier(y, s, weightOpt(c)) - c.brier!)).toBeLessThanOrEqual(TOL);
        });
      }
      for (const [key, cal] of Object.entries(c.calibration ?? {})) {
        it(`calibration bins equal calibration_curve (${key})`, () => {
          const r = calibrationBins(y, s, { bins: cal.bins, strategy: cal.strategy });
          expectClose(r.probTrue, cal.prob_true);
          expectClose(r.probPred, cal.prob_pred);
          expectClose(r.counts, cal.counts_numpy, 0);
        });
      }
      if (c.lift_numpy !== undefined) {
        it('lift table equals the numpy computation of the same definition', () => {
          const ref = c.lift_numpy!;
          const rows = liftTable(y, s, ref.bins);
          expect(rows.map((r) => r.bin)).toEqual(ref.bin);
          expectClose(
            rows.map((r) => r.count),
            ref.count,
            0,
          );
          expectClose(
            rows.map((r) => r.positives),
            ref.positives,
            0,
          );
          expectClose(
            rows.map((r) => r.rate),
            ref.rate,
          );
          expectClose(
            rows.map((r) => r.capture),
            ref.capture,
          );
          expectClose(
            rows.map((r) => r.lift),
            ref.lift,
          );
          expectClose(
            rows.map((r) => r.cumulativeLift),
            ref.cumulative_lift,
          );
        });
      }
      for (const ref of c.psi_numpy ?? []) {
        it(`PSI equals the numpy computation (${ref.strategy}, ${ref.bins} bins)`, () => {
          const r = populationStabilityIndex(s, Float64Array.from(c.psi_actual!), {
            bins: ref.bins,
            strategy: ref.strategy,
            epsilon: ref.epsilon,
          });
          expectClose(r.edges, ref.edges);
          expectClose(
            r.bins.map((b) => b.expectedCount),
            ref.expected_counts,
            0,
          );
          expectClose(
            r.bins.map((b) => b.actualCount),
            ref.actual_counts,
            0,
          );
          expectClose(
            r.bins.map((b) => b.contribution),
            ref.contributions,
          );
          expect(Math.abs(r.psi - ref.psi)).toBeLessThanOrEqual(TOL);
          expect(r.band).toBe(psiBand(ref.psi));
        });
      }
      it('summarizeBinary agrees with the single metrics', () => {
        if (c.weights !== null) return;
        const sum = summarizeBinary(y, s);
        expect(sum.n).toBe(c.labels.length);
        expect(sum.positives).toBe(c.labels.filter((v) => v === 1).length);
        expect(Math.abs(sum.auc - c.roc_auc)).toBeLessThanOrEqual(TOL);
        expect(Math.abs(sum.ks - c.ks)).toBeLessThanOrEqual(TOL);
        expect(Math.abs(sum.gini - c.gini)).toBeLessThanOrEqual(TOL);
        if (c.is_prob) expect(Math.abs(sum.brier! - c.brier!)).toBeLessThanOrEqual(TOL);
        else expect(sum.brier).toBeNull();
      });
    });
  }
});

/** Brute-force Mann-Whitney count over all positive-negative pairs: an independent AUC definition. */
function pairwiseAuc(y: ArrayLike<number>, s: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      if (s[i]! > s[j]!) wins += 1;
      else if (s[i] === s[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

describe('metric properties', () => {
  it('AUC equals the pairwise Mann-Whitney count with ties as one half (tolerance 1e-12)', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 4294967296;
    };
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rand() * 200);
      const y = new Float64Array(n);
      const s = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = rand() < 0.3 ? 1 : 0;
        s[i] = Math.round(rand() * (trial % 3 === 0 ? 3 : 50)) + y[i]! * rand() * 5;
      }
      y[0] = 1;
      y[1] = 0;
      expect(Math.abs(auc(y, s) - pairwiseAuc(y, s))).toBeLessThanOrEqual(1e-12);
    }
  });

  it('AUC is invariant to a strictly increasing transform and complements under negation', () => {
    const y = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0];
    const s = [0.2, 0.9, 0.4, 0.4, 0.7, 0.1, 0.8, 0.6, 0.6, 0.3];
    const a = auc(y, s);
    expect(
      auc(
        y,
        s.map((v) => Math.log(v) * 3 + 2),
      ),
    ).toBeCloseTo(a, 15);
    expect(
      auc(
        y,
        s.map((v) => -v),
      ),
    ).toBeCloseTo(1 - a, 15);
  });

  it('lift table never splits equal scores across bins and covers every row', () => {
    const n = 1000;
    const y = new Float64Array(n);
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = i % 7; // 7 distinct values into 10 requested bins
      y[i] = i % 3 === 0 ? 1 : 0;
    }
    const rows = liftTable(y, s, 10);
    expect(rows.length).toBeLessThanOrEqual(7);
    expect(rows.reduce((t, r) => t + r.count, 0)).toBe(n);
    for (const r of rows) expect(r.minScore).toBe(r.maxScore);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.maxScore).toBeLessThan(rows[i - 1]!.minScore);
    expect(rows[rows.length - 1]!.capture).toBeCloseTo(1, 15);
  });

  it('PSI of a sample against itself is 0 (stable), a shifted sample is flagged', () => {
    const e = Float64Array.from(
      { length: 2000 },
      (_, i) => Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453),
    );
    expect(populationStabilityIndex(e, e).psi).toBe(0);
    expect(populationStabilityIndex(e, e).band).toBe('stable');
    const shifted = e.map((v) => v * 0.5 + 0.5);
    const r = populationStabilityIndex(e, shifted);
    expect(r.band).toBe('shifted');
    expect(r.bins.length).toBe(10);
    // The 5 lower bins are empty in `actual`: their share is the documented epsilon.
    expect(r.bins.filter((b) => b.actualCount === 0).every((b) => b.actualShare === 1e-4)).toBe(true);
    expect(psiBand(0.0999)).toBe('stable');
    expect(psiBand(0.1)).toBe('moderate');
    expect(psiBand(0.25)).toBe('moderate');
    expect(psiBand(0.2501)).toBe('shifted');
  });
});

describe('metric input errors name the field', () => {
  const catchError = (f: () => unknown): FedscoreError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(FedscoreError);
      return e as FedscoreError;
    }
    throw new Error('expected a FedscoreError');
  };

  it('length mismatch', () => {
    const e = catchError(() => auc([0, 1, 0], [0.1, 0.2]));
    expect(e.code).toBe('invalid_argument');
    expect(e.field).toBe('scores');
  });
  it('single class', () => {
    const e = catchError(() => auc([1, 1, 1], [0.1, 0.2, 0.3]));
    expect(e.code).toBe('single_class');
    expect(e.field).toBe('labels');
    expect(catchError(() => ks([0, 0], [0.1, 0.2])).code).toBe('single_class');
  });
  it('NaN score', () => {
    const e = catchError(() => ks([0, 1, 0], [0.1, Number.NaN, 0.3]));
    expect(e.code).toBe('invalid_argument');
    expect(e.field).toBe('scores');
    expect(e.details).toEqual({ index: 1 });
    expect(e.message).toContain('NaN');
  });
  it('label not 0/1', () => {
    const e = catchError(() => gini([0, 2, 1], [0.1, 0.2, 0.3]));
    expect(e.field).toBe('labels');
    expect(e.details).toEqual({ index: 1 });
  });
  it('probability out of [0, 1]', () => {
    const e = catchError(() => brier([0, 1], [0.1, 1.2]));
    expect(e.code).toBe('out_of_range');
    expect(e.field).toBe('probs');
    expect(catchError(() => calibrationBins([0, 1], [-0.1, 0.5])).field).toBe('probs');
  });
  it('negative sample weight, empty input, bad bins', () => {
    expect(catchError(() => auc([0, 1], [0.1, 0.2], { sampleWeight: [1, -1] })).field).toBe('sampleWeight');
    expect(catchError(() => auc([], [])).field).toBe('labels');
    expect(catchError(() => liftTable([0, 1], [0.1, 0.2], 0)).field).toBe('bins');
    expect(catchError(() => populationStabilityIndex([1, 2], [Number.NaN])).field).toBe('actual');
  });
});

describe('nearestRankPercentile', () => {
  // The worked examples of the nearest-rank method (Wikipedia, "Percentile", "The nearest-rank method").
  it.each([
    [[15, 20, 35, 40, 50], 5, 15],
    [[15, 20, 35, 40, 50], 30, 20],
    [[15, 20, 35, 40, 50], 40, 20],
    [[15, 20, 35, 40, 50], 50, 35],
    [[15, 20, 35, 40, 50], 100, 50],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 25, 7],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 50, 8],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 75, 15],
    [[3, 6, 7, 8, 8, 10, 13, 15, 16, 20], 100, 20],
  ])('%j at p = %i is %i, whatever the input order', (xs, p, want) => {
    expect(nearestRankPercentile(xs, p)).toBe(want);
    expect(nearestRankPercentile([...xs].reverse(), p)).toBe(want);
  });

  it('refuses an empty list and p outside [0, 100] with typed errors', () => {
    expect(() => nearestRankPercentile([], 50)).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }),
    );
    expect(() => nearestRankPercentile([1], 101)).toThrow(
      expect.objectContaining({ code: 'out_of_range', field: 'p' }),
    );
    expect(nearestRankPercentile([2, 1], 0)).toBe(1);
  });
});
