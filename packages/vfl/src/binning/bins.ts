/**
 * Bins of one feature: how they are fitted, how rows are assigned to them, and how a merge plan turns
 * fine bins into final ones. Bin edges never leave the feature's owner: protocols carry bin indices and
 * counts only.
 *
 * Numeric bins are right-closed intervals `(lower, upper]`, the first open to -Infinity and the last to
 * +Infinity; categorical bins are groups of categories. Missing values (NaN, code -1) get their own bin,
 * always the last one, whenever the fitting data had any (`missing: true`).
 *
 * Methods: quantile (equal frequency), equal width, and ChiMerge (Kerber 1992, "ChiMerge:
 * Discretization of numeric attributes", AAAI): start from fine quantile bins and repeatedly merge the
 * adjacent pair whose class distributions are least different by Pearson's chi-square, until the target
 * bin count is reached and every remaining pair differs significantly. ChiMerge needs the labels' per-bin
 * counts only, so it runs on counts (`planMerge`) wherever those counts are: locally for the label owner's
 * features, on decrypted per-bin sums for another party's features.
 */
import { type Column, FedscoreError } from '@fedscore/core';
import { orderStatistics, presentValues } from './stats.ts';

export type BinningMethod = 'quantile' | 'equal-width' | 'chimerge';

export interface BinningOptions {
  /** Default 'quantile'. */
  readonly method?: BinningMethod;
  /** Target number of bins, missing bin not counted. Default 10. */
  readonly bins?: number;
  /** ChiMerge: number of fine quantile bins it starts from. Default 50. */
  readonly fineBins?: number;
  /** ChiMerge: merging continues while the smallest adjacent chi-square is below this (default 3.841,
   *  the 95% point of chi-square with 1 degree of freedom) even when the target count is reached. */
  readonly chiThreshold?: number;
  /** ChiMerge: bins with fewer rows than this fraction of the non-missing rows are merged (default 0.02). */
  readonly minBinFraction?: number;
  /** Merge adjacent bins until the WOE is monotone (scorecard convention). Needs labels. Default false. */
  readonly monotone?: boolean;
  /** Categorical: categories kept as their own bin, most frequent first; the rest share one bin. Default 20. */
  readonly maxCategories?: number;
}

export interface NumericBins {
  readonly kind: 'numeric';
  readonly name: string;
  /** Interior cut points, strictly ascending: bin i is (edges[i-1], edges[i]]. */
  readonly edges: readonly number[];
  /** A last bin for missing values. */
  readonly missing: boolean;
}

export interface CategoricalBins {
  readonly kind: 'categorical';
  readonly name: string;
  /** Each bin's categories. */
  readonly groups: readonly (readonly string[])[];
  /** The bin that takes categories not seen when fitting (the "other" bin), or -1: unseen = missing. */
  readonly otherGroup: number;
  readonly missing: boolean;
}

export type FeatureBins = NumericBins | CategoricalBins;

/** A human-readable bin, for tables and the CLI. */
export interface BinLabel {
  readonly lower: number | null;
  readonly upper: number | null;
  readonly categories?: readonly string[];
  readonly missing: boolean;
}

export const DEFAULT_BINS = 10;
export const DEFAULT_FINE_BINS = 50;
export const DEFAULT_CHI_THRESHOLD = 3.841;
export const DEFAULT_MIN_BIN_FRACTION = 0.02;
export const DEFAULT_MAX_CATEGORIES = 20;
/** Bin indices are stored as Uint16: at most this many bins per feature. */
export const MAX_BINS = 65535;

/**
 * The floor on the rows of any bin whose label sums leave the label owner (docs/protocols/woe-binning.md,
 * "Bin-size floor"): max(50, 1% of the rows). A bin's WOE, its share of the IV, and the merges planned
 * from its counts are functions of its label sum; for a bin of one row that is the row's label, and the
 * feature owner knows which row it is. Applies to every method: the host merges smaller value bins
 * before it publishes counts (`floorMergePlan`), and the guest refuses a layout with a smaller bin.
 */
export const MIN_RELEASED_BIN_ROWS = 50;
export const MIN_RELEASED_BIN_SHARE = 0.01;

/** The fewest rows a non-empty released bin may have, out of `rows`. */
export function minReleasedBinRows(rows: number): number {
  return Math.max(MIN_RELEASED_BIN_ROWS, Math.ceil(MIN_RELEASED_BIN_SHARE * rows));
}

/**
 * A merge plan (for `applyMergePlan`) that joins every non-empty value bin below `minRows` rows to a
 * neighbour, without labels: repeatedly, the smallest such bin joins the smaller of its neighbours
 * (numeric: adjacent intervals; categorical: adjacent in the fitted order, most frequent first, so rare
 * categories pool together and with "other"). Empty bins release nothing and are left alone unless a
 * merge absorbs them. The missing bin (last, when `hasMissing`) is never merged: its rows cannot join an
 * interval, so the caller refuses a small one. A single value bin below `minRows` stays (refused too).
 */
export function floorMergePlan(count: ArrayLike<number>, hasMissing: boolean, minRows: number): number[] {
  const n = count.length;
  const valueBins = hasMissing ? n - 1 : n;
  const segs: { first: number; rows: number }[] = [];
  for (let i = 0; i < valueBins; i++) segs.push({ first: i, rows: count[i]! });
  for (;;) {
    let small = -1;
    for (let j = 0; j < segs.length; j++) {
      const r = segs[j]!.rows;
      if (r > 0 && r < minRows && (small < 0 || r < segs[small]!.rows)) small = j;
    }
    if (small < 0 || segs.length <= 1) break;
    const left = small > 0 ? segs[small - 1]!.rows : Number.POSITIVE_INFINITY;
    const right = small + 1 < segs.length ? segs[small + 1]!.rows : Number.POSITIVE_INFINITY;
    const j = left <= right ? small - 1 : small;
    segs.splice(j, 2, { first: segs[j]!.first, rows: segs[j]!.rows + segs[j + 1]!.rows });
  }
  const plan = new Array<number>(n).fill(0);
  segs.forEach((seg, g) => {
    const end = g + 1 < segs.length ? segs[g + 1]!.first : valueBins;
    for (let i = seg.first; i < end; i++) plan[i] = g;
  });
  if (hasMissing) plan[n - 1] = segs.length;
  return plan;
}

/** Bins excluding the missing bin. */
export function valueBinCount(bins: FeatureBins): number {
  return bins.kind === 'numeric' ? bins.edges.length + 1 : bins.groups.length;
}

/** All bins, the missing bin included. */
export function binCount(bins: FeatureBins): number {
  return valueBinCount(bins) + (bins.missing ? 1 : 0);
}

export function binLabels(bins: FeatureBins): BinLabel[] {
  const out: BinLabel[] = [];
  if (bins.kind === 'numeric') {
    for (let i = 0; i <= bins.edges.length; i++) {
      out.push({
        lower: i === 0 ? null : bins.edges[i - 1]!,
        upper: i === bins.edges.length ? null : bins.edges[i]!,
        missing: false,
      });
    }
  } else {
    for (const g of bins.groups) out.push({ lower: null, upper: null, categories: g, missing: false });
  }
  if (bins.missing) out.push({ lower: null, upper: null, missing: true });
  return out;
}

function checkOptions(
  o: BinningOptions,
): Required<Omit<BinningOptions, 'method'>> & { method: BinningMethod } {
  const method = o.method ?? 'quantile';
  if (method !== 'quantile' && method !== 'equal-width' && method !== 'chimerge') {
    throw new FedscoreError('invalid_argument', `unknown binning method '${String(method)}'`, {
      field: 'method',
    });
  }
  const int = (v: number, field: string, min: number, max: number): number => {
    if (!Number.isInteger(v))
      throw new FedscoreError('invalid_argument', `expected an integer, got ${v}`, { field });
    if (v < min || v > max)
      throw new FedscoreError('out_of_range', `${v} is outside [${min}, ${max}]`, { field });
    return v;
  };
  const bins = int(o.bins ?? DEFAULT_BINS, 'bins', 1, 1000);
  const fineBins = int(o.fineBins ?? Math.max(DEFAULT_FINE_BINS, bins), 'fineBins', bins, 5000);
  const chi = o.chiThreshold ?? DEFAULT_CHI_THRESHOLD;
  if (!(chi >= 0) || !Number.isFinite(chi)) {
    throw new FedscoreError('out_of_range', `chiThreshold must be a finite number >= 0, got ${chi}`, {
      field: 'chiThreshold',
    });
  }
  const minFrac = o.minBinFraction ?? DEFAULT_MIN_BIN_FRACTION;
  if (!(minFrac >= 0 && minFrac < 0.5)) {
    throw new FedscoreError('out_of_range', `minBinFraction must be in [0, 0.5), got ${minFrac}`, {
      field: 'minBinFraction',
    });
  }
  return {
    method,
    bins,
    fineBins,
    chiThreshold: chi,
    minBinFraction: minFrac,
    monotone: o.monotone === true,
    maxCategories: int(o.maxCategories ?? DEFAULT_MAX_CATEGORIES, 'maxCategories', 1, MAX_BINS - 2),
  };
}

/** Unique cut points from candidate values, dropping those that would leave the top bin empty. */
function uniqueEdges(candidates: readonly number[], max: number): number[] {
  const out: number[] = [];
  for (const c of candidates) {
    if (!Number.isFinite(c) || c >= max) continue;
    if (out.length === 0 || c > out[out.length - 1]!) out.push(c);
  }
  return out;
}

/**
 * Fit bins without labels. For 'chimerge' (and whenever `monotone` is set) these are the fine bins the
 * supervised merge starts from: `fineBins` quantile bins; for the others, the final bins.
 */
export function fitBins(column: Column, options: BinningOptions = {}): FeatureBins {
  const o = checkOptions(options);
  if (column.kind === 'categorical') return fitCategorical(column, o.maxCategories);
  const present = presentValues(column.values);
  const n = present.values.length;
  const missing = n < column.values.length;
  if (n === 0) return { kind: 'numeric', name: column.name, edges: [], missing };
  const lo = present.min;
  const hi = present.max;
  const supervised = o.method === 'chimerge' || o.monotone;
  const k = supervised ? o.fineBins : o.bins;
  const candidates: number[] = [];
  if (o.method === 'equal-width' && !supervised) {
    for (let i = 1; i < k; i++) candidates.push(lo + ((hi - lo) * i) / k);
  } else {
    // numpy's linear quantile (as `quantileSorted`) from the two order statistics around each level,
    // selected rather than sorted: a full sort of every column was most of the host's binning time.
    const ranks = new Set<number>();
    for (let i = 1; i < k; i++) {
      const below = Math.floor((i / k) * (n - 1));
      ranks.add(below);
      ranks.add(Math.min(n - 1, below + 1));
    }
    const wanted = [...ranks].sort((a, b) => a - b);
    const stats = orderStatistics(present.values, wanted);
    const at = new Map(wanted.map((r, j) => [r, stats[j]!]));
    for (let i = 1; i < k; i++) {
      const pos = (i / k) * (n - 1);
      const below = Math.floor(pos);
      const a = at.get(below)!;
      const b = at.get(Math.min(n - 1, below + 1))!;
      candidates.push(a + (b - a) * (pos - below));
    }
  }
  return { kind: 'numeric', name: column.name, edges: uniqueEdges(candidates, hi), missing };
}

function fitCategorical(
  column: Extract<Column, { kind: 'categorical' }>,
  maxCategories: number,
): CategoricalBins {
  const freq = new Float64Array(column.categories.length);
  let missing = 0;
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    if (c < 0) missing++;
    else freq[c]!++;
  }
  const seen = [...freq.keys()].filter((c) => freq[c]! > 0).sort((a, b) => freq[b]! - freq[a]! || a - b);
  const kept = seen.slice(0, maxCategories).map((c) => [column.categories[c]!]);
  const rest = seen.slice(maxCategories).map((c) => column.categories[c]!);
  const groups = rest.length > 0 ? [...kept, rest] : kept;
  return {
    kind: 'categorical',
    name: column.name,
    groups,
    otherGroup: rest.length > 0 ? groups.length - 1 : -1,
    missing: missing > 0,
  };
}

/**
 * The bin of every row. Values outside the fitted range fall in the first or last interval; a missing
 * value (or, for categorical bins without an "other" bin, an unseen category) goes to the missing bin,
 * and is an error when the bins have none.
 */
export function assignBins(column: Column, bins: FeatureBins): Uint16Array {
  if (column.kind !== bins.kind) {
    throw new FedscoreError(
      'invalid_argument',
      `column '${column.name}' is ${column.kind}, its bins ${bins.kind}`,
      {
        field: column.name,
      },
    );
  }
  const missingBin = bins.missing ? valueBinCount(bins) : -1;
  const noMissing = (): never => {
    throw new FedscoreError(
      'missing_value',
      `missing value in '${column.name}', whose bins have no missing bin`,
      {
        field: column.name,
      },
    );
  };
  if (column.kind === 'numeric') {
    const edges = Float64Array.from((bins as NumericBins).edges);
    const values = column.values;
    const out = new Uint16Array(values.length);
    const m = edges.length;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) {
        out[i] = missingBin >= 0 ? missingBin : noMissing();
        continue;
      }
      // First edge >= v: bins are (edges[b-1], edges[b]].
      let lo = 0;
      let hi = m;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (edges[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      out[i] = lo;
    }
    return out;
  }
  const cat = bins as CategoricalBins;
  const groupOf = new Map<string, number>();
  cat.groups.forEach((g, i) => {
    for (const c of g) groupOf.set(c, i);
  });
  const codeToBin = column.categories.map(
    (c) => groupOf.get(c) ?? (cat.otherGroup >= 0 ? cat.otherGroup : missingBin),
  );
  const out = new Uint16Array(column.codes.length);
  for (let i = 0; i < column.codes.length; i++) {
    const c = column.codes[i]!;
    const b = c < 0 ? missingBin : codeToBin[c]!;
    out[i] = b >= 0 ? b : noMissing();
  }
  return out;
}

/** Per-bin rows and, when labels are given (1 = bad), per-bin bads. */
export function binTotals(
  binIndex: Uint16Array,
  nBins: number,
  labels?: ArrayLike<number>,
): { count: Float64Array; bad: Float64Array } {
  const count = new Float64Array(nBins);
  const bad = new Float64Array(nBins);
  for (let i = 0; i < binIndex.length; i++) {
    const b = binIndex[i]!;
    count[b]!++;
    if (labels !== undefined) bad[b]! += labels[i]!;
  }
  return { count, bad };
}

/** A merge plan: for every fine bin (missing bin included), the final bin it goes to. */
export type MergePlan = readonly number[];

/** Apply a merge plan to fine bins. Numeric groups must be runs of adjacent intervals. */
export function applyMergePlan(bins: FeatureBins, plan: MergePlan): FeatureBins {
  const n = binCount(bins);
  if (plan.length !== n) {
    throw new FedscoreError('invalid_argument', `merge plan has ${plan.length} entries for ${n} bins`, {
      field: 'plan',
    });
  }
  const valueBins = valueBinCount(bins);
  if (bins.missing && plan[n - 1] !== Math.max(...plan.slice(0, valueBins), -1) + 1) {
    throw new FedscoreError('invalid_argument', 'the missing bin must stay a bin of its own, the last', {
      field: 'plan',
    });
  }
  if (bins.kind === 'numeric') {
    const edges: number[] = [];
    for (let i = 0; i < valueBins; i++) {
      const g = plan[i]!;
      const expected = i === 0 ? 0 : plan[i - 1]! + (g === plan[i - 1] ? 0 : 1);
      if (g !== expected) {
        throw new FedscoreError('invalid_argument', 'numeric merge plans must group adjacent bins in order', {
          field: `plan[${i}]`,
        });
      }
      if (i > 0 && g !== plan[i - 1]) edges.push(bins.edges[i - 1]!);
    }
    return { kind: 'numeric', name: bins.name, edges, missing: bins.missing };
  }
  const final = Math.max(...plan.slice(0, valueBins), -1) + 1;
  const groups: string[][] = Array.from({ length: final }, () => []);
  for (let i = 0; i < valueBins; i++) {
    const g = plan[i]!;
    if (!Number.isInteger(g) || g < 0 || g >= final) {
      throw new FedscoreError('invalid_argument', `bad group ${g}`, { field: `plan[${i}]` });
    }
    groups[g]!.push(...bins.groups[i]!);
  }
  if (groups.some((g) => g.length === 0)) {
    throw new FedscoreError('invalid_argument', 'merge plan leaves an empty group', { field: 'plan' });
  }
  return {
    kind: 'categorical',
    name: bins.name,
    groups,
    otherGroup: bins.otherGroup >= 0 ? plan[bins.otherGroup]! : -1,
    missing: bins.missing,
  };
}

export interface MergeOptions {
  readonly bins?: number;
  readonly chiThreshold?: number;
  readonly minBinFraction?: number;
  readonly monotone?: boolean;
  /** ChiMerge (true) or only the monotone / minimum-size merges (false). Default true. */
  readonly chimerge?: boolean;
}

/** Pearson chi-square of the 2x2 table (good, bad) x (bin a, bin b); 0 when a margin is empty. */
export function chiSquare2x2(goodA: number, badA: number, goodB: number, badB: number): number {
  const n = goodA + badA + goodB + badB;
  const rowA = goodA + badA;
  const rowB = goodB + badB;
  const colG = goodA + goodB;
  const colB = badA + badB;
  if (rowA === 0 || rowB === 0 || colG === 0 || colB === 0) return 0;
  let chi = 0;
  for (const [obs, r, c] of [
    [goodA, rowA, colG],
    [badA, rowA, colB],
    [goodB, rowB, colG],
    [badB, rowB, colB],
  ] as const) {
    const e = (r * c) / n;
    chi += ((obs - e) * (obs - e)) / e;
  }
  return chi;
}

/**
 * Plan a supervised merge of fine bins from their counts (the label owner runs it). `count` and `bad`
 * cover every bin, the missing bin last when `hasMissing`; the missing bin is never merged. Categorical
 * fine bins (`ordered: false`) are first ordered by bad rate, so merges join categories of similar risk.
 */
export function planMerge(
  count: ArrayLike<number>,
  bad: ArrayLike<number>,
  hasMissing: boolean,
  ordered: boolean,
  options: MergeOptions = {},
): number[] {
  const n = count.length;
  const valueBins = hasMissing ? n - 1 : n;
  const target = options.bins ?? DEFAULT_BINS;
  const chiThreshold = options.chiThreshold ?? DEFAULT_CHI_THRESHOLD;
  const minFrac = options.minBinFraction ?? DEFAULT_MIN_BIN_FRACTION;
  const order = [...Array(valueBins).keys()];
  if (!ordered) {
    const rate = (i: number): number => (count[i]! > 0 ? bad[i]! / count[i]! : 0);
    order.sort((a, b) => rate(a) - rate(b) || a - b);
  }
  // Segments over `order`: each final bin is a run of consecutive positions.
  interface Seg {
    members: number[];
    good: number;
    bad: number;
  }
  let segs: Seg[] = order.map((i) => ({ members: [i], good: count[i]! - bad[i]!, bad: bad[i]! }));
  segs = segs.filter((s) => s.good + s.bad > 0 || segs.length === 1);
  if (segs.length === 0) segs = order.map((i) => ({ members: [i], good: 0, bad: 0 }));
  // Empty fine bins (possible only for categories) join their neighbour on the left.
  for (const i of order) {
    if (!segs.some((s) => s.members.includes(i))) {
      const pos = order.indexOf(i);
      const host = segs.find((s) => s.members.some((m) => order.indexOf(m) === pos - 1)) ?? segs[0]!;
      host.members.push(i);
    }
  }
  const total = segs.reduce((a, s) => a + s.good + s.bad, 0);
  const minRows = minFrac * total;
  const merge = (j: number): void => {
    const a = segs[j]!;
    const b = segs[j + 1]!;
    segs.splice(j, 2, { members: [...a.members, ...b.members], good: a.good + b.good, bad: a.bad + b.bad });
  };
  const chiAt = (j: number): number =>
    chiSquare2x2(segs[j]!.good, segs[j]!.bad, segs[j + 1]!.good, segs[j + 1]!.bad);
  if (options.chimerge !== false) {
    while (segs.length > 1) {
      let best = 0;
      let bestChi = Number.POSITIVE_INFINITY;
      for (let j = 0; j + 1 < segs.length; j++) {
        const c = chiAt(j);
        if (c < bestChi) {
          bestChi = c;
          best = j;
        }
      }
      if (segs.length <= target && bestChi >= chiThreshold) break;
      merge(best);
    }
  }
  // Minimum size: merge each small bin into the neighbour it differs from least.
  for (;;) {
    if (segs.length <= 1) break;
    const small = segs.findIndex((s) => s.good + s.bad < minRows);
    if (small < 0) break;
    if (small === 0) merge(0);
    else if (small === segs.length - 1) merge(small - 1);
    else merge(chiAt(small - 1) <= chiAt(small) ? small - 1 : small);
  }
  if (options.monotone) {
    // Pool adjacent violators on the bad rate, in the direction of the overall trend.
    const rate = (s: Seg): number => (s.bad + 0.5) / (s.good + s.bad + 1);
    const first = segs[0]!;
    const last = segs[segs.length - 1]!;
    const increasing = rate(last) >= rate(first);
    let changed = true;
    while (changed && segs.length > 1) {
      changed = false;
      for (let j = 0; j + 1 < segs.length; j++) {
        const a = rate(segs[j]!);
        const b = rate(segs[j + 1]!);
        if (increasing ? b < a : b > a) {
          merge(j);
          changed = true;
          break;
        }
      }
    }
  }
  const plan = new Array<number>(n).fill(0);
  // Final bins numbered by their first member (numeric: in interval order).
  const sorted = [...segs].sort((a, b) => Math.min(...a.members) - Math.min(...b.members));
  sorted.forEach((s, g) => {
    for (const m of s.members) plan[m] = g;
  });
  if (hasMissing) plan[n - 1] = sorted.length;
  return plan;
}
