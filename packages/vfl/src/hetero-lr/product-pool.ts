/**
 * Packed products X^T [[d]] on worker threads, one pool per party and HE key. Each worker loads the
 * public context once and keeps its own share of the encoded diagonals (`DiagonalCache`, budget split
 * evenly). A product is cut into contiguous ranges of giant steps of about equal product counts
 * (`splitTasks`); each worker returns its partial sums, the calling thread adds them and folds. A small
 * product goes to a single worker (round robin), which folds it too. Results are identical to the
 * single-thread evaluation up to CKKS noise (the same operations, summed in another order).
 */
import { Worker } from 'node:worker_threads';
import { FedscoreError, siblingModuleUrl } from '@fedscore/core';
import type { CkksPublicContext, CkksVector } from '@fedscore/he';
import {
  allTasks,
  emptyWork,
  foldBlocks,
  type GiantTask,
  type PackedProductPlan,
  type PackedWork,
  splitTasks,
} from './packing.ts';
import type { ProductReply, ProductRequest, ProductWorkerData } from './worker.ts';

/** Below this many plaintext products a product is not split between workers. */
const SPLIT_MIN_PRODUCTS = 48;

type Pending = { resolve: (r: ProductReply & { ok: true }) => void; reject: (e: Error) => void };

class ProductWorker {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly cachedKeys = new Set<string>();
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: Error | undefined;

  constructor(data: ProductWorkerData) {
    this.worker = new Worker(siblingModuleUrl('./worker', import.meta.url), { workerData: data });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(-1, { resolve: () => resolve(), reject });
    });
    // A pool that is never used must not hold the process open on a failed start.
    this.ready.catch(() => {});
    this.worker.on('message', (m: ProductReply) => {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(new FedscoreError(m.code as never, `product worker: ${m.message}`));
    });
    const fail = (e: Error): void => {
      this.#failed = e;
      for (const p of this.#pending.values())
        p.reject(new FedscoreError('he_error', `product worker failed: ${e.message}`, { cause: e }));
      this.#pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.#pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
  }

  async request(body: Omit<ProductRequest, 'id'>): Promise<ProductReply & { ok: true }> {
    await this.ready;
    if (this.#failed) throw new FedscoreError('he_error', `product worker failed: ${this.#failed.message}`);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id });
    });
  }
}

export interface ProductPoolOptions {
  readonly size: number;
  /** Diagonal cache budget of the whole pool (split evenly between workers). */
  readonly cacheBytes: number;
}

export class ProductPool {
  readonly size: number;
  readonly work: PackedWork = emptyWork();
  readonly #ctx: CkksPublicContext;
  readonly #workers: ProductWorker[];
  #turn = 0;
  #closed = false;

  constructor(ctx: CkksPublicContext, options: ProductPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 64) {
      throw new FedscoreError('out_of_range', `workers must be an integer in [1, 64], got ${options.size}`, {
        field: 'workers',
      });
    }
    this.size = options.size;
    this.#ctx = ctx;
    const context = ctx.serialize({ compression: 'none' });
    const data: ProductWorkerData = {
      context,
      insecure: ctx.insecure,
      cacheBytes: Math.floor(options.cacheBytes / options.size),
    };
    this.#workers = Array.from({ length: options.size }, () => new ProductWorker(data));
  }

  /** X^T d per block of `plan` (see packing.ts); `key` identifies the batch columns for the cache. */
  async product(
    d: CkksVector,
    plan: PackedProductPlan,
    columns: readonly Float64Array[],
    rows: number,
    key: string | undefined,
  ): Promise<CkksVector[]> {
    if (this.#closed) throw new FedscoreError('invalid_argument', 'product pool closed', { field: 'pool' });
    const split = plan.cost.products >= SPLIT_MIN_PRODUCTS && this.size > 1;
    const assignments: { worker: ProductWorker; tasks: GiantTask[] }[] = split
      ? splitTasks(plan, this.size).map((tasks, i) => ({ worker: this.#workers[i]!, tasks }))
      : [{ worker: this.#workers[this.#turn++ % this.size]!, tasks: allTasks(plan) }];
    const fold = assignments.length === 1;
    const bytes = d.serialize({ compression: 'none' });
    const replies = await Promise.all(
      assignments.map(async ({ worker, tasks }) => {
        const cached = key !== undefined && worker.cachedKeys.has(key);
        const reply = await worker.request({
          d: bytes,
          columns: plan.columns,
          width: plan.width,
          rows,
          tasks,
          fold,
          ...(key !== undefined && { key }),
          ...(!cached && { batch: columns }),
        });
        if (key !== undefined && reply.cached) worker.cachedKeys.add(key);
        return reply;
      }),
    );
    for (const r of replies) addWork(this.work, r.work);
    const sums: (CkksVector | undefined)[] = plan.blocks.map(() => undefined);
    try {
      for (const r of replies) {
        r.parts.forEach((bytesOf, i) => {
          if (bytesOf === null) return;
          const v = this.#ctx.deserializeVector(bytesOf);
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
    return foldBlocks(d, plan, sums, this.work);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) void w.worker.terminate();
  }
}

function zeroBlock(d: CkksVector, plan: PackedProductPlan, i: number): CkksVector {
  const z = d.mul(0);
  try {
    return z.withLength(plan.blocks[i]!.diagonals);
  } finally {
    z.dispose();
  }
}

function addWork(a: PackedWork, b: PackedWork): void {
  a.rotations += b.rotations;
  a.products += b.products;
  a.rescales += b.rescales;
  a.encodes += b.encodes;
}
