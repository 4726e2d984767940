/**
 * Linear combinations sum_j w_j [[x_j]] + a (linear.ts) as self-contained tasks: what the HE pool's worker
 * threads evaluate for `HeWorkerPool.linearCombinations`, and what a worker process evaluates when the
 * combinations run on a distributed executor (`@fedscore/queue`): batch portfolio scoring's per-block
 * scores at the model owner (`@fedscore/scoring` batch.ts). A task carries the serialized ciphertexts,
 * the weights and the plaintext addend; the evaluator needs only a public CKKS context (the public key,
 * for re-randomization). Without `rerandomize` evaluation is deterministic (the same bytes on any thread
 * or process); with it, every evaluation adds a fresh encryption of zero, so two deliveries of one queue
 * task give different ciphertexts of the same value -- the queue keeps the first one stored (its result
 * is keyed by the task's id), so one ciphertext per block is ever returned.
 */
import { FedscoreError } from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';
import { BLOB_KIND, decodeBlob } from './blob.ts';
import { encodeLinearWeights, linearCombination } from './linear.ts';
import type {
  CkksPlaintext,
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  HeLinearJob,
  SerializeOptions,
} from './types.ts';

/** Linear combinations of one weight vector over some jobs (one result ciphertext per job). */
export interface LinearCombinationsRequest {
  readonly op: 'linearCombinations';
  readonly jobs: readonly HeLinearJob[];
  /** Index of jobs[0] in the caller's list (error fields name the caller's index). */
  readonly first: number;
  readonly weights: readonly number[];
  readonly rerandomize: boolean;
  readonly level?: number;
  /** Drop each result's primes down to this level before it is serialized (fewer bytes back). */
  readonly outputLevel?: number;
  readonly options?: SerializeOptions;
  /** The public context to evaluate under (a queue task of a worker that serves several contexts). */
  readonly context?: Uint8Array;
}

/** Check jobs against their weights before any work (the error names the caller's field). */
export function checkLinearInputs(
  jobs: readonly HeLinearJob[],
  weights: readonly number[],
  level?: number,
): void {
  weights.forEach((w, j) => {
    if (typeof w !== 'number' || !Number.isFinite(w)) {
      throw new FedscoreError('invalid_argument', `weight ${j} is not a finite number`, {
        field: `weights[${j}]`,
      });
    }
  });
  if (level !== undefined && (!Number.isInteger(level) || level < 0)) {
    throw new FedscoreError('out_of_range', 'level must be a non-negative integer', { field: 'level' });
  }
  jobs.forEach((job, i) => {
    if (job.ciphertexts.length !== weights.length) {
      throw new FedscoreError(
        'invalid_argument',
        `expected ${weights.length} ciphertexts (one per weight), got ${job.ciphertexts.length}`,
        { field: `jobs[${i}].ciphertexts` },
      );
    }
    if (job.add !== undefined && !(job.add instanceof Float64Array)) {
      throw new FedscoreError('invalid_argument', 'expected a Float64Array', { field: `jobs[${i}].add` });
    }
  });
}

/** The encoded weights of the last weight vector (a model is applied to many blocks). */
export class LinearWeightCache {
  readonly #ctx: CkksPublicContext;
  #key: string | undefined;
  #pts: (CkksPlaintext | undefined)[] = [];

  constructor(ctx: CkksPublicContext) {
    this.#ctx = ctx;
  }

  /** The weights encoded at `level` (default: the top), the inputs' level. */
  get(weights: readonly number[], level?: number): (CkksPlaintext | undefined)[] {
    const key = `${level ?? this.#ctx.levels}:${weights.join(',')}`;
    if (key !== this.#key) {
      this.dispose();
      this.#pts = encodeLinearWeights(this.#ctx, weights, level);
      this.#key = key;
    }
    return this.#pts;
  }

  dispose(): void {
    for (const p of this.#pts) p?.dispose();
    this.#pts = [];
    this.#key = undefined;
  }
}

/** Evaluate a request's jobs with `ctx`, the weights encoded through `cache`. */
export function evaluateLinearRequest(
  ctx: CkksPublicContext,
  cache: LinearWeightCache,
  req: LinearCombinationsRequest,
): Uint8Array[] {
  const weights = cache.get(req.weights, req.level);
  return req.jobs.map((job, index) => {
    const cts: CkksVector[] = [];
    try {
      for (const b of job.ciphertexts) cts.push(ctx.deserializeVector(b));
      const r = linearCombination(ctx, cts, weights, {
        ...(job.add !== undefined && { add: job.add }),
        rerandomize: req.rerandomize,
        ...(req.level !== undefined && { level: req.level }),
        ...(req.outputLevel !== undefined && { outputLevel: req.outputLevel }),
      });
      try {
        return r.serialize(req.options);
      } finally {
        r.dispose();
      }
    } catch (e) {
      // Name the caller's job: `vectors[j]` of this job is `jobs[i].ciphertexts[j]` to the caller.
      if (e instanceof FedscoreError && e.field?.startsWith('vectors')) {
        throw new FedscoreError(e.code, e.message.replace(/^field '[^']*': /, ''), {
          field: `jobs[${req.first + index}].ciphertexts${e.field.slice('vectors'.length)}`,
        });
      }
      throw e;
    } finally {
      for (const c of cts) c.dispose();
    }
  });
}

/**
 * The handler a worker process runs for linear-combination tasks. It takes a public context only: a
 * secret context is refused (`invalid_argument`), so a process built around it cannot be handed the key.
 */
export function linearCombinationsHandler(
  ctx: CkksPublicContext,
): (req: LinearCombinationsRequest) => Uint8Array[] {
  if (typeof (ctx as Partial<CkksSecretContext>).serializeSecret === 'function') {
    throw new FedscoreError('invalid_argument', 'a task worker takes the public context only', {
      field: 'context',
    });
  }
  const cache = new LinearWeightCache(ctx);
  return (req) => {
    if (req === null || typeof req !== 'object' || req.op !== 'linearCombinations') {
      throw new FedscoreError('invalid_argument', 'expected a linearCombinations task', { field: 'op' });
    }
    if (!Array.isArray(req.jobs) || !Array.isArray(req.weights)) {
      throw new FedscoreError('invalid_argument', 'a linearCombinations task has jobs and weights', {
        field: 'jobs',
      });
    }
    checkLinearInputs(req.jobs, req.weights, req.level);
    return evaluateLinearRequest(ctx, cache, req);
  };
}

/** Options of `linearCombinationsOn`. */
export interface LinearTaskOptions {
  readonly rerandomize?: boolean;
  readonly level?: number;
  /** Each result cut down to this level before it is serialized (`LinearCombinationOptions.outputLevel`). */
  readonly outputLevel?: number;
  readonly compression?: SerializeOptions['compression'];
  /** Jobs per task (default 1: one block of records per task). */
  readonly jobsPerTask?: number;
  /** Prefix of each task's id (e.g. the run); the id ends with the SHA-256 of the task's bytes. */
  readonly taskId?: string;
  readonly signal?: AbortSignal;
  /**
   * The public context (`serialize()` output) the tasks are evaluated under, sent with each task (stored
   * once by the queue: a shared field). Bytes that are not a public-context blob are refused here.
   */
  readonly context?: Uint8Array;
}

/**
 * `HeWorkerPool.linearCombinations` on any `TaskExecutor` of linear-combination tasks (the distributed
 * queue's worker processes): `jobsPerTask` jobs per task, results in the jobs' order. Without
 * `rerandomize` the results are the pool's bytes; with it, ciphertexts of the same values.
 */
export async function linearCombinationsOn(
  executor: TaskExecutor<LinearCombinationsRequest, Uint8Array[]>,
  jobs: readonly HeLinearJob[],
  weights: readonly number[],
  options: LinearTaskOptions = {},
): Promise<Uint8Array[]> {
  // Only a public context leaves this process: secret-context bytes are refused before any task is made.
  if (options.context !== undefined) decodeBlob(options.context, BLOB_KIND.publicContext);
  checkLinearInputs(jobs, weights, options.level);
  const per = options.jobsPerTask ?? 1;
  if (!Number.isInteger(per) || per < 1) {
    throw new FedscoreError('out_of_range', 'jobsPerTask must be a positive integer', {
      field: 'jobsPerTask',
    });
  }
  const parts: Promise<Uint8Array[]>[] = [];
  for (let first = 0; first < jobs.length; first += per) {
    const req: LinearCombinationsRequest = {
      op: 'linearCombinations',
      jobs: jobs.slice(first, first + per).map((j) => ({
        ciphertexts: [...j.ciphertexts],
        ...(j.add !== undefined && { add: j.add }),
      })),
      first,
      weights: [...weights],
      rerandomize: options.rerandomize === true,
      ...(options.level !== undefined && { level: options.level }),
      ...(options.outputLevel !== undefined && { outputLevel: options.outputLevel }),
      ...(options.compression !== undefined && { options: { compression: options.compression } }),
      ...(options.context !== undefined && { context: options.context }),
    };
    parts.push(
      executor.run(req, {
        ...(options.signal !== undefined && { signal: options.signal }),
        ...(options.taskId !== undefined && { taskId: options.taskId }),
      }),
    );
  }
  const out = await Promise.all(parts);
  return out.flat();
}
