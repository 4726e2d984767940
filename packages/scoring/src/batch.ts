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
 *   4. (result to model owner)    released-scores: data owner -> model owner, s + r + e' (flooded)
 *
 * What each party learns:
 *   - model owner: the record count and the column names (both in the plan), ciphertext sizes; with
 *     `resultTo: 'model-owner'` the scores (within the flooding noise); never a feature value.
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
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
  type Rng,
  uniform,
} from '@fedscore/core';
import {
  type CkksPublicContext,
  type CkksSecretContext,
  checkCkksRange,
  ckksValueBound,
  createHeWorkerPool,
  DEFAULT_FLOODING_STDDEV,
  encodeLinearWeights,
  floodNoise,
  type HeWorkerPool,
  loadCkksPublicContext,
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
  /** Flooding noise of released values (model-owner mode). Default 2^-20. */
  readonly noiseStdDev?: number;
  readonly rng?: Rng;
}

/** The data owner's role. Keep one instance (and its pool) warm across runs. */
export class BatchScoringDataOwner {
  readonly #o: BatchDataOwnerOptions;
  #publicBytes: Uint8Array | undefined;

  constructor(options: BatchDataOwnerOptions) {
    this.#o = options;
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
    const S = ctx.slotCount;
    const blocks = Math.ceil(records / S);
    const scale = 2 ** ctx.params.scaleBits;
    for (let b = 0; b < blocks; b++) {
      const lo = b * S;
      const hi = Math.min(records, lo + S);
      const vectors = columns.map((c) => c.subarray(lo, hi));
      const items = this.#o.pool
        ? await this.#o.pool.encryptSymmetric(vectors, { compression: 'none' })
        : vectors.map((v) => ctx.encryptSymmetricSerialized(v, { compression: 'none' }));
      await session.send(modelOwner, RECORD_BLOCK, toBatch(ctx, items, hi - lo, scale, ctx.levels));
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
    if (run.resultTo === 'data-owner') return out;
    const released = floodNoise(out, this.#o.noiseStdDev ?? DEFAULT_FLOODING_STDDEV, {
      ...(this.#o.rng !== undefined && { rng: this.#o.rng }),
    });
    await session.send(modelOwner, RELEASED_SCORES, released);
    return undefined;
  }
}

export interface BatchModelOwnerOptions {
  readonly model: LinearScoreModel;
  /** Worker threads for evaluation (0 = main thread). Default 2 (at most the available parallelism). */
  readonly poolSize?: number;
  readonly logger?: Logger;
  /** Flooding noise added to every score before it is returned. Default 2^-20. */
  readonly noiseStdDev?: number;
  /** Mask magnitude in model-owner mode. Default 30. */
  readonly maskBits?: number;
  /** Re-randomize results with a fresh encryption of zero. Default true. */
  readonly rerandomize?: boolean;
  /** RNG of noise and masks. Default `cryptoRng()`. */
  readonly rng?: Rng;
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
    const size = this.#o.poolSize ?? 2;
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
    const rng = this.#o.rng ?? cryptoRng();
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
    const { ctx, pool } = await this.#context(plan.context);
    const records = plan.records;
    const S = ctx.slotCount;
    const blocks = Math.ceil(records / S);
    const sd = this.#o.noiseStdDev ?? DEFAULT_FLOODING_STDDEV;
    const maskBits = this.#o.maskBits ?? DEFAULT_BATCH_MASK_BITS;
    const masks = resultTo === 'model-owner' ? new Float64Array(records) : undefined;
    const rerandomize = this.#o.rerandomize ?? true;
    const weightPts = pool ? undefined : encodeLinearWeights(ctx, model.weights);
    const scale = 2 ** ctx.params.scaleBits;
    const pending: Promise<Uint8Array>[] = [];
    try {
      for (let b = 0; b < blocks; b++) {
        const size = Math.min(records, (b + 1) * S) - b * S;
        const items = checkBatch(ctx, await session.receive(dataOwner, RECORD_BLOCK), 'record-block', {
          items: model.features.length,
          slotsPerItem: size,
        });
        const add = floodNoise(new Float64Array(size).fill(model.intercept), sd, { rng });
        if (masks) {
          for (let i = 0; i < size; i++) {
            const r = (2 * uniform(rng) - 1) * 2 ** maskBits;
            masks[b * S + i] = r;
            add[i]! += r;
          }
        }
        if (pool) {
          const p = pool
            .linearCombinations([{ ciphertexts: items, add }], model.weights, {
              rerandomize,
              level: ctx.levels,
              compression: 'none',
            })
            .then(
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
            const r = evaluateLinear(ctx, cts, weightPts!, add, rerandomize);
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
          toBatch(ctx, [await pending[b]!], size, scale, ctx.levels - 1),
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
