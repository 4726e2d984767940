/**
 * In-process runners: both roles of a scoring protocol over an in-memory network (the CLI, the
 * benchmark and tests use them; a deployment runs each role in its own node).
 */
import {
  type CapturedMessage,
  type CryptoRng,
  createInMemoryNetwork,
  type Logger,
  type ProgressCallback,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import { type CkksParams, type CkksPresetName, createCkksContext, createHeWorkerPool } from '@fedscore/he';
import { envelopeCodec } from '@fedscore/wire';
import {
  BATCH_RELEASE_PRESET,
  type BatchResultTo,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  type BatchScoringOffload,
  batchInputLevel,
  DEFAULT_BATCH_MASK_BITS,
} from './batch.ts';
import type { LinearScoreModel } from './linear.ts';
import { BATCH_SCORING_PROTOCOL, SCORING_VERSION } from './steps.ts';

export const DATA_OWNER_ID = 'data-owner';
export const MODEL_OWNER_ID = 'model-owner';

export interface RunBatchScoringInput {
  readonly model: LinearScoreModel;
  readonly columns: readonly Float64Array[];
  readonly resultTo?: BatchResultTo;
  /** Worker threads per party (0 = main thread). Default 2. */
  readonly poolSize?: number;
  /**
   * The data owner's CKKS parameters. Default ckks-8192, and BATCH_RELEASE_PRESET (ckks-16384-release)
   * when the model owner learns the scores: there the release flooding sized for the key keeps the
   * scores' precision (docs/protocols/batch-scoring.md).
   */
  readonly params?: CkksPresetName | CkksParams;
  readonly capture?: boolean;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  readonly rng?: CryptoRng;
  /** The model owner's per-block scores on a task executor (a work queue) instead of its threads. */
  readonly offload?: BatchScoringOffload;
  /**
   * The level the data owner encrypts at (`BatchDataOwnerOptions.inputLevel`); 'lowest': the lowest
   * whose scores' level holds these scores, bounded from both roles' inputs (this process holds both):
   * 2 (|b| + sum_j |w_j| max |x_j|) (+ the 2^30 masks in model-owner mode). Default: the top.
   */
  readonly inputLevel?: number | 'lowest';
}

/** The lowest input level for this model on these columns (`batchInputLevel`). */
function lowestInputLevel(input: RunBatchScoringInput, params: CkksParams, resultTo: BatchResultTo): number {
  let bound = Math.abs(input.model.intercept);
  input.model.weights.forEach((w, j) => {
    let m = 0;
    for (const x of input.columns[j] ?? []) m = Math.max(m, Math.abs(x));
    bound += Math.abs(w) * m;
  });
  return batchInputLevel(
    params,
    2 * bound + 1,
    resultTo === 'model-owner' ? DEFAULT_BATCH_MASK_BITS : undefined,
  );
}

export interface RunBatchScoringResult {
  readonly scores: Float64Array;
  /** Seconds: key generation and worker start-up (done once, kept warm) and the scoring run itself. */
  readonly setupSeconds: number;
  readonly runSeconds: number;
  /** Process CPU seconds (every thread) of the scoring run itself: a load-independent cost figure. */
  readonly runCpuSeconds: number;
  readonly bytesToModelOwner: number;
  readonly bytesToDataOwner: number;
  readonly captured: readonly CapturedMessage[];
}

/**
 * Both batch-scoring roles in this process, with fresh keys: in model-owner mode the key's release budget
 * is the run's blocks exactly (the warm-up runs in data-owner mode and releases nothing).
 */
export async function runBatchScoring(input: RunBatchScoringInput): Promise<RunBatchScoringResult> {
  const t0 = performance.now();
  const resultTo = input.resultTo ?? 'data-owner';
  const poolSize = input.poolSize ?? 2;
  const ctx = await createCkksContext({
    params: input.params ?? (resultTo === 'model-owner' ? BATCH_RELEASE_PRESET : 'ckks-8192'),
    relinearization: false,
  });
  const pool =
    poolSize > 0
      ? // The data owner's own key, to worker threads of this process only.
        await createHeWorkerPool({ context: ctx, size: poolSize })
      : undefined;
  const records = input.columns[0]?.length ?? 0;
  const inputLevel =
    input.inputLevel === 'lowest' ? lowestInputLevel(input, ctx.params, resultTo) : input.inputLevel;
  const dataOwner = new BatchScoringDataOwner({
    context: ctx,
    ...(inputLevel !== undefined && { inputLevel }),
    releaseBudget: Math.max(1, Math.ceil(records / ctx.slotCount)),
    ...(pool !== undefined && { pool }),
    ...(input.logger !== undefined && { logger: input.logger }),
    ...(input.rng !== undefined && { rng: input.rng }),
  });
  const modelOwner = new BatchScoringModelOwner({
    model: input.model,
    poolSize,
    ...(input.offload !== undefined && { offload: input.offload }),
    ...(input.logger !== undefined && { logger: input.logger }),
    ...(input.rng !== undefined && { rng: input.rng }),
  });
  try {
    // Warm-up: load the data owner's public context at the model owner (a real deployment keeps it).
    await runOnce(
      dataOwner,
      modelOwner,
      input,
      'data-owner',
      [input.columns.map((c) => c.subarray(0, 1))],
      false,
    );
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const r = await runOnce(dataOwner, modelOwner, input, resultTo, [input.columns], input.capture === true);
    const c2 = process.cpuUsage(c1);
    const t2 = performance.now();
    return {
      ...r,
      setupSeconds: (t1 - t0) / 1000,
      runSeconds: (t2 - t1) / 1000,
      runCpuSeconds: (c2.user + c2.system) / 1e6,
    };
  } finally {
    await modelOwner.close();
    await pool?.close();
    ctx.dispose();
  }
}

async function runOnce(
  dataOwner: BatchScoringDataOwner,
  modelOwner: BatchScoringModelOwner,
  input: RunBatchScoringInput,
  resultTo: BatchResultTo,
  [columns]: [readonly Float64Array[]],
  capture: boolean,
): Promise<Omit<RunBatchScoringResult, 'setupSeconds' | 'runSeconds' | 'runCpuSeconds'>> {
  const network = createInMemoryNetwork([DATA_OWNER_ID, MODEL_OWNER_ID], envelopeCodec, { capture });
  const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'batch' };
  const out = await runParties(network, {
    data: () =>
      dataOwner.score({
        session: new ProtocolSession(network.channel(DATA_OWNER_ID), spec),
        modelOwner: MODEL_OWNER_ID,
        columns,
        features: input.model.features,
        resultTo,
        ...(input.progress !== undefined && { progress: input.progress }),
      }),
    model: () => modelOwner.score(new ProtocolSession(network.channel(MODEL_OWNER_ID), spec), DATA_OWNER_ID),
  });
  const stats = network.channel(DATA_OWNER_ID).stats();
  return {
    scores: (resultTo === 'data-owner' ? out.data : out.model)!,
    bytesToModelOwner: stats.bytesSent[MODEL_OWNER_ID] ?? 0,
    bytesToDataOwner: stats.bytesReceived[MODEL_OWNER_ID] ?? 0,
    captured: network.captured,
  };
}
