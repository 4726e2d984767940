/**
 * SecureBoost hyperparameters, their defaults and checks, the privacy floors, and the split arithmetic
 * both the guest and its tests rely on (XGBoost's second-order gain and leaf weight: Chen & Guestrin
 * 2016, "XGBoost: A scalable tree boosting system", eqs. 5-7, as SecureBoost uses them).
 */
import { assertOneOf, FedscoreError } from '@fedscore/core';
import type { CkksPresetName } from '@fedscore/he';
import { HE_SCHEMES, type HeScheme } from '@fedscore/wire';
import { MIN_RELEASED_BIN_ROWS } from '../binning/bins.ts';

export const SECUREBOOST_SCHEMES = HE_SCHEMES;
export type SecureBoostScheme = HeScheme;

/**
 * Default floor of rows per node: a node with fewer rows is never split, so no histogram ever describes
 * fewer aligned enterprises (the same floor as a released WOE bin, binning/bins.ts).
 */
export const MIN_NODE_ROWS = MIN_RELEASED_BIN_ROWS;

/** CKKS parameters of the histograms: scale 2^55 keeps the circuit error near 2^-32 (docs below). */
export const SECUREBOOST_CKKS_PRESET: CkksPresetName = 'ckks-16384-release';

/**
 * Measured bound of the histogram circuit's error (one plaintext 0/1 product per row, the diagonal
 * dot product of he's packing.ts, |g| <= 1), per CKKS preset, with margin: ckks-16384-release measured
 * max 2^-32.3 over 3,000 rows and 100 cells (bound 2^-28); ckks-8192 measured 2^-19.7 (bound 2^-16).
 * `secureboost-flooding.test.ts` re-measures it on every run. The flooding noise is sized from it.
 * The bound is kept for the cached-rotation evaluation of histogram.ts (products unrescaled, one rescale
 * at release), whose unflooded residual measured RMS 2^-37 over 600 rows and 68 cells.
 */
export const HISTOGRAM_ERROR_BOUND: Readonly<Partial<Record<CkksPresetName, number>>> = {
  'ckks-16384-release': 2 ** -28,
  'ckks-8192': 2 ** -16,
};

/**
 * The bound for the run-cached products one level lower (histogram.ts `maskedProduct`: diagonals encoded
 * at 2^44 to 2^55, products at level 1 of ckks-16384-release): measured max 2^-25.5 over 24,000 rows
 * and 330 cells (`secureboost-histogram.test.ts` re-measures it), 2^-31.7 on the default path at the
 * same size; the path is limited to 32,768 rows. The host sizes its flooding from this bound when it
 * opts into that path (`lowProductLevel`): 16x the noise of `HISTOGRAM_ERROR_BOUND` (sd 0.139 per
 * released sum for default_credit's 30-tree plan), for ~1.7x less work per node.
 */
export const HISTOGRAM_LOW_LEVEL_ERROR_BOUND: Readonly<Partial<Record<CkksPresetName, number>>> = {
  'ckks-16384-release': 2 ** -24,
};

/** Statistical security of the flooding (bits; Li-Micciancio-Schultz-Sorrell 2022, OpenFHE's rule). */
export const HISTOGRAM_FLOODING_BITS = 30;

export interface SecureBoostHyperparams {
  /** Boosting rounds. Default 30. */
  readonly trees?: number;
  /** Maximum depth of each tree (root = depth 0). Default 3. */
  readonly depth?: number;
  /** Shrinkage of every leaf weight. Default 0.3. */
  readonly learningRate?: number;
  /** Quantile bins per feature (binning's `fitBins`). Default 32. */
  readonly bins?: number;
  /** Minimum hessian sum of each child. Default 1. */
  readonly minChildWeight?: number;
  /** Minimum rows of each child. Default 1 (the row floor applies on top). */
  readonly minLeafRows?: number;
  /** L2 penalty lambda on leaf weights. Default 1. */
  readonly l2?: number;
  /** Fraction of rows each tree is grown on (uniform without replacement). Default 1. */
  readonly subsample?: number;
  /** The row floor: every node has at least this many rows. Default `MIN_NODE_ROWS`. */
  readonly minNodeRows?: number;
  /**
   * GOSS (Ke et al. 2017, "LightGBM", Algorithm 2): each tree keeps the top `gossTopRate` of rows by
   * |g| and a uniform `gossOtherRate` of the rest, whose g and h are multiplied by (1 - a) / b.
   * GOSS is on when a + b < 1; the defaults (0 and 1) keep every row unweighted. LightGBM's usual
   * values: 0.2 and 0.1. Exclusive with `subsample` < 1.
   */
  readonly gossTopRate?: number;
  readonly gossOtherRate?: number;
  /**
   * GOSS shows every host a label-dependent row set: the rows of largest |g| = |p - y| are in every
   * tree's instance space, and at the first tree (one p for all rows) they are the minority class
   * (attacks/secureboost-goss-labels.attack.test.ts). The guest must accept that for its own labels:
   * GOSS is refused (`policy`) unless this is true. Default false.
   */
  readonly acceptGossLabelLeakage?: boolean;
  /**
   * Fraction of its own features each party samples, locally, for each tree (XGBoost's
   * colsample_bytree). Default 1. Each party draws its own sample; no party learns another's.
   */
  readonly colsampleByTree?: number;
  /**
   * Early stopping: stop after this many trees without improvement of the validation metric and keep
   * the best number of trees. Default 0 (off). Needs validation rows (`validationFraction` or the
   * guest's `validationRows`).
   */
  readonly earlyStoppingRounds?: number;
  /** Fraction of the aligned training rows the guest holds out for validation. Default 0. */
  readonly validationFraction?: number;
  /** Validation metric: mean log loss (lower is better) or AUC (higher). Default 'logloss'. */
  readonly earlyStoppingMetric?: EarlyStoppingMetric;
  /**
   * The first this many trees are grown on the guest's features only: hosts take no part in them and
   * learn nothing of them (Cheng et al. 2019, section 6; FATE's mix/guest_depth modes). Default 0.
   */
  readonly guestOnlyTrees?: number;
  /**
   * Layered trees (FATE's fast SecureBoost LAYERED mode, SecureBoost+'s layered training, Chen et al.
   * 2021, arXiv:2110.10927): in every tree the top `hostDepth` levels are split on the hosts' features
   * only, the levels below on the guest's features only, with no host taking part (it learns the
   * instance spaces of the top levels only). Needs guest features; 0 (default): off; at most depth - 1.
   */
  readonly hostDepth?: number;
  /**
   * Send each host the gain of each of its own splits at the end, so it can total gain importance per
   * own feature. Default false: a host's importance is split counts only (gain is label-derived).
   */
  readonly shareSplitGains?: boolean;
}

export const EARLY_STOPPING_METRICS = ['logloss', 'auc'] as const;
export type EarlyStoppingMetric = (typeof EARLY_STOPPING_METRICS)[number];

export type ResolvedSecureBoost = Required<SecureBoostHyperparams>;

export function resolveSecureBoost(h: SecureBoostHyperparams = {}): ResolvedSecureBoost {
  const r: ResolvedSecureBoost = {
    trees: h.trees ?? 30,
    depth: h.depth ?? 3,
    learningRate: h.learningRate ?? 0.3,
    bins: h.bins ?? 32,
    minChildWeight: h.minChildWeight ?? 1,
    minLeafRows: h.minLeafRows ?? 1,
    l2: h.l2 ?? 1,
    subsample: h.subsample ?? 1,
    minNodeRows: h.minNodeRows ?? MIN_NODE_ROWS,
    gossTopRate: h.gossTopRate ?? 0,
    gossOtherRate: h.gossOtherRate ?? 1,
    acceptGossLabelLeakage: h.acceptGossLabelLeakage ?? false,
    colsampleByTree: h.colsampleByTree ?? 1,
    earlyStoppingRounds: h.earlyStoppingRounds ?? 0,
    validationFraction: h.validationFraction ?? 0,
    earlyStoppingMetric: h.earlyStoppingMetric ?? 'logloss',
    guestOnlyTrees: h.guestOnlyTrees ?? 0,
    hostDepth: h.hostDepth ?? 0,
    shareSplitGains: h.shareSplitGains ?? false,
  };
  type NumericField = {
    [K in keyof ResolvedSecureBoost]: ResolvedSecureBoost[K] extends number ? K : never;
  }[keyof ResolvedSecureBoost];
  const int = (field: NumericField, lo: number, hi: number) => {
    const v = r[field];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new FedscoreError('out_of_range', `${field} must be an integer in [${lo}, ${hi}], got ${v}`, {
        field,
      });
    }
  };
  const real = (field: NumericField, ok: (v: number) => boolean, what: string) => {
    const v = r[field];
    if (!(Number.isFinite(v) && ok(v))) {
      throw new FedscoreError('out_of_range', `${field} must be ${what}, got ${v}`, { field });
    }
  };
  int('trees', 1, 10_000);
  int('depth', 1, 12);
  int('bins', 2, 1024);
  int('minLeafRows', 1, 2 ** 31);
  int('minNodeRows', 1, 2 ** 31);
  real('learningRate', (v) => v > 0 && v <= 1, 'in (0, 1]');
  real('minChildWeight', (v) => v >= 0, '>= 0');
  real('l2', (v) => v >= 0, '>= 0');
  real('subsample', (v) => v > 0 && v <= 1, 'in (0, 1]');
  real('gossTopRate', (v) => v >= 0 && v < 1, 'in [0, 1)');
  real('gossOtherRate', (v) => v > 0 && v <= 1 - r.gossTopRate, 'in (0, 1 - gossTopRate]');
  if (gossOn(r) && r.acceptGossLabelLeakage !== true) {
    throw new FedscoreError(
      'policy',
      'GOSS shows the hosts which rows have large gradients (label-dependent): set acceptGossLabelLeakage',
      { field: 'acceptGossLabelLeakage' },
    );
  }
  if (gossOn(r) && r.subsample < 1) {
    throw new FedscoreError('invalid_argument', 'GOSS and subsample < 1 are exclusive', {
      field: 'subsample',
    });
  }
  real('colsampleByTree', (v) => v > 0 && v <= 1, 'in (0, 1]');
  int('earlyStoppingRounds', 0, 10_000);
  real('validationFraction', (v) => v >= 0 && v < 1, 'in [0, 1)');
  assertOneOf(r.earlyStoppingMetric, EARLY_STOPPING_METRICS, 'earlyStoppingMetric');
  int('guestOnlyTrees', 0, r.trees);
  int('hostDepth', 0, r.depth - 1);
  if (typeof r.shareSplitGains !== 'boolean') {
    throw new FedscoreError('invalid_argument', 'shareSplitGains must be a boolean', {
      field: 'shareSplitGains',
    });
  }
  return r;
}

/** True when GOSS drops rows (a + b < 1). */
export function gossOn(h: Pick<ResolvedSecureBoost, 'gossTopRate' | 'gossOtherRate'>): boolean {
  return h.gossTopRate + h.gossOtherRate < 1;
}

export function checkScheme(scheme: unknown): SecureBoostScheme {
  return assertOneOf(scheme as string, SECUREBOOST_SCHEMES, 'scheme');
}

/**
 * The per-bin floor: a host's bin groups for a node and its sibling (every row of their parent is in
 * one of the two). Walking each feature's cells in order over the parent's groups (`parentEnds[c]`: the
 * last cell of c's group; the identity at the root), a group closes at the end of a parent group once it
 * holds at least `floor` rows of `counts` and, when given (not at the root), of `siblingCounts`; a short
 * remainder at the feature's end joins the group before it (a feature without two such groups is one
 * group: no cut). Returns, per cell, the last cell of its group. Each group is a union of the parent's,
 * so every sum the guest can form from the parent's histogram and its children's (a cell, a difference
 * parent - child, a cumulative sum) covers at least `floor` rows or none (as WOE binning's merge of
 * small bins, `woe-bin-floor.test.ts`; the threshold rule of statistical disclosure control).
 */
export function binGroups(
  binCounts: readonly number[],
  parentEnds: Int32Array,
  counts: ArrayLike<number>,
  siblingCounts: ArrayLike<number> | undefined,
  floor: number,
): Int32Array {
  const ends = new Int32Array(parentEnds.length);
  let off = 0;
  for (const bins of binCounts) {
    const last = off + bins - 1;
    const closed: number[] = [];
    let a = 0;
    let b = 0;
    for (let c = off; c <= last; c++) {
      a += counts[c]!;
      b += siblingCounts === undefined ? floor : siblingCounts[c]!;
      if (parentEnds[c] === c && a >= floor && b >= floor) {
        closed.push(c);
        a = 0;
        b = 0;
      }
    }
    if (closed.length === 0) closed.push(last);
    else closed[closed.length - 1] = last;
    let k = 0;
    for (let c = off; c <= last; c++) {
      if (c > closed[k]!) k++;
      ends[c] = closed[k]!;
    }
    off += bins;
  }
  return ends;
}

/** Rows each child of a split must have: the leaf minimum and the row floor. */
export function childFloor(minLeafRows: number, minNodeRows: number): number {
  return Math.max(minLeafRows, minNodeRows);
}

/** Leaf weight -G / (H + lambda) (before shrinkage). */
export function leafWeight(g: number, h: number, l2: number): number {
  return -g / (h + l2);
}

/** Loss reduction of a split (XGBoost eq. 7, without the gamma term). */
export function splitGain(gl: number, hl: number, g: number, h: number, l2: number): number {
  const gr = g - gl;
  const hr = h - hl;
  return 0.5 * ((gl * gl) / (hl + l2) + (gr * gr) / (hr + l2) - (g * g) / (h + l2));
}

export interface BestSplit {
  readonly feature: number;
  readonly bin: number;
  readonly gain: number;
}

/**
 * The best cut over per-bin sums (features' bins in order, `binsPerFeature`): rows in bins <= b go
 * left. A cut qualifies when it is admissible (both sides keep the child floor of rows), both hessian
 * sums reach `minChildWeight`, and its gain beats the best so far (ties keep the earlier cut).
 * `g`, `h`: the node's exact totals (the guest's own values).
 */
export function bestBinSplit(
  gHist: ArrayLike<number>,
  hHist: ArrayLike<number>,
  binsPerFeature: readonly number[],
  admissible: (cell: number) => boolean,
  g: number,
  h: number,
  hp: { readonly l2: number; readonly minChildWeight: number },
  floorGain = 0,
): BestSplit | undefined {
  let best: BestSplit | undefined;
  let bestGain = floorGain;
  let off = 0;
  binsPerFeature.forEach((bins, f) => {
    let gl = 0;
    let hl = 0;
    for (let b = 0; b + 1 < bins; b++) {
      gl += gHist[off + b]!;
      hl += hHist[off + b]!;
      if (!admissible(off + b)) continue;
      if (hl < hp.minChildWeight || h - hl < hp.minChildWeight) continue;
      const gain = splitGain(gl, hl, g, h, hp.l2);
      if (gain > bestGain) {
        bestGain = gain;
        best = { feature: f, bin: b, gain };
      }
    }
    off += bins;
  });
  return best;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
