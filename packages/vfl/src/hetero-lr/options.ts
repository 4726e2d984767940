/**
 * Hyperparameters of hetero-LR training, their defaults and validation, and the pieces of the plan every
 * party derives identically from it (batch order, learning-rate schedule, validation epochs).
 */
import {
  assertFiniteNumber,
  assertInteger,
  assertOneOf,
  type CryptoRng,
  FedscoreError,
  type Logger,
  type ProgressCallback,
  permutation,
  seededRng,
} from '@fedscore/core';
import type { CheckpointCallback, HeteroLrCheckpoint } from './checkpoint.ts';

export const HETERO_LR_MODES = ['arbiter', 'two-party'] as const;
export type HeteroLrMode = (typeof HETERO_LR_MODES)[number];
export const HETERO_LR_SCHEMES = ['ckks', 'paillier', 'none'] as const;
export type HeteroLrScheme = (typeof HETERO_LR_SCHEMES)[number];
export const LR_SCHEDULES = ['constant', 'inverse-time', 'exponential'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

/**
 * Class weights: 'balanced' (n / (2 n_k) on the training rows, as sklearn), 'none', or explicit weights
 * of class 0 and class 1.
 */
export type ClassWeightOption =
  | 'balanced'
  | 'none'
  | { readonly negative: number; readonly positive: number };

/** What the guest decides for a run (sent to every party in the TrainPlan). */
export interface HeteroLrHyperparams {
  /** Rows per mini-batch (<= the CKKS slot count for one ciphertext per batch). Default 1024. */
  readonly batchSize?: number;
  /** Epochs (passes over the training rows). Default 10. */
  readonly maxEpochs?: number;
  /** Initial learning rate. Default 0.3. */
  readonly learningRate?: number;
  /** Default 'inverse-time'. */
  readonly lrSchedule?: LrScheduleName;
  /** Decay of the schedule (inverse-time: lr/(1+decay*epoch); exponential: lr*decay^epoch). Default 0.2. */
  readonly lrDecay?: number;
  /** L2 penalty on the weights (not the intercept), per row: the gradient adds l2 * w. Default 1e-3. */
  readonly l2?: number;
  /**
   * Class weights (guest only; hosts never see them). Default 'balanced': with the first-order Taylor
   * sigmoid the gradient is that of a squared loss, and balancing the classes moves its solution towards
   * the logistic one on imbalanced credit data (default_credit test AUC 0.702 -> 0.705).
   */
  readonly classWeight?: ClassWeightOption;
  /** Fraction of the training rows the guest holds out for early stopping. Default 0 (off). */
  readonly validationFraction?: number;
  /** Epochs without validation-AUC improvement before stopping. Default 3 (0 = never stop early). */
  readonly patience?: number;
  /** AUC improvement that counts as progress. Default 1e-4. */
  readonly tolerance?: number;
  /** Validate every this many epochs. Default 1. */
  readonly validationEvery?: number;
  /**
   * Masks are uniform in [-2^maskBits, 2^maskBits]: a released coordinate g + r is within statistical
   * distance |g| / 2^(maskBits+1) of a mask alone. Default 40 (2^-40 per coordinate for |g| <= 2; needs
   * the default CKKS preset ckks-16384-release, or Paillier / none). Every host refuses a plan below its
   * own `minMaskBits` (see docs/protocols/hetero-lr.md).
   */
  readonly maskBits?: number;
  /** Seeds the batch order and the validation split: same seed, same weights. Default 42. */
  readonly seed?: number;
}

export interface ResolvedHyperparams {
  readonly batchSize: number;
  readonly maxEpochs: number;
  readonly learningRate: number;
  readonly lrSchedule: LrScheduleName;
  readonly lrDecay: number;
  readonly l2: number;
  readonly classWeight: ClassWeightOption;
  readonly validationFraction: number;
  readonly patience: number;
  readonly tolerance: number;
  readonly validationEvery: number;
  readonly maskBits: number;
  readonly seed: number;
}

/** Default mask exponent of a plan and default floor every host enforces (docs/protocols/hetero-lr.md). */
export const DEFAULT_MASK_BITS = 40;

/**
 * Statistical distance between the key holder's views of a released coordinate g + r and of r alone,
 * r uniform on [-2^maskBits, 2^maskBits] (continuous): |g| / 2^(maskBits+1). Over a run it adds up at
 * most linearly in the released coordinates (`releases` of them).
 */
export function maskStatisticalDistance(maxAbsValue: number, maskBits: number, releases = 1): number {
  return Math.min(1, (releases * Math.abs(maxAbsValue)) / 2 ** (maskBits + 1));
}

export function resolveHyperparams(h: HeteroLrHyperparams = {}): ResolvedHyperparams {
  const classWeight = h.classWeight ?? 'balanced';
  if (classWeight !== 'none' && classWeight !== 'balanced') {
    if (typeof classWeight !== 'object' || classWeight === null) {
      throw new FedscoreError('invalid_argument', "expected 'balanced' or { negative, positive }", {
        field: 'classWeight',
      });
    }
    assertFiniteNumber(classWeight.negative, 'classWeight.negative', Number.MIN_VALUE);
    assertFiniteNumber(classWeight.positive, 'classWeight.positive', Number.MIN_VALUE);
  }
  return {
    batchSize: assertInteger(h.batchSize ?? 1024, 'batchSize', 1, 1 << 20),
    maxEpochs: assertInteger(h.maxEpochs ?? 10, 'maxEpochs', 1, 100_000),
    learningRate: assertFiniteNumber(h.learningRate ?? 0.3, 'learningRate', Number.MIN_VALUE),
    lrSchedule: assertOneOf(h.lrSchedule ?? 'inverse-time', LR_SCHEDULES, 'lrSchedule'),
    lrDecay: assertFiniteNumber(h.lrDecay ?? 0.2, 'lrDecay', 0),
    l2: assertFiniteNumber(h.l2 ?? 1e-3, 'l2', 0),
    classWeight,
    validationFraction: assertFiniteNumber(h.validationFraction ?? 0, 'validationFraction', 0, 0.9),
    patience: assertInteger(h.patience ?? 3, 'patience', 0),
    tolerance: assertFiniteNumber(h.tolerance ?? 1e-4, 'tolerance', 0),
    validationEvery: assertInteger(h.validationEvery ?? 1, 'validationEvery', 1),
    maskBits: assertInteger(h.maskBits ?? DEFAULT_MASK_BITS, 'maskBits', 0, 40),
    seed: assertInteger(h.seed ?? 42, 'seed', 0, 2 ** 32 - 1),
  };
}

/** The learning rate of `epoch` (0-based). */
export function learningRateAt(lr: number, schedule: LrScheduleName, decay: number, epoch: number): number {
  switch (schedule) {
    case 'constant':
      return lr;
    case 'inverse-time':
      return lr / (1 + decay * epoch);
    case 'exponential':
      return lr * decay ** epoch;
  }
}

/**
 * The mini-batches of a run: the training rows (all rows minus the validation rows) in an order seeded
 * by `shuffleSeed`, cut into batches of `batchSize`. Membership is fixed for the whole run (only the
 * order of the batches changes per epoch, `batchOrder`), so a party can keep per-batch encodings (the
 * CKKS plaintext diagonals) across epochs. Every party computes the same.
 */
export function fixedBatches(trainRows: Uint32Array, batchSize: number, shuffleSeed: number): Uint32Array[] {
  const order = permutation(seededRng(`hetero-lr/${shuffleSeed}/membership`), trainRows.length);
  const batches: Uint32Array[] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    const end = Math.min(order.length, start + batchSize);
    const b = new Uint32Array(end - start);
    for (let i = start; i < end; i++) b[i - start] = trainRows[order[i]!]!;
    batches.push(b);
  }
  return batches;
}

/** The order in which epoch `epoch` (0-based) visits the `count` fixed batches, seeded. */
export function batchOrder(count: number, shuffleSeed: number, epoch: number): Uint32Array {
  return permutation(seededRng(`hetero-lr/${shuffleSeed}/order/${epoch}`), count);
}

/** The mini-batches of one epoch, in visiting order: `fixedBatches` permuted by `batchOrder`. */
export function epochBatches(
  trainRows: Uint32Array,
  batchSize: number,
  shuffleSeed: number,
  epoch: number,
): Uint32Array[] {
  const fixed = fixedBatches(trainRows, batchSize, shuffleSeed);
  return Array.from(batchOrder(fixed.length, shuffleSeed, epoch), (i) => fixed[i]!);
}

/**
 * How a party runs its share of the CKKS work (local, never sent): worker threads for the packed
 * products and the budget of its encoded-diagonal cache.
 */
export interface HeteroLrRuntime {
  /**
   * Worker threads for the packed products (CKKS only). 'auto' (default): 2 (or the available
   * parallelism, if lower) when the run is large enough to repay starting them (training rows x
   * columns x epochs >= 2^20), else 0 (the calling thread).
   */
  readonly workers?: number | 'auto';
  /** Encoded-diagonal cache budget per party, MiB (CKKS). Default 1024; 0 = encode per use. */
  readonly diagonalCacheMiB?: number;
}

/** The worker count of `runtime` for a run of `rows x columns x epochs`. */
export function resolveWorkers(
  runtime: HeteroLrRuntime | undefined,
  rows: number,
  columns: number,
  epochs: number,
  parallelism: number,
): number {
  const w = runtime?.workers ?? 'auto';
  if (w === 'auto') return rows * columns * epochs >= 2 ** 20 ? Math.max(1, Math.min(2, parallelism)) : 0;
  return assertInteger(w, 'workers', 0, 64);
}

/** Rows not in `validation`, ascending. */
export function trainingRows(rows: number, validation: ArrayLike<number>): Uint32Array {
  const held = new Uint8Array(rows);
  for (let i = 0; i < validation.length; i++) held[validation[i]!] = 1;
  const out = new Uint32Array(rows - countOnes(held));
  let k = 0;
  for (let i = 0; i < rows; i++) if (held[i] === 0) out[k++] = i;
  return out;
}

function countOnes(a: Uint8Array): number {
  let n = 0;
  for (const v of a) n += v;
  return n;
}

/** Whether the validation split is scored after `epoch` (0-based). */
export function validatesAfter(
  epoch: number,
  maxEpochs: number,
  every: number,
  hasValidation: boolean,
): boolean {
  return hasValidation && ((epoch + 1) % every === 0 || epoch + 1 === maxEpochs);
}

/** Options every data party (guest and hosts) takes besides its own data: masks, checkpoints, runtime. */
export interface HeteroLrDataPartyOptions {
  /**
   * The smallest mask exponent this party accepts for the masks that hide its values (hosts check the
   * guest's plan: `FedscoreError('privacy_floor')` naming `mask_bits`). Default `DEFAULT_MASK_BITS`.
   */
  readonly minMaskBits?: number;
  /** Mask generator (default `cryptoRng()`); a seeded one is refused (`insecure_rng`). */
  readonly maskRng?: CryptoRng;
  /**
   * A 256-bit secret (32 bytes from a CSPRNG, never sent) to derive the masks from instead: one ChaCha20
   * stream per release bound to the run, this party, the plan, its data, epoch and batch (plan.ts
   * `maskSource`). Reproducible for this party only: bit-identical resumes in mode 'none'. Default:
   * `maskRng`.
   */
  readonly maskKey?: Uint8Array;
  /** Called with this party's checkpoint at the end of every epoch (awaited). */
  readonly onCheckpoint?: CheckpointCallback;
  /**
   * The checkpoints this party holds (its last few). The resume handshake picks the latest epoch every
   * party holds; this party restores its checkpoint of that epoch. Each is checked against the plan and
   * this party's data (`FedscoreError('checkpoint')`).
   */
  readonly resumeFrom?: readonly HeteroLrCheckpoint[];
  /** Worker threads and diagonal cache for this party's CKKS products (local; never sent). */
  readonly runtime?: HeteroLrRuntime;
  readonly logger?: Logger;
  readonly onProgress?: ProgressCallback;
}
