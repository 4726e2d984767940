/**
 * Binary-classification metrics for credit scoring: AUC, KS, Gini, ROC and KS curves, lift/gain
 * tables, Brier score, calibration bins, confusion counts at a threshold, and the population
 * stability index (PSI).
 *
 * Conventions shared by every function here:
 * - `labels` are 0/1 (1 = the event being scored, in credit scoring the default / "bad").
 * - A higher score means "more likely label 1". Turn a "higher is better" credit score into this
 *   convention by negating it before calling.
 * - A row is predicted positive at threshold t when `score >= t` (as sklearn's `roc_curve`).
 * - Inputs are any `ArrayLike<number>` (typed arrays preferred); nothing is mutated.
 * - Bad input throws `FedscoreError` naming the field: length mismatch, empty input, a label that is not
 *   0 or 1, a NaN or infinite score (`invalid_argument`); a probability outside [0, 1] (`out_of_range`);
 *   labels that hold only one class where both are needed (`single_class`).
 *
 * The ROC-based metrics follow scikit-learn's definitions (`roc_curve` with `drop_intermediate=False`,
 * `roc_auc_score`, `brier_score_loss`, `calibration_curve`, `confusion_matrix`) and are tested against
 * vectors that sklearn produced (`scripts/sklearn_reference.py`). AUC is the Mann-Whitney statistic with
 * ties counted one half (Hanley & McNeil 1982), computed in O(n log n) as the trapezoid area under the
 * ROC curve whose points are the distinct score values. PSI follows the usual credit-risk definition
 * (e.g. Siddiqi, "Credit Risk Scorecards", 2006; Yurdakul 2018).
 */
import { FedscoreError } from './errors.ts';

/** Optional per-row sample weights (finite, >= 0). */
export interface SampleWeightOptions {
  readonly sampleWeight?: ArrayLike<number>;
}

/** sklearn `roc_curve(..., drop_intermediate=False)`. */
export interface RocCurve {
  /** False-positive rate at each threshold (starts at 0). */
  readonly fpr: Float64Array;
  /** True-positive rate at each threshold (starts at 0). */
  readonly tpr: Float64Array;
  /**
   * Decreasing thresholds: the distinct scores, preceded by `Infinity` (nothing predicted positive).
   * sklearn >= 1.3 also uses `inf` there; sklearn <= 1.2 used `max(score) + 1`.
   */
  readonly thresholds: Float64Array;
}

export interface KsResult {
  /** max over thresholds of TPR - FPR (0 when no threshold separates better than chance). */
  readonly ks: number;
  /** The highest threshold reaching the maximum (`score >= threshold` is predicted 1); may be Infinity. */
  readonly threshold: number;
}

/** Data for a KS plot: cumulative shares of positives (bads) and negatives (goods) with score >= t. */
export interface KsCurve extends KsResult {
  readonly thresholds: Float64Array;
  /** Share of positives (label 1) with score >= threshold (= TPR). */
  readonly cumPositive: Float64Array;
  /** Share of negatives (label 0) with score >= threshold (= FPR). */
  readonly cumNegative: Float64Array;
  /** cumPositive - cumNegative. */
  readonly gap: Float64Array;
}

export interface LiftRow {
  /** 1-based bin number; bin 1 holds the highest scores. */
  readonly bin: number;
  readonly minScore: number;
  readonly maxScore: number;
  readonly count: number;
  readonly positives: number;
  /** positives / count. */
  readonly rate: number;
  /** Share of all rows in this and higher-scored bins. */
  readonly cumulativeShare: number;
  /** Share of all positives captured by this and higher-scored bins (the gain). */
  readonly capture: number;
  /** rate / overall positive rate. */
  readonly lift: number;
  /** capture / cumulativeShare: the lift of selecting bins 1..bin. */
  readonly cumulativeLift: number;
}

export type CalibrationStrategy = 'uniform' | 'quantile';

export interface CalibrationOptions {
  /** Number of bins (sklearn `n_bins`, default 5). */
  readonly bins?: number;
  /** 'uniform': equal-width bins on [0, 1]; 'quantile': edges at quantiles of `probs` (default uniform). */
  readonly strategy?: CalibrationStrategy;
}

/** sklearn `calibration_curve`: only non-empty bins are listed, in increasing probability order. */
export interface CalibrationBins {
  /** Fraction of label 1 in each non-empty bin. */
  readonly probTrue: Float64Array;
  /** Mean predicted probability in each non-empty bin. */
  readonly probPred: Float64Array;
  /** Rows in each non-empty bin. */
  readonly counts: Float64Array;
  /** 0-based index of each listed bin among all `bins` bins. */
  readonly binIndex: Int32Array;
  /** All `bins + 1` bin edges (quantile edges may repeat). */
  readonly edges: Float64Array;
}

export interface ConfusionAt {
  readonly threshold: number;
  /** Counts (weighted sums when sample weights are given). */
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  /** tp / (tp + fp); 0 when nothing is predicted positive (sklearn zero_division=0). */
  readonly precision: number;
  /** tp / (tp + fn); 0 when there are no positives. */
  readonly recall: number;
  readonly accuracy: number;
  /** 2 tp / (2 tp + fp + fn); 0 when that denominator is 0. */
  readonly f1: number;
}

export type PsiStrategy = 'uniform' | 'quantile';
export type PsiBand = 'stable' | 'moderate' | 'shifted';

export interface PsiOptions {
  /** Requested bins (default 10); quantile edges that coincide (ties) are merged, giving fewer. */
  readonly bins?: number;
  /** 'quantile' (default): edges at quantiles of `expected`; 'uniform': equal width over its range. */
  readonly strategy?: PsiStrategy;
  /** Share used in place of an empty bin's 0 so the logarithm is defined (default 1e-4). */
  readonly epsilon?: number;
}

export interface PsiBin {
  /** Lower edge (exclusive); -Infinity for the first bin. */
  readonly lower: number;
  /** Upper edge (inclusive); Infinity for the last bin. */
  readonly upper: number;
  readonly expectedCount: number;
  readonly actualCount: number;
  /** Share of `expected` in the bin (epsilon if empty). */
  readonly expectedShare: number;
  /** Share of `actual` in the bin (epsilon if empty). */
  readonly actualShare: number;
  /** (actualShare - expectedShare) * ln(actualShare / expectedShare). */
  readonly contribution: number;
}

export interface PsiResult {
  readonly psi: number;
  /** < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted (the usual credit-risk bands). */
  readonly band: PsiBand;
  /** The interior edges used (strictly increasing). */
  readonly edges: Float64Array;
  readonly bins: readonly PsiBin[];
}

export interface BinarySummary {
  readonly n: number;
  readonly positives: number;
  readonly auc: number;
  readonly ks: number;
  readonly ksThreshold: number;
  readonly gini: number;
  /** Brier score; null when some score lies outside [0, 1] (scores are not probabilities). */
  readonly brier: number | null;
}

/** PSI below this is read as a stable population. */
export const PSI_STABLE_BELOW = 0.1;
/** PSI above this is read as a shifted population. */
export const PSI_SHIFTED_ABOVE = 0.25;
const DEFAULT_PSI_EPSILON = 1e-4;

// ---------------------------------------------------------------------------------------------------
// Validation

interface BinaryInput {
  readonly y: Uint8Array;
  readonly s: Float64Array;
  /** null = unit weights. */
  readonly w: Float64Array | null;
}

function checkArrayLike(value: unknown, field: string): ArrayLike<number> {
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as { length?: unknown }).length !== 'number'
  ) {
    throw new FedscoreError('invalid_argument', 'expected an array of numbers', { field });
  }
  return value as ArrayLike<number>;
}

function readLabels(labels: ArrayLike<number>, field = 'labels'): Uint8Array {
  checkArrayLike(labels, field);
  const n = labels.length;
  if (n === 0) throw new FedscoreError('invalid_argument', 'no rows', { field });
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (v === 1) y[i] = 1;
    else if (v !== 0) {
      throw new FedscoreError('invalid_argument', `${field}[${i}] is not 0 or 1`, {
        field,
        details: { index: i },
      });
    }
  }
  return y;
}

function readFinite(values: ArrayLike<number>, field: string, n: number, lengthOf: string): Float64Array {
  checkArrayLike(values, field);
  if (values.length !== n) {
    throw new FedscoreError(
      'invalid_argument',
      `has ${values.length} entries but ${lengthOf} has ${n}; they must be the same length`,
      { field, details: { length: values.length, expected: n } },
    );
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new FedscoreError(
        'invalid_argument',
        `${field}[${i}] is ${typeof v === 'number' && Number.isNaN(v) ? 'NaN' : 'not a finite number'}`,
        { field, details: { index: i } },
      );
    }
    out[i] = v;
  }
  return out;
}

function readWeights(weights: ArrayLike<number> | undefined, n: number): Float64Array | null {
  if (weights === undefined) return null;
  const w = readFinite(weights, 'sampleWeight', n, 'labels');
  for (let i = 0; i < n; i++) {
    if (w[i]! < 0) {
      throw new FedscoreError('out_of_range', `sampleWeight[${i}] is negative`, {
        field: 'sampleWeight',
        details: { index: i },
      });
    }
  }
  return w;
}

function readProbs(probs: ArrayLike<number>, n: number, field = 'probs'): Float64Array {
  const p = readFinite(probs, field, n, 'labels');
  for (let i = 0; i < n; i++) {
    const v = p[i]!;
    if (v < 0 || v > 1) {
      throw new FedscoreError('out_of_range', `${field}[${i}] is outside [0, 1]`, {
        field,
        details: { index: i },
      });
    }
  }
  return p;
}

function readBinary(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  weights: ArrayLike<number> | undefined,
  scoreField = 'scores',
): BinaryInput {
  const y = readLabels(labels);
  const s = readFinite(scores, scoreField, y.length, 'labels');
  const w = readWeights(weights, y.length);
  return { y, s, w };
}

function requireBothClasses(pos: number, neg: number): void {
  if (!(pos > 0) || !(neg > 0)) {
    throw new FedscoreError(
      'single_class',
      `labels hold only one class (${pos > 0 ? 'no 0s' : 'no 1s'}${
        pos > 0 || neg > 0 ? '' : ' with positive weight'
      }); this metric needs both`,
      { field: 'labels' },
    );
  }
}

function checkBins(bins: number, field: string): number {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new FedscoreError('invalid_argument', `expected a positive integer, got ${bins}`, { field });
  }
  return bins;
}

// ---------------------------------------------------------------------------------------------------
// Sorting and the cumulative counts behind ROC, AUC and KS

/** Row indices ordered by decreasing score (ties in index order). */
function orderDescending(s: Float64Array): Uint32Array {
  const idx = new Uint32Array(s.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  idx.sort((a, b) => s[b]! - s[a]! || a - b);
  return idx;
}

interface Cumulative {
  /** Distinct scores, decreasing. */
  readonly thresholds: Float64Array;
  /** Weighted positives with score >= thresholds[k]. */
  readonly tps: Float64Array;
  /** Weighted negatives with score >= thresholds[k]. */
  readonly fps: Float64Array;
  readonly totalPos: number;
  readonly totalNeg: number;
}

function cumulativeCounts({ y, s, w }: BinaryInput): Cumulative {
  const order = orderDescending(s);
  const n = order.length;
  const thresholds = new Float64Array(n);
  const tps = new Float64Array(n);
  const fps = new Float64Array(n);
  let tp = 0;
  let fp = 0;
  let k = 0;
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    const wi = w === null ? 1 : w[i]!;
    if (y[i] === 1) tp += wi;
    else fp += wi;
    // Close a group at the last row of each run of equal scores.
    if (r === n - 1 || s[order[r + 1]!] !== s[i]) {
      thresholds[k] = s[i]!;
      tps[k] = tp;
      fps[k] = fp;
      k++;
    }
  }
  return {
    thresholds: thresholds.slice(0, k),
    tps: tps.slice(0, k),
    fps: fps.slice(0, k),
    totalPos: tp,
    totalNeg: fp,
  };
}

// ---------------------------------------------------------------------------------------------------
// ROC, AUC, Gini, KS

/** ROC curve as sklearn `roc_curve(y, score, drop_intermediate=False)`. */
export function rocCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SampleWeightOptions = {},
): RocCurve {
  const c = cumulativeCounts(readBinary(labels, scores, options.sampleWeight));
  requireBothClasses(c.totalPos, c.totalNeg);
  const m = c.thresholds.length + 1;
  const fpr = new Float64Array(m);
  const tpr = new Float64Array(m);
  const thresholds = new Float64Array(m);
  thresholds[0] = Infinity;
  for (let k = 1; k < m; k++) {
    fpr[k] = c.fps[k - 1]! / c.totalNeg;
    tpr[k] = c.tps[k - 1]! / c.totalPos;
    thresholds[k] = c.thresholds[k - 1]!;
  }
  return { fpr, tpr, thresholds };
}

function aucFromCumulative(c: Cumulative): number {
  // Trapezoids between consecutive distinct thresholds: a tie group that holds both classes adds half
  // of its positive-negative pairs, which is exactly the Mann-Whitney count with ties as one half.
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tps[k]!;
    const fp = c.fps[k]!;
    area += (fp - prevFp) * (tp + prevTp);
    prevTp = tp;
    prevFp = fp;
  }
  return area / (2 * c.totalPos * c.totalNeg);
}

/**
 * Area under the ROC curve (sklearn `roc_auc_score`), ties counted one half. O(n log n).
 * Equals the probability that a random positive scores above a random negative (+ half the tie chance).
 */
export function auc(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SampleWeightOptions = {},
): number {
  const c = cumulativeCounts(readBinary(labels, scores, options.sampleWeight));
  requireBothClasses(c.totalPos, c.totalNeg);
  return aucFromCumulative(c);
}

/** Gini coefficient (accuracy ratio) = 2 AUC - 1. */
export function gini(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SampleWeightOptions = {},
): number {
  return 2 * auc(labels, scores, options) - 1;
}

function ksFromCumulative(c: Cumulative): KsResult {
  // The (0, 0) point at threshold Infinity is part of sklearn's curve, so KS is never below 0.
  let best = 0;
  let threshold = Infinity;
  for (let k = 0; k < c.thresholds.length; k++) {
    const gap = c.tps[k]! / c.totalPos - c.fps[k]! / c.totalNeg;
    if (gap > best) {
      best = gap;
      threshold = c.thresholds[k]!;
    }
  }
  return { ks: best, threshold };
}

/**
 * Kolmogorov-Smirnov statistic: max over the distinct score values t of TPR(t) - FPR(t) (the largest gap
 * between the score distributions of positives and negatives), as `max(tpr - fpr)` on sklearn's
 * `roc_curve`. Tie groups are never split: thresholds are the distinct scores.
 */
export function ks(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SampleWeightOptions = {},
): KsResult {
  const c = cumulativeCounts(readBinary(labels, scores, options.sampleWeight));
  requireBothClasses(c.totalPos, c.totalNeg);
  return ksFromCumulative(c);
}

/** KS plot data at every distinct score, highest first, plus the statistic. */
export function ksCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SampleWeightOptions = {},
): KsCurve {
  const c = cumulativeCounts(readBinary(labels, scores, options.sampleWeight));
  requireBothClasses(c.totalPos, c.totalNeg);
  const m = c.thresholds.length;
  const cumPositive = new Float64Array(m);
  const cumNegative = new Float64Array(m);
  const gap = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    cumPositive[k] = c.tps[k]! / c.totalPos;
    cumNegative[k] = c.fps[k]! / c.totalNeg;
    gap[k] = cumPositive[k]! - cumNegative[k]!;
  }
  return { ...ksFromCumulative(c), thresholds: c.thresholds.slice(), cumPositive, cumNegative, gap };
}

// ---------------------------------------------------------------------------------------------------
// Lift / gain

/**
 * Lift and gain table by score bins, highest scores first (bin 1). Rows are ranked by decreasing score
 * and cut into `bins` groups of (nearly) equal size; equal scores are never split across bins: a run of
 * tied scores goes whole to the bin that holds the middle of the run. With heavy ties some bins end up
 * empty and are left out, so the table can have fewer than `bins` rows (`bin` keeps the nominal number).
 */
export function liftTable(labels: ArrayLike<number>, scores: ArrayLike<number>, bins = 10): LiftRow[] {
  checkBins(bins, 'bins');
  const input = readBinary(labels, scores, undefined);
  const { y, s } = input;
  const n = y.length;
  let totalPos = 0;
  for (let i = 0; i < n; i++) totalPos += y[i]!;
  requireBothClasses(totalPos, n - totalPos);
  const order = orderDescending(s);
  const count = new Float64Array(bins);
  const pos = new Float64Array(bins);
  const minS = new Float64Array(bins).fill(Infinity);
  const maxS = new Float64Array(bins).fill(-Infinity);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    const v = s[order[start]!]!;
    while (end < n && s[order[end]!] === v) end++;
    const mid = (start + end - 1) / 2;
    const b = Math.min(bins - 1, Math.floor((mid * bins) / n));
    for (let r = start; r < end; r++) pos[b]! += y[order[r]!]!;
    count[b]! += end - start;
    if (v < minS[b]!) minS[b] = v;
    if (v > maxS[b]!) maxS[b] = v;
    start = end;
  }
  const overall = totalPos / n;
  const rows: LiftRow[] = [];
  let cumCount = 0;
  let cumPos = 0;
  for (let b = 0; b < bins; b++) {
    const c = count[b]!;
    if (c === 0) continue;
    cumCount += c;
    cumPos += pos[b]!;
    const rate = pos[b]! / c;
    const cumulativeShare = cumCount / n;
    const capture = cumPos / totalPos;
    rows.push({
      bin: b + 1,
      minScore: minS[b]!,
      maxScore: maxS[b]!,
      count: c,
      positives: pos[b]!,
      rate,
      cumulativeShare,
      capture,
      lift: rate / overall,
      cumulativeLift: capture / cumulativeShare,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Probabilities: Brier score and calibration

/** Brier score: (weighted) mean of (prob - label)^2, as sklearn `brier_score_loss`. Probs in [0, 1]. */
export function brier(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  options: SampleWeightOptions = {},
): number {
  const y = readLabels(labels);
  const p = readProbs(probs, y.length);
  const w = readWeights(options.sampleWeight, y.length);
  let sum = 0;
  let wsum = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w === null ? 1 : w[i]!;
    const d = p[i]! - y[i]!;
    sum += wi * d * d;
    wsum += wi;
  }
  if (!(wsum > 0)) {
    throw new FedscoreError('invalid_argument', 'all sample weights are zero', { field: 'sampleWeight' });
  }
  return sum / wsum;
}

/**
 * numpy's default ('linear') percentile of sorted data at fraction q, with numpy's two-sided lerp, so
 * that quantile bin edges equal `np.percentile` bit for bit in the usual cases.
 */
function percentileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const virtual = q * (n - 1);
  const lo = Math.max(0, Math.min(n - 1, Math.floor(virtual)));
  const hi = Math.min(n - 1, lo + 1);
  const t = virtual - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/** Quantile fractions as `np.linspace(0, 1, bins + 1) * 100 / 100`. */
function quantileFraction(k: number, bins: number): number {
  return (k * (1 / bins) * 100) / 100;
}

/** Number of entries of `edges` (sorted) strictly below x: numpy `searchsorted(edges, x, 'left')`. */
function searchLeft(edges: Float64Array, x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedCopy(values: Float64Array): Float64Array {
  return values.slice().sort();
}

/**
 * Reliability-diagram data as sklearn `calibration_curve(y, prob, n_bins, strategy)`: the fraction of
 * positives and the mean predicted probability in each non-empty bin, plus the row counts. A probability
 * equal to an inner edge falls in the lower bin (sklearn's `searchsorted` on the inner edges).
 */
export function calibrationBins(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  options: CalibrationOptions = {},
): CalibrationBins {
  const bins = checkBins(options.bins ?? 5, 'bins');
  const strategy = options.strategy ?? 'uniform';
  if (strategy !== 'uniform' && strategy !== 'quantile') {
    throw new FedscoreError('invalid_argument', `expected 'uniform' or 'quantile'`, { field: 'strategy' });
  }
  const y = readLabels(labels);
  const p = readProbs(probs, y.length);
  const edges = new Float64Array(bins + 1);
  if (strategy === 'uniform') {
    for (let k = 0; k <= bins; k++) edges[k] = k * (1 / bins);
    edges[bins] = 1;
  } else {
    const sorted = sortedCopy(p);
    for (let k = 0; k <= bins; k++) edges[k] = percentileSorted(sorted, quantileFraction(k, bins));
  }
  const inner = edges.subarray(1, bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  const cnt = new Float64Array(bins);
  for (let i = 0; i < y.length; i++) {
    const b = searchLeft(inner, p[i]!);
    sumP[b]! += p[i]!;
    sumY[b]! += y[i]!;
    cnt[b]! += 1;
  }
  const listed: number[] = [];
  for (let b = 0; b < bins; b++) if (cnt[b]! > 0) listed.push(b);
  const probTrue = new Float64Array(listed.length);
  const probPred = new Float64Array(listed.length);
  const counts = new Float64Array(listed.length);
  const binIndex = new Int32Array(listed.length);
  listed.forEach((b, j) => {
    probTrue[j] = sumY[b]! / cnt[b]!;
    probPred[j] = sumP[b]! / cnt[b]!;
    counts[j] = cnt[b]!;
    binIndex[j] = b;
  });
  return { probTrue, probPred, counts, binIndex, edges };
}

// ---------------------------------------------------------------------------------------------------
// Confusion counts

/** Confusion counts and derived rates when `score >= threshold` is predicted 1. */
export function confusionAt(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
  options: SampleWeightOptions = {},
): ConfusionAt {
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new FedscoreError('invalid_argument', 'threshold must be a number', { field: 'threshold' });
  }
  const { y, s, w } = readBinary(labels, scores, options.sampleWeight);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w === null ? 1 : w[i]!;
    const predicted = s[i]! >= threshold;
    if (y[i] === 1) {
      if (predicted) tp += wi;
      else fn += wi;
    } else if (predicted) fp += wi;
    else tn += wi;
  }
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    accuracy: ratio(tp + tn, tp + fp + tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
  };
}

// ---------------------------------------------------------------------------------------------------
// Population stability index

/** The band of a PSI value: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted. */
export function psiBand(psi: number): PsiBand {
  if (psi < PSI_STABLE_BELOW) return 'stable';
  if (psi <= PSI_SHIFTED_ABOVE) return 'moderate';
  return 'shifted';
}

/**
 * Population stability index between an expected (development / training) sample and an actual
 * (scoring) sample of one variable or score:
 *
 *   PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i),
 *
 * with e_i, a_i the shares of each sample in bin i. Bins come from `expected` only: 'quantile' puts the
 * inner edges at its 1/bins, 2/bins, ... quantiles (numpy's linear percentile), 'uniform' spaces them
 * evenly between its minimum and maximum; coinciding edges (ties) are merged. Bin i is
 * (edge[i-1], edge[i]]: a value equal to an edge falls in the lower bin, and the outer bins are open,
 * so every `actual` value lands somewhere. An empty bin's share is replaced by `epsilon` (default 1e-4)
 * so that the logarithm is defined; the counts in the table stay exact.
 */
export function populationStabilityIndex(
  expected: ArrayLike<number>,
  actual: ArrayLike<number>,
  options: PsiOptions = {},
): PsiResult {
  const bins = checkBins(options.bins ?? 10, 'bins');
  const strategy = options.strategy ?? 'quantile';
  if (strategy !== 'uniform' && strategy !== 'quantile') {
    throw new FedscoreError('invalid_argument', `expected 'uniform' or 'quantile'`, { field: 'strategy' });
  }
  const epsilon = options.epsilon ?? DEFAULT_PSI_EPSILON;
  if (!(epsilon > 0 && epsilon < 1)) {
    throw new FedscoreError('out_of_range', `epsilon must be in (0, 1), got ${epsilon}`, {
      field: 'epsilon',
    });
  }
  checkArrayLike(expected, 'expected');
  checkArrayLike(actual, 'actual');
  if (expected.length === 0) throw new FedscoreError('invalid_argument', 'no rows', { field: 'expected' });
  if (actual.length === 0) throw new FedscoreError('invalid_argument', 'no rows', { field: 'actual' });
  const e = readFinite(expected, 'expected', expected.length, 'expected');
  const a = readFinite(actual, 'actual', actual.length, 'actual');

  const sorted = sortedCopy(e);
  const raw: number[] = [];
  if (strategy === 'quantile') {
    for (let k = 1; k < bins; k++) raw.push(percentileSorted(sorted, quantileFraction(k, bins)));
  } else {
    const lo = sorted[0]!;
    const step = (sorted[sorted.length - 1]! - lo) / bins;
    for (let k = 1; k < bins; k++) raw.push(lo + k * step);
  }
  const unique: number[] = [];
  for (const v of raw) if (unique.length === 0 || v > unique[unique.length - 1]!) unique.push(v);
  const edges = Float64Array.from(unique);
  const m = edges.length + 1;
  const eCount = new Float64Array(m);
  const aCount = new Float64Array(m);
  for (let i = 0; i < e.length; i++) eCount[searchLeft(edges, e[i]!)]! += 1;
  for (let i = 0; i < a.length; i++) aCount[searchLeft(edges, a[i]!)]! += 1;

  let psi = 0;
  const table: PsiBin[] = [];
  for (let b = 0; b < m; b++) {
    const es = eCount[b]! > 0 ? eCount[b]! / e.length : epsilon;
    const as = aCount[b]! > 0 ? aCount[b]! / a.length : epsilon;
    const contribution = (as - es) * Math.log(as / es);
    psi += contribution;
    table.push({
      lower: b === 0 ? -Infinity : edges[b - 1]!,
      upper: b === m - 1 ? Infinity : edges[b]!,
      expectedCount: eCount[b]!,
      actualCount: aCount[b]!,
      expectedShare: es,
      actualShare: as,
      contribution,
    });
  }
  return { psi, band: psiBand(psi), edges, bins: table };
}

// ---------------------------------------------------------------------------------------------------
// Summary

/** n, positives, AUC, KS (and its threshold), Gini, and the Brier score when every score is in [0, 1]. */
export function summarizeBinary(labels: ArrayLike<number>, scores: ArrayLike<number>): BinarySummary {
  const input = readBinary(labels, scores, undefined);
  const c = cumulativeCounts(input);
  requireBothClasses(c.totalPos, c.totalNeg);
  const a = aucFromCumulative(c);
  const k = ksFromCumulative(c);
  let probabilities = true;
  let sq = 0;
  for (let i = 0; i < input.s.length; i++) {
    const v = input.s[i]!;
    if (v < 0 || v > 1) probabilities = false;
    const d = v - input.y[i]!;
    sq += d * d;
  }
  return {
    n: input.y.length,
    positives: c.totalPos,
    auc: a,
    ks: k.ks,
    ksThreshold: k.threshold,
    gini: 2 * a - 1,
    brier: probabilities ? sq / input.y.length : null,
  };
}

/**
 * The nearest-rank percentile of `xs` (the smallest value with at least p% of the data at or below it;
 * p in (0, 100], p = 0 gives the minimum): latency p50/p99 of the scoring figures. Not numpy's linear
 * interpolation (the quantile bin edges above use that): on latencies it reports an observed value.
 */
export function nearestRankPercentile(xs: ArrayLike<number>, p: number): number {
  if (xs.length === 0)
    throw new FedscoreError('invalid_argument', 'percentile of an empty list', { field: 'xs' });
  if (!(p >= 0 && p <= 100))
    throw new FedscoreError('out_of_range', `p = ${p} is outside [0, 100]`, { field: 'p' });
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
