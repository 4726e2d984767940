/**
 * A pool of worker threads for CKKS work: one node-seal instance per worker, the context (keys) loaded
 * once per worker at start-up. Work is split into one contiguous chunk per worker, so results come back
 * in input order and are identical to single-thread results (CKKS evaluation is deterministic; only
 * encryption draws randomness). The chunks wait in the one queue of the core worker pool
 * (`@fedscore/core/pool`: queue, cancellation, crash recovery) and go to whichever worker is idle, so
 * concurrent small calls (one batch each) spread over the pool instead of queueing on one worker.
 *
 * Public or secret. A party evaluating on another party's key gives the pool that party's public
 * context. A key holder (e.g. a data owner encrypting its own data and decrypting the results) gives it
 * its secret context: the secret key is then copied to the pool's worker threads, which run in this same
 * process. It never leaves the process: it is handed over as `workerData` (a copy between threads of one
 * process), is never written to disk, logged, or sent over a Channel, and the copy the pool serializes from
 * a context object is zeroed once the workers have received theirs.
 */
import { availableParallelism } from 'node:os';
import { FedscoreError, noopLogger, siblingModuleUrl } from '@fedscore/core';
import { type TaskExecutor, type TaskRunOptions, WorkerPool } from '@fedscore/core/pool';
import { BLOB_KIND, decodeBlob } from './blob.ts';
import { checkLinearInputs } from './linear-task.ts';
import {
  type PackedBabiesRequest,
  type PackedPartsResult,
  type PackedProductRequest,
  type ProductWorker,
  pooledProduct,
} from './packed-pool.ts';
import { emptyWork } from './packing.ts';
import type {
  CkksPublicContext,
  CkksSecretContext,
  HeWorkerPool,
  HeWorkerPoolOptions,
  SerializeOptions,
  SymmetricEncryptOptions,
} from './types.ts';
import type { WorkerRequest, WorkerResult } from './worker.ts';

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

function chunks<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function isSecretContext(ctx: CkksPublicContext): ctx is CkksSecretContext {
  return typeof (ctx as Partial<CkksSecretContext>).serializeSecret === 'function';
}

/** The bytes each worker loads, whether they hold the secret key, and the weak-parameters opt-in. */
function resolveContext(options: HeWorkerPoolOptions): {
  bytes: Uint8Array;
  secret: boolean;
  insecure: boolean;
  owned: boolean;
} {
  const c = options.context;
  if (!(c instanceof Uint8Array)) {
    if (typeof c !== 'object' || c === null || typeof c.serialize !== 'function') {
      throw new FedscoreError('invalid_argument', 'expected context bytes or a CKKS context', {
        field: 'context',
      });
    }
    const secret = isSecretContext(c);
    const bytes = secret ? c.serializeSecret({ compression: 'none' }) : c.serialize({ compression: 'none' });
    return { bytes, secret, insecure: c.insecure, owned: true };
  }
  // Verify the blob once, as the kind its header names (a context's bytes can be tens of MB: one CRC).
  const secret = c[5] === BLOB_KIND.secretContext;
  decodeBlob(c, secret ? BLOB_KIND.secretContext : BLOB_KIND.publicContext);
  return {
    bytes: c,
    secret,
    insecure: options.allowWeakParameters === true || options.insecure === true,
    owned: false,
  };
}

function publicPoolError(): FedscoreError {
  return new FedscoreError('unsupported', 'the pool holds a public context', { field: 'context' });
}

/**
 * Start `size` workers, each loading `context`: public or secret CKKS context bytes, or a context object.
 * A secret context (the caller owns the key) reaches worker threads of this process only: see above.
 */
export async function createHeWorkerPool(options: HeWorkerPoolOptions): Promise<HeWorkerPool> {
  const size = options.size ?? Math.max(1, Math.min(2, availableParallelism()));
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new FedscoreError('out_of_range', 'pool size must be an integer in [1, 64]', { field: 'size' });
  }
  const { bytes, secret, insecure, owned } = resolveContext(options);
  const logger = options.logger ?? noopLogger;
  const cacheBytes = options.diagonalCacheBytes ?? 0;
  if (!Number.isFinite(cacheBytes) || cacheBytes < 0) {
    throw new FedscoreError('out_of_range', 'diagonalCacheBytes must be a non-negative number', {
      field: 'diagonalCacheBytes',
    });
  }
  let starting: Promise<WorkerPool<WorkerRequest, WorkerResult>>;
  try {
    // `workerData` is copied into each worker when it is constructed, which `create` does before it
    // returns. A crashed worker is replaced from the same bytes, unless they are ours to wipe.
    starting = WorkerPool.create({
      module: siblingModuleUrl('./worker', import.meta.url),
      size,
      workerData: {
        context: bytes,
        secret,
        insecure,
        diagonalCacheBytes: Math.floor(cacheBytes / size),
        ...(options.taskKinds !== undefined && { taskKinds: options.taskKinds.href }),
      },
      name: 'HE worker',
      respawn: !owned,
      taskErrorCode: 'he_error',
    });
  } finally {
    if (owned) bytes.fill(0);
  }
  const pool = await starting;
  logger.debug('HE worker pool ready', { size, secret });

  // The core pool matches answers to tasks itself; `id` stays in WorkerRequest (worker.ts) unused.
  let next = 0;
  const request = (body: RequestBody): Promise<Uint8Array[] | Float64Array[]> =>
    pool.run({ ...body, id: next++ } as WorkerRequest) as Promise<Uint8Array[] | Float64Array[]>;

  // A packed product's share runs on a given worker: each holds its own cache of encoded diagonals.
  // A replaced worker (new generation) starts with an empty cache, so its reported keys are dropped.
  const workers: ProductWorker[] = Array.from({ length: size }, (_, index) => {
    const cachedKeys = new Set<string>();
    let generation = pool.generation(index);
    return {
      get cachedKeys() {
        const g = pool.generation(index);
        if (g !== generation) {
          cachedKeys.clear();
          generation = g;
        }
        return cachedKeys;
      },
      request: (body: PackedProductRequest) =>
        pool.run({ ...body, id: next++ }, { worker: index }) as Promise<PackedPartsResult>,
      babies: (body: PackedBabiesRequest) =>
        pool.run({ ...body, id: next++ }, { worker: index }) as Promise<Uint8Array[]>,
    };
  });

  /** Chunks of `items` (one per worker) to the pool's queue; returns `run`'s results in input order. */
  async function scatter<T, R>(
    items: readonly T[],
    run: (part: T[], first: number) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length === 0) return [];
    const parts = chunks(items, size);
    const per = parts[0]!.length;
    const results = await Promise.all(parts.map((p, i) => run(p, i * per)));
    return results.flat();
  }

  const work = emptyWork();
  let productTurn = 0;
  return {
    size,
    secret,
    work,
    executor<In extends { readonly op: string }, Out>(): TaskExecutor<In, Out> {
      return {
        run(task: In, opts?: TaskRunOptions): Promise<Out> {
          if (options.taskKinds === undefined) {
            return Promise.reject(
              new FedscoreError('unsupported', 'the pool was started without task kinds', {
                field: 'taskKinds',
              }),
            );
          }
          // The workers hold the pool's context: a task's own copy (a queue task's) is not sent.
          const { context: _context, ...rest } = task as In & { context?: unknown };
          return pool.run(
            { op: 'kind', id: next++, task: rest },
            opts?.signal === undefined ? {} : { signal: opts.signal },
          ) as Promise<Out>;
        },
        // The pool's own `close` ends the threads; an executor over it has nothing of its own.
        close: async () => undefined,
      };
    },
    encrypt(vectors: readonly Float64Array[], opts?: SerializeOptions) {
      return scatter(
        vectors,
        (part) =>
          request({ op: 'encrypt', vectors: part, ...(opts && { options: opts }) }) as Promise<Uint8Array[]>,
      );
    },
    encryptSymmetric(vectors: readonly Float64Array[], opts?: SymmetricEncryptOptions) {
      if (!secret) return Promise.reject(publicPoolError());
      return scatter(
        vectors,
        (part) =>
          request({ op: 'encryptSymmetric', vectors: part, ...(opts && { options: opts }) }) as Promise<
            Uint8Array[]
          >,
      );
    },
    columnDots(ciphertexts, columns, opts?: SerializeOptions) {
      return scatter(
        columns,
        (part) =>
          request({
            op: 'columnDots',
            ciphertexts: [...ciphertexts],
            columns: part.map((c) => [...c]),
            ...(opts && { options: opts }),
          }) as Promise<Uint8Array[]>,
      );
    },
    linearCombinations(jobs, weights, opts) {
      try {
        checkLinearInputs(jobs, weights, opts?.level);
      } catch (e) {
        return Promise.reject(e);
      }
      const serialize: SerializeOptions | undefined =
        opts?.compression === undefined ? undefined : { compression: opts.compression };
      return scatter(
        jobs,
        (part, first) =>
          request({
            op: 'linearCombinations',
            jobs: part.map((j) => ({
              ciphertexts: [...j.ciphertexts],
              ...(j.add !== undefined && { add: j.add }),
            })),
            first,
            weights: [...weights],
            rerandomize: opts?.rerandomize === true,
            ...(opts?.level !== undefined && { level: opts.level }),
            ...(opts?.outputLevel !== undefined && { outputLevel: opts.outputLevel }),
            ...(serialize && { options: serialize }),
          }) as Promise<Uint8Array[]>,
      );
    },
    packedProduct(d, plan, columns, rows, cacheKey) {
      return pooledProduct(workers, () => productTurn++, d, plan, columns, rows, cacheKey, work);
    },
    decrypt(ciphertexts) {
      if (!secret) return Promise.reject(publicPoolError());
      return scatter(
        ciphertexts,
        (part) => request({ op: 'decrypt', ciphertexts: part }) as Promise<Float64Array[]>,
      );
    },
    close() {
      return pool.close();
    },
  };
}
