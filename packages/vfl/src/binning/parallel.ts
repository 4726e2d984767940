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
import { type TaskExecutor, WorkerPool } from '@fedscore/core/pool';
import {
  BLOB_KIND,
  type CkksPublicContext,
  type CkksSecretContext,
  type CkksVector,
  decodeBlob,
} from '@fedscore/he';
import { evaluateBinSumsCkks, floodBinSums, partialBinSumsCkks, type SumCell } from './ckks-sums.ts';
import type { BinSumCost, BinSumLayout } from './packing.ts';

/**
 * One batch range [from, to) of the host's bin sums as a self-contained task: what a worker thread
 * evaluates, and what a worker process evaluates when the sums run on a distributed executor
 * (`@fedscore/queue`, kind `binSums`, registered by the CLI's `fedscore worker`). It carries the guest's
 * label ciphertexts of the range, the layout, the cells and the host's bin index (plaintext: the host's
 * own data, which only its own workers see) and, on the queue, the guest's PUBLIC context. Evaluation is
 * deterministic (no encryption: the flooding is added by the caller to the total), so a task evaluated
 * twice gives the same bytes.
 */
export interface BinSumTask {
  readonly op: 'binSums';
  readonly labels: readonly Uint8Array[];
  readonly layout: BinSumLayout;
  readonly cells: readonly SumCell[];
  readonly binIndex: readonly Uint16Array[];
  readonly from: number;
  readonly to: number;
  /** The public context (`serialize()` output) to evaluate under (queue tasks). */
  readonly context?: Uint8Array;
}

/** The partial sums of a task's range, serialized (a thread's or a queue worker's answer). */
export function evaluateBinSumTask(
  ctx: CkksPublicContext,
  task: Omit<BinSumTask, 'op' | 'context'>,
  progress?: (done: number) => void,
): BinSumWorkerOutput {
  const labels = task.labels.map((b) => ctx.deserializeVector(b));
  try {
    const { sums, cost } = partialBinSumsCkks(
      ctx,
      labels,
      task.layout,
      task.cells,
      task.binIndex,
      task.from,
      task.to,
      progress === undefined ? undefined : (e) => progress(e.done),
    );
    try {
      return { sums: sums.map((s) => s.serialize({ compression: 'none' })), cost };
    } finally {
      for (const v of sums) v.dispose();
    }
  } finally {
    for (const v of labels) v.dispose();
  }
}

/**
 * The handler a worker process runs for bin-sum tasks (`@fedscore/queue`'s `HeTaskKind`). It takes a
 * public context only: a secret one is refused (`invalid_argument`).
 */
export function binSumTaskHandler(ctx: CkksPublicContext): (task: BinSumTask) => BinSumWorkerOutput {
  if (typeof (ctx as Partial<CkksSecretContext>).serializeSecret === 'function') {
    throw new FedscoreError('invalid_argument', 'a task worker takes the public context only', {
      field: 'context',
    });
  }
  return (task) => {
    if (task === null || typeof task !== 'object' || task.op !== 'binSums') {
      throw new FedscoreError('invalid_argument', 'expected a binSums task', { field: 'op' });
    }
    if (!Array.isArray(task.labels) || !Array.isArray(task.binIndex) || !Array.isArray(task.cells)) {
      throw new FedscoreError('invalid_argument', 'a binSums task has labels, cells and binIndex', {
        field: 'labels',
      });
    }
    return evaluateBinSumTask(ctx, task);
  };
}

/**
 * Where the host's bin sums run instead of its threads: a `TaskExecutor` of bin-sum tasks (a party's
 * work queue, whose worker processes hold public contexts only). The sums of all batches are cut into
 * tasks of `batchesPerTask` batches; their partial sums are added here, in order, and flooded here (the
 * flooding noise is drawn by this process's generator and never leaves it).
 */
export interface BinSumOffload {
  readonly executor: TaskExecutor<BinSumTask, BinSumWorkerOutput>;
  /** Batches (of N/2 rows) per task: default `DEFAULT_BIN_SUM_BATCHES_PER_TASK`. */
  readonly batchesPerTask?: number;
  /** Task id prefix (the job and party); the id ends with the task's digest. */
  readonly taskIdPrefix?: string;
}

/**
 * Default batches per bin-sum task: 8 x 4096 rows. The queue's cost per task is mostly fixed (~60-90 ms
 * measured: enqueue, store, collect), so at 4 batches (~1.7 s of work) it was 2.2-5.1 % of the task in two
 * runs; 8 halves that share (docs/deploy.md, "Work distribution"; benchmarks/results/queue-portfolio.md).
 */
export const DEFAULT_BIN_SUM_BATCHES_PER_TASK = 8;

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
  /** The partial sums on a task executor (a work queue) instead of the threads; `workers` is unused. */
  readonly offload?: BinSumOffload;
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
  if (options.offload !== undefined) return offloadedSums(ctx, labels, layout, cells, binIndex, options);
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
  return addAndFlood(ctx, outputs, options);
}

/** The partial sums of `outputs` added in order, and the total flooded (the one thing that leaves). */
function addAndFlood(
  ctx: CkksPublicContext,
  outputs: readonly BinSumWorkerOutput[],
  options: ParallelSumOptions,
): { sums: CkksVector[]; cost: BinSumCost } {
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

/** `evaluateBinSumsParallel` with the partial sums on `options.offload`'s executor. */
async function offloadedSums(
  ctx: CkksPublicContext,
  labels: readonly Uint8Array[],
  layout: BinSumLayout,
  cells: readonly SumCell[],
  binIndex: readonly Uint16Array[],
  options: ParallelSumOptions,
): Promise<{ sums: CkksVector[]; cost: BinSumCost }> {
  const off = options.offload!;
  const per = off.batchesPerTask ?? DEFAULT_BIN_SUM_BATCHES_PER_TASK;
  if (!Number.isInteger(per) || per < 1) {
    throw new FedscoreError('out_of_range', `batchesPerTask must be a positive integer, got ${per}`, {
      field: 'batchesPerTask',
    });
  }
  // The public part only (a key holder's context serializes without its secret key), checked as such.
  const context = ctx.serialize({ compression: 'none' });
  decodeBlob(context, BLOB_KIND.publicContext);
  let done = 0;
  const runs: Promise<BinSumWorkerOutput>[] = [];
  for (let from = 0; from < layout.batches; from += per) {
    const to = Math.min(layout.batches, from + per);
    const p = off.executor
      .run(
        { op: 'binSums', context, labels: labels.slice(from, to), layout, cells, binIndex, from, to },
        off.taskIdPrefix === undefined ? {} : { taskId: off.taskIdPrefix },
      )
      .then((out) => {
        done += to - from;
        options.progress?.({
          stage: 'binning: encrypted bin sums',
          done,
          total: layout.batches,
          unit: 'batches',
        });
        return out;
      });
    p.catch(() => undefined); // awaited below; this keeps an early failure from going unhandled
    runs.push(p);
  }
  return addAndFlood(ctx, await Promise.all(runs), options);
}
