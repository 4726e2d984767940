/**
 * One share of a packed product y = M [[d]] as a self-contained task (packed-pool.ts says how a product is
 * cut into shares): what the HE pool's worker threads evaluate, and what a worker process evaluates when
 * the product runs on a distributed executor (`@fedscore/queue`). The task carries the encrypted batch
 * vector and the plaintext batch columns; the evaluator needs only a public CKKS context with the
 * product's Galois keys. CKKS evaluation is deterministic, so a task evaluated twice (a redelivered queue
 * task) gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';
import { BLOB_KIND, decodeBlob } from './blob.ts';
import { DiagonalCache } from './diagonals.ts';
import {
  type PackedBabiesRequest,
  type PackedPartsResult,
  type PackedProductRequest,
  pooledProduct,
} from './packed-pool.ts';
import { babyRotations, emptyWork, evaluatePartial, foldBlocks, planPackedProduct } from './packing.ts';
import type {
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  PackedProductPlan,
  PackedWork,
} from './types.ts';

/**
 * Evaluate one share with `ctx`; `diagonals` is the caller's cache of encoded diagonals (used only when
 * the request names a cache key).
 */
export function evaluatePackedRequest(
  ctx: CkksPublicContext,
  diagonals: DiagonalCache,
  req: PackedProductRequest,
  /** Key a key-less request by the digest of its columns (`diagonalDigest`), in `diagonals`. */
  byDigest = false,
): PackedPartsResult {
  const plan = planPackedProduct(req.columns, req.width);
  const keyed = req.key !== undefined || (byDigest && req.batch !== undefined);
  const cache = keyed ? diagonals : new DiagonalCache(ctx, 0);
  if (req.batch === undefined && (req.key === undefined || !cache.complete(req.key))) {
    throw new FedscoreError('internal', 'a product whose diagonals are not cached needs its columns', {
      field: 'batch',
    });
  }
  const d = ctx.deserializeVector(req.d);
  const work = emptyWork();
  let partials: (CkksVector | undefined)[] = [];
  const babies: CkksVector[] = [];
  try {
    for (const b of req.babies ?? []) babies.push(ctx.deserializeVector(b));
    const key =
      req.key ?? (keyed ? diagonalDigest(req.batch!, req.rows, req.columns, req.width, d.level) : 'once');
    const source = cache.source(key, plan, req.batch, req.rows);
    partials = evaluatePartial(d, plan, req.tasks, source, work, req.babies === undefined ? {} : { babies });
    const results: (CkksVector | undefined)[] = req.fold ? foldBlocks(d, plan, partials, work) : partials;
    partials = results;
    const parts = results.map((v) => (v === undefined ? null : v.serialize({ compression: 'none' })));
    return { parts, cached: req.key !== undefined && cache.complete(req.key), work };
  } finally {
    for (const v of partials) v?.dispose();
    for (const v of babies) v.dispose();
    d.dispose();
    if (cache !== diagonals) cache.dispose();
  }
}

/** The baby steps a `packedBabies` request asks for, serialized (pool threads only; packed-pool.ts). */
export function evaluateBabiesRequest(ctx: CkksPublicContext, req: PackedBabiesRequest): Uint8Array[] {
  const d = ctx.deserializeVector(req.d);
  let babies: CkksVector[] = [];
  try {
    babies = babyRotations(d, req.from, req.to);
    return babies.map((v) => v.serialize({ compression: 'none' }));
  } finally {
    for (const v of babies) v.dispose();
    d.dispose();
  }
}

/**
 * The cache key of a batch's encoded diagonals when the task names none (a queue task): SHA-256 over
 * everything the encoded diagonals depend on besides the context (a cache is per context: its parameters
 * and default scale) -- the product's shape (rows, columns, width: the plan's blocks and layout), the
 * level they are encoded at, and every value of the column block (lengths and IEEE-754 bytes, so -0 and
 * 0 differ, as their encodings may). Hashing 4096 x 300 doubles (9.8 MB) costs a few ms, against ~0.7 s
 * of encoding saved per hit (bench queue --diagonals).
 */
function diagonalDigest(
  batch: readonly Float64Array[],
  rows: number,
  columns: number,
  width: number,
  level: number,
): string {
  const h = createHash('sha256');
  const head = new Float64Array([rows, columns, width, level, batch.length]);
  h.update(new Uint8Array(head.buffer));
  for (const column of batch) {
    // A queue task's columns decode as Float64Arrays; any other array of numbers is hashed as the doubles
    // it encodes to.
    const c = column instanceof Float64Array ? column : Float64Array.from(column as ArrayLike<number>);
    h.update(new Uint8Array(new Float64Array([c.length]).buffer));
    h.update(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  }
  return `digest:${h.digest('hex')}`;
}

/** Options of `packedProductHandler`. */
export interface PackedProductHandlerOptions {
  /**
   * Encoded diagonals kept between tasks (a queue worker's, one per loaded context: `evict: 'lru'`),
   * keyed by the digest of each task's column block, product shape and level. A hit returns the same
   * bytes as a miss (the same plaintexts, the same evaluation). Absent: encoded per task.
   */
  readonly diagonals?: DiagonalCache;
}

/**
 * The handler a worker process runs for packed-product tasks. It takes a public context only: a secret
 * context is refused (`invalid_argument`), so a process built around this handler cannot be handed the
 * key. A queue task carries its columns; with `options.diagonals` their encoded diagonals are kept
 * between tasks under the digest of those columns (`diagonalDigest`), so the same batch in the next
 * epoch skips its encodes.
 */
export function packedProductHandler(
  ctx: CkksPublicContext,
  options: PackedProductHandlerOptions = {},
): (req: PackedProductRequest) => PackedPartsResult {
  if (typeof (ctx as Partial<CkksSecretContext>).serializeSecret === 'function') {
    throw new FedscoreError('invalid_argument', 'a task worker takes the public context only', {
      field: 'context',
    });
  }
  const cache =
    options.diagonals !== undefined && options.diagonals.budgetBytes > 0 ? options.diagonals : undefined;
  const none = new DiagonalCache(ctx, 0);
  return (req) => {
    if (req === null || typeof req !== 'object' || req.op !== 'packedProduct') {
      throw new FedscoreError('invalid_argument', 'expected a packedProduct task', { field: 'op' });
    }
    if (req.key !== undefined) {
      throw new FedscoreError('invalid_argument', 'a queue task carries its columns, not a cache key', {
        field: 'key',
      });
    }
    return cache === undefined
      ? evaluatePackedRequest(ctx, none, req)
      : evaluatePackedRequest(ctx, cache, req, true);
  };
}

/** Options of `packedProductOn`. */
export interface PackedTaskOptions {
  /** Prefix of the task id (e.g. the job and epoch); the id ends with the SHA-256 of the task's bytes. */
  readonly taskId?: string;
  readonly signal?: AbortSignal;
  /**
   * Tasks the product is cut into (default 1), so that several workers evaluate one product: ranges of
   * giant steps of about equal work, as the HE pool splits a product between its threads (only products
   * of >= 48 plaintext products are cut). Results then equal the unsplit product up to CKKS noise (the
   * partial sums are added here, in another order), not bit for bit.
   */
  readonly split?: number;
  /**
   * The public context (`ctx.serialize()` of `d`'s context) to send with each task, for workers that
   * serve several contexts (`@fedscore/queue`'s HE worker loads it by digest and keeps it). Bytes that
   * are not a public-context blob (a secret context's) are refused here, naming `kind`.
   */
  readonly context?: Uint8Array;
}

/**
 * y = M [[d]] on any `TaskExecutor` of packed-product tasks (the HE pool's threads or a distributed
 * queue): the whole product is one task, evaluated and folded where it runs, so its result is the
 * same bytes as an unsplit product on the HE pool (`HeWorkerPool.packedProduct` below 48 products, or a
 * pool of one worker). `work` gets the counts of the work done.
 */
export function packedProductOn(
  executor: TaskExecutor<PackedProductRequest, PackedPartsResult>,
  d: CkksVector,
  plan: PackedProductPlan,
  columns: readonly Float64Array[],
  rows: number,
  work: PackedWork,
  options: PackedTaskOptions = {},
): Promise<CkksVector[]> {
  // Only a public context leaves this process: secret-context bytes are refused before any task is made.
  if (options.context !== undefined) {
    try {
      decodeBlob(options.context, BLOB_KIND.publicContext);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const split = options.split ?? 1;
  if (!Number.isInteger(split) || split < 1 || split > 64) {
    throw new FedscoreError('out_of_range', 'split must be an integer in [1, 64]', { field: 'split' });
  }
  const workers = Array.from({ length: split }, () => ({
    cachedKeys: new Set<string>(),
    request: (body: PackedProductRequest) =>
      executor.run(options.context === undefined ? body : { ...body, context: options.context }, {
        ...(options.signal !== undefined && { signal: options.signal }),
        ...(options.taskId !== undefined && { taskId: options.taskId }),
      }),
  }));
  return pooledProduct(workers, () => 0, d, plan, columns, rows, undefined, work);
}
