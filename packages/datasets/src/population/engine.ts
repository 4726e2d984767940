/**
 * The streaming engine behind `generatePopulation` and `writePopulation`: it plans a run (options,
 * extra-feature specs, calibrated intercept, USCCs) and then yields the population block by block, so
 * a million enterprises with hundreds of columns never sit in memory at once.
 *
 * Independent seeded streams, each drawn in a fixed order, make the output depend only on the seed and
 * the options, never on the block size:
 *   model  -> extra-feature specs        pilot  -> intercept calibration sample
 *   ids    -> USCCs                       rows   -> every enterprise's latent factors, features, label
 *   select -> who is a bank customer      govExtra / bankExtra -> extra feature values
 *
 * Universe. The generator draws U = n + m enterprises: the n of the government table and m bank-only
 * customers (registered elsewhere, absent from the government table). Selection sampling (Knuth, TAOCP
 * vol. 2, Algorithm 3.4.2 S) picks exactly m of the U positions as bank-only and exactly k of the n
 * government enterprises as bank customers, uniformly and in one pass. Both tables keep universe order.
 */
import { FedscoreError, generateUniqueUsccs, type Rng, seededRng } from '@fedscore/core';
import { drawEnterprise, EnterpriseDraw } from './enterprise.ts';
import { BANK_FEATURES, type FeatureOwner, type FeatureSpec, GOVERNMENT_FEATURES } from './model.ts';
import type { ResolvedPopulationOptions } from './options.ts';
import { Sampler, sigmoid } from './sampling.ts';

export type LatentFactor = 'G' | 'L' | 'T' | 'S' | 'H' | 'none';
export type ExtraTransform = 'normal' | 'lognormal' | 'count' | 'binary';

/** An extra synthetic feature: z = sign * loading * F + sqrt(1 - loading^2) * e, then `transform`. */
export interface ExtraFeatureSpec extends FeatureSpec {
  readonly factor: LatentFactor;
  /** Signed loading on the factor (0 for pure noise). */
  readonly loading: number;
  readonly transform: ExtraTransform;
  /** For 'binary': the value is 1 when z > threshold. */
  readonly threshold: number;
}

/** MCAR missing rate of extra features, before the multiplier. */
export const EXTRA_MISSING_RATE = 0.02;
/** Rows of the pilot sample that calibrates the intercept. */
export const PILOT_ROWS = 50_000;

export interface PopulationPlan {
  readonly options: ResolvedPopulationOptions;
  /** Intercept of the default logit, calibrated so that the mean default probability is `defaultRate`. */
  readonly intercept: number;
  readonly governmentFeatures: readonly FeatureSpec[];
  readonly bankFeatures: readonly FeatureSpec[];
  readonly governmentExtras: readonly ExtraFeatureSpec[];
  readonly bankExtras: readonly ExtraFeatureSpec[];
  /** n + m: government enterprises plus bank-only customers. */
  readonly universe: number;
}

/** One block of rows; arrays are reused between blocks, valid up to `rows`. */
export interface PartyBlock {
  rows: number;
  readonly ids: string[];
  /** One array per feature in plan order; categorical values are 0-based level codes; NaN = missing. */
  readonly values: Float64Array[];
}

export interface BankBlock extends PartyBlock {
  readonly label: Uint8Array;
  /** True default probability of each row. */
  readonly probability: Float64Array;
  /** Row index in the government table, -1 for bank-only customers. */
  readonly governmentRow: Int32Array;
}

export interface PopulationBlock {
  readonly government: PartyBlock;
  readonly bank: BankBlock;
}

export interface PopulationCursor {
  readonly plan: PopulationPlan;
  /** The next up to `maxRows` universe rows, or undefined when all were produced. */
  next(maxRows: number): PopulationBlock | undefined;
}

/** Plan a run and return a cursor over its rows. `rng` seeds every stream (see the module comment). */
export function startPopulation(options: ResolvedPopulationOptions, rng: Rng): PopulationCursor {
  const seeds = Array.from({ length: 7 }, () => rng.nextUint32());
  const stream = (i: number): Sampler => new Sampler(seededRng(seeds[i]!));
  const modelStream = stream(0);
  const governmentExtras = drawExtraSpecs(modelStream, 'government', options.govExtraFeatures);
  const bankExtras = drawExtraSpecs(modelStream, 'bank', options.bankExtraFeatures);
  const intercept = calibrateIntercept(stream(1), options.missingRateMultiplier, options.defaultRate);
  const n = options.enterprises;
  const k = options.bankCustomers;
  const m = options.bankOnlyCustomers;
  const universe = n + m;
  const ids = generateUniqueUsccs(seededRng(seeds[2]!), universe);
  const rows = stream(3);
  const select = stream(4);
  const govExtra = stream(5);
  const bankExtra = stream(6);
  const plan: PopulationPlan = {
    options,
    intercept,
    governmentFeatures: [...GOVERNMENT_FEATURES, ...governmentExtras],
    bankFeatures: [...BANK_FEATURES, ...bankExtras],
    governmentExtras,
    bankExtras,
    universe,
  };

  const draw = new EnterpriseDraw();
  let u = 0; // universe position
  let bankOnlyLeft = m;
  let govSeen = 0; // government rows produced so far
  let customersLeft = k;
  let government: PartyBlock | undefined;
  let bank: BankBlock | undefined;
  const nGov = plan.governmentFeatures.length;
  const nBank = plan.bankFeatures.length;
  const extraValue = (s: Sampler, spec: ExtraFeatureSpec): number => {
    const f = factorValue(draw, spec.factor);
    const z = spec.loading * f + Math.sqrt(1 - spec.loading * spec.loading) * s.normal();
    const missing = s.uniform() < options.missingRateMultiplier * EXTRA_MISSING_RATE;
    let v: number;
    switch (spec.transform) {
      case 'normal':
        v = z;
        break;
      case 'lognormal':
        v = Math.exp(8 + 1.2 * z);
        break;
      case 'count':
        v = s.poisson(Math.exp(0.3 + 0.6 * z));
        break;
      case 'binary':
        v = z > spec.threshold ? 1 : 0;
        break;
    }
    return missing ? Number.NaN : v;
  };

  return {
    plan,
    next(maxRows: number): PopulationBlock | undefined {
      if (!Number.isInteger(maxRows) || maxRows < 1) {
        throw new FedscoreError('invalid_argument', `block size must be a positive integer, got ${maxRows}`, {
          field: 'maxRows',
        });
      }
      if (u >= universe) return undefined;
      if (government === undefined || government.values[0]!.length < maxRows) {
        government = {
          rows: 0,
          ids: [],
          values: Array.from({ length: nGov }, () => new Float64Array(maxRows)),
        };
        bank = {
          rows: 0,
          ids: [],
          values: Array.from({ length: nBank }, () => new Float64Array(maxRows)),
          label: new Uint8Array(maxRows),
          probability: new Float64Array(maxRows),
          governmentRow: new Int32Array(maxRows),
        };
      }
      const gb = government;
      const bb = bank!;
      gb.rows = 0;
      gb.ids.length = 0;
      bb.rows = 0;
      bb.ids.length = 0;
      const end = Math.min(universe, u + maxRows);
      for (; u < end; u++) {
        drawEnterprise(rows, options.missingRateMultiplier, draw);
        const probability = sigmoid(intercept + draw.eta);
        const label = rows.uniform() < probability ? 1 : 0;
        // Selection sampling: exactly m bank-only among U, exactly k customers among the n.
        const bankOnly = select.uniform() * (universe - u) < bankOnlyLeft;
        let customer = bankOnly;
        let govRow = -1;
        if (bankOnly) bankOnlyLeft--;
        else {
          govRow = govSeen;
          customer = select.uniform() * (n - govSeen) < customersLeft;
          if (customer) customersLeft--;
          govSeen++;
          const r = gb.rows++;
          gb.ids.push(ids[u]!);
          for (let j = 0; j < GOVERNMENT_FEATURES.length; j++) gb.values[j]![r] = draw.gov[j]!;
          for (let j = 0; j < governmentExtras.length; j++) {
            gb.values[GOVERNMENT_FEATURES.length + j]![r] = extraValue(govExtra, governmentExtras[j]!);
          }
        }
        if (customer) {
          const r = bb.rows++;
          bb.ids.push(ids[u]!);
          bb.label[r] = label;
          bb.probability[r] = probability;
          bb.governmentRow[r] = govRow;
          for (let j = 0; j < BANK_FEATURES.length; j++) bb.values[j]![r] = draw.bank[j]!;
          for (let j = 0; j < bankExtras.length; j++) {
            bb.values[BANK_FEATURES.length + j]![r] = extraValue(bankExtra, bankExtras[j]!);
          }
        }
      }
      return { government: gb, bank: bb };
    },
  };
}

function factorValue(d: EnterpriseDraw, f: LatentFactor): number {
  switch (f) {
    case 'G':
      return d.latent.G;
    case 'L':
      return d.latent.L;
    case 'T':
      return d.latent.T;
    case 'S':
      return d.latent.S;
    case 'H':
      return d.health;
    case 'none':
      return 0;
  }
}

const FACTOR_CHOICES: Record<FeatureOwner, readonly [LatentFactor, number][]> = {
  // Government extras lean on compliance and size, bank extras on liquidity.
  government: [
    ['G', 0.3],
    ['L', 0.1],
    ['T', 0.15],
    ['S', 0.2],
    ['H', 0.1],
    ['none', 0.15],
  ],
  bank: [
    ['G', 0.1],
    ['L', 0.3],
    ['T', 0.15],
    ['S', 0.2],
    ['H', 0.1],
    ['none', 0.15],
  ],
};
const TRANSFORM_CHOICES: readonly [ExtraTransform, number][] = [
  ['normal', 0.4],
  ['lognormal', 0.25],
  ['count', 0.2],
  ['binary', 0.15],
];

function choose<T>(s: Sampler, choices: readonly [T, number][]): T {
  let u = s.uniform();
  for (const [value, p] of choices) {
    if (u < p) return value;
    u -= p;
  }
  return choices[choices.length - 1]![0];
}

/** Specs of `count` extra features of one party, drawn from the model stream. */
export function drawExtraSpecs(s: Sampler, owner: FeatureOwner, count: number): ExtraFeatureSpec[] {
  const width = Math.max(3, String(count).length);
  const prefix = owner === 'government' ? 'gov_extra_' : 'bank_extra_';
  const out: ExtraFeatureSpec[] = [];
  for (let j = 0; j < count; j++) {
    const factor = choose(s, FACTOR_CHOICES[owner]);
    const magnitude = 0.2 + 0.6 * s.uniform();
    const sign = s.uniform() < 0.5 ? -1 : 1;
    const transform = choose(s, TRANSFORM_CHOICES);
    const threshold = 1 + 0.3 * s.normal();
    const loading = factor === 'none' ? 0 : sign * magnitude;
    const on = factor === 'none' ? 'pure noise' : `loading ${loading.toFixed(3)} on factor ${factor}`;
    out.push({
      name: `${prefix}${String(j + 1).padStart(width, '0')}`,
      owner,
      kind: transform === 'normal' ? 'score' : transform === 'lognormal' ? 'amount' : transform,
      unit:
        transform === 'lognormal'
          ? 'CNY'
          : transform === 'binary'
            ? '0/1'
            : transform === 'count'
              ? 'count'
              : 'z',
      description: `Synthetic ${transform} feature for scale tests: ${on}.`,
      missing: `MCAR: ${EXTRA_MISSING_RATE * 100}% x multiplier.`,
      decimals: transform === 'normal' ? 4 : 0,
      factor,
      loading,
      transform,
      threshold,
    });
  }
  return out;
}

/**
 * Solve mean_i sigmoid(b + eta_i) = rate for b over a pilot sample of PILOT_ROWS enterprises drawn from
 * their own stream (bisection; the mean is increasing in b). The pilot does not depend on the population
 * size, so runs of any size with one seed share the same model.
 */
export function calibrateIntercept(s: Sampler, missingMultiplier: number, rate: number): number {
  const draw = new EnterpriseDraw();
  const eta = new Float64Array(PILOT_ROWS);
  for (let i = 0; i < PILOT_ROWS; i++) {
    drawEnterprise(s, missingMultiplier, draw);
    eta[i] = draw.eta;
  }
  let lo = -30;
  let hi = 30;
  for (let iter = 0; iter < 60; iter++) {
    const mid = (lo + hi) / 2;
    let sum = 0;
    for (let i = 0; i < PILOT_ROWS; i++) sum += sigmoid(mid + eta[i]!);
    if (sum / PILOT_ROWS < rate) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
