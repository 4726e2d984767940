/**
 * Non-IID horizontal split of the synthetic population: several banks that serve different regions or
 * sectors, each holding its own customers with the same columns, plus one common test set drawn from
 * the whole market. It is the data of horizontal federated learning (packages/hfl): the banks'
 * loan books differ in who they serve, so a bank alone learns from a skewed slice and scores the whole
 * market worse than the federation of all banks (docs/population.md, "Non-IID banks").
 *
 * How rows are dealt. Every segment (a region, or an industry) has a home bank: segments are taken by
 * decreasing population share and each goes to the bank with the smallest share so far, which keeps the
 * banks' sizes comparable. A customer of segment s goes to s's home bank with probability `skew`, and to
 * a uniformly chosen bank otherwise (skew 0 = IID, skew 1 = every bank sees only its own segments).
 * Because segments carry their own default risk and shift the size factor (model.ts: REGIONS,
 * INDUSTRIES), the banks differ in default rate and in feature distributions: this is label and
 * covariate shift at once, the setting of Hsieh et al. 2020 and Li et al. 2020 (FedProx). Before
 * dealing, `testFraction` of the rows are drawn uniformly as the common test set (market-wide).
 * `bankRows` caps each bank's rows (a random subset), which models small lenders.
 *
 * Columns (the same in every bank and the test set, so a model trained by one scores the others): the
 * bank's own features plus the customer's `industry` and `region` (KYC data every bank holds), or with
 * `columns: 'all'` every government feature as well. Output is model-ready, like the shared
 * default_credit files: amounts and counts log1p-transformed, categoricals one-hot, every column z-scored
 * with the population's moments and missing values set to the mean (0). The moments are the generator's
 * public knowledge, not any bank's: a deployment would compute them with a federated statistics step
 * (sums and sums of squares through secure aggregation), which this data-preparation helper stands in for.
 */
import {
  type Column,
  createTable,
  FedscoreError,
  numericColumn,
  permutation,
  type Rng,
  seededRng,
  type Table,
  uniform,
  uniformInt,
} from '@fedscore/core';
import type { Population } from './generate.ts';
import { INDUSTRIES, REGIONS } from './model.ts';

export type HorizontalSegment = 'region' | 'industry';

export interface HorizontalSplitOptions {
  /** Number of banks (2 to 8, default 3). */
  readonly banks?: number;
  /** What the banks specialise in (default 'region'). */
  readonly by?: HorizontalSegment;
  /** Probability that a customer banks with its segment's home bank (default 0.9); 0 = IID. */
  readonly skew?: number;
  /** Share of the rows held out as the common test set (default 0.2). */
  readonly testFraction?: number;
  /** At most this many rows per bank (a random subset; default: all dealt rows). */
  readonly bankRows?: number;
  /** 'bank' (default): bank features + industry + region; 'all': every government feature too. */
  readonly columns?: 'bank' | 'all';
  /** Seed of the split (default 1). */
  readonly seed?: number;
}

export interface HorizontalBank {
  readonly name: string;
  /** Model-ready rows: id, label, the common numeric columns. */
  readonly table: Table;
  /** Segments whose home bank this is. */
  readonly homeSegments: readonly string[];
  /** Share of label 1 in this bank. */
  readonly defaultRate: number;
}

export interface HorizontalSplit {
  readonly by: HorizontalSegment;
  readonly skew: number;
  readonly banks: readonly HorizontalBank[];
  /** The common, market-wide test set. */
  readonly test: Table;
  /** The common column names, in order. */
  readonly columns: readonly string[];
}

const LOG_KINDS = new Set(['amount', 'count']);

function checkNumber(v: number, field: string, lo: number, hi: number, integer = false): number {
  if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw new FedscoreError(
      'out_of_range',
      `${field} must be ${integer ? 'an integer ' : ''}in [${lo}, ${hi}], got ${v}`,
      { field },
    );
  }
  return v;
}

/** segment → home bank: by decreasing share, each to the bank with the smallest share so far. */
function homeBanks(shares: readonly number[], banks: number): number[] {
  const load = new Float64Array(banks);
  const home = new Array<number>(shares.length).fill(0);
  const order = shares.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [s, i] of order) {
    let best = 0;
    for (let b = 1; b < banks; b++) if (load[b]! < load[best]!) best = b;
    home[i] = best;
    load[best]! += s;
  }
  return home;
}

/** Model-ready numeric columns over the joined rows (one-hot, log1p, z-score, mean imputation). */
function modelColumns(
  pop: Population,
  rows: Int32Array,
  govRows: Int32Array,
  columns: 'bank' | 'all',
): { names: string[]; values: Float64Array[] } {
  const names: string[] = [];
  const values: Float64Array[] = [];
  const add = (name: string, v: Float64Array): void => {
    let sum = 0;
    let n = 0;
    for (const x of v) {
      if (!Number.isNaN(x)) {
        sum += x;
        n++;
      }
    }
    const mean = n > 0 ? sum / n : 0;
    let ss = 0;
    for (const x of v) if (!Number.isNaN(x)) ss += (x - mean) ** 2;
    const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
    if (sd === 0) return; // a constant column carries nothing
    for (let i = 0; i < v.length; i++) v[i] = Number.isNaN(v[i]!) ? 0 : (v[i]! - mean) / sd;
    names.push(name);
    values.push(v);
  };
  const fromTable = (table: Table, specs: Population['features']['bank'], index: Int32Array): void => {
    table.columns.forEach((c: Column, j) => {
      const spec = specs[j]!;
      if (c.kind === 'categorical') {
        c.categories.forEach((cat, k) => {
          const v = new Float64Array(index.length);
          for (let i = 0; i < index.length; i++) {
            const code = c.codes[index[i]!]!;
            v[i] = code < 0 ? Number.NaN : code === k ? 1 : 0;
          }
          add(`${c.name}_${cat}`, v);
        });
        return;
      }
      const v = new Float64Array(index.length);
      const log = LOG_KINDS.has(spec.kind);
      for (let i = 0; i < index.length; i++) {
        const x = c.values[index[i]!]!;
        v[i] = log && x >= 0 ? Math.log1p(x) : x;
      }
      add(c.name, v);
    });
  };
  fromTable(pop.bank, pop.features.bank, rows);
  const gov = pop.government;
  if (columns === 'all') fromTable(gov, pop.features.government, govRows);
  else {
    const keep = new Set(['industry', 'region']);
    const sub = { ...gov, columns: gov.columns.filter((c) => keep.has(c.name)) };
    const specs = pop.features.government.filter((f) => keep.has(f.name));
    fromTable(sub, specs, govRows);
  }
  return { names, values };
}

function tableOf(
  pop: Population,
  rows: Int32Array,
  cols: { names: string[]; values: Float64Array[] },
  at: readonly number[],
): Table {
  return createTable({
    ids: at.map((i) => pop.bank.ids[rows[i]!]!),
    label: Float64Array.from(at, (i) => pop.bank.label![rows[i]!]!),
    columns: cols.names.map((n, j) =>
      numericColumn(
        n,
        Float64Array.from(at, (i) => cols.values[j]![i]!),
      ),
    ),
    idName: pop.bank.idName ?? 'id',
    labelName: pop.bank.labelName ?? 'y',
  });
}

/**
 * Deal the population's bank customers to `banks` banks by region or industry (see the module
 * comment), holding out a common test set. Bank-only customers (absent from the government table) have
 * no industry or region and are left out.
 */
export function splitHorizontal(pop: Population, options: HorizontalSplitOptions = {}): HorizontalSplit {
  const nBanks = checkNumber(options.banks ?? 3, 'banks', 2, 8, true);
  const by = options.by ?? 'region';
  if (by !== 'region' && by !== 'industry') {
    throw new FedscoreError('invalid_argument', `by must be 'region' or 'industry', got '${by}'`, {
      field: 'by',
    });
  }
  const skew = checkNumber(options.skew ?? 0.9, 'skew', 0, 1);
  const testFraction = checkNumber(options.testFraction ?? 0.2, 'testFraction', 0.01, 0.9);
  const bankRows =
    options.bankRows === undefined ? undefined : checkNumber(options.bankRows, 'bankRows', 10, 1e7, true);
  const columns = options.columns ?? 'bank';
  if (columns !== 'bank' && columns !== 'all') {
    throw new FedscoreError('invalid_argument', `columns must be 'bank' or 'all', got '${columns}'`, {
      field: 'columns',
    });
  }
  const rng: Rng = seededRng(checkNumber(options.seed ?? 1, 'seed', 0, 2 ** 32 - 1, true));
  const govOf = pop.truth.governmentRowOfBank;
  const kept: number[] = [];
  for (let i = 0; i < govOf.length; i++) if (govOf[i]! >= 0) kept.push(i);
  const rows = Int32Array.from(kept);
  const govRows = Int32Array.from(kept, (i) => govOf[i]!);
  const segCol = pop.government.columns.find((c) => c.name === by);
  if (segCol === undefined || segCol.kind !== 'categorical') {
    throw new FedscoreError('internal', `the government table has no categorical '${by}' column`, {
      field: 'by',
    });
  }
  const segments = by === 'region' ? REGIONS : INDUSTRIES;
  const home = homeBanks(
    segments.map((s) => s.share),
    nBanks,
  );
  const cols = modelColumns(pop, rows, govRows, columns);

  const order = permutation(rng, rows.length);
  const nTest = Math.round(testFraction * rows.length);
  const test = Array.from(order.subarray(0, nTest)).sort((a, b) => a - b);
  const dealt: number[][] = Array.from({ length: nBanks }, () => []);
  for (let k = nTest; k < order.length; k++) {
    const i = order[k]!;
    const seg = segCol.codes[govRows[i]!]!;
    const b = seg >= 0 && uniform(rng) < skew ? home[seg]! : uniformInt(rng, nBanks);
    dealt[b]!.push(i);
  }
  const banks = dealt.map((d, b) => {
    let at = d;
    if (bankRows !== undefined && d.length > bankRows) {
      const pick = permutation(rng, d.length).subarray(0, bankRows);
      at = Array.from(pick, (p) => d[p]!);
    }
    at.sort((x, y) => x - y);
    if (at.length === 0) {
      throw new FedscoreError(
        'out_of_range',
        `bank ${b + 1} got no rows: use fewer banks or more enterprises`,
        {
          field: 'banks',
        },
      );
    }
    const table = tableOf(pop, rows, cols, at);
    let defaults = 0;
    for (const y of table.label!) defaults += y;
    return {
      name: `bank-${b + 1}`,
      table,
      homeSegments: segments.filter((_, s) => home[s] === b).map((s) => s.name),
      defaultRate: defaults / at.length,
    };
  });
  return { by, skew, banks, test: tableOf(pop, rows, cols, test), columns: cols.names };
}
