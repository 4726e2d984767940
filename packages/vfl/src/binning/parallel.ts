/**
 * The host's encrypted bin sums on worker threads. The batches are split into contiguous ranges, one per
 * worker; each worker evaluates the partial sums of its range (`partialBinSumsCkks`, linear in the
 * batches), the parent adds them and floods the total once (`floodBinSums`). Baby-step rotations are not
 * duplicated (each batch is rotated by one worker); giant steps and folds are, once per worker and block.
 * Two workers give ~1.9x on two cores (../shared/ANCHORS.md).
 *
 * The workers are a core pool (`@fedscore/core/pool`) started on first use and kept for later calls (one
 * pool per size; idle workers are unref'd and never keep the process alive), so a call pays neither the
 * thread start nor node-seal's WebAssembly compilation; each worker keeps the last context it loaded.
 */
import { type CryptoRng, FedscoreError, type ProgressCallback, siblingModuleUrl } from '@fedscore/core';
import { WorkerPool } from '@fedscore/core/pool';
import type { CkksPublicContext, CkksVector } from '@fedscore/he';
import { evaluateBinSumsCkks, floodBinSums, type SumCell } from './ckks-sums.ts';
import type { BinSumCost, BinSumLayout } from './packing.ts';

export interface BinSumWorkerInput {
  readonly context: Uint8Array;
  /** The context's fingerprint: a worker that holds it already skips loading `context`. */
  readonly fingerprint: string;
  readonly insecure: boolean;
  readonly labels: readonly Uint8Array[];
  readonly layout: BinSumLayout;
  readonly cells: readonly SumCell[];
  readonly binIndex: readonly Uint16Array[];
  readonly from: number;
  readonly to: number;
}

export interface BinSumWorkerOutput {
  readonly sums: readonly Uint8Array[];
  readonly cost: BinSumCost;
}

export interface ParallelSumOptions {
  readonly rng: CryptoRng;
  readonly floodingStdDev?: number;
  /** Worker threads (default 2; 0 or 1 = evaluate in this thread). */
  readonly workers?: number;
  readonly progress?: ProgressCallback;
}

const pools = new Map<number, Promise<WorkerPool<BinSumWorkerInput, BinSumWorkerOutput>>>();

/** The shared pool of `size` bin-sum workers, started on first use. */
function binSumPool(size: number): Promise<WorkerPool<BinSumWorkerInput, BinSumWorkerOutput>> {
  let pool = pools.get(size);
  if (pool === undefined) {
    pool = WorkerPool.create<BinSumWorkerInput, BinSumWorkerOutput>({
      module: siblingModuleUrl('./worker', import.meta.url),
      size,
      name: 'bin-sum worker',
      taskErrorCode: 'he_error',
    });
    pools.set(size, pool);
    pool.catch(() => pools.delete(size));
  }
  return pool;
}

function addCost(a: BinSumCost, b: BinSumCost): void {
  a.products += b.products;
  a.encodes += b.encodes;
  a.rotations += b.rotations;
  a.additions += b.additions;
  a.skippedDiagonals += b.skippedDiagonals;
}

/**
 * Evaluate the flooded per-cell sums. `labels` are the guest's serialized label ciphertexts (one per
 * batch) and `ctx` the public context they were made under.
 */
export async function evaluateBinSumsParallel(
  ctx: CkksPublicContext,
  labels: readonly Uint8Array[],
  layout: BinSumLayout,
  cells: readonly SumCell[],
  binIndex: readonly Uint16Array[],
  options: ParallelSumOptions,
): Promise<{ sums: CkksVector[]; cost: BinSumCost }> {
  const wanted = options.workers ?? 2;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 64) {
    throw new FedscoreError('out_of_range', `workers must be an integer in [0, 64], got ${wanted}`, {
      field: 'workers',
    });
  }
  const workers = Math.min(wanted, layout.batches);
  if (workers <= 1) {
    const cts = labels.map((b) => ctx.deserializeVector(b));
    try {
      return evaluateBinSumsCkks(ctx, cts, layout, cells, binIndex, options);
    } finally {
      for (const v of cts) v.dispose();
    }
  }
  const pool = await binSumPool(workers);
  const context = ctx.serialize({ compression: 'none' });
  const done = new Array<number>(workers).fill(0);
  const ranges = Array.from({ length: workers }, (_, w) => [
    Math.floor((w * layout.batches) / workers),
    Math.floor(((w + 1) * layout.batches) / workers),
  ]);
  const outputs = await Promise.all(
    ranges.map(([from, to], w) =>
      pool.run(
        {
          context,
          fingerprint: ctx.fingerprint,
          insecure: ctx.insecure,
          labels: labels.slice(from, to),
          layout,
          cells,
          binIndex,
          from: from!,
          to: to!,
        },
        {
          onProgress: (n) => {
            done[w] = n as number;
            options.progress?.({
              stage: 'binning: encrypted bin sums',
              done: done.reduce((a, b) => a + b, 0),
              total: layout.batches,
              unit: 'batches',
            });
          },
        },
      ),
    ),
  );
  const cost: BinSumCost = { products: 0, encodes: 0, rotations: 0, additions: 0, skippedDiagonals: 0 };
  let totals: CkksVector[] | undefined;
  for (const out of outputs) {
    addCost(cost, out.cost);
    const parts = out.sums.map((b) => ctx.deserializeVector(b));
    if (totals === undefined) totals = parts;
    else {
      const next = totals.map((t, i) => t.add(parts[i]!));
      cost.additions += parts.length;
      for (const v of [...totals, ...parts]) v.dispose();
      totals = next;
    }
  }
  try {
    return { sums: floodBinSums(ctx, totals!, options), cost };
  } finally {
    for (const v of totals!) v.dispose();
  }
}
