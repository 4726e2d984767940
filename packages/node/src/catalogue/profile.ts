/**
 * A party's published feature profile: per registered dataset and feature, the aggregates the feature
 * catalogue shows (docs/protocols/feature-catalogue.md), computed from the party's own table.
 *
 * What is released, per dataset: its name, its row count rounded down to a multiple of 10, and the rate
 * step; per feature: its name, the owner's description, its type (numeric, categorical, binary) and two
 * rates over all of the dataset's rows -- coverage (share of the dataset's enterprises with a value) and
 * missing rate (share of rows without one). Nothing else: no value, category level, bin edge or id.
 *
 * The privacy rules, each tested (packages/node/test/catalogue.test.ts):
 *   - the floor: a dataset of fewer than `MIN_RELEASED_BIN_ROWS` rows (50, vfl's floor of a released WOE
 *     bin and a SecureBoost node, also the console's floor of coverage) is refused with `privacy_floor`:
 *     no aggregate of it leaves the node, so no released share describes a handful of enterprises;
 *   - the rounding: every rate is rounded to the dataset's step, the smallest of `RATE_STEPS_BP` that is at
 *     least 1/rows (100 bp = one percentage point from 100 rows on, 200 bp from 50), so that one enterprise
 *     more or less moves a rate by at most one step and two publications around a change of one row
 *     rarely differ -- and when they do, by a step that several enterprises could have caused;
 *   - the row count is rounded down to a multiple of 10 for the same reason.
 * Rounding limits differencing; it is not a formal guarantee (docs/threat-model.md says so).
 */
import { FedscoreError, normalizeUscc, type Table } from '@fedscore/core';
import { MIN_RELEASED_BIN_ROWS } from '@fedscore/vfl';

/** The floor of rows of a published dataset (the floor of every other released aggregate). */
export const MIN_PROFILE_ROWS = MIN_RELEASED_BIN_ROWS;
/** Basis points in one: rates travel as integers of 1/10 000. */
export const BASIS_POINTS = 10_000;
/** The rate steps a dataset's rates may be rounded to (basis points), finest first. */
export const RATE_STEPS_BP = [100, 200, 500, 1000, 2000, 2500, 5000, 10_000] as const;
/** Published row counts are multiples of this. */
export const ROWS_ROUNDING = 10;

export type FeatureType = 'numeric' | 'categorical' | 'binary';

/** One feature as published (rates in basis points, multiples of the dataset's step). */
export interface PublishedFeature {
  readonly name: string;
  /** The owner's description (config `data.<name>.descriptions`); '' when it gave none. */
  readonly description: string;
  readonly type: FeatureType;
  readonly coverageBp: number;
  readonly missingBp: number;
}

/** One dataset as published. */
export interface PublishedDataset {
  readonly dataset: string;
  /** Rows, rounded down to a multiple of `ROWS_ROUNDING`. */
  readonly rows: number;
  readonly rateStepBp: number;
  readonly features: readonly PublishedFeature[];
}

/** A party's whole profile: every registered dataset at or above the floor. */
export interface FeatureProfileSet {
  readonly party: string;
  /** When the owner computed it (ms since the Unix epoch). */
  readonly publishedAt: number;
  readonly datasets: readonly PublishedDataset[];
}

/** The step of a dataset of `rows` rows: the finest step one row cannot move a rate by more than. */
export function rateStepBp(rows: number): number {
  const need = Math.ceil(BASIS_POINTS / rows);
  return RATE_STEPS_BP.find((s) => s >= need) ?? BASIS_POINTS;
}

/** `share` (0..1) in basis points, rounded to the nearest multiple of `stepBp`. */
export function roundShare(share: number, stepBp: number): number {
  return Math.min(BASIS_POINTS, Math.round((share * BASIS_POINTS) / stepBp) * stepBp);
}

function featureType(table: Table, i: number): FeatureType {
  const c = table.columns[i]!;
  if (c.kind === 'categorical') {
    return c.categories.length <= 2 ? 'binary' : 'categorical';
  }
  for (const v of c.values) if (!Number.isNaN(v) && v !== 0 && v !== 1) return 'numeric';
  return 'binary';
}

/**
 * Profile one dataset (module comment). Throws `privacy_floor` naming `data.<dataset>` when the table has
 * fewer than `MIN_PROFILE_ROWS` rows. `stepOf` gives the rate step of a dataset of `rows` rows (default
 * `rateStepBp`; a receiver refuses any step finer than that, so only an attack test passes another).
 */
export function profileDataset(
  dataset: string,
  table: Table,
  descriptions: Readonly<Record<string, string>> = {},
  stepOf: (rows: number) => number = rateStepBp,
): PublishedDataset {
  if (table.nRows < MIN_PROFILE_ROWS) {
    throw new FedscoreError(
      'privacy_floor',
      `dataset '${dataset}' has fewer than ${MIN_PROFILE_ROWS} rows: its profile is not published`,
      { field: `data.${dataset}` },
    );
  }
  const step = stepOf(table.nRows);
  // Enterprises, not rows: an id that occurs on several rows (a file the reader let through) counts once.
  const enterpriseOf = table.ids.map((id) => normalizeUscc(id));
  const enterprises = new Set(enterpriseOf).size;
  const features = table.columns.map((c, i): PublishedFeature => {
    const withValue = new Set<string>();
    for (let r = 0; r < table.nRows; r++) {
      const present = c.kind === 'numeric' ? !Number.isNaN(c.values[r]!) : c.codes[r]! >= 0;
      if (present) withValue.add(enterpriseOf[r]!);
    }
    return {
      name: c.name,
      description: descriptions[c.name] ?? '',
      type: featureType(table, i),
      coverageBp: roundShare(withValue.size / enterprises, step),
      missingBp: roundShare(c.missing / table.nRows, step),
    };
  });
  return {
    dataset,
    rows: Math.floor(table.nRows / ROWS_ROUNDING) * ROWS_ROUNDING,
    rateStepBp: step,
    features,
  };
}

/**
 * This party's whole profile: every dataset of `names`, read with `read`. The first dataset below the
 * floor refuses the whole profile (`privacy_floor`): a publication never silently leaves a dataset out.
 */
export async function profileOwnDatasets(options: {
  readonly party: string;
  readonly names: readonly string[];
  readonly read: (name: string) => Promise<Table>;
  /** Per dataset, what each feature means (config `data.<name>.descriptions`). */
  readonly descriptions?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly now?: number;
}): Promise<FeatureProfileSet> {
  const datasets: PublishedDataset[] = [];
  for (const name of options.names) {
    datasets.push(profileDataset(name, await options.read(name), options.descriptions?.[name]));
  }
  return { party: options.party, publishedAt: options.now ?? Date.now(), datasets };
}
