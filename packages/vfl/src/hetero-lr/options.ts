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
import type { TaskExecutor } from '@fedscore/core/pool';
import type { PackedPartsResult, PackedProductRequest } from '@fedscore/he';
import type { CheckpointCallback, HeteroLrCheckpoint } from './checkpoint-state.ts';

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
  /**
   * Rows per mini-batch (<= the CKKS slot count for one ciphertext per batch: 8192 on the default preset
   * ckks-16384-release, where a batch of 8192 costs about what one of 4096 does). Default 1024. Every batch
   * must have at least max(64, 2 x the widest party's gradient coordinates) rows (`minBatchRows`), or
   * every party refuses the plan; the remainder joins the last full batch (`batchSizes`).
   */
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
  let start = 0;
  for (const size of batchSizes(order.length, batchSize)) {
    const b = new Uint32Array(size);
    for (let i = 0; i < size; i++) b[i] = trainRows[order[start + i]!]!;
    batches.push(b);
    start += size;
  }
  return batches;
}

/**
 * The floor on batch rows every party enforces (docs/protocols/hetero-lr.md, "Batch size floor"). A
 * host's gradient for a batch is X_b^T d / B: p equations in the B residuals d, which carry the labels
 * (at the first step d = c (1/2 - y), later their sign still gives y). With B <= p the host solves them
 * exactly; the guest's gradient gives it the hosts' partial scores the same way. Every batch must have
 * at least BATCH_ROWS_PER_COLUMN x the widest party's gradient coordinates (guest: features + intercept)
 * and at least MIN_BATCH_ROWS rows: then the p equations leave a null space of dimension B - p >= B / 2
 * (and >= 32) undetermined, so no linear solve recovers a residual, and an exact search over the
 * binary labels the equations admit costs at least 2^(B - p) candidates.
 */
export const MIN_BATCH_ROWS = 64;
export const BATCH_ROWS_PER_COLUMN = 2;

/** The fewest rows a batch may have when the widest party's gradient has `columns` coordinates. */
export function minBatchRows(columns: number): number {
  return Math.max(MIN_BATCH_ROWS, BATCH_ROWS_PER_COLUMN * columns);
}

/**
 * A merged last batch stays within 4096 rows: one ciphertext of every CKKS preset (ckks-8192 has 4096
 * slots, the default ckks-16384-release 8192). The batch sizes depend only on (rows, batchSize), never on
 * the preset, so this bound is the smallest preset's.
 */
export const MAX_MERGED_BATCH_ROWS = 4096;

/**
 * The sizes of the fixed batches of `rows` training rows (membership order): batches of `batchSize`,
 * and the remainder merged into the last of them, so that with batchSize <= 2048 every batch has at
 * least batchSize rows. Only when the merged batch would exceed MAX_MERGED_BATCH_ROWS (batchSize near
 * the slot count) does a remainder of >= MAX_MERGED_BATCH_ROWS / 2 (2048) stay a batch of its own, and a
 * smaller one is cut with the last full batch into two halves (each > 2048 rows): so every batch has at
 * least min(batchSize, 2048) rows and at most max(batchSize, 4096) (so batchSize <= the slot count keeps
 * every batch in one ciphertext), above the floor of any party whose gradient has <= 1024 coordinates
 * (a remainder of 368 rows at batchSize 4096 used to stay a batch and fail a 310-column party's floor of
 * 620). Depends only on (rows, batchSize), which every party has from the plan.
 */
export function batchSizes(rows: number, batchSize: number): number[] {
  const full = Math.floor(rows / batchSize);
  const rest = rows - full * batchSize;
  if (full === 0) return rows > 0 ? [rows] : [];
  const sizes = new Array<number>(full).fill(batchSize);
  if (rest === 0) return sizes;
  if (batchSize + rest <= MAX_MERGED_BATCH_ROWS) sizes[full - 1] = batchSize + rest;
  else if (rest >= MAX_MERGED_BATCH_ROWS / 2) sizes.push(rest);
  else {
    sizes[full - 1] = Math.ceil((batchSize + rest) / 2);
    sizes.push(Math.floor((batchSize + rest) / 2));
  }
  return sizes;
}

/**
 * Refuse a batch plan with a batch below `minBatchRows(columns)` (`out_of_range`, field batchSize).
 * Each party calls it on receipt of the plan with the widest gradient it knows of; `unsafe` (tests of
 * the attack only) skips it. Returns the largest batch (the HE keys are sized for it).
 */
export function checkBatchFloor(rows: number, batchSize: number, columns: number, unsafe = false): number {
  const sizes = batchSizes(rows, batchSize);
  const smallest = Math.min(...sizes);
  const min = minBatchRows(columns);
  if (!unsafe && !(smallest >= min)) {
    throw new FedscoreError(
      'out_of_range',
      `a batch of ${smallest} rows is below the floor of ${min} rows (${BATCH_ROWS_PER_COLUMN} x ${columns} gradient coordinates, at least ${MIN_BATCH_ROWS}): from a smaller batch's gradient a party solves the residuals, hence the labels. Use batchSize >= ${min} (with ${rows} training rows)`,
      { field: 'batchSize', details: { rows, batchSize, smallest, minimum: min } },
    );
  }
  return Math.max(...sizes, 1);
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
  /** Run the packed products on a task executor instead (CKKS; a node's `queue: pgboss`). */
  readonly offload?: PackedProductOffload;
}

/**
 * Where a party's packed products y = M [[d]] run instead of its own threads: a `TaskExecutor` of
 * packed-product tasks (`@fedscore/queue`'s executor, whose worker processes hold public contexts only).
 * Each task carries the public context it is evaluated under (the arbiter's or guest's key; never a
 * secret one: the cipher sends `serialize()`, the public part).
 */
export interface PackedProductOffload {
  readonly executor: TaskExecutor<PackedProductRequest, PackedPartsResult>;
  /**
   * Tasks each product is cut into (default 1: one worker evaluates and folds it, the same bytes as an
   * unsplit product; more: equal up to CKKS noise, for several workers on one product).
   */
  readonly split?: number;
  /** Products of fewer columns stay on this party's threads (default 1: every product goes). */
  readonly minColumns?: number;
  /** Task id prefix (job and party), so a resumed job finds the results its tasks stored. */
  readonly taskIdPrefix?: string;
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
