/**
 * The columnar table every party loads its data into: one row per enterprise, keyed by `ids` (USCCs in
 * production), an optional binary `label` (the bank's default flag), and typed feature columns.
 *
 * Numeric columns are `Float64Array`s with NaN for missing; categorical columns are dictionary codes
 * (`Int32Array`, -1 for missing) into `categories`. Each column counts its missing values. Tables are
 * treated as immutable: every helper returns a new table and never writes into its input's arrays.
 */
import { FedscoreError } from './errors.ts';

export type ColumnRole = 'id' | 'label' | 'numeric' | 'categorical' | 'ignored';

export interface NumericColumn {
  readonly kind: 'numeric';
  readonly name: string;
  /** NaN = missing. */
  readonly values: Float64Array;
  readonly missing: number;
}

export interface CategoricalColumn {
  readonly kind: 'categorical';
  readonly name: string;
  /** Index into `categories`; -1 = missing. */
  readonly codes: Int32Array;
  readonly categories: string[];
  readonly missing: number;
}

export type Column = NumericColumn | CategoricalColumn;

export interface Table {
  readonly nRows: number;
  readonly ids: string[];
  /** 0/1 per row, when the table holds the label. */
  readonly label?: Float64Array;
  readonly columns: Column[];
  /** Header name of the id column, when the table came from a file (used when writing it back). */
  readonly idName?: string;
  /** Header name of the label column. */
  readonly labelName?: string;
}

/** Build a table, checking that every array has `ids.length` rows. */
export function createTable(parts: {
  ids: string[];
  label?: Float64Array;
  columns: Column[];
  idName?: string;
  labelName?: string;
}): Table {
  const nRows = parts.ids.length;
  if (parts.label !== undefined && parts.label.length !== nRows) {
    throw new FedscoreError('invalid_argument', `label has ${parts.label.length} rows, ids ${nRows}`, {
      field: 'label',
    });
  }
  const seen = new Set<string>();
  for (const c of parts.columns) {
    const len = c.kind === 'numeric' ? c.values.length : c.codes.length;
    if (len !== nRows) {
      throw new FedscoreError('invalid_argument', `column has ${len} rows, ids ${nRows}`, { field: c.name });
    }
    if (seen.has(c.name)) {
      throw new FedscoreError('invalid_argument', 'duplicate column name', { field: c.name });
    }
    seen.add(c.name);
  }
  return {
    nRows,
    ids: parts.ids,
    ...(parts.label !== undefined && { label: parts.label }),
    columns: parts.columns,
    ...(parts.idName !== undefined && { idName: parts.idName }),
    ...(parts.labelName !== undefined && { labelName: parts.labelName }),
  };
}

/** A numeric column from values (NaN = missing); counts the missing values. */
export function numericColumn(name: string, values: Float64Array): NumericColumn {
  let missing = 0;
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i]!)) missing++;
  return { kind: 'numeric', name, values, missing };
}

/** A categorical column from codes (-1 = missing) and categories; checks the codes. */
export function categoricalColumn(name: string, codes: Int32Array, categories: string[]): CategoricalColumn {
  let missing = 0;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === -1) missing++;
    else if (c < 0 || c >= categories.length) {
      throw new FedscoreError('out_of_range', `code ${c} at row ${i} outside [0, ${categories.length})`, {
        field: name,
      });
    }
  }
  return { kind: 'categorical', name, codes, categories, missing };
}

/** The column called `name`; a typed `not_found` error naming it otherwise. */
export function column(table: Table, name: string): Column {
  for (const c of table.columns) if (c.name === name) return c;
  throw new FedscoreError('not_found', `no column '${name}' (columns: ${columnList(table)})`, {
    field: name,
  });
}

function columnList(table: Table): string {
  const names = table.columns.map((c) => c.name);
  return names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ');
}

export interface NumericMatrix {
  /** Row-major: row r, column j at `data[r * nCols + j]`. NaN = missing. */
  readonly data: Float64Array;
  readonly nRows: number;
  readonly nCols: number;
  readonly names: string[];
}

export interface NumericMatrixOptions {
  /**
   * How categorical columns enter the matrix:
   * - 'codes' (default): one column holding the dictionary code as a number, NaN when missing. Right for
   *   trees and binning, wrong for linear models unless the codes are ordinal.
   * - 'one-hot': one 0/1 column per category, named `<column>=<category>`; a missing value is all zeros.
   */
  readonly categorical?: 'codes' | 'one-hot';
}

/** The named columns (default: all, in table order) as a row-major Float64Array. */
export function numericMatrix(
  table: Table,
  names?: readonly string[],
  options: NumericMatrixOptions = {},
): NumericMatrix {
  const cols = names === undefined ? table.columns : names.map((n) => column(table, n));
  const oneHot = options.categorical === 'one-hot';
  const outNames: string[] = [];
  for (const c of cols) {
    if (c.kind === 'categorical' && oneHot) for (const cat of c.categories) outNames.push(`${c.name}=${cat}`);
    else outNames.push(c.name);
  }
  const nRows = table.nRows;
  const nCols = outNames.length;
  const data = new Float64Array(nRows * nCols);
  let j = 0;
  for (const c of cols) {
    if (c.kind === 'numeric') {
      const v = c.values;
      for (let r = 0, o = j; r < nRows; r++, o += nCols) data[o] = v[r]!;
      j++;
    } else if (oneHot) {
      const codes = c.codes;
      for (let r = 0; r < nRows; r++) {
        const code = codes[r]!;
        if (code >= 0) data[r * nCols + j + code] = 1;
      }
      j += c.categories.length;
    } else {
      const codes = c.codes;
      for (let r = 0, o = j; r < nRows; r++, o += nCols) {
        const code = codes[r]!;
        data[o] = code < 0 ? Number.NaN : code;
      }
      j++;
    }
  }
  return { data, nRows, nCols, names: outNames };
}

/** Feature columns, column-major (one Float64Array per column), named. */
export interface FeatureColumns {
  readonly names: string[];
  readonly columns: Float64Array[];
}

/**
 * The table's columns (`names`: only those, in table order; default all) on `rows`, column-major: a
 * numeric column as it is (NaN = missing), a categorical one as one 0/1 column per category named
 * `<column>=<category>` (a missing value is all zeros). The one-hot of linear models; `numericMatrix`
 * gives the same row-major.
 */
export function featureColumns(
  table: Table,
  rows: ArrayLike<number>,
  names?: readonly string[],
): FeatureColumns {
  const wanted = names === undefined ? undefined : new Set(names);
  const n = rows.length;
  const out: { names: string[]; columns: Float64Array[] } = { names: [], columns: [] };
  for (const c of table.columns) {
    if (wanted !== undefined && !wanted.has(c.name)) continue;
    if (c.kind === 'numeric') {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) v[i] = c.values[rows[i]!]!;
      out.names.push(c.name);
      out.columns.push(v);
    } else {
      const oneHot = c.categories.map(() => new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const code = c.codes[rows[i]!]!;
        if (code >= 0) oneHot[code]![i] = 1;
      }
      c.categories.forEach((level, k) => {
        out.names.push(`${c.name}=${level}`);
        out.columns.push(oneHot[k]!);
      });
    }
  }
  return out;
}

/** A new table with the rows at `indices`, in that order (repeats allowed, e.g. for bootstrap). */
export function selectRows(table: Table, indices: ArrayLike<number>): Table {
  const n = indices.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = indices[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= table.nRows) {
      throw new FedscoreError('out_of_range', `row index ${r} outside [0, ${table.nRows})`, {
        field: `indices[${i}]`,
      });
    }
    idx[i] = r;
  }
  return gather(table, idx);
}

function gather(table: Table, idx: Int32Array): Table {
  const n = idx.length;
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = table.ids[idx[i]!]!;
  let label: Float64Array | undefined;
  if (table.label !== undefined) {
    const src = table.label;
    label = new Float64Array(n);
    for (let i = 0; i < n; i++) label[i] = src[idx[i]!]!;
  }
  const columns = table.columns.map((c): Column => {
    if (c.kind === 'numeric') {
      const v = new Float64Array(n);
      let missing = 0;
      for (let i = 0; i < n; i++) {
        const x = c.values[idx[i]!]!;
        v[i] = x;
        if (Number.isNaN(x)) missing++;
      }
      return { kind: 'numeric', name: c.name, values: v, missing };
    }
    const codes = new Int32Array(n);
    let missing = 0;
    for (let i = 0; i < n; i++) {
      const x = c.codes[idx[i]!]!;
      codes[i] = x;
      if (x < 0) missing++;
    }
    return { kind: 'categorical', name: c.name, codes, categories: c.categories.slice(), missing };
  });
  return withParts(table, ids, label, columns);
}

function withParts(table: Table, ids: string[], label: Float64Array | undefined, columns: Column[]): Table {
  return {
    nRows: ids.length,
    ids,
    ...(label !== undefined && { label }),
    columns,
    ...(table.idName !== undefined && { idName: table.idName }),
    ...(table.labelName !== undefined && { labelName: table.labelName }),
  };
}

/**
 * Reorder (and subset) `table` to the order of `ids`, e.g. to the intersection order PSI produced.
 * An id absent from the table is a `not_found` error naming its position in `ids` (not the id: id lists
 * can be confidential). When the table has duplicate ids the first row wins.
 */
export function alignByIds(table: Table, ids: readonly string[]): Table {
  const rowOf = new Map<string, number>();
  for (let r = table.nRows - 1; r >= 0; r--) rowOf.set(table.ids[r]!, r);
  const idx = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const r = rowOf.get(ids[i]!);
    if (r === undefined) {
      throw new FedscoreError('not_found', `id at position ${i} of the requested order is not in the table`, {
        field: 'ids',
        details: { position: i, tableRows: table.nRows },
      });
    }
    idx[i] = r;
  }
  return gather(table, idx);
}

// ---------------------------------------------------------------------------------------------------
// Imputation

/**
 * What to do with missing values in a column:
 * - 'keep': leave them (NaN / code -1);
 * - 'mean', 'median': the column's mean or median over present values (numeric columns). On a
 *   categorical column both mean the most frequent category ('mode'), since neither exists for categories;
 * - 'mode': the most frequent value or category (ties: the smallest value / the first category);
 * - 'zero': 0 (numeric columns only);
 * - `{ constant: v }`: a number for numeric columns, a category string for categorical ones (added to the
 *   categories when new);
 * - 'error': a missing value is a `missing_value` error naming the column.
 */
export type ImputePolicy =
  | 'keep'
  | 'mean'
  | 'median'
  | 'mode'
  | 'zero'
  | 'error'
  | { constant: number | string };

/** A policy for every column, or per column name with an optional `'*'` default (else 'keep'). */
export type ImputeSpec = ImputePolicy | Readonly<Record<string, ImputePolicy>>;

/** The fitted replacement of one column, to apply the same imputation to new data. */
export interface FittedImputation {
  readonly kind: 'numeric' | 'categorical';
  readonly policy: 'keep' | 'mean' | 'median' | 'mode' | 'zero' | 'constant' | 'error';
  /** The replacement: a number for numeric columns, a category for categorical ones, null for keep/error. */
  readonly value: number | string | null;
}

export type Imputation = Readonly<Record<string, FittedImputation>>;

export interface ImputeResult {
  readonly table: Table;
  /** Per column: the fitted replacement. */
  readonly imputation: Imputation;
  /** Per column: how many values were filled. */
  readonly filled: Readonly<Record<string, number>>;
}

function isPolicy(spec: ImputeSpec): spec is ImputePolicy {
  return typeof spec === 'string' || (typeof spec === 'object' && spec !== null && 'constant' in spec);
}

function policyFor(spec: ImputeSpec, name: string): ImputePolicy {
  if (isPolicy(spec)) return spec;
  return spec[name] ?? spec['*'] ?? 'keep';
}

/**
 * Fit each column's replacement on `table` and fill its missing values. Per-column specs may name only
 * existing columns (`'*'` sets the default); an unknown name is an `invalid_config` error. A column with
 * no present value cannot be fitted ('mean', 'median', 'mode'): `missing_value` error.
 */
export function imputeColumns(table: Table, spec: ImputeSpec): ImputeResult {
  if (!isPolicy(spec)) {
    for (const name of Object.keys(spec)) {
      if (name !== '*' && !table.columns.some((c) => c.name === name)) {
        throw new FedscoreError('invalid_config', `imputation names a column the table does not have`, {
          field: `impute.${name}`,
        });
      }
    }
  }
  const imputation: Record<string, FittedImputation> = {};
  for (const c of table.columns) imputation[c.name] = fitColumn(c, policyFor(spec, c.name));
  return applyImputation(table, imputation);
}

function fitColumn(c: Column, policy: ImputePolicy): FittedImputation {
  if (typeof policy === 'object') {
    const v = policy.constant;
    if (c.kind === 'numeric') {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new FedscoreError('invalid_config', 'a numeric column needs a finite numeric constant', {
          field: `impute.${c.name}`,
        });
      }
      return { kind: 'numeric', policy: 'constant', value: v };
    }
    if (typeof v !== 'string') {
      throw new FedscoreError('invalid_config', 'a categorical column needs a category string as constant', {
        field: `impute.${c.name}`,
      });
    }
    return { kind: 'categorical', policy: 'constant', value: v };
  }
  if (policy === 'keep' || policy === 'error') return { kind: c.kind, policy, value: null };
  if (c.kind === 'categorical') {
    if (policy === 'zero') {
      throw new FedscoreError('invalid_config', "'zero' applies to numeric columns only", {
        field: `impute.${c.name}`,
      });
    }
    return { kind: 'categorical', policy, value: modeCategory(c) };
  }
  if (policy === 'zero') return { kind: 'numeric', policy, value: 0 };
  const present = presentValues(c);
  if (present.length === 0) {
    throw new FedscoreError('missing_value', `cannot fit '${policy}': the column has no present value`, {
      field: c.name,
    });
  }
  let value: number;
  if (policy === 'mean') {
    // Neumaier-compensated sum: the mean of 1e5+ values must not drift with the order of rows.
    let sum = 0;
    let comp = 0;
    for (let i = 0; i < present.length; i++) {
      const x = present[i]!;
      const t = sum + x;
      comp += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
      sum = t;
    }
    value = (sum + comp) / present.length;
  } else {
    present.sort();
    const m = present.length >> 1;
    if (policy === 'median') value = present.length % 2 ? present[m]! : (present[m - 1]! + present[m]!) / 2;
    else value = sortedMode(present);
  }
  return { kind: 'numeric', policy, value };
}

function presentValues(c: NumericColumn): Float64Array {
  const out = new Float64Array(c.values.length - c.missing);
  let k = 0;
  for (let i = 0; i < c.values.length; i++) {
    const x = c.values[i]!;
    if (!Number.isNaN(x)) out[k++] = x;
  }
  return k === out.length ? out : out.subarray(0, k);
}

function sortedMode(sorted: Float64Array): number {
  let best = sorted[0]!;
  let bestCount = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > bestCount) {
      bestCount = j - i;
      best = sorted[i]!;
    }
    i = j;
  }
  return best;
}

function modeCategory(c: CategoricalColumn): string {
  const counts = new Int32Array(c.categories.length);
  for (let i = 0; i < c.codes.length; i++) {
    const code = c.codes[i]!;
    if (code >= 0) counts[code]!++;
  }
  let best = -1;
  for (let k = 0; k < counts.length; k++)
    if (counts[k]! > 0 && (best < 0 || counts[k]! > counts[best]!)) best = k;
  if (best < 0) {
    throw new FedscoreError(
      'missing_value',
      'cannot fit the most frequent category: the column is all missing',
      {
        field: c.name,
      },
    );
  }
  return c.categories[best]!;
}

/**
 * Apply fitted replacements (from `imputeColumns` on training data) to a table, e.g. the scoring
 * population. Columns without an entry are kept as they are; an entry whose kind differs from the
 * column's is an `invalid_config` error.
 */
export function applyImputation(table: Table, imputation: Imputation): ImputeResult {
  const filled: Record<string, number> = {};
  const columns = table.columns.map((c): Column => {
    const fit = imputation[c.name];
    filled[c.name] = 0;
    if (fit === undefined || fit.policy === 'keep' || c.missing === 0) return c;
    if (fit.kind !== c.kind) {
      throw new FedscoreError('invalid_config', `imputation fitted for a ${fit.kind} column`, {
        field: `impute.${c.name}`,
      });
    }
    if (fit.policy === 'error') {
      const row = firstMissingRow(c);
      throw new FedscoreError('missing_value', `missing value where the policy forbids it`, {
        field: c.name,
        details: { row, missing: c.missing },
      });
    }
    filled[c.name] = c.missing;
    if (c.kind === 'numeric') {
      const v = Float64Array.from(c.values);
      const fillWith = fit.value as number;
      for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i]!)) v[i] = fillWith;
      return { kind: 'numeric', name: c.name, values: v, missing: 0 };
    }
    const category = fit.value as string;
    const categories = c.categories.slice();
    let code = categories.indexOf(category);
    if (code < 0) code = categories.push(category) - 1;
    const codes = Int32Array.from(c.codes);
    for (let i = 0; i < codes.length; i++) if (codes[i]! < 0) codes[i] = code;
    return { kind: 'categorical', name: c.name, codes, categories, missing: 0 };
  });
  return { table: withParts(table, table.ids, table.label, columns), imputation, filled };
}

function firstMissingRow(c: Column): number {
  if (c.kind === 'numeric') {
    for (let i = 0; i < c.values.length; i++) if (Number.isNaN(c.values[i]!)) return i;
  } else {
    for (let i = 0; i < c.codes.length; i++) if (c.codes[i]! < 0) return i;
  }
  return -1;
}
