/**
 * A pool of worker threads for CKKS work: one node-seal instance per worker, the context (keys) loaded
 * once per worker at start-up. Work is split into one contiguous chunk per worker, so results come back
 * in input order and are identical to single-thread results (CKKS evaluation is deterministic; only
 * encryption draws randomness). Successive calls start at successive workers, so concurrent small calls
 * (one batch each) spread over the pool instead of queueing on the first worker.
 *
 * Public or secret. A party evaluating on another party's key gives the pool that party's public
 * context. A key holder (e.g. a data owner encrypting its own data and decrypting the results) gives it
 * its secret context: the secret key is then copied to the pool's worker threads, which run in this same
 * process. It never leaves the process: it is handed over as `workerData` (a copy between threads of one
 * process), is never written to disk, logged, or sent over a Channel, and the copy the pool serializes from
 * a context object is zeroed once the workers have received theirs.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FedscoreError, noopLogger, siblingModuleUrl } from '@fedscore/core';
import { BLOB_KIND, decodeBlob } from './blob.ts';
import { type PackedPartsResult, type ProductWorker, pooledProduct } from './packed-pool.ts';
import { emptyWork } from './packing.ts';
import type {
  CkksPublicContext,
  CkksSecretContext,
  HeLinearJob,
  HeWorkerPool,
  HeWorkerPoolOptions,
  SerializeOptions,
} from './types.ts';
import type { WorkerReply, WorkerRequest, WorkerResult } from './worker.ts';

type Pending = { resolve: (r: WorkerResult) => void; reject: (e: Error) => void };

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

class WorkerHandle implements ProductWorker {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Packed-product cache keys this worker reported complete (it needs no columns for them). */
  readonly cachedKeys = new Set<string>();
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: Error | undefined;

  constructor(context: Uint8Array, secret: boolean, insecure: boolean, diagonalCacheBytes: number) {
    this.worker = new Worker(siblingModuleUrl('./worker', import.meta.url), {
      workerData: { context, secret, insecure, diagonalCacheBytes },
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(-1, { resolve: () => resolve(), reject });
    });
    this.worker.on('message', (m: WorkerReply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else {
        p.reject(
          new FedscoreError(m.error.code as never, `worker: ${m.error.message}`, {
            ...(m.error.field !== undefined && { field: m.error.field }),
          }),
        );
      }
    });
    const fail = (e: Error): void => {
      this.#failed = e;
      for (const p of this.#pending.values())
        p.reject(new FedscoreError('he_error', `HE worker failed: ${e.message}`, { cause: e }));
      this.#pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.#pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
  }

  request(body: RequestBody & { op: 'packedProduct' }): Promise<PackedPartsResult>;
  request(body: RequestBody): Promise<Uint8Array[] | Float64Array[]>;
  request(body: RequestBody): Promise<WorkerResult> {
    if (this.#failed)
      return Promise.reject(new FedscoreError('he_error', `HE worker failed: ${this.#failed.message}`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id });
    });
  }
}

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

function checkLinearInputs(jobs: readonly HeLinearJob[], weights: readonly number[], level?: number): void {
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
  let workers: WorkerHandle[];
  try {
    // `workerData` is copied into each worker when it is constructed.
    const share = Math.floor(cacheBytes / size);
    workers = Array.from({ length: size }, () => new WorkerHandle(bytes, secret, insecure, share));
  } finally {
    if (owned) bytes.fill(0);
  }
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw e;
  }
  logger.debug('HE worker pool ready', { size, secret });

  let turn = 0;
  /** Chunks of `items` to the workers in turn; returns `run`'s results in input order. */
  async function scatter<T, R>(
    items: readonly T[],
    run: (w: WorkerHandle, part: T[], first: number) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length === 0) return [];
    const parts = chunks(items, workers.length);
    const start = turn;
    turn = (turn + parts.length) % workers.length;
    const per = parts[0]!.length;
    const results = await Promise.all(
      parts.map((p, i) => run(workers[(start + i) % workers.length]!, p, i * per)),
    );
    return results.flat();
  }

  const work = emptyWork();
  let productTurn = 0;
  return {
    size,
    secret,
    work,
    encrypt(vectors: readonly Float64Array[], opts?: SerializeOptions) {
      return scatter(
        vectors,
        (w, part) =>
          w.request({ op: 'encrypt', vectors: part, ...(opts && { options: opts }) }) as Promise<
            Uint8Array[]
          >,
      );
    },
    encryptSymmetric(vectors: readonly Float64Array[], opts?: SerializeOptions) {
      if (!secret) return Promise.reject(publicPoolError());
      return scatter(
        vectors,
        (w, part) =>
          w.request({ op: 'encryptSymmetric', vectors: part, ...(opts && { options: opts }) }) as Promise<
            Uint8Array[]
          >,
      );
    },
    columnDots(ciphertexts, columns, opts?: SerializeOptions) {
      return scatter(
        columns,
        (w, part) =>
          w.request({
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
        (w, part, first) =>
          w.request({
            op: 'linearCombinations',
            jobs: part.map((j) => ({
              ciphertexts: [...j.ciphertexts],
              ...(j.add !== undefined && { add: j.add }),
            })),
            first,
            weights: [...weights],
            rerandomize: opts?.rerandomize === true,
            ...(opts?.level !== undefined && { level: opts.level }),
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
        (w, part) => w.request({ op: 'decrypt', ciphertexts: part }) as Promise<Float64Array[]>,
      );
    },
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
