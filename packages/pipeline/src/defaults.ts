/**
 * The defaults of a hetero-LR run, in one place: `fedscore train hetero-lr` and `fedscore demo` (flags
 * left unset), the node's job spec (fields left out) and the hetero-LR benchmark's default-flags run all
 * read them here.
 *
 * Batch size and learning rate. A packed CKKS product costs about the same at any batch up to one
 * ciphertext (4096 rows in the default preset; a smaller batch is replicated to fill the slots), so an
 * epoch costs about one product per batch: on default_credit (24,000 training rows) batches of 4096 make
 * 6 products an epoch against 24 at 1024, ~4x faster (issue 13 measured 0.68 s against 3.1-3.5 s an
 * epoch). A batch of 4096 averages over 4x the rows, so its learning rate is scaled up with it (1
 * against 0.3; the linear scaling rule of Goyal et al. 2017, "Accurate, Large Minibatch SGD", capped
 * where default_credit still converges in 3 epochs). On a training set of fewer than 4 such batches a
 * batch of 4096 would leave too few gradient steps, and the run keeps 1024 and 0.3. Either respects the
 * privacy floor (`minBatchRows`: at least 64 rows and 2 per gradient coordinate of the widest party),
 * raised to it when a party is very wide.
 *
 * Worker threads: 'auto' (vfl `resolveWorkers`: 2 when rows x columns x epochs >= 2^20, else none).
 */
import { minBatchRows } from '@fedscore/vfl';

/** Rows of one ciphertext of the default CKKS preset (the largest batch that costs one product). */
export const CIPHERTEXT_BATCH_ROWS = 4096;

export const HETERO_LR_DEFAULTS = {
  maxEpochs: 10,
  /** Batch and learning rate of a large training set (>= `largeFromRows` rows). */
  largeBatchSize: CIPHERTEXT_BATCH_ROWS,
  largeLearningRate: 1,
  /** Training rows from which the large batch applies: four full ciphertext batches. */
  largeFromRows: 4 * CIPHERTEXT_BATCH_ROWS,
  /** Batch and learning rate of a smaller training set. */
  batchSize: 1024,
  learningRate: 0.3,
  lrSchedule: 'inverse-time',
  lrDecay: 0.2,
  l2: 0.001,
  classWeight: 'none',
  validationFraction: 0,
  patience: 3,
  workers: 'auto',
  /** The CLI's split and batch-order seed, and its test share without id lists. */
  seed: 42,
  testFraction: 0.2,
} as const;

/** The node's job defaults that differ from the CLI's (a job's held-out share and seed). */
export const JOB_DEFAULTS = { seed: 1, testFraction: 0.3 } as const;

export interface BatchDefaults {
  readonly batchSize: number;
  readonly learningRate: number;
}

/**
 * The default batch size and learning rate for `trainRows` training rows when the widest party's
 * gradient has `widestColumns` coordinates (its feature columns, plus 1 on the guest for the intercept).
 */
export function defaultBatch(trainRows: number, widestColumns: number): BatchDefaults {
  const large = trainRows >= HETERO_LR_DEFAULTS.largeFromRows;
  const batch = large ? HETERO_LR_DEFAULTS.largeBatchSize : HETERO_LR_DEFAULTS.batchSize;
  return {
    batchSize: Math.max(batch, minBatchRows(widestColumns)),
    learningRate: large ? HETERO_LR_DEFAULTS.largeLearningRate : HETERO_LR_DEFAULTS.learningRate,
  };
}

/**
 * The batch size and learning rate of a run: those given, else the defaults (`defaultBatch`); a learning
 * rate left out with a batch size given is the small-batch default.
 */
export function resolveBatch(
  trainRows: number,
  widestColumns: number,
  given: { readonly batchSize?: number | undefined; readonly learningRate?: number | undefined },
): BatchDefaults {
  const d = defaultBatch(trainRows, widestColumns);
  if (given.batchSize === undefined)
    return { batchSize: d.batchSize, learningRate: given.learningRate ?? d.learningRate };
  return { batchSize: given.batchSize, learningRate: given.learningRate ?? HETERO_LR_DEFAULTS.learningRate };
}

/**
 * The defaults of a SecureBoost run (`fedscore train secureboost` flags left unset, a 'secureboost' job's
 * fields left out): the target settings, which are also vfl's own (`resolveSecureBoost`); every
 * other hyperparameter (min child weight, L2, the row floor, ...) is left to vfl. CKKS by default
 * (`none` is the flagged debug mode); the split seed and test share are the CLI's, as hetero-LR's.
 */
export const SECUREBOOST_DEFAULTS = {
  trees: 30,
  depth: 3,
  learningRate: 0.3,
  bins: 32,
  scheme: 'ckks',
  seed: HETERO_LR_DEFAULTS.seed,
  testFraction: HETERO_LR_DEFAULTS.testFraction,
} as const;
