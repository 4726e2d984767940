/** Options of the population generator, their defaults and ranges. */
import { assertFiniteNumber, assertInteger, assertNonEmptyString, FedscoreError } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN } from './model.ts';

export interface PopulationOptions {
  /** Enterprises in the government table (rows of government.csv). Default 10,000; 100 to 2,000,000. */
  readonly enterprises?: number;
  /** Exact number of government enterprises that are bank customers. Excludes `overlap`. */
  readonly bankCustomers?: number;
  /** Share of the government enterprises that are bank customers (default 0.5). Excludes `bankCustomers`. */
  readonly overlap?: number;
  /**
   * Extra bank customers that are NOT in the government table (registered elsewhere), as a share of the
   * bank's government-registered customers. Default 0.03, range [0, 1]. Makes PSI non-trivial: the bank's
   * id set is not a subset of the government's.
   */
  readonly bankOnlyFraction?: number;
  /** Extra synthetic government features (gov_extra_001...), correlated with the latent factors. 0 to 2000. */
  readonly govExtraFeatures?: number;
  /** Extra synthetic bank features (bank_extra_001...). 0 to 2000. */
  readonly bankExtraFeatures?: number;
  /** Multiplies every non-structural missing probability. Default 1; 0 disables them. Range [0, 5]. */
  readonly missingRateMultiplier?: number;
  /** Target share of defaults (label 1). Default 0.07; range [0.005, 0.5]. */
  readonly defaultRate?: number;
  /** Seed of the deterministic generator. Default 20250101. */
  readonly seed?: number | string;
  /** Name of the label column in bank.csv. Default 'y' (FATE layout); e.g. 'default_12m'. */
  readonly labelColumn?: string;
}

export interface ResolvedPopulationOptions {
  readonly enterprises: number;
  readonly bankCustomers: number;
  readonly bankOnlyCustomers: number;
  readonly govExtraFeatures: number;
  readonly bankExtraFeatures: number;
  readonly missingRateMultiplier: number;
  readonly defaultRate: number;
  readonly seed: number | string;
  readonly labelColumn: string;
}

export const POPULATION_DEFAULTS = {
  enterprises: 10_000,
  overlap: 0.5,
  bankOnlyFraction: 0.03,
  govExtraFeatures: 0,
  bankExtraFeatures: 0,
  missingRateMultiplier: 1,
  defaultRate: 0.07,
  seed: 20250101,
  labelColumn: DEFAULT_LABEL_COLUMN,
} as const;

export const MAX_ENTERPRISES = 2_000_000;
export const MAX_EXTRA_FEATURES = 2000;

/** Validate options and fill in defaults. Every error names the option. */
export function resolvePopulationOptions(options: PopulationOptions = {}): ResolvedPopulationOptions {
  const d = POPULATION_DEFAULTS;
  const enterprises = assertInteger(
    options.enterprises ?? d.enterprises,
    'enterprises',
    100,
    MAX_ENTERPRISES,
  );
  if (options.bankCustomers !== undefined && options.overlap !== undefined) {
    throw new FedscoreError('invalid_argument', 'give either bankCustomers or overlap, not both', {
      field: 'bankCustomers',
    });
  }
  let bankCustomers: number;
  if (options.bankCustomers !== undefined) {
    bankCustomers = assertInteger(options.bankCustomers, 'bankCustomers', 1, enterprises);
  } else {
    const overlap = assertFiniteNumber(options.overlap ?? d.overlap, 'overlap', 0, 1);
    bankCustomers = Math.round(overlap * enterprises);
    if (bankCustomers < 1) {
      throw new FedscoreError('out_of_range', `overlap ${overlap} leaves the bank without customers`, {
        field: 'overlap',
      });
    }
  }
  const bankOnlyFraction = assertFiniteNumber(
    options.bankOnlyFraction ?? d.bankOnlyFraction,
    'bankOnlyFraction',
    0,
    1,
  );
  const labelColumn = assertNonEmptyString(options.labelColumn ?? d.labelColumn, 'labelColumn');
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(labelColumn) || labelColumn === ID_COLUMN) {
    throw new FedscoreError(
      'invalid_argument',
      `label column must be an identifier other than '${ID_COLUMN}', got '${labelColumn}'`,
      { field: 'labelColumn' },
    );
  }
  const seed = options.seed ?? d.seed;
  if (typeof seed === 'number') assertInteger(seed, 'seed', 0, 2 ** 32 - 1);
  else assertNonEmptyString(seed, 'seed');
  return {
    enterprises,
    bankCustomers,
    bankOnlyCustomers: Math.round(bankOnlyFraction * bankCustomers),
    govExtraFeatures: assertInteger(
      options.govExtraFeatures ?? d.govExtraFeatures,
      'govExtraFeatures',
      0,
      MAX_EXTRA_FEATURES,
    ),
    bankExtraFeatures: assertInteger(
      options.bankExtraFeatures ?? d.bankExtraFeatures,
      'bankExtraFeatures',
      0,
      MAX_EXTRA_FEATURES,
    ),
    missingRateMultiplier: assertFiniteNumber(
      options.missingRateMultiplier ?? d.missingRateMultiplier,
      'missingRateMultiplier',
      0,
      5,
    ),
    defaultRate: assertFiniteNumber(options.defaultRate ?? d.defaultRate, 'defaultRate', 0.005, 0.5),
    seed,
    labelColumn,
  };
}
