/**
 * Per-party feature statistics, computed locally by the feature's owner.
 *
 * `featureStats` sees the raw column and never leaves the party. `shareableSummary` is what may be sent:
 * only the aggregates the owner's `SummaryPolicy` lists, so a party can publish, say, missing rates and
 * distinct counts while keeping its quantiles (which are feature values) to itself.
 */
import { type Column, FedscoreError } from '@fedscore/core';

/** Default quantile levels reported by `featureStats`. */
export const DEFAULT_QUANTILES: readonly number[] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

export interface FeatureStats {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
  /** Rows, missing included. */
  readonly rows: number;
  /** Non-missing values. */
  readonly count: number;
  readonly missing: number;
  readonly missingRate: number;
  readonly distinct: number;
  /** Numeric only (NaN when there are no values): mean and sample standard deviation (n - 1). */
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly max: number;
  /** Numeric only: `[level, value]`, linear interpolation between order statistics (numpy's default). */
  readonly quantiles: readonly (readonly [number, number])[];
  /** Categorical only: the most frequent categories, most frequent first, at most `topCategories`. */
  readonly topCategories: readonly (readonly [string, number])[];
}

export interface FeatureStatsOptions {
  readonly quantiles?: readonly number[];
  /** How many categories `topCategories` lists (default 10). */
  readonly topCategories?: number;
}

/** Aggregates a summary may carry. Feature values (min, max, quantiles, category names) are opt-in. */
export type SummaryField =
  | 'count'
  | 'missing'
  | 'missingRate'
  | 'distinct'
  | 'mean'
  | 'std'
  | 'min'
  | 'max'
  | 'quantiles'
  | 'topCategories';

export interface SummaryPolicy {
  /** Fields the owner allows to leave the party. Default `DEFAULT_SUMMARY_FIELDS`. */
  readonly fields?: readonly SummaryField[];
  /** Features to leave out of the summary entirely (by name). */
  readonly withhold?: readonly string[];
}

/** Shared by default: counts only, no value of any row or any statistic that pins a value down. */
export const DEFAULT_SUMMARY_FIELDS: readonly SummaryField[] = [
  'count',
  'missing',
  'missingRate',
  'distinct',
];

export type SharedFeatureSummary = {
  readonly party: string;
  readonly name: string;
  readonly kind: string;
} & Partial<Pick<FeatureStats, SummaryField>>;

/** Linear-interpolation quantile of an ascending array (numpy `method='linear'`). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/** The non-missing values of a numeric column, ascending. */
export function sortedPresent(values: Float64Array): Float64Array {
  let k = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) k++;
  const out = new Float64Array(k);
  k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) out[k++] = v;
  }
  return out.sort();
}

/** The non-missing values of a numeric column, unordered (a scratch copy for `orderStatistics`). */
export function presentValues(values: Float64Array): { values: Float64Array; min: number; max: number } {
  let k = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) k++;
  const out = new Float64Array(k);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    out[k++] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { values: out, min, max };
}

/** Sort a[lo..hi] (inclusive) in place by insertion: the base case of the selection below. */
function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Rearrange a[lo..hi] so that a[k] holds the value of rank k, smaller-or-equal values before it and
 * larger-or-equal after (Hoare's FIND, 1961, as in Wirth's "Algorithms + Data Structures = Programs":
 * median-of-three pivot, two-pointer partition; equal keys stop both pointers, so columns with few
 * distinct values still split evenly). After 64 rounds without converging it sorts the rest: never
 * quadratic.
 */
function selectRank(a: Float64Array, lo: number, hi: number, k: number): void {
  for (let round = 0; hi > lo; round++) {
    if (hi - lo < 16) {
      insertionSort(a, lo, hi);
      return;
    }
    if (round === 64) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    const p = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z)); // median of three
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        const v = a[i]!;
        a[i] = a[j]!;
        a[j] = v;
        i++;
        j--;
      }
    }
    // a[lo..j] <= p <= a[i..hi], and every element strictly between j and i equals p.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/**
 * The values of ranks `ranks` (ascending, distinct, each in [0, n)) of `a`, as a full ascending sort
 * would place them, in O(n log |ranks|) instead of a sort's O(n log n): the quantile edges of a
 * feature need ~2 ranks per bin, not the whole order. Reorders `a` in place (pass a scratch copy).
 */
export function orderStatistics(a: Float64Array, ranks: readonly number[]): Float64Array {
  const out = new Float64Array(ranks.length);
  const n = a.length;
  ranks.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= n || (i > 0 && r <= ranks[i - 1]!)) {
      throw new FedscoreError('out_of_range', `rank ${r} is not ascending within [0, ${n})`, {
        field: `ranks[${i}]`,
      });
    }
  });
  // Select the middle wanted rank, then the ranks left of it within the left part, and so on.
  const solve = (lo: number, hi: number, from: number, to: number): void => {
    while (from < to) {
      const mid = (from + to) >>> 1;
      const k = ranks[mid]!;
      selectRank(a, lo, hi, k);
      out[mid] = a[k]!;
      solve(lo, k - 1, from, mid);
      lo = k + 1;
      from = mid + 1;
    }
  };
  solve(0, n - 1, 0, ranks.length);
  return out;
}

export function featureStats(column: Column, options: FeatureStatsOptions = {}): FeatureStats {
  const levels = options.quantiles ?? DEFAULT_QUANTILES;
  levels.forEach((q, i) => {
    if (!(q >= 0 && q <= 1)) {
      throw new FedscoreError('out_of_range', `quantile level ${q} is outside [0, 1]`, {
        field: `quantiles[${i}]`,
      });
    }
  });
  const top = options.topCategories ?? 10;
  if (column.kind === 'numeric') {
    const rows = column.values.length;
    const sorted = sortedPresent(column.values);
    const count = sorted.length;
    // Welford's update: stable for large means.
    let mean = 0;
    let m2 = 0;
    let distinct = 0;
    for (let i = 0; i < count; i++) {
      const v = sorted[i]!;
      const d = v - mean;
      mean += d / (i + 1);
      m2 += d * (v - mean);
      if (i === 0 || v !== sorted[i - 1]) distinct++;
    }
    return {
      name: column.name,
      kind: 'numeric',
      rows,
      count,
      missing: rows - count,
      missingRate: rows === 0 ? 0 : (rows - count) / rows,
      distinct,
      mean: count > 0 ? mean : Number.NaN,
      std: count > 1 ? Math.sqrt(m2 / (count - 1)) : Number.NaN,
      min: count > 0 ? sorted[0]! : Number.NaN,
      max: count > 0 ? sorted[count - 1]! : Number.NaN,
      quantiles: levels.map((q) => [q, quantileSorted(sorted, q)] as const),
      topCategories: [],
    };
  }
  const rows = column.codes.length;
  const freq = new Float64Array(column.categories.length);
  let missing = 0;
  for (let i = 0; i < rows; i++) {
    const c = column.codes[i]!;
    if (c < 0) missing++;
    else freq[c]!++;
  }
  const order = [...freq.keys()].filter((c) => freq[c]! > 0).sort((a, b) => freq[b]! - freq[a]! || a - b);
  return {
    name: column.name,
    kind: 'categorical',
    rows,
    count: rows - missing,
    missing,
    missingRate: rows === 0 ? 0 : missing / rows,
    distinct: order.length,
    mean: Number.NaN,
    std: Number.NaN,
    min: Number.NaN,
    max: Number.NaN,
    quantiles: [],
    topCategories: order.slice(0, top).map((c) => [column.categories[c]!, freq[c]!] as const),
  };
}

/** What a party may publish about its features: only the fields its policy allows. */
export function shareableSummary(
  party: string,
  stats: readonly FeatureStats[],
  policy: SummaryPolicy = {},
): SharedFeatureSummary[] {
  const fields = policy.fields ?? DEFAULT_SUMMARY_FIELDS;
  const withhold = new Set(policy.withhold ?? []);
  return stats
    .filter((s) => !withhold.has(s.name))
    .map((s) => {
      const out: Record<string, unknown> = { party, name: s.name, kind: s.kind };
      for (const f of fields) out[f] = s[f];
      return out as SharedFeatureSummary;
    });
}
