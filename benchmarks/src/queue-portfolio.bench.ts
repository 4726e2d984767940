/**
 * `pnpm bench queue-portfolio [--blocks 8] [--features 23] [--preset ckks-8192] [--workers 1,2,4]
 *                             [--tasks 6] [--bin-tasks 5] [--bin-features 10] [--bin-bins 10]
 *                             [--sb-tasks 5] [--sb-features 10] [--sb-bins 16] [--sb-nodes 1]
 *                             [--psi-tasks 5] [--parts lin,bins,sb,psi,throughput] [--transfers copy]
 *                             [--levels top,1]`
 *
 * The work-distribution queue (@fedscore/queue: pg-boss on PostgreSQL, `fedscore worker` processes) on
 * the task kinds added after hetero-LR's packed products, on a throwaway PostgreSQL cluster on loopback:
 *
 * 1. Overhead per task at the default task size (issue 18's target: <= 5 % of the task's own time), one
 *    worker process, tasks one after another:
 *    - `linearCombinations`: portfolio scoring's one block (N/2 = 4096 enterprises at ckks-8192, the
 *      data-owner-mode preset) of `--features` columns, re-randomized, as the model owner sends it, with
 *      the record blocks at each of `--levels` (the top, a data owner's default, and level 1, its
 *      `inputLevel` for scores below 2^18: 2/3 of the input bytes, the result at level 0);
 *    - `binSums`: the WOE binning host's partial sums of `DEFAULT_BIN_SUM_BATCHES_PER_TASK` label batches
 *      (8 x 4096 rows) over `--bin-features` features of `--bin-bins` bins;
 *    - `sbHistogram`: a SecureBoost host's histograms of `--sb-nodes` directly summed nodes (half the
 *      rows each, drawn) over `DEFAULT_HISTOGRAM_BATCHES_PER_TASK` batch(es) of 8192 rows at the
 *      default preset (ckks-16384-release), `--sb-features` features of `--sb-bins` bins, the layout the
 *      host plans for depth 3; one node is the lightest task a level makes (the worst overhead share).
 *    - `psiHash` / `psiBlind`: PSI blinding (@fedscore/psi offload.ts) of `DEFAULT_PSI_TASK_IDS` ids
 *      (hash to ristretto255 and multiply by the run's scalar) or peer points (multiply), fresh ids per
 *      task; no shared fields, no context (`--parts psi`).
 *    Overhead = enqueue-to-result at the coordinator minus the worker's time in the task; the first task
 *    of each kind also uploads the shared fields (context, bin index) and loads the context in the worker.
 *    Each part runs on one lane per `--transfers` (how byte columns are read: binary COPY, the default,
 *    or base64 text, the earlier path) and, for block tasks, per level (`overheadLanes`), task k on each
 *    lane in turn, so before and after share the minutes.
 * 2. A block task's bytes option by option, in process: the inputs' level, SEAL's zstd, the result cut
 *    to level 0; each option's bytes, the data owner's and the worker's times, and its byte floor.
 *    Then the byte path's floor: a block task's bytes (at the lowest level) through each step alone
 *    (memory copy, encoding, loopback TCP, PostgreSQL's INSERT, COPY FROM and reads), against 5 % of the
 *    task's own time.
 * 3. Portfolio scoring throughput: the model owner's evaluation of `--blocks` blocks (one task each) on
 *    the local HE pool (1 and 2 threads) and on the queue with 1, 2 and 4 worker processes, the record
 *    blocks at the lowest of `--levels`; per run the
 *    CPU seconds of the coordinator, of the worker processes and of PostgreSQL (/proc), against the 2
 *    cores' wall-clock budget, to say what saturates.
 *
 * `--parts` runs a subset (e.g. `--parts sb`). Not a test: timings depend on the machine's load,
 * recorded before and after each part.
 */
import type { ChildProcess } from 'node:child_process';
import { type AddressInfo, connect, createServer } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { FedscoreError, normal, seededRng, uniform } from '@fedscore/core';
import {
  CKKS_PRESETS,
  type CkksPresetName,
  type CkksSecretContext,
  type CkksVector,
  createCkksContext,
  createHeWorkerPool,
  encodeLinearWeights,
  type HeLinearJob,
  type LinearCombinationsRequest,
  linearCombination,
  linearCombinationsOn,
} from '@fedscore/he';
import { DEFAULT_PSI_TASK_IDS, loadSodium, type PsiTask, psiHashDomain, psiTaskHandler } from '@fedscore/psi';
import {
  BYTE_TRANSFERS,
  type ByteTransfer,
  encodeTask,
  HE_TASK_SHARED_FIELDS,
  QueueExecutor,
  type TaskBlob,
  taskIdOf,
} from '@fedscore/queue';
import { copyRows, type PgCluster, startPgCluster, startWorker } from '@fedscore/queue/testing';
import {
  BINNING_CKKS_PARAMS,
  type BinSumTask,
  binSumRotations,
  DEFAULT_BIN_SUM_BATCHES_PER_TASK,
  DEFAULT_HISTOGRAM_BATCHES_PER_TASK,
  evaluateHistogramTask,
  type HistogramTask,
  histogramRotationSteps,
  packGradients,
  partialBinSumsCkks,
  planBinSums,
  planHistogram,
  SECUREBOOST_CKKS_PRESET,
} from '@fedscore/vfl';
import pg from 'pg';
import { cpuOf, postgresCpu } from './proc-cpu.ts';
import {
  flag,
  ints,
  LATENCY_COLUMNS,
  latencyCells,
  latencySplit,
  round,
  stopWorkers,
} from './queue.bench.ts';
import { type BenchResult, type BenchTable, median } from './report.ts';

interface Timing {
  kind: string;
  /** The lane it ran on (`LaneSpec.name`). */
  lane: string;
  transfer: ByteTransfer;
  task: number;
  localMs: number;
  latencyMs: number;
  taskMs: number;
  overheadMs: number;
  inputBytes: number;
  outputBytes: number;
  /** From the coordinator's and the database's clocks (same machine), as `bench queue` splits it. */
  enqueueMs: number;
  pickupMs: number;
  readMs: number;
  storeCollectMs: number;
  /** CPU ms during the task (enqueue to result): the coordinator, its worker process, PostgreSQL. */
  coordinatorCpuMs: number;
  workerCpuMs: number;
  postgresCpuMs: number;
}

/** CPU seconds now of this process, of `worker` and of the cluster on `port`. */
function cpuNow(worker: number, port: number): { c: number; w: number; p: number } {
  const u = process.cpuUsage();
  return { c: (u.user + u.system) / 1e6, w: cpuOf(worker), p: postgresCpu(port) };
}

function cpuSince(
  from: { c: number; w: number; p: number },
  worker: number,
  port: number,
): Pick<Timing, 'coordinatorCpuMs' | 'workerCpuMs' | 'postgresCpuMs'> {
  const to = cpuNow(worker, port);
  return {
    coordinatorCpuMs: (to.c - from.c) * 1000,
    workerCpuMs: (to.w - from.w) * 1000,
    postgresCpuMs: (to.p - from.p) * 1000,
  };
}

function blockJobs(
  ctx: CkksSecretContext,
  features: number,
  blocks: number,
  seed: number,
  level = ctx.levels,
  compression: 'none' | 'zstd' = 'none',
): HeLinearJob[] {
  const rng = seededRng(seed);
  const S = ctx.slotCount;
  return Array.from({ length: blocks }, () => ({
    ciphertexts: Array.from({ length: features }, () =>
      ctx.encryptSymmetricSerialized(
        Float64Array.from({ length: S }, () => normal(rng)),
        { compression, level },
      ),
    ),
    add: Float64Array.from({ length: S }, () => 0.25 + normal(rng) * 2 ** -20),
  }));
}

/** One lane of an overhead part: its own queue, executor and worker process. */
interface LaneSpec {
  /** Names the lane's queue and its rows (the transfer, and for block tasks the inputs' level). */
  readonly name: string;
  readonly transfer: ByteTransfer;
  /** Block tasks: the level the record blocks are encrypted at. */
  readonly level?: number;
}

/** One task of an overhead part, as every lane it is measured on runs it. */
interface OverheadTask<T> {
  readonly kind: string;
  /** Task number (1 = the one that also stores the shared fields and loads the context). */
  readonly task: number;
  readonly id: string;
  readonly localMs: number;
  readonly inputBytes: number;
  readonly run: (ex: QueueExecutor<T, unknown>) => Promise<unknown>;
}

/**
 * The overhead parts' common frame: one executor and one worker process per lane (`overhead-<part>-<lane>`)
 * and a `measure` that runs a task on each lane in turn (task k under every lane in the same minutes of
 * the shared machine's load, the comparison like for like) and records enqueue-to-result at the
 * coordinator, its split from the database's clocks (`latencySplit`) and the CPU of the coordinator, the
 * lane's worker process and PostgreSQL while it ran. `only` limits a task to some lanes (a block task at
 * one level goes to that level's lanes).
 */
async function overheadLanes<T>(
  cluster: PgCluster,
  db: pg.Client,
  part: string,
  lanes: readonly LaneSpec[],
  sharedFields: readonly string[],
  body: (measure: (t: OverheadTask<T>, only?: (lane: LaneSpec) => boolean) => Promise<void>) => Promise<void>,
): Promise<Timing[]> {
  const port = Number(new URL(cluster.url).port);
  const open: { lane: LaneSpec; queue: string; ex: QueueExecutor<T, unknown>; pid: number }[] = [];
  const children: ChildProcess[] = [];
  const out: Timing[] = [];
  try {
    for (const lane of lanes) {
      const queue = `overhead-${part}-${lane.name}`;
      const ex = await QueueExecutor.create<T, unknown>({
        connectionString: cluster.url,
        queue,
        sharedFields: [...sharedFields],
        transfer: lane.transfer,
      });
      open.push({ lane, queue, ex, pid: 0 });
      const worker = await startWorker(cluster.url, queue, children, { transfer: lane.transfer });
      open[open.length - 1]!.pid = worker.pid!;
    }
    await body(async (t, only) => {
      for (const { lane, queue, ex, pid } of open) {
        if (only !== undefined && !only(lane)) continue;
        const cpu0 = cpuNow(pid, port);
        const t0 = Date.now();
        const start = performance.now();
        await t.run(ex);
        const latencyMs = performance.now() - start;
        const cpu = cpuSince(cpu0, pid, port);
        const { split, outputBytes } = await latencySplit(db, queue, t.id, t0, latencyMs);
        out.push({
          kind: t.kind,
          lane: lane.name,
          transfer: lane.transfer,
          task: t.task,
          localMs: t.localMs,
          latencyMs,
          ...split,
          ...cpu,
          overheadMs: latencyMs - split.taskMs,
          inputBytes: t.inputBytes,
          outputBytes,
        });
      }
    });
  } finally {
    await stopWorkers(children);
    for (const { ex } of open) await ex.close();
  }
  return out;
}

/** Lane name of a block task: the transfer and the record blocks' level. */
const linLane = (transfer: ByteTransfer, level: number) => `${transfer}-l${level}`;

async function linearOverhead(
  cluster: PgCluster,
  db: pg.Client,
  ctx: CkksSecretContext,
  features: number,
  tasks: number,
  transfers: readonly ByteTransfer[],
  levels: readonly number[],
): Promise<Timing[]> {
  const local = await createHeWorkerPool({ size: 1, context: ctx.serialize({ compression: 'none' }) });
  const lanes = levels.flatMap((level) =>
    transfers.map((transfer) => ({ name: linLane(transfer, level), transfer, level })),
  );
  try {
    return await overheadLanes<LinearCombinationsRequest>(
      cluster,
      db,
      'lin',
      lanes,
      HE_TASK_SHARED_FIELDS,
      async (measure) => {
        const context = ctx.serialize({ compression: 'none' });
        const rng = seededRng(3);
        const weights = Array.from({ length: features }, () => normal(rng));
        for (let k = 1; k <= tasks; k++) {
          for (const level of levels) {
            // The same records at each level (same seed): only the primes differ.
            const jobs = blockJobs(ctx, features, 1, 100 + k, level);
            const opts = { rerandomize: true, level, compression: 'none' } as const;
            const t = performance.now();
            await local.linearCombinations(jobs, weights, opts);
            const localMs = performance.now() - t;
            const id = `lin-${k}`;
            await measure(
              {
                kind: 'linearCombinations',
                task: k,
                id,
                localMs,
                inputBytes: jobs[0]!.ciphertexts.reduce((s, c) => s + c.byteLength, 0) + 8 * ctx.slotCount,
                run: (ex) =>
                  linearCombinationsOn(
                    ex as QueueExecutor<LinearCombinationsRequest, Uint8Array[]>,
                    jobs,
                    weights,
                    {
                      ...opts,
                      context,
                      taskId: id,
                    },
                  ),
              },
              (lane) => lane.level === level,
            );
          }
        }
      },
    );
  } finally {
    await local.close();
  }
}

async function binOverhead(
  cluster: PgCluster,
  db: pg.Client,
  features: number,
  bins: number,
  tasks: number,
  transfers: readonly ByteTransfer[],
): Promise<Timing[]> {
  const per = DEFAULT_BIN_SUM_BATCHES_PER_TASK;
  const S = BINNING_CKKS_PARAMS.polyModulusDegree / 2;
  const rows = tasks * per * S;
  const rng = seededRng(21);
  const binIndex = Array.from({ length: features }, () =>
    Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * bins)),
  );
  const y = Float64Array.from({ length: rows }, () => (uniform(rng) < 0.1 ? 1 : 0));
  const cells = Array.from({ length: features * bins }, (_, c) => ({
    feature: Math.floor(c / bins),
    bin: c % bins,
  }));
  const counts = cells.map(({ feature, bin }) => binIndex[feature]!.filter((v) => v === bin).length);
  const layout = planBinSums(counts, rows, S);
  const ctx = await createCkksContext({
    params: BINNING_CKKS_PARAMS,
    rotations: binSumRotations(layout),
    relinearization: false,
  });
  try {
    const lanes = transfers.map((transfer) => ({ name: transfer, transfer }));
    return await overheadLanes<BinSumTask>(
      cluster,
      db,
      'bins',
      lanes,
      HE_TASK_SHARED_FIELDS,
      async (measure) => {
        const labels = Array.from({ length: layout.batches }, (_, k) =>
          ctx.encryptSymmetricSerialized(y.subarray(k * S, (k + 1) * S), { compression: 'none' }),
        );
        const context = ctx.serialize({ compression: 'none' });
        for (let k = 0; k < tasks; k++) {
          const from = k * per;
          const to = from + per;
          const slice = labels.slice(from, to);
          const t = performance.now();
          const cts = slice.map((b) => ctx.deserializeVector(b));
          const r = partialBinSumsCkks(ctx, cts, layout, cells, binIndex, from, to);
          for (const v of r.sums) v.serialize({ compression: 'none' });
          for (const v of [...cts, ...r.sums]) v.dispose();
          const localMs = performance.now() - t;
          const id = `bins-${k + 1}`;
          await measure({
            kind: 'binSums',
            task: k + 1,
            id,
            localMs,
            inputBytes: slice.reduce((s, c) => s + c.byteLength, 0),
            run: (ex) =>
              ex.run(
                { op: 'binSums', context, labels: slice, layout, cells, binIndex, from, to },
                { taskId: id },
              ),
          });
        }
      },
    );
  } finally {
    ctx.dispose();
  }
}

async function histogramOverhead(
  cluster: PgCluster,
  db: pg.Client,
  features: number,
  bins: number,
  nodes: number,
  tasks: number,
  transfers: readonly ByteTransfer[],
): Promise<Timing[]> {
  const per = DEFAULT_HISTOGRAM_BATCHES_PER_TASK;
  const S = CKKS_PRESETS[SECUREBOOST_CKKS_PRESET].polyModulusDegree / 2;
  const rows = tasks * per * S;
  const rng = seededRng(41);
  const counts = Array.from({ length: features }, () => bins);
  const binIndex = counts.map((b) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * b)));
  const layout = planHistogram(features * bins, rows, S, 3);
  const ctx = await createCkksContext({
    params: SECUREBOOST_CKKS_PRESET,
    rotations: histogramRotationSteps(layout),
    relinearization: false,
  });
  try {
    const g = Float64Array.from({ length: rows }, () => uniform(rng) - 0.5);
    const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
    const encG = ctx.encryptBatch(g);
    const encH = ctx.encryptBatch(h);
    const z = packGradients(ctx, encG, encH);
    const packed = z.map((v) => v.serialize({ compression: 'none' }));
    for (const v of [...encG, ...encH, ...z]) v.dispose();
    const lanes = transfers.map((transfer) => ({ name: transfer, transfer }));
    return await overheadLanes<HistogramTask>(
      cluster,
      db,
      'sb',
      lanes,
      HE_TASK_SHARED_FIELDS,
      async (measure) => {
        const context = ctx.serialize({ compression: 'none' });
        for (let k = 0; k < tasks; k++) {
          const from = k * per;
          const to = from + per;
          const lo = from * S;
          const hi = Math.min(rows, to * S);
          const task: HistogramTask = {
            op: 'sbHistogram',
            context,
            packedGradients: packed.slice(from, to),
            layout,
            binIndex: binIndex.map((idx) => idx.slice(lo, hi)),
            counts,
            from,
            to,
            // Each node: about half the range's rows, drawn.
            nodes: Array.from({ length: nodes }, () => ({
              rows: Int32Array.from(
                Array.from({ length: hi - lo }, (_, i) => i).filter(() => uniform(rng) < 0.5),
              ),
            })),
          };
          const t = performance.now();
          evaluateHistogramTask(ctx, task);
          const localMs = performance.now() - t;
          const id = `sb-${k + 1}`;
          await measure({
            kind: 'sbHistogram',
            task: k + 1,
            id,
            localMs,
            inputBytes: task.packedGradients.reduce((s, c) => s + c.byteLength, 0),
            run: (ex) => ex.run(task, { taskId: id }),
          });
        }
      },
    );
  } finally {
    ctx.dispose();
  }
}

async function psiOverhead(
  cluster: PgCluster,
  db: pg.Client,
  tasks: number,
  transfers: readonly ByteTransfer[],
): Promise<Timing[]> {
  await loadSodium();
  const n = DEFAULT_PSI_TASK_IDS;
  const enc = new TextEncoder();
  const scalar = new Uint8Array(32);
  crypto.getRandomValues(scalar);
  scalar[31]! &= 0x0f; // below the group order
  const idsTask = (k: number): PsiTask => {
    const parts = Array.from({ length: n }, (_, i) =>
      enc.encode(`91310000MA${String(k * n + i).padStart(8, '0')}`),
    );
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
    const ids = new Uint8Array(offsets[n]!);
    for (let i = 0; i < n; i++) ids.set(parts[i]!, offsets[i]!);
    return { op: 'psiHash', ids, offsets, scalar: new Uint8Array(scalar), domain: psiHashDomain('opaque') };
  };
  const lanes = transfers.map((transfer) => ({ name: transfer, transfer }));
  return overheadLanes<PsiTask>(cluster, db, 'psi', lanes, [], async (measure) => {
    for (const kind of ['psiHash', 'psiBlind'] as const) {
      for (let k = 0; k < tasks; k++) {
        let task = idsTask(kind === 'psiHash' ? k : tasks + k);
        if (kind === 'psiBlind') {
          // the peer's points: ids hashed (and blinded) under another scalar
          const points = ((await psiTaskHandler(task)) as { out: Uint8Array }).out;
          task = { op: 'psiBlind', points, scalar: new Uint8Array(scalar), outBytes: 16 };
        }
        const copy = (): PsiTask => ({ ...task, scalar: new Uint8Array(scalar) });
        const t = performance.now();
        await psiTaskHandler(copy());
        const localMs = performance.now() - t;
        const id = `${kind}-${k + 1}`;
        await measure({
          kind,
          task: k + 1,
          id,
          localMs,
          inputBytes:
            task.op === 'psiHash' ? task.ids.byteLength + task.offsets.byteLength : task.points.byteLength,
          run: (ex) => ex.run(copy(), { taskId: id }),
        });
      }
    }
  });
}

/** One way to send a block task's ciphertexts: what it costs each side, in process (no queue). */
interface BlockOption {
  option: string;
  inputBytes: number;
  outputBytes: number;
  /** Medians, ms: the data owner's encryption of the block, the worker's load, evaluation, serialization. */
  encryptMs: number;
  decodeMs: number;
  evaluateMs: number;
  serializeMs: number;
}

/**
 * The options for a block task's bytes, each measured alone on one block (medians of `runs`): the
 * inputs' level (seeded symmetric ciphertexts: c0 per prime plus a seed), SEAL's zstd on the inputs and
 * outputs, and the result cut to level 0 (`outputLevel`, for scores below 2^18 at ckks-8192).
 */
async function blockOptions(ctx: CkksSecretContext, features: number, runs: number): Promise<BlockOption[]> {
  const rng = seededRng(7);
  const S = ctx.slotCount;
  const columns = Array.from({ length: features }, () => Float64Array.from({ length: S }, () => normal(rng)));
  const weights = Array.from({ length: features }, () => normal(rng));
  const add = Float64Array.from({ length: S }, () => 0.25 + normal(rng) * 2 ** -20);
  const options: {
    option: string;
    level: number;
    compression: 'none' | 'zstd';
    outputLevel?: number;
  }[] = [
    { option: `top level (${ctx.levels}), no compression (before)`, level: ctx.levels, compression: 'none' },
    { option: 'top level, zstd in and out', level: ctx.levels, compression: 'zstd' },
    {
      option: 'top level, result cut to level 0 (outputLevel)',
      level: ctx.levels,
      compression: 'none',
      outputLevel: 0,
    },
    { option: 'level 1 (inputLevel), no compression', level: 1, compression: 'none' },
    { option: 'level 1, zstd in and out', level: 1, compression: 'zstd' },
  ];
  const out: BlockOption[] = [];
  for (const o of options) {
    const pts = encodeLinearWeights(ctx, weights, o.level);
    try {
      let items: Uint8Array[] = [];
      const encryptMs = await timeIt(runs, () => {
        items = columns.map((c) =>
          ctx.encryptSymmetricSerialized(c, { compression: o.compression, level: o.level }),
        );
      });
      let cts: CkksVector[] = [];
      const decodeMs = await timeIt(runs, () => {
        for (const c of cts) c.dispose();
        cts = items.map((b) => ctx.deserializeVector(b));
      });
      let r: CkksVector | undefined;
      const evaluateMs = await timeIt(runs, () => {
        r?.dispose();
        r = linearCombination(ctx, cts, pts, {
          add,
          rerandomize: true,
          level: o.level,
          ...(o.outputLevel !== undefined && { outputLevel: o.outputLevel }),
        });
      });
      let bytes: Uint8Array = new Uint8Array();
      const serializeMs = await timeIt(runs, () => {
        bytes = r!.serialize({ compression: o.compression });
      });
      r?.dispose();
      for (const c of cts) c.dispose();
      out.push({
        option: o.option,
        inputBytes: items.reduce((sum, b) => sum + b.byteLength, 0) + 8 * S,
        outputBytes: bytes.byteLength,
        encryptMs,
        decodeMs,
        evaluateMs,
        serializeMs,
      });
    } finally {
      for (const p of pts) p?.dispose();
    }
  }
  return out;
}

interface ThroughputRow {
  where: string;
  processes: number;
  seconds: number;
  recordsPerSecond: number;
  coordinatorCpu: number;
  workersCpu?: number;
  postgresCpu?: number;
  workerTaskSeconds?: number;
}

async function throughput(
  cluster: PgCluster,
  db: pg.Client,
  ctx: CkksSecretContext,
  features: number,
  blocks: number,
  workerCounts: readonly number[],
  transfers: readonly ByteTransfer[],
  level: number,
): Promise<ThroughputRow[]> {
  const port = Number(new URL(cluster.url).port);
  const rng = seededRng(5);
  const weights = Array.from({ length: features }, () => normal(rng));
  const jobs = blockJobs(ctx, features, blocks, 900, level);
  const records = blocks * ctx.slotCount;
  const opts = { rerandomize: true, level, compression: 'none' } as const;
  // Each pass a fresh addend (the flooding noise is fresh per run), so the tasks are new.
  const withAdd = (pass: number) =>
    jobs.map((j, b) => ({ ...j, add: j.add!.map((a) => a + (pass * blocks + b) * 2 ** -30) }));
  const out: ThroughputRow[] = [];
  for (const size of [1, 2]) {
    const pool = await createHeWorkerPool({ size, context: ctx.serialize({ compression: 'none' }) });
    try {
      await pool.linearCombinations(withAdd(0).slice(0, size), weights, opts); // warm
      const c0 = process.cpuUsage();
      const t = performance.now();
      // One call per block, all at once: the model owner's loop (batch.ts) queues them as they arrive.
      await Promise.all(withAdd(1).map((j) => pool.linearCombinations([j], weights, opts)));
      const s = (performance.now() - t) / 1000;
      const c = process.cpuUsage(c0);
      out.push({
        where: `local HE pool, ${size} thread(s)`,
        processes: size,
        seconds: s,
        recordsPerSecond: records / s,
        coordinatorCpu: (c.user + c.system) / 1e6,
      });
    } finally {
      await pool.close();
    }
  }
  const context = ctx.serialize({ compression: 'none' });
  for (const w of workerCounts) {
    for (const transfer of transfers) {
      const queue = `portfolio-${w}-${transfer}`;
      const ex = await QueueExecutor.create<LinearCombinationsRequest, Uint8Array[]>({
        connectionString: cluster.url,
        queue,
        sharedFields: HE_TASK_SHARED_FIELDS,
        transfer,
      });
      const children: ChildProcess[] = [];
      try {
        await Promise.all(
          Array.from({ length: w }, () => startWorker(cluster.url, queue, children, { transfer })),
        );
        // Pass 1 warms up: the context is stored and every worker loads it.
        await linearCombinationsOn(ex, withAdd(0), weights, { ...opts, context, taskId: 'warm' });
        const pids = children.map((c) => c.pid!);
        const w0 = pids.reduce((s, p) => s + cpuOf(p), 0);
        const p0 = postgresCpu(port);
        const c0 = process.cpuUsage();
        const t = performance.now();
        await linearCombinationsOn(ex, withAdd(1), weights, { ...opts, context, taskId: 'run' });
        const s = (performance.now() - t) / 1000;
        const c = process.cpuUsage(c0);
        const workersCpu = pids.reduce((sum, p) => sum + cpuOf(p), 0) - w0;
        const pgCpu = postgresCpu(port) - p0;
        const r = await db.query<{ s: number }>(
          `SELECT coalesce(sum(task_seconds), 0) AS s FROM fedscore_task_result
           WHERE queue = $1 AND task_id LIKE 'run/%'`,
          [queue],
        );
        out.push({
          where: `queue (${transfer}), ${w} worker process(es)`,
          processes: w,
          seconds: s,
          recordsPerSecond: records / s,
          coordinatorCpu: (c.user + c.system) / 1e6,
          workersCpu,
          postgresCpu: pgCpu,
          workerTaskSeconds: Number(r.rows[0]!.s),
        });
      } finally {
        await stopWorkers(children);
        await ex.close();
      }
    }
  }
  return out;
}

export interface BytePath {
  bytes: number;
  /** Medians, ms. */
  memcpyMs: number;
  encodeTaskMs: number;
  loopbackMs: number;
  pgSendOnlyMs: number;
  pgInsertMs: number;
  pgCopyInMs: number;
  pgReadCopyMs: number;
  pgReadBase64Ms: number;
}

/** Median ms of `runs` calls of `f`. */
async function timeIt(runs: number, f: (i: number) => unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f(i);
    xs.push(performance.now() - t);
  }
  return median(xs);
}

/**
 * `COPY byte_path FROM STDIN (FORMAT binary)` of one row (id, bytes): the write path COPY offers instead
 * of an INSERT with a binary parameter (a `pg` submittable answering CopyInResponse with the rows).
 */
async function copyIn(pool: pg.Pool, id: number, bytes: Buffer): Promise<void> {
  const head = Buffer.alloc(33);
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1').copy(head, 0); // signature; flags and extension 0
  head.writeInt16BE(2, 19); // fields
  head.writeInt32BE(4, 21); // id: int4
  head.writeInt32BE(id, 25);
  head.writeInt32BE(bytes.length, 29); // b: bytea
  const tail = Buffer.from([0xff, 0xff]); // -1: end of data
  const client = await pool.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const query = {
        text: 'COPY byte_path FROM STDIN (FORMAT binary)',
        submit(c: { query(text: string): void }) {
          c.query(query.text);
        },
        handleCopyInResponse(c: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
          c.sendCopyFromChunk(head);
          c.sendCopyFromChunk(bytes);
          c.sendCopyFromChunk(tail);
          c.endCopyFrom();
        },
        handleCommandComplete() {},
        handleError(e: Error) {
          failed = true;
          reject(e);
        },
        handleReadyForQuery() {
          if (!failed) resolve();
        },
      };
      void client.query(query as unknown as pg.QueryConfig);
    });
  } finally {
    client.release();
  }
}

/** One direction of a loopback TCP connection: ms from the first write until the last byte is read. */
async function loopbackMs(bytes: Buffer, runs: number): Promise<number> {
  let expect = 0;
  let got = 0;
  let done: () => void = () => undefined;
  const server = createServer((sock) => {
    sock.on('data', (b: Buffer) => {
      got += b.length;
      if (got >= expect) done();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', r));
  try {
    return await timeIt(runs, async () => {
      got = 0;
      expect = bytes.length;
      const arrived = new Promise<void>((r) => {
        done = r;
      });
      sock.write(bytes);
      await arrived;
    });
  } finally {
    sock.destroy();
    server.close();
  }
}

/**
 * What moving a task's bytes costs on this machine, each step alone (the floor under the queue's
 * byte handling): a memory copy, the coordinator's encoding (V8 serialize + SHA-256 for the task id),
 * one direction of loopback TCP, and PostgreSQL's parts -- the bytes sent as a binary parameter and
 * dropped (`SELECT length($1)`), stored (INSERT into a table like the queue's, EXTERNAL storage), read
 * back in binary COPY and as base64 text.
 */
export async function bytePath(cluster: PgCluster, task: unknown, runs = 9): Promise<BytePath> {
  const memo = new WeakMap<object, TaskBlob>();
  const { bytes: encoded } = encodeTask(task, HE_TASK_SHARED_FIELDS, memo);
  const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const pool = new pg.Pool({ connectionString: cluster.url, max: 1 });
  try {
    await pool.query('CREATE TABLE byte_path (id int PRIMARY KEY, b bytea NOT NULL)');
    await pool.query('ALTER TABLE byte_path ALTER b SET STORAGE EXTERNAL');
    const out: BytePath = {
      bytes: bytes.length,
      memcpyMs: await timeIt(runs, () => Buffer.from(bytes)),
      // With the executor's memo: the shared context is encoded once, as in `run`.
      encodeTaskMs: await timeIt(runs, () =>
        taskIdOf('x', encodeTask(task, HE_TASK_SHARED_FIELDS, memo).bytes),
      ),
      loopbackMs: await loopbackMs(bytes, runs),
      pgSendOnlyMs: await timeIt(runs, () => pool.query('SELECT length($1::bytea)', [bytes])),
      pgInsertMs: await timeIt(runs, (i) => pool.query('INSERT INTO byte_path VALUES ($1, $2)', [i, bytes])),
      pgCopyInMs: await timeIt(runs, (i) => copyIn(pool, 1000 + i, bytes)),
      pgReadCopyMs: await timeIt(runs, (i) => copyRows(pool, `SELECT b FROM byte_path WHERE id = ${i}`)),
      pgReadBase64Ms: await timeIt(runs, async (i) => {
        const r = await pool.query<{ b: string }>(
          "SELECT encode(b, 'base64') AS b FROM byte_path WHERE id = $1",
          [i],
        );
        return Buffer.from(r.rows[0]!.b, 'base64');
      }),
    };
    await pool.query('DROP TABLE byte_path');
    return out;
  } finally {
    await pool.end();
  }
}

export default async function queuePortfolioBench(args: string[]): Promise<BenchResult> {
  const blocks = Number(flag(args, '--blocks', '8'));
  const features = Number(flag(args, '--features', '23'));
  const preset = flag(args, '--preset', 'ckks-8192') as CkksPresetName;
  const workerCounts = ints(args, '--workers', '1,2,4');
  const tasks = Number(flag(args, '--tasks', '6'));
  const binTasks = Number(flag(args, '--bin-tasks', '5'));
  const binFeatures = Number(flag(args, '--bin-features', '10'));
  const binBins = Number(flag(args, '--bin-bins', '10'));
  const sbTasks = Number(flag(args, '--sb-tasks', '5'));
  const sbFeatures = Number(flag(args, '--sb-features', '10'));
  const sbBins = Number(flag(args, '--sb-bins', '16'));
  const sbNodes = Number(flag(args, '--sb-nodes', '1'));
  const psiTasks = Number(flag(args, '--psi-tasks', '5'));
  const parts = new Set(flag(args, '--parts', 'lin,bins,sb,psi,throughput').split(','));
  const transfers = flag(args, '--transfers', 'copy').split(',') as ByteTransfer[];
  for (const t of transfers) {
    if (!BYTE_TRANSFERS.includes(t)) {
      throw new FedscoreError('invalid_argument', `--transfers takes ${BYTE_TRANSFERS.join(', ')}`, {
        field: '--transfers',
      });
    }
  }
  const load: Record<string, number[]> = { start: loadavg() };
  const ctx = await createCkksContext({ params: preset, relinearization: false });
  // Block tasks' input levels: 'top' (as a data owner sends by default) and lower ones (`inputLevel`).
  const levels = flag(args, '--levels', 'top,1')
    .split(',')
    .map((l) => (l === 'top' ? ctx.levels : Number(l)));
  for (const l of levels) {
    if (!(Number.isInteger(l) && l >= 1 && l <= ctx.levels)) {
      throw new FedscoreError('invalid_argument', `--levels takes 'top' or integers in [1, ${ctx.levels}]`, {
        field: '--levels',
      });
    }
  }
  const lowest = Math.min(...levels);
  const cluster = await startPgCluster();
  const db = new pg.Client({ connectionString: cluster.url });
  let timings: Timing[] = [];
  let rows: ThroughputRow[] = [];
  let postgresql = 'unknown';
  let path: BytePath | undefined;
  let options: BlockOption[] = [];
  try {
    await db.connect();
    postgresql = (await db.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    timings = [
      ...(parts.has('lin') ? await linearOverhead(cluster, db, ctx, features, tasks, transfers, levels) : []),
      ...(parts.has('bins') ? await binOverhead(cluster, db, binFeatures, binBins, binTasks, transfers) : []),
      ...(parts.has('sb')
        ? await histogramOverhead(cluster, db, sbFeatures, sbBins, sbNodes, sbTasks, transfers)
        : []),
      ...(parts.has('psi') ? await psiOverhead(cluster, db, psiTasks, transfers) : []),
    ];
    load.afterOverhead = loadavg();
    if (parts.has('lin')) {
      options = await blockOptions(ctx, features, 5);
      // The byte path's floor, on a block task as the overhead part sent it (its context a shared blob).
      const rng = seededRng(3);
      path = await bytePath(cluster, {
        op: 'linearCombinations',
        jobs: blockJobs(ctx, features, 1, 101, lowest),
        first: 0,
        weights: Array.from({ length: features }, () => normal(rng)),
        rerandomize: true,
        level: lowest,
        options: { compression: 'none' },
        context: ctx.serialize({ compression: 'none' }),
      });
      load.afterBytePath = loadavg();
    }
    if (parts.has('throughput')) {
      rows = await throughput(cluster, db, ctx, features, blocks, workerCounts, transfers, lowest);
      load.afterThroughput = loadavg();
    }
  } finally {
    await db.end().catch(() => undefined);
    cluster.stop();
    ctx.dispose();
  }
  const kinds = ['linearCombinations', 'binSums', 'sbHistogram', 'psiHash', 'psiBlind'].filter((k) =>
    timings.some((t) => t.kind === k),
  );
  const steady = (kind: string, lane: string) =>
    timings.filter((t) => t.kind === kind && t.lane === lane && t.task > 1);
  // Each kind's lanes in the order they ran (block tasks: a lane per transfer and input level).
  const lanesOf = (kind: string) => [...new Set(timings.filter((t) => t.kind === kind).map((t) => t.lane))];
  const pct = (xs: Timing[]) => (100 * median(xs.map((t) => t.overheadMs))) / median(xs.map((t) => t.taskMs));
  const cores = availableParallelism();
  const lin = transfers.includes('copy') ? steady('linearCombinations', linLane('copy', lowest)) : [];
  const taskMs = lin.length > 0 ? median(lin.map((t) => t.taskMs)) : Number.NaN;
  const outBytes = lin.length > 0 ? median(lin.map((t) => t.outputBytes)) : 0;
  const mbps = (bytes: number, ms: number) => round(bytes / 1e6 / (ms / 1000), 0);
  const pathRows: (string | number)[][] = [];
  let floorMs = Number.NaN;
  if (path !== undefined) {
    const p = path;
    // The output (one ciphertext) crosses the same way at the measured rates.
    const outShare = outBytes / p.bytes;
    floorMs = p.encodeTaskMs + (p.pgInsertMs + p.pgReadCopyMs) * (1 + outShare);
    const row = (what: string, ms: number, bytes: number) => [
      what,
      round(ms, 2),
      mbps(bytes, ms),
      `${round((100 * ms) / taskMs)} %`,
    ];
    pathRows.push(
      row('memory copy of the task bytes (Buffer.from)', p.memcpyMs, p.bytes),
      row('coordinator: encode (V8 serialize) + SHA-256 task id', p.encodeTaskMs, p.bytes),
      row('loopback TCP, one direction (Node to Node)', p.loopbackMs, p.bytes),
      row('PostgreSQL: send as a binary parameter, drop (SELECT length($1))', p.pgSendOnlyMs, p.bytes),
      row('PostgreSQL: INSERT (binary parameter, EXTERNAL storage, WAL)', p.pgInsertMs, p.bytes),
      row('PostgreSQL: COPY FROM STDIN, binary (the alternative write path)', p.pgCopyInMs, p.bytes),
      row('PostgreSQL: read, binary COPY', p.pgReadCopyMs, p.bytes),
      row('PostgreSQL: read, base64 text (the earlier path)', p.pgReadBase64Ms, p.bytes),
      [
        `floor: encode + INSERT + COPY read of the input, and of the ${outBytes}-byte output at the same rates`,
        round(floorMs, 2),
        '-',
        `${round((100 * floorMs) / taskMs)} %`,
      ],
      [
        "the 5 % target's budget (5 % of the worker's time in a block task)",
        round(0.05 * taskMs, 2),
        `${mbps(2 * (p.bytes + outBytes), 0.05 * taskMs)} needed (each byte written once and read once)`,
        '5 %',
      ],
    );
  }
  const tables: BenchTable[] = [
    {
      title: `Overhead per task at the default task size (one worker process per lane, tasks interleaved; ms)`,
      columns: [
        'kind',
        'lane',
        'task',
        'input bytes',
        'output bytes',
        'local (this thread / 1-thread pool)',
        ...LATENCY_COLUMNS,
      ],
      rows: timings.map((t) => [
        t.kind,
        t.lane,
        t.task,
        t.inputBytes,
        t.outputBytes,
        round(t.localMs),
        ...latencyCells(t),
      ]),
      note:
        'transfer: how byte columns are read from PostgreSQL (@fedscore/queue `transfer`): copy = binary COPY (the ' +
        "default), base64 = `encode(col, 'base64')` text decoded in Node (the earlier path; `--transfers base64,copy`). " +
        'Byte parameters go in binary either way. Lane: the transfer, and for block tasks `-l<level>`, the ' +
        'level the record blocks are encrypted at (the top, as a data owner sends by default, or one level ' +
        "down, `inputLevel`: 2/3 of the input's primes, its result at level 0). Task k runs on each lane in " +
        'turn (same minutes). ' +
        'Task 1 of each kind also stores the shared fields (context; bin index, cells, layout) and the ' +
        "worker loads the context. Overhead = enqueue-to-result at the coordinator minus the worker's time in the task.",
    },
    {
      title: 'Steady state (tasks 2+, medians)',
      columns: [
        'kind',
        'lane',
        'task size',
        'worker in task ms',
        'overhead ms',
        'of which enqueue / pick-up / read + decode / store + collect ms',
        'CPU ms a task: coordinator / worker process / PostgreSQL',
        'overhead / task',
        'target',
      ],
      rows: kinds.flatMap((k) =>
        lanesOf(k).map((tr) => {
          const xs = steady(k, tr);
          const med = (f: (t: Timing) => number) => round(median(xs.map(f)));
          return [
            k,
            tr,
            k === 'binSums'
              ? `${DEFAULT_BIN_SUM_BATCHES_PER_TASK} batches x 4096 rows, ${binFeatures * binBins} cells`
              : k === 'sbHistogram'
                ? `${DEFAULT_HISTOGRAM_BATCHES_PER_TASK} batch x 8192 rows, ${sbFeatures * sbBins} cells, ${sbNodes} node(s)`
                : k === 'psiHash'
                  ? `${DEFAULT_PSI_TASK_IDS} ids hashed and blinded`
                  : k === 'psiBlind'
                    ? `${DEFAULT_PSI_TASK_IDS} peer points blinded`
                    : `1 block: ${ctx.slotCount} enterprises x ${features} columns`,
            med((t) => t.taskMs),
            med((t) => t.overheadMs),
            `${med((t) => t.enqueueMs)} / ${med((t) => t.pickupMs)} / ${med((t) => t.readMs)} / ${med((t) => t.storeCollectMs)}`,
            `${med((t) => t.coordinatorCpuMs)} / ${med((t) => t.workerCpuMs)} / ${med((t) => t.postgresCpuMs)}`,
            `${round(pct(xs))} %`,
            '<= 5 %',
          ];
        }),
      ),
    },
    ...(options.length === 0
      ? []
      : [
          {
            title: `A block task's bytes, option by option (one block of ${ctx.slotCount} enterprises x ${features} columns, in process, medians of 5 ms)`,
            columns: [
              'option',
              'input bytes',
              'output bytes',
              'bytes (in + out) vs before',
              'data owner: encrypt',
              'worker: load inputs',
              'worker: evaluate',
              'worker: serialize result',
              'worker total',
              "byte path floor at this run's rates",
              'floor / worker total',
            ],
            rows: options.map((o) => {
              const worker = o.decodeMs + o.evaluateMs + o.serializeMs;
              const before = options[0]!.inputBytes + options[0]!.outputBytes;
              // Encode + INSERT + COPY read per byte, as measured on the lowest-level task above.
              const perByte =
                path === undefined
                  ? Number.NaN
                  : (path.encodeTaskMs + path.pgInsertMs + path.pgReadCopyMs) / path.bytes;
              const floor = perByte * (o.inputBytes + o.outputBytes);
              return [
                o.option,
                o.inputBytes,
                o.outputBytes,
                `${round((100 * (o.inputBytes + o.outputBytes)) / before)} %`,
                round(o.encryptMs),
                round(o.decodeMs),
                round(o.evaluateMs),
                round(o.serializeMs),
                round(worker),
                round(floor),
                `${round((100 * floor) / worker)} %`,
              ];
            }),
            note:
              "The record blocks are seeded symmetric ciphertexts already (c0 per prime and a 64-byte seed: half a public-key ciphertext's bytes). " +
              'Level 1 keeps 2 of the 3 data primes (ckks-8192: 60 + 40 bits), enough for the one rescale and scores below 2^18 (level 0); ' +
              "the result comes back at level 0. zstd: SEAL's own compression of the serialized polynomials (coefficients below 40- and " +
              "60-bit primes in 64-bit words). Floor: the bytes at this run's measured encode + INSERT + binary COPY read rates " +
              "(the byte path table's), pg-boss and the worker's decode left out. Nothing in a block task is reused by the next one but the " +
              'context, already a shared field stored once, and the weights (8 bytes each).',
          },
        ]),
    {
      title: `The byte path's floor: a block task's ${path?.bytes ?? '-'} bytes, each step alone (medians of 9, this run)`,
      columns: ['step', 'ms', 'MB/s', 'as % of the worker time in a block task (copy, steady median)'],
      rows: pathRows,
      note:
        'Each step measured alone on the same machine and cluster (loopback, fsync off), after the overhead part. ' +
        'A queued task is written to PostgreSQL once by the coordinator and read once by the worker, and its ' +
        'output the other way: the floor adds those steps at the measured rates and leaves out pg-boss ' +
        "(job insert, pick-up), the worker's decode and the round trips. The 5 % target needs the bytes to " +
        'cross at the rate in the last row.',
    },
    ...(rows.length === 0
      ? []
      : [
          {
            title: `Portfolio scoring throughput: the model owner's evaluation of ${blocks * ctx.slotCount} enterprises x ${features} columns (${blocks} blocks, one task each)`,
            columns: [
              'where',
              'processes',
              'wall s',
              'enterprises / s',
              'coordinator CPU s',
              'workers CPU s',
              'PostgreSQL CPU s',
              "workers' time in tasks s",
              `CPU used / (${cores} cores x wall)`,
            ],
            rows: rows.map((r) => [
              r.where,
              r.processes,
              round(r.seconds, 2),
              Math.round(r.recordsPerSecond),
              round(r.coordinatorCpu, 2),
              r.workersCpu === undefined ? '-' : round(r.workersCpu, 2),
              r.postgresCpu === undefined ? '-' : round(r.postgresCpu, 2),
              r.workerTaskSeconds === undefined ? '-' : round(r.workerTaskSeconds, 2),
              `${round(
                (100 * (r.coordinatorCpu + (r.workersCpu ?? 0) + (r.postgresCpu ?? 0))) / (cores * r.seconds),
              )} %`,
            ]),
            note:
              'Queue rows: the second pass (the first stores the context and each worker loads it). CPU from ' +
              '/proc (workers, the PostgreSQL postmaster and its backends) and process.cpuUsage (coordinator, with ' +
              "its pool's threads). The machine is shared: other engineers' processes take CPU too (load average in the parameters).",
          },
        ]),
  ];
  return {
    summary: {
      ...Object.fromEntries(
        kinds.flatMap((k) =>
          lanesOf(k).map((tr) => [
            `overhead_pct_${k}_${tr.replace(/-/g, '_')}`,
            round(pct(steady(k, tr)), 2),
          ]),
        ),
      ),
      byte_path_floor_pct_linearCombinations: round((100 * floorMs) / taskMs, 2),
      ...Object.fromEntries(
        lanesOf('linearCombinations').flatMap((l) => {
          const xs = steady('linearCombinations', l);
          if (xs.length === 0) return [];
          const key = l.replace(/-/g, '_');
          return [
            [`bytes_in_linearCombinations_${key}`, median(xs.map((t) => t.inputBytes))],
            [`bytes_out_linearCombinations_${key}`, median(xs.map((t) => t.outputBytes))],
          ];
        }),
      ),
      ...Object.fromEntries(
        rows.map((r) => [`seconds_${r.where.replace(/[^a-z0-9]+/gi, '_')}`, round(r.seconds, 2)]),
      ),
    },
    parameters: {
      preset,
      blocks,
      enterprises: blocks * ctx.slotCount,
      features,
      worker_counts: workerCounts,
      transfers,
      block_levels: levels,
      overhead_tasks: tasks,
      bin_tasks: binTasks,
      bin_batches_per_task: DEFAULT_BIN_SUM_BATCHES_PER_TASK,
      bin_features: binFeatures,
      bin_bins: binBins,
      sb_tasks: sbTasks,
      sb_batches_per_task: DEFAULT_HISTOGRAM_BATCHES_PER_TASK,
      sb_features: sbFeatures,
      sb_bins: sbBins,
      sb_nodes: sbNodes,
      sb_preset: SECUREBOOST_CKKS_PRESET,
      psi_tasks: psiTasks,
      psi_ids_per_task: DEFAULT_PSI_TASK_IDS,
      parts: [...parts],
      postgresql,
      'pg-boss': '12.38.0',
      pg: '8.23.1',
      load_average_1m_5m_15m: load,
      database: 'throwaway cluster on loopback (initdb, fsync off), same machine as coordinator and workers',
    },
    tables,
    raw: { timings, throughput: rows, bytePath: path, blockOptions: options },
  };
}
