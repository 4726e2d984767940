/**
 * The packed product y = M [[d]] (packing.ts) on the HE pool's worker threads: the calling-thread half
 * of `HeWorkerPool.packedProduct`. Each worker keeps its own share of the encoded diagonals
 * (`DiagonalCache`, the pool's `diagonalCacheBytes` split evenly). A product is cut into contiguous
 * ranges of giant steps of about equal product counts (`splitTasks`); each worker returns its partial
 * sums, this thread adds them and folds. A small product goes to a single worker (in turn), which folds
 * it too. Results equal the single-thread evaluation up to CKKS noise (the same operations, summed in
 * another order).
 *
 * Baby steps of a split product: every share needs all b - 1 baby rotations rot(d, a) (a quarter of a
 * 310-column product's rotations at 8192 slots, the dearest ones: at the product's level). Made by each
 * worker they would be paid once per worker, so the workers first make a slice of them each
 * (`packedBabies`) and every share gets all of them, serialized (one serialization and one load each,
 * ~3 ms against ~15 ms per rotation at N = 16384).
 */
import { FedscoreError } from '@fedscore/core';
import { addWork, allTasks, foldBlocks, splitTasks } from './packing.ts';
import type { CkksVector, GiantTask, PackedProductPlan, PackedWork } from './types.ts';

/** Below this many plaintext products a product is not split between workers. */
const SPLIT_MIN_PRODUCTS = 48;

/** What a worker answers to a `packedProduct` request. */
export interface PackedPartsResult {
  /** Per block: serialized partial (or folded result), null for a block without work. */
  readonly parts: (Uint8Array | null)[];
  /** Whether the worker now holds every diagonal of `key` (it needs no columns next time). */
  readonly cached: boolean;
  readonly work: PackedWork;
}

/** The worker request of one share of a product. */
export interface PackedProductRequest {
  readonly op: 'packedProduct';
  /** The encrypted batch vector, serialized. */
  readonly d: Uint8Array;
  readonly columns: number;
  readonly width: number;
  readonly rows: number;
  readonly tasks: readonly GiantTask[];
  /** Fold the blocks there (that worker has every task of the product). */
  readonly fold: boolean;
  /** Cache identity of the batch columns; absent = do not cache. */
  readonly key?: string;
  /** The batch columns; omitted when the worker reported them cached. */
  readonly batch?: readonly Float64Array[];
  /**
   * A distributed task's public CKKS context (`ctx.serialize()`), so that a worker process serves the
   * products of any job (each job has its own keys); absent on the HE pool's threads, which hold theirs.
   */
  readonly context?: Uint8Array;
  /**
   * The baby steps rot(d, a), a = 1 .. b - 1, serialized (`packedBabies` of the workers); absent: the
   * worker makes them.
   */
  readonly babies?: readonly Uint8Array[];
}

/** The worker request for baby steps rot(d, a), a = from .. to - 1, serialized (compression none). */
export interface PackedBabiesRequest {
  readonly op: 'packedBabies';
  readonly d: Uint8Array;
  readonly from: number;
  readonly to: number;
}

/** One worker as the split needs it: a request channel and the cache keys it reported complete. */
export interface ProductWorker {
  readonly cachedKeys: Set<string>;
  request(body: PackedProductRequest): Promise<PackedPartsResult>;
  /** Make baby steps (the HE pool's threads); absent: each share makes its own. */
  babies?(body: PackedBabiesRequest): Promise<Uint8Array[]>;
}

/**
 * Run the product on `workers` (`next` picks the worker of an unsplit product). `key` identifies the
 * batch columns for the workers' caches; the counts of the work done are added to `work`.
 */
export async function pooledProduct(
  workers: readonly ProductWorker[],
  next: () => number,
  d: CkksVector,
  plan: PackedProductPlan,
  columns: readonly Float64Array[],
  rows: number,
  key: string | undefined,
  work: PackedWork,
): Promise<CkksVector[]> {
  const ctx = d.context;
  const split = plan.cost.products >= SPLIT_MIN_PRODUCTS && workers.length > 1;
  const assignments: { worker: ProductWorker; tasks: GiantTask[] }[] = split
    ? splitTasks(plan, workers.length).map((tasks, i) => ({ worker: workers[i]!, tasks }))
    : [{ worker: workers[next() % workers.length]!, tasks: allTasks(plan) }];
  const fold = assignments.length === 1;
  const bytes = d.serialize({ compression: 'none' });
  const babies = fold ? undefined : await sharedBabies(assignments, plan, bytes, work);
  const replies = await Promise.all(
    assignments.map(async ({ worker, tasks }) => {
      const cached = key !== undefined && worker.cachedKeys.has(key);
      const reply = await worker.request({
        op: 'packedProduct',
        d: bytes,
        columns: plan.columns,
        width: plan.width,
        rows,
        tasks,
        fold,
        ...(key !== undefined && { key }),
        ...(!cached && { batch: columns }),
        ...(babies !== undefined && { babies }),
      });
      if (key !== undefined && reply.cached) worker.cachedKeys.add(key);
      return reply;
    }),
  );
  for (const r of replies) addWork(work, r.work);
  const sums: (CkksVector | undefined)[] = plan.blocks.map(() => undefined);
  try {
    for (const r of replies) {
      if (r.parts.length !== plan.blocks.length) {
        throw new FedscoreError('internal', `a worker returned ${r.parts.length} blocks`, { field: 'parts' });
      }
      r.parts.forEach((bytesOf, i) => {
        if (bytesOf === null) return;
        const v = ctx.deserializeVector(bytesOf);
        const prev = sums[i];
        if (prev === undefined) sums[i] = v;
        else {
          sums[i] = prev.add(v);
          prev.dispose();
          v.dispose();
        }
      });
    }
  } catch (e) {
    for (const v of sums) v?.dispose();
    throw e;
  }
  if (fold) {
    // The single worker folded; a block without any non-zero diagonal comes back empty.
    return sums.map((v, i) => v ?? zeroBlock(d, plan, i));
  }
  return foldBlocks(d, plan, sums, work);
}

/**
 * The baby steps rot(d, a), a = 1 .. b - 1, of a split product, made in equal slices by the workers of
 * `assignments` (undefined when one of them cannot, or there are fewer than 2 baby steps).
 */
async function sharedBabies(
  assignments: readonly { worker: ProductWorker; tasks: readonly GiantTask[] }[],
  plan: PackedProductPlan,
  d: Uint8Array,
  work: PackedWork,
): Promise<Uint8Array[] | undefined> {
  const need = Math.max(
    0,
    ...assignments.flatMap((a) => a.tasks.map((t) => plan.blocks[t.block]!.babySteps)),
  );
  const makers = assignments.map((a) => a.worker);
  if (need <= 2 || makers.some((w) => w.babies === undefined)) return undefined;
  const parts = Math.min(makers.length, need - 1);
  const slices = await Promise.all(
    Array.from({ length: parts }, (_, i) => {
      const from = 1 + Math.floor(((need - 1) * i) / parts);
      const to = 1 + Math.floor(((need - 1) * (i + 1)) / parts);
      // rot(d, from): one rotation per set bit of `from`; then one per further step (babyRotations).
      let bits = 0;
      for (let x = from; x > 0; x >>= 1) bits += x & 1;
      work.rotations += bits + (to - from - 1);
      return makers[i]!.babies!({ op: 'packedBabies', d, from, to });
    }),
  );
  return slices.flat();
}

function zeroBlock(d: CkksVector, plan: PackedProductPlan, i: number): CkksVector {
  const z = d.mul(0);
  try {
    return z.withLength(plan.blocks[i]!.diagonals);
  } finally {
    z.dispose();
  }
}
