/**
 * `generatePopulation`: the whole synthetic population in memory, as core `Table`s in FATE layout --
 * the government (host) table keyed by `uscc`, and the bank (guest) table with the label -- plus the
 * ground truth that produced them. For files, use `writePopulation`, which streams.
 */
import {
  type CategoricalColumn,
  type Column,
  categoricalColumn,
  createTable,
  noProgress,
  numericColumn,
  type ProgressCallback,
  type Rng,
  seededRng,
  type Table,
} from '@fedscore/core';
import { type ExtraFeatureSpec, type PopulationPlan, startPopulation } from './engine.ts';
import { DEFAULT_MODEL, type FeatureSpec, ID_COLUMN } from './model.ts';
import {
  type PopulationOptions,
  type ResolvedPopulationOptions,
  resolvePopulationOptions,
} from './options.ts';

/** What produced the tables; never sent to a party (it would leak the answer). */
export interface PopulationTruth {
  /** Calibrated intercept of the default logit. */
  readonly intercept: number;
  /** Coefficients of the default logit (docs/population.md). */
  readonly coefficients: typeof DEFAULT_MODEL;
  /** True default probability of each bank row. */
  readonly defaultProbability: Float64Array;
  /** Government row of each bank row, -1 for bank-only customers. */
  readonly governmentRowOfBank: Int32Array;
  /** Bank customers that are in the government table (the PSI intersection size). */
  readonly overlap: number;
  /** Bank customers absent from the government table. */
  readonly bankOnly: number;
  /** Share of label 1 among bank rows. */
  readonly realizedDefaultRate: number;
  readonly governmentExtras: readonly ExtraFeatureSpec[];
  readonly bankExtras: readonly ExtraFeatureSpec[];
}

export interface Population {
  readonly options: ResolvedPopulationOptions;
  /** Host table: ids = USCCs, one column per government feature. */
  readonly government: Table;
  /** Guest table: ids = USCCs, `label` = default within 12 months, one column per bank feature. */
  readonly bank: Table;
  /** Feature dictionary of both tables, in column order. */
  readonly features: { readonly government: readonly FeatureSpec[]; readonly bank: readonly FeatureSpec[] };
  readonly truth: PopulationTruth;
}

export interface GenerateOptions {
  readonly progress?: ProgressCallback;
}

const BLOCK_ROWS = 8192;

/**
 * Generate the population in memory. Without `rng` the stream is `seededRng(options.seed)`, which
 * makes the tables identical to the files `writePopulation` writes for the same options.
 */
export function generatePopulation(
  options: PopulationOptions = {},
  rng?: Rng,
  run: GenerateOptions = {},
): Population {
  const resolved = resolvePopulationOptions(options);
  const progress = run.progress ?? noProgress;
  const cursor = startPopulation(resolved, rng ?? seededRng(resolved.seed));
  const plan = cursor.plan;
  const nGov = resolved.enterprises;
  const nBank = resolved.bankCustomers + resolved.bankOnlyCustomers;
  const govValues = plan.governmentFeatures.map(() => new Float64Array(nGov));
  const bankValues = plan.bankFeatures.map(() => new Float64Array(nBank));
  const govIds: string[] = [];
  const bankIds: string[] = [];
  const label = new Float64Array(nBank);
  const probability = new Float64Array(nBank);
  const governmentRow = new Int32Array(nBank);
  let g = 0;
  let b = 0;
  for (let block = cursor.next(BLOCK_ROWS); block !== undefined; block = cursor.next(BLOCK_ROWS)) {
    const gb = block.government;
    const bb = block.bank;
    for (let j = 0; j < govValues.length; j++) govValues[j]!.set(gb.values[j]!.subarray(0, gb.rows), g);
    for (let j = 0; j < bankValues.length; j++) bankValues[j]!.set(bb.values[j]!.subarray(0, bb.rows), b);
    for (let r = 0; r < bb.rows; r++) label[b + r] = bb.label[r]!;
    probability.set(bb.probability.subarray(0, bb.rows), b);
    governmentRow.set(bb.governmentRow.subarray(0, bb.rows), b);
    govIds.push(...gb.ids);
    bankIds.push(...bb.ids);
    g += gb.rows;
    b += bb.rows;
    progress({ stage: 'generate', done: g, total: nGov, unit: 'enterprises' });
  }
  let defaults = 0;
  for (let i = 0; i < nBank; i++) defaults += label[i]!;
  let overlap = 0;
  for (let i = 0; i < nBank; i++) if (governmentRow[i]! >= 0) overlap++;
  return {
    options: resolved,
    government: createTable({
      ids: govIds,
      columns: toColumns(plan.governmentFeatures, govValues),
      idName: ID_COLUMN,
    }),
    bank: createTable({
      ids: bankIds,
      label,
      columns: toColumns(plan.bankFeatures, bankValues),
      idName: ID_COLUMN,
      labelName: resolved.labelColumn,
    }),
    features: { government: plan.governmentFeatures, bank: plan.bankFeatures },
    truth: {
      intercept: plan.intercept,
      coefficients: DEFAULT_MODEL,
      defaultProbability: probability,
      governmentRowOfBank: governmentRow,
      overlap,
      bankOnly: nBank - overlap,
      realizedDefaultRate: nBank > 0 ? defaults / nBank : 0,
      governmentExtras: plan.governmentExtras,
      bankExtras: plan.bankExtras,
    },
  };
}

function toColumns(specs: readonly FeatureSpec[], values: Float64Array[]): Column[] {
  return specs.map((spec, j) => {
    const v = values[j]!;
    if (spec.kind !== 'categorical') return numericColumn(spec.name, v);
    return categoricalFrom(spec, v);
  });
}

function categoricalFrom(spec: FeatureSpec, v: Float64Array): CategoricalColumn {
  const codes = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) codes[i] = Number.isNaN(v[i]!) ? -1 : v[i]!;
  return categoricalColumn(spec.name, codes, [...(spec.levels ?? [])]);
}

export type { PopulationPlan };
