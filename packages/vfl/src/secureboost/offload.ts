/**
 * The SecureBoost host's CKKS histograms on a task executor (issue 18: a party's work queue,
 * `@fedscore/queue`, kind `sbHistogram`, registered by the CLI's `fedscore worker`), instead of in the
 * host's process.
 *
 * The cut. A node's histogram is linear in the row batches (histogram.ts): the packed sums are
 * sum_k fold(giant(sum_b rot_b(z_k) * d_{k,r})), and the giant steps and the fold are linear maps, so
 * the sums of a range of batches, folded, add up over the ranges to the sums of all batches. One task is
 * one level's directly summed nodes over one range of `batchesPerTask` batches (ranges in order, fixed by
 * the layout: the same cut on every run); the host adds the tasks' sums range by range, in range order,
 * and releases them as before (`releaseBlock`: rescale and flooding stay in the host, whose generator
 * draws the noise). A worker evaluates its range with `GradientRotations` (per-node encodes over the
 * range's baby rotations), whatever path the host would have chosen in-process: the queue spreads the
 * products, and the per-node path needs no per-run state on the workers. What the cut duplicates: the
 * giant steps and the fold, once per task and node, and the baby rotations, once per range and level
 * (a worker keeps the last `CACHED_ROTATIONS` ranges' rotations, so a worker that gets the same range
 * at the next level reuses them).
 *
 * What a task holds: the guest's public context (the one the host received: no secret key exists on the
 * host), the tree's [[g]], [[h]] of the range lowered and packed by the host (`packGradients`:
 * ciphertexts under the guest's key, once per tree and range), the host's bin index of the range's rows
 * and, per node, the node's rows in the range and its per-bin-floor groups (`ends`). The bin index and the
 * rows are this party's own data (the same instance-space knowledge it already has); the workers are
 * this party's machines (docs/deploy.md, "Work distribution"). Evaluation is deterministic except for an
 * encryption of zeros for a block without any of the node's rows in the range (as in-process), and a
 * task's result is stored once under its id (`<prefix>/<digest of its bytes>`), so a delivery repeated
 * after a worker dies changes nothing.
 *
 * The sums differ from the in-process ones by CKKS rounding only (the additions of the ranges' partial
 * sums, the duplicated rotations' key-switching noise), far below the flooding (`HISTOGRAM_ERROR_BOUND`
 * holds: the queue test measures it), so the splits are the in-process run's. Paillier and `none` are
 * not offloaded (their histograms are the additive API's `dotColumns`, in the host's process).
 */
import { FedscoreError, siblingModuleUrl } from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';
import {
  BLOB_KIND,
  type CkksPublicContext,
  type CkksSecretContext,
  type CkksVector,
  decodeBlob,
} from '@fedscore/he';
import {
  GradientRotations,
  type HistogramLayout,
  mergedBins,
  type NodeSums,
  packGradients,
} from './histogram.ts';
import type { BinnedFeatures } from './model.ts';

/** One node of a histogram task: its rows in the task's range and its bin groups. */
export interface HistogramTaskNode {
  /** Ascending, relative to the range's first row (batch `from` times the slot count). */
  readonly rows: Int32Array;
  /** Per cell, the last cell of its per-bin-floor group (`binGroups`); absent: no bins merged. */
  readonly ends?: Int32Array;
}

/**
 * One level's directly summed nodes over batches [from, to): a self-contained task, what a queue worker
 * evaluates (`evaluateHistogramTask`).
 */
export interface HistogramTask {
  readonly op: 'sbHistogram';
  /** Per batch of the range, z = g + i sqrt(2) h at the product level, serialized (`packGradients`). */
  readonly packedGradients: readonly Uint8Array[];
  /** The run's layout (`planHistogram`): the task covers its batches [from, to). */
  readonly layout: HistogramLayout;
  /** The host's bin index of the range's rows, per feature. */
  readonly binIndex: readonly Uint16Array[];
  /** Bins per feature. */
  readonly counts: readonly number[];
  readonly from: number;
  readonly to: number;
  readonly nodes: readonly HistogramTaskNode[];
  /** The public context (`serialize()` output) to evaluate under (queue tasks). */
  readonly context?: Uint8Array;
}

/** Per task node, per block: the range's folded packed sums (unrescaled), serialized. */
export interface HistogramTaskOutput {
  readonly sums: readonly (readonly Uint8Array[])[];
}

/**
 * Where a host's CKKS histograms run (`SecureBoostHostOptions.histogramOffload`): a `TaskExecutor` of
 * histogram tasks (a party's work queue, whose worker processes hold public contexts only).
 */
export interface SecureBoostHistogramOffload {
  readonly executor: TaskExecutor<HistogramTask, HistogramTaskOutput>;
  /** Batches (of N/2 rows) per task: default `DEFAULT_HISTOGRAM_BATCHES_PER_TASK`. */
  readonly batchesPerTask?: number;
  /** Task id prefix (the job and party); the id ends with the task's digest. */
  readonly taskIdPrefix?: string;
}

/**
 * Default batches per histogram task: 1 batch of N/2 rows. Measured (benchmarks/results/queue-secureboost.md,
 * two runs at load 16-24 on 2 cores): a one-batch, one-node task at 160 cells ran 3.9-10.9 s (medians)
 * in the worker against 85-195 ms of queue overhead (2.2 %, 1.8 %); more batches per task would leave a
 * second worker idle on a host of few batches (default_credit: 3 batches at N = 16384).
 */
export const DEFAULT_HISTOGRAM_BATCHES_PER_TASK = 1;

/**
 * The module of the histogram task kind for `@fedscore/he`'s worker threads (`HeWorkerPoolOptions.taskKinds`):
 * a host with `workers` runs these tasks on its own threads (secureboost/thread-kinds.ts).
 */
export const HISTOGRAM_THREAD_KINDS: URL = siblingModuleUrl('./thread-kinds', import.meta.url);

/** Ranges whose baby rotations a worker keeps between tasks (the same range at the next level). */
const CACHED_ROTATIONS = 2;

function fail(field: string, message: string): never {
  throw new FedscoreError('invalid_argument', message, { field });
}

function offsetsOf(counts: readonly number[]): number[] {
  const out: number[] = [];
  let off = 0;
  for (const c of counts) {
    out.push(off);
    off += c;
  }
  return out;
}

/** The layout of a task's range: the run's blocks and steps over its batches only. */
function rangeLayout(layout: HistogramLayout, from: number, to: number): HistogramLayout {
  const S = layout.slotCount;
  return { ...layout, batches: to - from, rows: Math.min(layout.rows, to * S) - from * S };
}

/** Check a task's shape (a worker's input is bytes from the party's database: typed errors, no crash). */
function checkTask(task: HistogramTask, slotCount: number): void {
  if (task === null || typeof task !== 'object' || task.op !== 'sbHistogram') {
    fail('op', 'expected an sbHistogram task');
  }
  const l = task.layout;
  if (
    l === null ||
    typeof l !== 'object' ||
    l.slotCount !== slotCount ||
    ![l.rows, l.batches, l.cells, l.blockSize, l.blocks, l.baby, l.giant].every(
      (x) => Number.isSafeInteger(x) && x > 0,
    ) ||
    l.blockSize !== l.baby * l.giant ||
    l.blocks !== Math.ceil(l.cells / l.blockSize) ||
    slotCount % l.blockSize !== 0 ||
    (l.baby & (l.baby - 1)) !== 0 ||
    (l.blockSize & (l.blockSize - 1)) !== 0
  ) {
    fail('layout', 'a histogram task layout does not fit the context');
  }
  const { from, to } = task;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to <= from || to > l.batches) {
    fail('from', 'a histogram task covers batches 0 <= from < to <= batches');
  }
  if (!Array.isArray(task.packedGradients) || task.packedGradients.length !== to - from) {
    fail('packedGradients', 'a histogram task has one packed gradient ciphertext per batch');
  }
  const counts = task.counts;
  if (
    !Array.isArray(counts) ||
    !counts.every((c) => Number.isSafeInteger(c) && c > 0 && c <= 65536) ||
    counts.reduce((a, b) => a + b, 0) !== l.cells
  ) {
    fail('counts', 'a histogram task has bins per feature summing to the layout cells');
  }
  const rows = rangeLayout(l, from, to).rows;
  if (
    !Array.isArray(task.binIndex) ||
    task.binIndex.length !== counts.length ||
    !task.binIndex.every(
      (idx, f) => idx instanceof Uint16Array && idx.length === rows && idx.every((b) => b < counts[f]!),
    )
  ) {
    fail('binIndex', 'a histogram task has a bin index per feature over the range rows');
  }
  if (!Array.isArray(task.nodes) || task.nodes.length === 0) {
    fail('nodes', 'a histogram task has at least one node');
  }
  const offsets = offsetsOf(counts);
  for (const n of task.nodes) {
    if (n === null || typeof n !== 'object' || !(n.rows instanceof Int32Array)) {
      fail('nodes', 'a histogram task node has its rows');
    }
    for (let q = 0; q < n.rows.length; q++) {
      const r = n.rows[q]!;
      if (r < 0 || r >= rows || (q > 0 && r <= n.rows[q - 1]!)) {
        fail('nodes', 'a histogram task node has ascending rows within the range');
      }
    }
    if (n.ends !== undefined) {
      if (!(n.ends instanceof Int32Array) || n.ends.length !== l.cells) {
        fail('ends', 'a histogram task node has one group end per cell');
      }
      counts.forEach((c, f) => {
        const off = offsets[f]!;
        for (let b = 0; b < c; b++) {
          const e = n.ends![off + b]!;
          if (e < off + b || e >= off + c)
            fail('ends', 'a group end lies in its own feature, at or after its cell');
        }
      });
    }
  }
}

/**
 * Evaluate a task: per node, per block, the range's folded packed sums. `rotations`, when given, are the
 * range's (`GradientRotations.packed` of the task's gradients; borrowed), else they are built here.
 */
export function evaluateHistogramTask(
  ctx: CkksPublicContext,
  task: Omit<HistogramTask, 'op' | 'context'>,
  rotations?: GradientRotations,
): HistogramTaskOutput {
  let own: GradientRotations | undefined;
  if (rotations === undefined) {
    const z = task.packedGradients.map((b) => ctx.deserializeVector(b));
    try {
      own = GradientRotations.packed(ctx, rangeLayout(task.layout, task.from, task.to), z);
    } finally {
      for (const v of z) v.dispose();
    }
  }
  const rot = rotations ?? own!;
  try {
    const offsets = offsetsOf(task.counts);
    const binned = { index: task.binIndex, counts: task.counts };
    return {
      sums: task.nodes.map((n) => {
        const nb = n.ends === undefined ? binned : mergedBins(binned, offsets, n.ends);
        const sums = rot.node(n.rows, nb, offsets);
        try {
          return sums.z.map((v) => v.serialize({ compression: 'none' }));
        } finally {
          for (const v of sums.z) v.dispose();
        }
      }),
    };
  } finally {
    own?.dispose();
  }
}

/**
 * The handler a worker process runs for histogram tasks (`@fedscore/queue`'s `HeTaskKind`). It takes a
 * public context only: a secret one is refused (`invalid_argument`). It keeps the baby rotations of the
 * last `CACHED_ROTATIONS` ranges it evaluated, by the identity of the task's decoded gradients (the
 * queue worker decodes a shared field once per digest and hands every task the same value).
 */
export function histogramTaskHandler(ctx: CkksPublicContext): (task: HistogramTask) => HistogramTaskOutput {
  if (typeof (ctx as Partial<CkksSecretContext>).serializeSecret === 'function') {
    throw new FedscoreError('invalid_argument', 'a task worker takes the public context only', {
      field: 'context',
    });
  }
  const cache: { key: object; baby: number; rotations: GradientRotations }[] = [];
  return (task) => {
    checkTask(task, ctx.slotCount);
    let entry = cache.find((e) => e.key === task.packedGradients && e.baby === task.layout.baby);
    if (entry === undefined) {
      const z = task.packedGradients.map((b) => ctx.deserializeVector(b));
      try {
        entry = {
          key: task.packedGradients,
          baby: task.layout.baby,
          rotations: GradientRotations.packed(ctx, rangeLayout(task.layout, task.from, task.to), z),
        };
      } finally {
        for (const v of z) v.dispose();
      }
      cache.push(entry);
      while (cache.length > CACHED_ROTATIONS) cache.shift()!.rotations.dispose();
    }
    return evaluateHistogramTask(ctx, task, entry.rotations);
  };
}

/**
 * The host's side (host.ts): per run, the context bytes and each range's bin index (made once: the same
 * objects in every task, so the queue stores each once); per tree, each range's packed gradients; per
 * level, one task per range holding the level's direct nodes with rows in it, the results added in
 * range order.
 */
export class OffloadedHistograms {
  readonly #ctx: CkksPublicContext;
  readonly #layout: HistogramLayout;
  readonly #offload: SecureBoostHistogramOffload;
  readonly #context: Uint8Array;
  readonly #counts: readonly number[];
  /** Per range: [from, to) and its bin index. */
  readonly #ranges: { readonly from: number; readonly to: number; readonly binIndex: Uint16Array[] }[] = [];
  /** This tree's packed gradients, per range. */
  #packed: Uint8Array[][] | undefined;

  constructor(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    binned: BinnedFeatures,
    offload: SecureBoostHistogramOffload,
  ) {
    const per = offload.batchesPerTask ?? DEFAULT_HISTOGRAM_BATCHES_PER_TASK;
    if (!Number.isSafeInteger(per) || per < 1) {
      throw new FedscoreError('out_of_range', `batchesPerTask must be a positive integer, got ${per}`, {
        field: 'batchesPerTask',
      });
    }
    this.#ctx = ctx;
    this.#layout = layout;
    this.#offload = offload;
    this.#counts = [...binned.counts];
    // The public part only (a key holder's context serializes without its secret key), checked as such.
    this.#context = ctx.serialize({ compression: 'none' });
    decodeBlob(this.#context, BLOB_KIND.publicContext);
    const S = layout.slotCount;
    for (let from = 0; from < layout.batches; from += per) {
      const to = Math.min(layout.batches, from + per);
      const lo = from * S;
      const hi = Math.min(layout.rows, to * S);
      this.#ranges.push({ from, to, binIndex: binned.index.map((idx) => idx.slice(lo, hi)) });
    }
  }

  /** Pack and serialize this tree's gradients (`g`, `h` borrowed: the tree's, at the top level). */
  startTree(g: readonly CkksVector[], h: readonly CkksVector[]): void {
    const z = packGradients(this.#ctx, g, h);
    try {
      this.#packed = this.#ranges.map(({ from, to }) =>
        z.slice(from, to).map((v) => v.serialize({ compression: 'none' })),
      );
    } finally {
      for (const v of z) v.dispose();
    }
  }

  endTree(): void {
    this.#packed = undefined;
  }

  /**
   * The histograms of `nodes` (ascending row indices, and the bin groups where the per-bin floor merged
   * any), in that order: one task per range with any of their rows.
   */
  async nodes(nodes: readonly { rows: Int32Array; ends?: Int32Array }[]): Promise<NodeSums[]> {
    const packed = this.#packed;
    if (packed === undefined) {
      throw new FedscoreError('protocol_step', 'histograms asked for outside a tree', { field: 'tree' });
    }
    const S = this.#layout.slotCount;
    const cursor = nodes.map(() => 0);
    const runs: Promise<{ members: number[]; out: HistogramTaskOutput }>[] = [];
    for (const [i, range] of this.#ranges.entries()) {
      const lo = range.from * S;
      const hi = range.to * S;
      const members: number[] = [];
      const taskNodes: HistogramTaskNode[] = [];
      for (const [j, n] of nodes.entries()) {
        let end = cursor[j]!;
        while (end < n.rows.length && n.rows[end]! < hi) end++;
        if (end === cursor[j]) continue;
        const rows = n.rows.slice(cursor[j], end);
        for (let q = 0; q < rows.length; q++) rows[q] = rows[q]! - lo;
        cursor[j] = end;
        members.push(j);
        taskNodes.push({ rows, ...(n.ends !== undefined && { ends: n.ends }) });
      }
      if (taskNodes.length === 0) continue;
      const task: HistogramTask = {
        op: 'sbHistogram',
        context: this.#context,
        packedGradients: packed[i]!,
        layout: this.#layout,
        binIndex: range.binIndex,
        counts: this.#counts,
        from: range.from,
        to: range.to,
        nodes: taskNodes,
      };
      const p = this.#offload.executor
        .run(task, this.#offload.taskIdPrefix === undefined ? {} : { taskId: this.#offload.taskIdPrefix })
        .then((out) => {
          if (out.sums.length !== members.length || out.sums.some((s) => s.length !== this.#layout.blocks)) {
            throw new FedscoreError('wire_decode', 'a histogram task result does not match its task', {
              field: 'sums',
            });
          }
          return { members, out };
        });
      p.catch(() => undefined); // awaited below; this keeps an early failure from going unhandled
      runs.push(p);
    }
    const results = await Promise.all(runs);
    // Added in range order: the same sums whatever order the tasks finished in.
    const totals: (CkksVector[] | undefined)[] = nodes.map(() => undefined);
    try {
      for (const { members, out } of results) {
        for (const [k, j] of members.entries()) {
          const parts = out.sums[k]!.map((b) => this.#ctx.deserializeVector(b));
          const prev = totals[j];
          if (prev === undefined) totals[j] = parts;
          else {
            let next: CkksVector[];
            try {
              next = prev.map((t, b) => t.add(parts[b]!));
            } finally {
              for (const v of parts) v.dispose();
            }
            for (const v of prev) v.dispose();
            totals[j] = next;
          }
        }
      }
      if (totals.some((t) => t === undefined)) {
        throw new FedscoreError('invalid_argument', 'a node has no rows', { field: 'nodeOfRow' });
      }
    } catch (e) {
      for (const t of totals) for (const v of t ?? []) v.dispose();
      throw e;
    }
    return totals.map((z) => ({ z: z! }));
  }
}
