/**
 * Batch portfolio scoring under CKKS (protocol "scoring.batch", docs/protocols/batch-scoring.md).
 *
 * Parties: the data owner (holds the records' prepared feature columns and the CKKS secret key) and the
 * model owner (holds a linear score model: weights and intercept over those columns).
 *
 * Messages in order:
 *   1. data owner -> model owner  batch-plan     records, column names, who learns the scores, the data
 *                                                owner's public context (public key only)
 *   2. data owner -> model owner  record-block   x B (B = ceil(records / (N/2))): one seeded symmetric
 *                                                ciphertext per feature, N/2 records per ciphertext
 *   3. model owner -> data owner  block-scores   x B: [[sum_j w_j x_j + b + e (+ r)]], re-randomized
 *   4. (result to model owner)    released-scores: data owner -> model owner, s + r + e' (flooded with
 *                                                the sized sd of `batchReleasePolicy`, rounded to its grid)
 *
 * What each party learns:
 *   - model owner: the record count and the column names (both in the plan), ciphertext sizes; with
 *     `resultTo: 'model-owner'` the scores (within the flooding noise e'); never a feature value. It
 *     chooses the model, so it can know the decrypted value (weights of its choosing, records it already
 *     holds) and read s + r + e' - (s + r): e' must hide the data owner's key-dependent decryption error
 *     (IND-CPA-D, Li & Micciancio 2021). e' is sized by the rule of docs/he.md: sd = sqrt(12 t) 2^15 E,
 *     E = BATCH_RELEASE_ERROR_BOUND of the data owner's preset (measured for ||w||_2 <=
 *     BATCH_RELEASE_MAX_WEIGHT_NORM, which the model owner's side enforces), t = the key's release budget
 *     in blocks, counted per key (`release_budget` past it).
 *   - data owner: with `resultTo: 'data-owner'` the scores (within the flooding noise e, default
 *     sd 2^-20); with 'model-owner' nothing but s + r, r uniform in [-2^maskBits, 2^maskBits]
 *     (statistical distance ~ |s| / 2^maskBits per value). The weights are not sent; a data owner that
 *     chooses its inputs can learn them from enough scores (inherent to any scoring oracle).
 * Threat model: semi-honest parties. A malicious model owner could return any function of the
 * ciphertexts; a malicious data owner could send non-data inputs to probe the weights.
 * Keys: the data owner holds the only secret key. It encrypts its OWN data, so it uses SEAL's seeded
 * symmetric encryption (half the bytes and about a third of the cost of public-key encryption); the
 * model owner needs the public key only to re-randomize its results.
 * Paper: column-packed CKKS (Cheon, Kim, Kim & Song 2017) inference of a linear model with no rotations,
 * as in the encrypted LR inference of Kim, Song, Kim, Lee & Cheon (2018, "Logistic regression model
 * training based on the approximate homomorphic encryption"); flooding after Li & Micciancio (2021).
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
  requireCryptoRng,
  uniform,
} from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';
import {
  CKKS_PRESETS,
  type CkksParams,
  type CkksPresetName,
  type CkksPublicContext,
  type CkksSecretContext,
  checkCkksRange,
  ckksEncodeBound,
  ckksValueBound,
  createHeWorkerPool,
  DEFAULT_FLOODING_STDDEV,
  encodeLinearWeights,
  floodingStdDev,
  floodNoise,
  type HeWorkerPool,
  type LinearCombinationsRequest,
  levelsOf,
  linearCombinationsOn,
  loadCkksPublicContext,
  releaseGrid,
  roundToGrid,
} from '@fedscore/he';
import { fedscore } from '@fedscore/wire';
import { ContextCache, checkBatch, loadVectors, toBatch } from './he-io.ts';
import { checkColumns, checkLinearModel, type LinearScoreModel } from './linear.ts';
import { asProtocolError, evaluateLinear } from './linear-he.ts';
import {
  BATCH_PLAN,
  BLOCK_SCORES,
  enumFromWire,
  RECORD_BLOCK,
  RELEASED_SCORES,
  RESULT_TO_WIRE,
} from './steps.ts';

export type BatchResultTo = 'data-owner' | 'model-owner';

/** Default mask magnitude (bits) when the model owner learns the scores. */
export const DEFAULT_BATCH_MASK_BITS = 30;

/**
 * The model-owner release is sized for models with ||w||_2 (Euclidean norm of the weights) at most this:
 * the data owner's encryption error reaches the score multiplied by the weights, so the error bound below
 * holds only for bounded weights. A scorecard of 23 WOE columns at ~30 points per WOE unit has ||w||_2
 * ~ 150; a logistic model on standardized columns ~ 1. The model owner's side refuses a larger model in
 * model-owner mode (`privacy_floor`, naming `model.weights`).
 */
export const BATCH_RELEASE_MAX_WEIGHT_NORM = 1024;

/**
 * Bound on |decrypted - exact| per released score of the batch-scoring circuit (fresh seeded symmetric
 * encryption of each column, plaintext products by the weights, one rescale, plaintext addition,
 * re-randomization by a fresh public-key encryption of zero, decryption), per preset, for
 * ||w||_2 <= BATCH_RELEASE_MAX_WEIGHT_NORM and inputs within `ckksValueBound` of the preset (the data
 * owner's own check). Measured without any flooding (packages/scoring/test/batch-scoring-flooding.test.ts
 * re-measures it on every run and checks it stays below bound / 2) on the worst case found: the whole
 * norm on one weight (1024) and inputs at +-ckksValueBound:
 *   ckks-16384-release (scale 2^55, |x| <= 8):    max 2^-34.8, RMS 2^-36.7 (norm 1: max 2^-40.3);
 *   ckks-8192 (scale 2^40, |x| <= 2^18):          max 2^-20.0 (at |x| = 8: 2^-20.4; norm 1: 2^-26.2).
 * Not included, and stated in docs/protocols/batch-scoring.md: the float64 rounding of SEAL's decoder on
 * the masked value s + r (|r| up to 2^30: max 2^-20.2, RMS 2^-22.4 at both presets), a deterministic
 * function of the decrypted polynomial whose dependence on the key is through rounding-boundary crossings
 * only; the sized sd at ckks-16384-release (>= 2^-15.7) is 2^4.5 above it. Hetero-LR sizes the same way.
 */
export const BATCH_RELEASE_ERROR_BOUND: Readonly<Partial<Record<CkksPresetName, number>>> = {
  'ckks-16384-release': 2 ** -33.5,
  'ckks-8192': 2 ** -18,
};

/** Statistical security (bits) of the model-owner release's flooding (LMSS 2022, OpenFHE's default). */
export const BATCH_RELEASE_SECURITY_BITS = 30;

/**
 * The preset a model-owner release should use: at ckks-8192 the sized sd is ~0.4 (1 block) to 1.7
 * (16 blocks): the scores' precision is gone; at ckks-16384-release (scale 2^55) it is 2^-15.7 (1.9e-5)
 * for 4 blocks.
 */
export const BATCH_RELEASE_PRESET: CkksPresetName = 'ckks-16384-release';

/** Default release budget of a data owner's key: blocks (N/2 records each) released to a model owner. */
export const DEFAULT_BATCH_RELEASE_BUDGET = 4;

/** The flooding of one data-owner key's model-owner releases. */
export interface BatchReleasePolicy {
  /** Flooding sd per released score: floodingStdDev(errorBound, decryptions, statisticalSecurity). */
  readonly noiseStdDev: number;
  /** Released scores are rounded to this power of two (`releaseGrid(noiseStdDev)`). */
  readonly grid: number;
  /** The key's budget t: blocks it may release in all. */
  readonly decryptions: number;
  readonly statisticalSecurity: number;
  /** E: BATCH_RELEASE_ERROR_BOUND of the key's preset. */
  readonly errorBound: number;
}

/** The preset `params` are, or undefined for custom parameters. */
function presetOf(params: CkksParams): CkksPresetName | undefined {
  for (const [name, p] of Object.entries(CKKS_PRESETS) as [CkksPresetName, CkksParams][]) {
    if (
      p.polyModulusDegree === params.polyModulusDegree &&
      p.scaleBits === params.scaleBits &&
      p.coeffModulusBits.length === params.coeffModulusBits.length &&
      p.coeffModulusBits.every((b, i) => b === params.coeffModulusBits[i])
    )
      return name;
  }
  return undefined;
}

/**
 * The release policy of a key with `params` and a budget of `budget` released blocks: sd = sqrt(12 t)
 * 2^15 E (docs/he.md, "Decryption noise policy"). Parameters without a measured bound are refused
 * (`invalid_argument` naming `context`): their error is not known, so no sd can be sized.
 */
export function batchReleasePolicy(params: CkksParams, budget: number): BatchReleasePolicy {
  const preset = presetOf(params);
  const errorBound = preset === undefined ? undefined : BATCH_RELEASE_ERROR_BOUND[preset];
  if (errorBound === undefined) {
    throw new FedscoreError(
      'invalid_argument',
      `no measured release error bound for these CKKS parameters; a model-owner release needs ${Object.keys(BATCH_RELEASE_ERROR_BOUND).join(' or ')} (${BATCH_RELEASE_PRESET} keeps the scores' precision)`,
      { field: 'context' },
    );
  }
  const noiseStdDev = floodingStdDev(errorBound, budget, BATCH_RELEASE_SECURITY_BITS);
  return {
    noiseStdDev,
    grid: releaseGrid(noiseStdDev),
    decryptions: budget,
    statisticalSecurity: BATCH_RELEASE_SECURITY_BITS,
    errorBound,
  };
}

/** Flood decrypted scores with the policy's sd and round them to its grid (what leaves the key holder). */
export function releaseBatchScores(
  values: Float64Array,
  policy: Pick<BatchReleasePolicy, 'noiseStdDev' | 'grid'>,
  rng?: CryptoRng,
): Float64Array {
  return roundToGrid(floodNoise(values, policy.noiseStdDev, rng === undefined ? {} : { rng }), policy.grid);
}

/**
 * Blocks released so far under each data-owner key (this process), and the budget the key's flooding was
 * sized for: fixed by the key's first release, so two data-owner instances on one key share one count.
 */
const releaseLedger = new WeakMap<CkksSecretContext, { budget: number; used: number }>();

export interface BatchDataOwnerRun {
  readonly session: ProtocolSession;
  readonly modelOwner: PartyId;
  /** Prepared input columns, in the model's feature order (no missing values). */
  readonly columns: readonly Float64Array[];
  /** Their names (must equal the model owner's feature list). */
  readonly features: readonly string[];
  readonly resultTo: BatchResultTo;
  readonly progress?: ProgressCallback;
}

export interface BatchDataOwnerOptions {
  /** The data owner's CKKS key set (`createCkksContext({ relinearization: false })`). */
  readonly context: CkksSecretContext;
  /**
   * An HE worker pool over this same secret context (`createHeWorkerPool({ context })`: the secret key
   * stays in this process's worker threads) for encryption and decryption on every core.
   */
  readonly pool?: HeWorkerPool;
  readonly logger?: Logger;
  /**
   * Model-owner mode: the blocks (N/2 records each) this key may release in all, over every run; the
   * flooding is sized for it (`batchReleasePolicy`) and a run that would pass it is refused before
   * anything is sent (`release_budget`). Use a fresh key per job. Default DEFAULT_BATCH_RELEASE_BUDGET.
   */
  readonly releaseBudget?: number;
  /** Draws the flooding noise: a cryptographic generator. Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  /**
   * The level the record blocks are encrypted at (default: the top, `context.levels`). The model owner's
   * circuit rescales once, so the scores come back at `inputLevel - 1`, whose modulus must hold
   * |score| (+ the model owner's mask in model-owner mode): below `ckksEncodeBound(params, inputLevel - 1,
   * 2^scaleBits)`, e.g. 2^18 at ckks-8192 level 0 (`batchInputLevel` picks the lowest level for a bound).
   * Each prime left out is 1 / (levels + 1) of the bytes sent and of the model owner's (or its queue
   * workers') work. A score beyond the bound decrypts wrapped: set it only for scores known to be bounded.
   */
  readonly inputLevel?: number;
}

/**
 * The lowest level a record block can be encrypted at for scores |s| <= `scoreBound` (plus masks of
 * `maskBits` bits in model-owner mode): one level for the rescale above the lowest level whose modulus
 * holds them at scale 2^scaleBits.
 */
export function batchInputLevel(params: CkksParams, scoreBound: number, maskBits?: number): number {
  if (!(scoreBound >= 0 && Number.isFinite(scoreBound))) {
    throw new FedscoreError('out_of_range', 'scoreBound must be a finite non-negative number', {
      field: 'scoreBound',
    });
  }
  const need = scoreBound + (maskBits === undefined ? 0 : 2 ** maskBits);
  const top = levelsOf(params);
  for (let out = 0; out < top; out++) {
    if (ckksEncodeBound(params, out, 2 ** params.scaleBits) >= need) return out + 1;
  }
  throw new FedscoreError('out_of_range', `no level of these parameters holds scores up to ${need}`, {
    field: 'scoreBound',
  });
}

/** The data owner's role. Keep one instance (and its pool) warm across runs. */
export class BatchScoringDataOwner {
  readonly #o: BatchDataOwnerOptions;
  #publicBytes: Uint8Array | undefined;

  constructor(options: BatchDataOwnerOptions) {
    const budget = options.releaseBudget;
    if (budget !== undefined && !(Number.isInteger(budget) && budget >= 1)) {
      throw new FedscoreError('out_of_range', 'releaseBudget must be a positive integer', {
        field: 'releaseBudget',
      });
    }
    if (options.rng !== undefined) requireCryptoRng(options.rng, 'rng');
    const level = options.inputLevel;
    if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= options.context.levels)) {
      throw new FedscoreError(
        'out_of_range',
        `inputLevel must be an integer in [1, ${options.context.levels}]`,
        {
          field: 'inputLevel',
        },
      );
    }
    this.#o = options;
  }

  /** The flooding of this key's model-owner releases (throws for parameters without a measured bound). */
  releasePolicy(): BatchReleasePolicy {
    return batchReleasePolicy(this.#o.context.params, this.#o.releaseBudget ?? DEFAULT_BATCH_RELEASE_BUDGET);
  }

  /** Scores (data-owner mode) or undefined (model-owner mode: this party learns nothing). */
  async score(run: BatchDataOwnerRun): Promise<Float64Array | undefined> {
    const { session, modelOwner, columns, features } = run;
    const ctx = this.#o.context;
    const logger = this.#o.logger ?? noopLogger;
    const progress = run.progress ?? noProgress;
    const model: LinearScoreModel = { features, weights: features.map(() => 0), intercept: 0 };
    const records = checkColumns(model, columns as Float64Array[]);
    // The data owner encrypts raw columns: each value must be one the CKKS parameters hold exactly
    // (ckksValueBound: the score decodes at scale 2^scaleBits within the first prime). Checked here,
    // naming the column, before anything is sent: out of range, the score would come back wrong.
    const bound = ckksValueBound(ctx.params);
    columns.forEach((c, j) => {
      checkCkksRange(c, bound, features[j]!);
    });
    if (RESULT_TO_WIRE[run.resultTo] === undefined) {
      throw new FedscoreError('invalid_argument', "expected 'data-owner' or 'model-owner'", {
        field: 'resultTo',
      });
    }
    const S = ctx.slotCount;
    const blocks = Math.ceil(records / S);
    // Model-owner mode: the key's flooding and budget are checked before anything is sent.
    const policy = run.resultTo === 'model-owner' ? this.releasePolicy() : undefined;
    if (policy) {
      const ledger = releaseLedger.get(ctx) ?? { budget: policy.decryptions, used: 0 };
      if (ledger.budget !== policy.decryptions || ledger.used + blocks > ledger.budget) {
        throw new FedscoreError(
          'release_budget',
          ledger.budget !== policy.decryptions
            ? `this key's release budget was fixed at ${ledger.budget} blocks by its first release`
            : `releasing ${blocks} more blocks would pass this key's budget of ${ledger.budget} (${ledger.used} released): use a fresh key`,
          { field: 'releaseBudget' },
        );
      }
      ledger.used += blocks;
      releaseLedger.set(ctx, ledger);
    }
    this.#publicBytes ??= ctx.serialize();
    await session.send(
      modelOwner,
      BATCH_PLAN,
      fedscore.scoring.BatchPlan.create({
        records,
        features: [...features],
        resultTo: RESULT_TO_WIRE[run.resultTo],
        context: this.#publicBytes,
      }),
    );
    const scale = 2 ** ctx.params.scaleBits;
    const level = this.#o.inputLevel ?? ctx.levels;
    for (let b = 0; b < blocks; b++) {
      const lo = b * S;
      const hi = Math.min(records, lo + S);
      const vectors = columns.map((c) => c.subarray(lo, hi));
      const encOptions = { compression: 'none', level } as const;
      const items = this.#o.pool
        ? await this.#o.pool.encryptSymmetric(vectors, encOptions)
        : vectors.map((v) => ctx.encryptSymmetricSerialized(v, encOptions));
      await session.send(modelOwner, RECORD_BLOCK, toBatch(ctx, items, hi - lo, scale, level));
      progress({ stage: 'encrypt', done: hi, total: records, unit: 'records' });
    }
    const cts: Uint8Array[] = [];
    for (let b = 0; b < blocks; b++) {
      const size = Math.min(records, (b + 1) * S) - b * S;
      const batch = await session.receive(modelOwner, BLOCK_SCORES);
      cts.push(...checkBatch(ctx, batch, 'block-scores', { items: 1, slotsPerItem: size }));
    }
    const plain = this.#o.pool
      ? await this.#o.pool.decrypt(cts)
      : cts.map((bytes) => {
          const v = ctx.deserializeVector(bytes);
          try {
            return ctx.decrypt(v);
          } finally {
            v.dispose();
          }
        });
    const out = new Float64Array(records);
    plain.forEach((p, b) => {
      out.set(p.subarray(0, Math.min(S, records - b * S)), b * S);
    });
    logger.debug('batch scoring: data owner done', { records, blocks, resultTo: run.resultTo });
    if (policy === undefined) return out;
    const released = releaseBatchScores(out, policy, this.#o.rng);
    await session.send(modelOwner, RELEASED_SCORES, released);
    return undefined;
  }
}

/**
 * The level of a received record block: the data owner's choice (`inputLevel`), between 1 (one rescale
 * to spend) and the top; in model-owner mode the scores' level (one below) must hold this side's masks.
 * The ciphertexts themselves are checked to be at it when they are evaluated.
 */
function recordBlockLevel(
  ctx: CkksPublicContext,
  level: number | undefined,
  maskBits: number | undefined,
): number {
  if (level === undefined || !(Number.isInteger(level) && level >= 1 && level <= ctx.levels)) {
    throw new FedscoreError(
      'protocol_step',
      `record blocks must be at a level in [1, ${ctx.levels}], got ${level}`,
      {
        field: 'record-block.level',
      },
    );
  }
  if (
    maskBits !== undefined &&
    ckksEncodeBound(ctx.params, level - 1, 2 ** ctx.params.scaleBits) < 2 ** (maskBits + 1)
  ) {
    throw new FedscoreError(
      'out_of_range',
      `level ${level - 1} cannot hold the scores' masks of ${maskBits} bits: send the record blocks at a higher level`,
      { field: 'record-block.level' },
    );
  }
  return level;
}

/**
 * The lowest level whose modulus holds every score this side can produce from a block at `level`:
 * |y| <= sum_j |w_j| B + |b| + 2^maskBits + 16 sd, B = `ckksValueBound` (the data owner refuses larger
 * inputs), with a factor 2 for the scale a rescale leaves (2^2s / q, within 2^-20 of 2^s for these
 * primes). The scores' ciphertexts are cut down to it before they are serialized: each prime dropped is
 * 1 / (level + 1) of their bytes; dropping primes (unlike a rescale) changes neither the value nor its
 * error, so the data owner's release error bound is unchanged. At ckks-16384-release in model-owner mode
 * this is level 1 of the 2 a fresh block leaves; at ckks-8192 (B = 2^18) the rescale's level.
 */
function scoresLevel(
  ctx: CkksPublicContext,
  model: LinearScoreModel,
  level: number,
  sd: number,
  maskBits: number | undefined,
): number {
  const B = ckksValueBound(ctx.params);
  let bound = Math.abs(model.intercept) + 16 * sd + (maskBits === undefined ? 0 : 2 ** maskBits);
  for (const w of model.weights) bound += Math.abs(w) * B;
  const scale = 2 ** ctx.params.scaleBits;
  for (let l = 0; l < level - 1; l++) if (ckksEncodeBound(ctx.params, l, scale) >= 2 * bound) return l;
  return level - 1;
}

/**
 * Where the model owner's per-block scores run instead of its own threads: a `TaskExecutor` of
 * linear-combination tasks (`@fedscore/queue`'s executor; its worker processes hold public contexts
 * only). One task per block of N/2 records: the block's ciphertexts, the weights, the block's addend
 * (intercept, flooding noise and, in model-owner mode, the masks: drawn here, by this process's
 * generator) and the data owner's public context, under which the worker re-randomizes the result.
 */
export interface BatchScoringOffload {
  readonly executor: TaskExecutor<LinearCombinationsRequest, Uint8Array[]>;
  /** Task id prefix (e.g. the job), followed by `.block-<b>`; the id ends with the task's digest. */
  readonly taskIdPrefix?: string;
}

export interface BatchModelOwnerOptions {
  readonly model: LinearScoreModel;
  /** Worker threads for evaluation (0 = main thread). Default 2 (at most the available parallelism). */
  readonly poolSize?: number;
  /** Evaluate the blocks on a task executor (a party's work queue) instead; `poolSize` is then unused. */
  readonly offload?: BatchScoringOffload;
  readonly logger?: Logger;
  /** Flooding noise added to every score before it is returned. Default 2^-20. */
  readonly noiseStdDev?: number;
  /** Mask magnitude in model-owner mode. Default 30. */
  readonly maskBits?: number;
  /** Re-randomize results with a fresh encryption of zero. Default true. */
  readonly rerandomize?: boolean;
  /** RNG of noise and masks. Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  /** Accept a data-owner context below 128-bit security (tests only; always warned). */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters`. */
  readonly insecure?: boolean;
}

/** The model owner's role. Loaded contexts and their worker pools are cached per data-owner key. */
export class BatchScoringModelOwner {
  readonly #o: BatchModelOwnerOptions;
  readonly #contexts = new ContextCache<{ ctx: CkksPublicContext; pool: HeWorkerPool | undefined }>();

  constructor(options: BatchModelOwnerOptions) {
    checkLinearModel(options.model);
    this.#o = options;
  }

  async #context(bytes: Uint8Array): Promise<{ ctx: CkksPublicContext; pool: HeWorkerPool | undefined }> {
    const have = this.#contexts.get(bytes);
    if (have) return have;
    const weak = this.#o.allowWeakParameters === true || this.#o.insecure === true;
    const ctx = await loadCkksPublicContext(bytes, {
      allowWeakParameters: weak,
      expected: { scheme: 'ckks' },
      ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
    });
    const size = this.#o.offload === undefined ? (this.#o.poolSize ?? 2) : 0;
    const pool =
      size > 0
        ? await createHeWorkerPool({
            context: bytes,
            size,
            allowWeakParameters: weak,
            ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
          })
        : undefined;
    const entry = { ctx, pool };
    this.#contexts.set(bytes, entry);
    return entry;
  }

  /** Serve one run. Returns the scores in model-owner mode, undefined in data-owner mode. */
  async score(session: ProtocolSession, dataOwner: PartyId): Promise<Float64Array | undefined> {
    const model = this.#o.model;
    const logger = this.#o.logger ?? noopLogger;
    const rng = this.#o.rng === undefined ? cryptoRng() : requireCryptoRng(this.#o.rng, 'rng');
    const plan = await session.receive(dataOwner, BATCH_PLAN);
    const resultTo = enumFromWire(RESULT_TO_WIRE, plan.resultTo, 'batch-plan.resultTo');
    if (
      plan.features.length !== model.features.length ||
      plan.features.some((f, j) => f !== model.features[j])
    ) {
      throw new FedscoreError('protocol_step', 'the plan lists other columns than the model', {
        field: 'batch-plan.features',
      });
    }
    if (resultTo === 'model-owner') {
      // The data owner's flooding is sized for models up to this norm: a semi-honest model owner stays
      // within it (a larger weight would scale the data owner's encryption error past the bound).
      const norm = Math.hypot(...model.weights);
      if (!(norm <= BATCH_RELEASE_MAX_WEIGHT_NORM)) {
        throw new FedscoreError(
          'privacy_floor',
          `the model's weights have norm ${norm.toPrecision(4)} > ${BATCH_RELEASE_MAX_WEIGHT_NORM}, beyond what the data owner's release flooding is sized for`,
          { field: 'model.weights' },
        );
      }
    }
    const { ctx, pool } = await this.#context(plan.context);
    const records = plan.records;
    const S = ctx.slotCount;
    const blocks = Math.ceil(records / S);
    const sd = this.#o.noiseStdDev ?? DEFAULT_FLOODING_STDDEV;
    const maskBits = this.#o.maskBits ?? DEFAULT_BATCH_MASK_BITS;
    const masks = resultTo === 'model-owner' ? new Float64Array(records) : undefined;
    const rerandomize = this.#o.rerandomize ?? true;
    const offload = this.#o.offload;
    const weightPts = pool || offload ? undefined : encodeLinearWeights(ctx, model.weights);
    const scale = 2 ** ctx.params.scaleBits;
    const pending: Promise<Uint8Array>[] = [];
    const levels: number[] = [];
    try {
      for (let b = 0; b < blocks; b++) {
        const size = Math.min(records, (b + 1) * S) - b * S;
        const block = await session.receive(dataOwner, RECORD_BLOCK);
        const items = checkBatch(ctx, block, 'record-block', {
          items: model.features.length,
          slotsPerItem: size,
        });
        const level = recordBlockLevel(ctx, block.level, masks === undefined ? undefined : maskBits);
        const outputLevel = scoresLevel(ctx, model, level, sd, masks === undefined ? undefined : maskBits);
        levels.push(outputLevel);
        const add = floodNoise(new Float64Array(size).fill(model.intercept), sd, { rng });
        if (masks) {
          for (let i = 0; i < size; i++) {
            const r = (2 * uniform(rng) - 1) * 2 ** maskBits;
            masks[b * S + i] = r;
            add[i]! += r;
          }
        }
        if (pool || offload) {
          const jobs = [{ ciphertexts: items, add }];
          const options = { rerandomize, level, outputLevel, compression: 'none' } as const;
          const evaluated = offload
            ? linearCombinationsOn(offload.executor, jobs, model.weights, {
                ...options,
                // The bytes the data owner sent (a public-context blob: anything else is refused).
                context: plan.context,
                taskId: `${offload.taskIdPrefix ?? 'scoring-batch'}.block-${b}`,
              })
            : pool!.linearCombinations(jobs, model.weights, options);
          const p = evaluated.then(
            (r) => r[0]!,
            (e: unknown) => {
              throw asProtocolError(e);
            },
          );
          p.catch(() => {}); // awaited below, in order; this only keeps an early failure from going unhandled
          pending.push(p);
        } else {
          const cts = loadVectors(ctx, items);
          try {
            const r = evaluateLinear(ctx, cts, weightPts!, add, rerandomize, level, outputLevel);
            try {
              pending.push(Promise.resolve(r.serialize({ compression: 'none' })));
            } finally {
              r.dispose();
            }
          } finally {
            for (const c of cts) c.dispose();
          }
        }
      }
      for (let b = 0; b < blocks; b++) {
        const size = Math.min(records, (b + 1) * S) - b * S;
        await session.send(
          dataOwner,
          BLOCK_SCORES,
          toBatch(ctx, [await pending[b]!], size, scale, levels[b]!),
        );
      }
    } finally {
      for (const p of weightPts ?? []) p?.dispose();
    }
    logger.debug('batch scoring: model owner evaluated', { records, blocks, resultTo });
    if (!masks) return undefined;
    const released = await session.receive(dataOwner, RELEASED_SCORES);
    if (released.length !== records) {
      throw new FedscoreError(
        'protocol_step',
        `expected ${records} released scores, got ${released.length}`,
        {
          field: 'released-scores',
        },
      );
    }
    const out = new Float64Array(records);
    for (let i = 0; i < records; i++) out[i] = released[i]! - masks[i]!;
    return out;
  }

  async close(): Promise<void> {
    for (const { ctx, pool } of this.#contexts.values()) {
      await pool?.close();
      ctx.dispose();
    }
    this.#contexts.clear();
  }
}
