/**
 * Feature selection by information value (threshold and/or top-k) and a within-party correlation filter,
 * with a lineage record of what was kept, what was dropped and why.
 *
 * The correlation filter runs at each party on its own columns (a party never sees another's values):
 * features are visited strongest IV first and one is dropped when its |Pearson r| with a feature already
 * kept exceeds the threshold. Correlations are computed on the WOE-transformed columns, which have no
 * missing values and are what the scorecard model is trained on.
 */
import { FedscoreError } from '@fedscore/core';

export interface IvScore {
  readonly party: string;
  readonly name: string;
  readonly iv: number;
}

export interface SelectionOptions {
  /** Keep features with IV >= this (default 0.02, the bottom of the "weak" band). */
  readonly minIv?: number;
  /** Then keep at most this many, strongest first (default: all). */
  readonly topK?: number;
}

export type DropReason = 'iv_below_threshold' | 'not_in_top_k' | 'correlated';

export interface DroppedFeature extends IvScore {
  readonly reason: DropReason;
  /** For 'correlated': the kept feature it correlates with, and |r|. */
  readonly correlatedWith?: string;
  readonly correlation?: number;
}

/** The lineage entry a model carries for its feature selection. */
export interface FeatureSelectionLineage {
  readonly kind: 'feature-selection';
  readonly method: 'information-value';
  readonly minIv: number;
  readonly topK: number | null;
  readonly correlationThreshold: number | null;
  readonly selected: readonly IvScore[];
  readonly dropped: readonly DroppedFeature[];
}

export const DEFAULT_MIN_IV = 0.02;

function key(s: { party: string; name: string }): string {
  return `${s.party}\u0000${s.name}`;
}

/** Select by IV. Returns the lineage record (apply `correlationFilter` per party, then `withCorrelationDrops`). */
export function selectByIv(
  scores: readonly IvScore[],
  options: SelectionOptions = {},
): FeatureSelectionLineage {
  const minIv = options.minIv ?? DEFAULT_MIN_IV;
  if (!Number.isFinite(minIv) || minIv < 0) {
    throw new FedscoreError('out_of_range', `minIv must be a finite number >= 0, got ${minIv}`, {
      field: 'minIv',
    });
  }
  const topK = options.topK ?? null;
  if (topK !== null && (!Number.isInteger(topK) || topK < 1)) {
    throw new FedscoreError('out_of_range', `topK must be an integer >= 1, got ${topK}`, { field: 'topK' });
  }
  const seen = new Set<string>();
  for (const s of scores) {
    if (seen.has(key(s))) {
      throw new FedscoreError('duplicate_id', `feature '${s.name}' of '${s.party}' scored twice`, {
        field: s.name,
      });
    }
    seen.add(key(s));
  }
  const sorted = [...scores].sort(
    (a, b) => b.iv - a.iv || a.party.localeCompare(b.party) || a.name.localeCompare(b.name),
  );
  const selected: IvScore[] = [];
  const dropped: DroppedFeature[] = [];
  for (const s of sorted) {
    if (!(s.iv >= minIv)) dropped.push({ ...s, reason: 'iv_below_threshold' });
    else if (topK !== null && selected.length >= topK) dropped.push({ ...s, reason: 'not_in_top_k' });
    else selected.push({ party: s.party, name: s.name, iv: s.iv });
  }
  return {
    kind: 'feature-selection',
    method: 'information-value',
    minIv,
    topK,
    correlationThreshold: null,
    selected,
    dropped,
  };
}

/** Pearson correlation of two equal-length columns (0 when either is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n) throw new FedscoreError('invalid_argument', 'columns differ in length', { field: 'b' });
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

/**
 * One party's correlation filter over its selected features. `columns` maps feature name to its
 * (WOE-transformed) column. Returns the features to drop, each with the kept feature it follows.
 */
export function correlationFilter(
  party: string,
  selected: readonly IvScore[],
  columns: ReadonlyMap<string, ArrayLike<number>>,
  threshold: number,
): DroppedFeature[] {
  if (!(threshold > 0 && threshold <= 1)) {
    throw new FedscoreError('out_of_range', `correlation threshold must be in (0, 1], got ${threshold}`, {
      field: 'threshold',
    });
  }
  const mine = selected
    .filter((s) => s.party === party)
    .sort((a, b) => b.iv - a.iv || a.name.localeCompare(b.name));
  const kept: IvScore[] = [];
  const dropped: DroppedFeature[] = [];
  for (const s of mine) {
    const col = columns.get(s.name);
    if (col === undefined)
      throw new FedscoreError('not_found', `no column for '${s.name}'`, { field: s.name });
    let worst: { name: string; r: number } | undefined;
    for (const k of kept) {
      const r = Math.abs(pearson(col, columns.get(k.name)!));
      if (r > threshold && (worst === undefined || r > worst.r)) worst = { name: k.name, r };
    }
    if (worst) dropped.push({ ...s, reason: 'correlated', correlatedWith: worst.name, correlation: worst.r });
    else kept.push(s);
  }
  return dropped;
}

/** The lineage with the parties' correlation drops moved from `selected` to `dropped`. */
export function withCorrelationDrops(
  lineage: FeatureSelectionLineage,
  drops: readonly DroppedFeature[],
  threshold: number,
): FeatureSelectionLineage {
  const gone = new Set(drops.map(key));
  return {
    ...lineage,
    correlationThreshold: threshold,
    selected: lineage.selected.filter((s) => !gone.has(key(s))),
    dropped: [...lineage.dropped, ...drops],
  };
}
