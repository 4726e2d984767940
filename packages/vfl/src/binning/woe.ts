/**
 * Weight of evidence and information value from per-bin counts, and the WOE transform.
 *
 * Label 1 = bad (default), 0 = good. For bin i with g_i goods and b_i bads out of G goods and B bads:
 *   WOE_i = ln((g_i / G) / (b_i / B)),   IV = sum_i (g_i / G - b_i / B) * WOE_i
 * (Siddiqi 2006, "Credit Risk Scorecards", ch. 6; the sign convention of ../shared/DOMAIN.md: positive
 * WOE = fewer bads than average). A bin with no goods or no bads would give an infinite WOE; like FATE's
 * `adjustment_factor`, such a count is replaced by 0.5 in the WOE and IV of that bin only. Empty bins
 * have WOE 0 and contribute nothing.
 */
import { type Column, FedscoreError } from '@fedscore/core';
import { assignBins, type BinLabel, binLabels, type FeatureBins } from './bins.ts';

/** Count used in place of a zero good or bad count. */
export const WOE_ADJUSTMENT = 0.5;

export interface BinStats {
  readonly good: number;
  readonly bad: number;
  readonly woe: number;
  /** This bin's term of the IV sum. */
  readonly iv: number;
}

export interface WoeTable {
  readonly bins: readonly BinStats[];
  readonly iv: number;
}

/** IV strength bands (Siddiqi 2006): the usual reading of a feature's information value. */
export type IvStrength = 'useless' | 'weak' | 'medium' | 'strong' | 'suspicious';

export const IV_BANDS: readonly { readonly strength: IvStrength; readonly below: number }[] = [
  { strength: 'useless', below: 0.02 },
  { strength: 'weak', below: 0.1 },
  { strength: 'medium', below: 0.3 },
  { strength: 'strong', below: 0.5 },
  { strength: 'suspicious', below: Number.POSITIVE_INFINITY },
];

export function ivStrength(iv: number): IvStrength {
  for (const b of IV_BANDS) if (iv < b.below) return b.strength;
  return 'suspicious';
}

/** WOE per bin and IV from per-bin goods and bads. */
export function woeTable(good: ArrayLike<number>, bad: ArrayLike<number>): WoeTable {
  if (good.length !== bad.length) {
    throw new FedscoreError('invalid_argument', `good has ${good.length} bins, bad ${bad.length}`, {
      field: 'bad',
    });
  }
  let G = 0;
  let B = 0;
  for (let i = 0; i < good.length; i++) {
    const g = good[i]!;
    const b = bad[i]!;
    if (!(g >= 0) || !(b >= 0) || !Number.isFinite(g) || !Number.isFinite(b)) {
      throw new FedscoreError('out_of_range', `bin ${i} has a negative or non-finite count`, {
        field: `bins[${i}]`,
      });
    }
    G += g;
    B += b;
  }
  if (G === 0 || B === 0) {
    throw new FedscoreError('single_class', `WOE needs both goods and bads (goods ${G}, bads ${B})`, {
      field: 'labels',
    });
  }
  const bins: BinStats[] = [];
  let iv = 0;
  for (let i = 0; i < good.length; i++) {
    const g = good[i]!;
    const b = bad[i]!;
    if (g + b === 0) {
      bins.push({ good: 0, bad: 0, woe: 0, iv: 0 });
      continue;
    }
    const pg = (g > 0 ? g : WOE_ADJUSTMENT) / G;
    const pb = (b > 0 ? b : WOE_ADJUSTMENT) / B;
    const woe = Math.log(pg / pb);
    const term = (pg - pb) * woe;
    iv += term;
    bins.push({ good: g, bad: b, woe, iv: term });
  }
  return { bins, iv };
}

/** One feature's fitted binning and WOE: what its owner keeps to transform its own column. */
export interface WoeFeatureModel {
  readonly party: string;
  readonly name: string;
  readonly bins: FeatureBins;
  /** WOE per bin (missing bin last, when present). */
  readonly woe: readonly number[];
  readonly iv: number;
}

/** The WOE value of every row of `column` under `model` (the scorecard input for hetero-LR). */
export function woeTransform(column: Column, model: WoeFeatureModel): Float64Array {
  if (column.name !== model.name) {
    throw new FedscoreError(
      'invalid_argument',
      `column '${column.name}' does not match model '${model.name}'`,
      {
        field: column.name,
      },
    );
  }
  const idx = assignBins(column, model.bins);
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const w = model.woe[idx[i]!];
    if (w === undefined) {
      throw new FedscoreError('internal', `bin ${idx[i]} has no WOE`, { field: model.name });
    }
    out[i] = w;
  }
  return out;
}

/** WOE-transform several columns: one Float64Array per model, in model order. */
export function woeTransformColumns(
  columns: readonly Column[],
  models: readonly WoeFeatureModel[],
): Float64Array[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  return models.map((m) => {
    const c = byName.get(m.name);
    if (c === undefined) throw new FedscoreError('not_found', `no column '${m.name}'`, { field: m.name });
    return woeTransform(c, m);
  });
}

/** A feature's row of the IV table. */
export interface IvTableRow {
  readonly party: string;
  readonly name: string;
  readonly iv: number;
  readonly strength: IvStrength;
  readonly bins: readonly (BinStats & { readonly label?: BinLabel })[];
}

/** Rows sorted by IV, strongest first; bin labels only where the caller may see them (the owner). */
export function ivTable(
  features: readonly {
    party: string;
    name: string;
    table: WoeTable;
    bins?: FeatureBins;
  }[],
): IvTableRow[] {
  return features
    .map((f) => {
      const labels = f.bins ? binLabels(f.bins) : undefined;
      return {
        party: f.party,
        name: f.name,
        iv: f.table.iv,
        strength: ivStrength(f.table.iv),
        bins: f.table.bins.map((b, i) => (labels?.[i] ? { ...b, label: labels[i] } : b)),
      };
    })
    .sort((a, b) => b.iv - a.iv || a.party.localeCompare(b.party) || a.name.localeCompare(b.name));
}
