/**
 * A party's own columns and their local preparation. Each party imputes and standardizes its columns
 * itself, with statistics fitted on its training rows only; the statistics stay with that party (they
 * are part of its `PartyModel`, never sent).
 */
import { assertNonEmptyString, FedscoreError } from '@fedscore/core';

/** One party's features for the aligned rows: column-major, NaN marks a missing value. */
export interface PartyFeatures {
  readonly names: readonly string[];
  /** One array per feature, every one of the same length (the aligned row count). */
  readonly columns: readonly Float64Array[];
}

/** Per-column imputation and scaling, fitted on training rows: x' = ((x is missing ? mean : x) - mean) / scale. */
export interface Standardization {
  readonly mean: readonly number[];
  readonly scale: readonly number[];
}

/** Check shape and names; returns the row count. */
export function checkFeatures(features: PartyFeatures, field: string): number {
  if (typeof features !== 'object' || features === null) {
    throw new FedscoreError('invalid_argument', 'expected { names, columns }', { field });
  }
  const { names, columns } = features;
  if (!Array.isArray(names) || !Array.isArray(columns) || names.length !== columns.length) {
    throw new FedscoreError('invalid_argument', 'names and columns must be arrays of the same length', {
      field: `${field}.names`,
    });
  }
  if (columns.length === 0) {
    throw new FedscoreError('invalid_argument', 'a party needs at least one feature', {
      field: `${field}.columns`,
    });
  }
  names.forEach((n, j) => {
    assertNonEmptyString(n, `${field}.names[${j}]`);
  });
  if (new Set(names).size !== names.length) {
    throw new FedscoreError('duplicate_id', 'feature names must be unique', { field: `${field}.names` });
  }
  const rows = columns[0]!.length;
  columns.forEach((c, j) => {
    if (!(c instanceof Float64Array)) {
      throw new FedscoreError('invalid_argument', 'expected a Float64Array', {
        field: `${field}.columns[${j}]`,
      });
    }
    if (c.length !== rows) {
      throw new FedscoreError('invalid_argument', `expected ${rows} rows, got ${c.length}`, {
        field: `${field}.columns[${j}]`,
      });
    }
    for (let i = 0; i < c.length; i++) {
      const v = c[i]!;
      if (!Number.isNaN(v) && !Number.isFinite(v)) {
        throw new FedscoreError('invalid_argument', 'infinite value', {
          field: `${names[j]}`,
          details: { row: i },
        });
      }
    }
  });
  return rows;
}

/**
 * Fit mean and standard deviation of each column on `rows` (missing values skipped). Moments that are
 * not finite (a value near ±1.8e308 makes the mean or the variance overflow) are an `out_of_range` error
 * naming the column (`names[j]`, else `columns[j]`): a column scaled by an infinite deviation would be
 * zeroed silently and the model file would hold `"scale": null`.
 */
export function fitStandardization(
  columns: readonly Float64Array[],
  rows: ArrayLike<number>,
  names?: readonly string[],
): Standardization {
  const mean: number[] = [];
  const scale: number[] = [];
  for (const c of columns) {
    let n = 0;
    let m = 0;
    let m2 = 0;
    for (let k = 0; k < rows.length; k++) {
      const v = c[rows[k]!]!;
      if (Number.isNaN(v)) continue;
      n++;
      const delta = v - m;
      m += delta / n;
      m2 += delta * (v - m);
    }
    const sd = n > 1 ? Math.sqrt(m2 / n) : 0;
    if (!Number.isFinite(m) || !Number.isFinite(sd)) {
      const j = mean.length;
      throw new FedscoreError(
        'out_of_range',
        `the column's ${Number.isFinite(m) ? 'variance' : 'mean'} overflows (values too large to standardize); rescale the column`,
        { field: names?.[j] ?? `columns[${j}]` },
      );
    }
    mean.push(n > 0 ? m : 0);
    scale.push(sd > 1e-12 ? sd : 1);
  }
  return { mean, scale };
}

/** Refuse columns that do not match a fitted standardization's. */
function checkStandardized(columns: readonly Float64Array[], s: Standardization): void {
  if (columns.length !== s.mean.length) {
    throw new FedscoreError('invalid_argument', `expected ${s.mean.length} columns, got ${columns.length}`, {
      field: 'columns',
    });
  }
}

/** One standardized value: a missing value becomes 0, the training mean. */
function standardized(x: number, mean: number, scale: number): number {
  return Number.isNaN(x) ? 0 : (x - mean) / scale;
}

/** Apply a fitted standardization to every row (missing values become 0, the training mean). */
export function applyStandardization(columns: readonly Float64Array[], s: Standardization): Float64Array[] {
  checkStandardized(columns, s);
  return columns.map((c, j) => {
    const mu = s.mean[j]!;
    const sc = s.scale[j]!;
    const out = new Float64Array(c.length);
    for (let i = 0; i < c.length; i++) out[i] = standardized(c[i]!, mu, sc);
    return out;
  });
}

/**
 * The standardized rows of each of `rowSets` (a run's fixed batches, its validation rows) from every
 * column, gathered once: result[set][column][k] = `applyStandardization(columns, s)[column][rowSets[set][k]]`.
 * A run's batch membership is fixed (`fixedBatches`), so each batch can then read contiguous columns
 * (`contiguousPredictor`, `scaledColumns`) where reading through its row list cost one scattered read
 * per row and column (2.5M per 8192 x 310 batch, twice per batch and epoch: seconds per epoch on the
 * critical path at 100,000 rows). The values are computed as `applyStandardization` computes them, so
 * every result is bit for bit the same; the whole standardized table is never held.
 */
export function standardizedRowSets(
  columns: readonly Float64Array[],
  s: Standardization,
  rowSets: readonly ArrayLike<number>[],
): Float64Array[][] {
  checkStandardized(columns, s);
  const out = rowSets.map(() => new Array<Float64Array>(columns.length));
  columns.forEach((c, j) => {
    const mu = s.mean[j]!;
    const sc = s.scale[j]!;
    rowSets.forEach((rows, b) => {
      const v = new Float64Array(rows.length);
      for (let k = 0; k < rows.length; k++) v[k] = standardized(c[rows[k]!]!, mu, sc);
      out[b]![j] = v;
    });
  });
  return out;
}

/** `columns` (a gathered batch, `standardizedRowSets`) each multiplied by `scale`. */
export function scaledColumns(columns: readonly Float64Array[], scale: number): Float64Array[] {
  return columns.map((c) => {
    const out = new Float64Array(c.length);
    for (let k = 0; k < c.length; k++) out[k] = c[k]! * scale;
    return out;
  });
}

/** X w over gathered rows (`standardizedRowSets`): the party's partial linear predictor on those rows. */
export function contiguousPredictor(
  columns: readonly Float64Array[],
  weights: Float64Array,
  rows: number,
): Float64Array {
  const out = new Float64Array(rows);
  columns.forEach((c, j) => {
    const w = weights[j]!;
    if (w === 0) return;
    for (let k = 0; k < c.length; k++) out[k]! += c[k]! * w;
  });
  return out;
}

/** 0..n-1. */
export function allRows(n: number): Uint32Array {
  const r = new Uint32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}
