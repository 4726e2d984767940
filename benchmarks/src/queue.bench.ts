/**
 * `pnpm bench queue [--batch 4096] [--columns 30,100] [--epochs 3] [--preset ckks-16384-release]
 *                   [--workers 1,2,4] [--throughput-columns 100] [--throughput-batches 4] [--skip-overhead]
 *                   [--skip-throughput]`
 * `pnpm bench queue --epoch [...] --as queue-epoch`: a whole hetero-LR epoch through the parties' node
 *   processes with `queue: none` and 1, 2, 4 worker processes (./queue-epoch.ts, its own flags); the
 *   parts below are then not run. `--diagonals [--columns 300] [--reps 3] --as queue-diagonals`: one product
 *   with its diagonals encoded (a queue task) and cached (the node's threads), `diagonalCacheBench`.
 *
 * The work-distribution queue (@fedscore/queue: pg-boss on PostgreSQL, `fedscore worker` processes) on
 * hetero-LR's packed batch product y = M [[d]] at the default hetero-LR shape (a batch of 4096 rows, the
 * default preset ckks-16384-release), on a throwaway PostgreSQL cluster on loopback
 * (`@fedscore/queue/testing`).
 *
 * 1. Overhead per task (issue 18's target: <= 5 % of the task's own time at the default task size).
 *    For each column count, one `fedscore worker` process; per epoch a fresh encrypted batch vector d and
 *    the same batch columns M (a batch is the same rows every epoch of a fixed order), each product run
 *    on the local HE pool (one thread) and then as one queue task. Per task, from the coordinator's clock
 *    and the database's (same machine): enqueue (encode, digest, input row, pg-boss job), pick-up (job
 *    created to fetched), the worker's read and decode, its time in the task, and store + collect (result
 *    row, NOTIFY, the coordinator's read and decode). Overhead = enqueue-to-result minus the worker's time
 *    in the task. Epoch 1 also uploads the batch columns (stored once by digest, then cached by the
 *    worker); epochs 2+ are the steady state.
 * 2. Throughput with 1, 2 and 4 worker processes: `--throughput-batches` products of a fixed batch (one
 *    hetero-LR epoch's products, in order, as the protocol needs them: a batch's d depends on the
 *    previous step), each cut into as many tasks as workers (`packedProductOn` `split`), against the local
 *    HE pool with 1 and 2 threads.
 *    Kept beside `--epoch` for what the epoch cannot give: the products alone, with nothing else of the
 *    job on the cores, and the per-task times of a fixed product that `bench cost-model` calibrates on
 *    (it calls `overheadPart` and `throughputPart`).
 *
 * Not a test: timings depend on the machine's load, recorded before and after each part.
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { FedscoreError, normal, seededRng } from '@fedscore/core';
import {
  type CkksPresetName,
  type CkksSecretContext,
  createCkksContext,
  createHeWorkerPool,
  emptyWork,
  type HeWorkerPool,
  type PackedLayout,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductOn,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { jobIdOf, PACKED_PRODUCT_SHARED_FIELDS, QueueExecutor } from '@fedscore/queue';
import { type PgCluster, startPgCluster, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { type BenchResult, type BenchTable, median } from './report.ts';

type Executor = QueueExecutor<PackedProductRequest, PackedPartsResult>;

export function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) {
    throw new FedscoreError('invalid_argument', `${name} needs a value`, { field: name });
  }
  return v;
}

export function ints(args: string[], name: string, fallback: string): number[] {
  const out = flag(args, name, fallback)
    .split(',')
    .map((x) => Number(x));
  if (out.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new FedscoreError('invalid_argument', `${name} takes positive integers, comma-separated`, {
      field: name,
    });
  }
  return out;
}

export async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
        }),
    ),
  );
}

export interface Shape {
  readonly ctx: CkksSecretContext;
  readonly layout: PackedLayout;
  readonly slots: number;
}

function batchColumns(p: number, rows: number, seed: number): Float64Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: p }, () => Float64Array.from({ length: rows }, () => normal(rng)));
}

export interface TaskTiming {
  columns: number;
  epoch: number;
  localMs: number;
  latencyMs: number;
  enqueueMs: number;
  pickupMs: number;
  readMs: number;
  taskMs: number;
  storeCollectMs: number;
  overheadMs: number;
  inputBytes: number;
  columnBytes: number;
  outputBytes: number;
}

/**
 * The split of one queued task's latency, read from the result row and the pg-boss job of the task
 * whose id starts with `prefix/`: the worker's ms in the task, enqueue (t0, the coordinator's Date.now()
 * before the call, to the job's creation), pick-up (creation to a worker's fetch), the worker's read and
 * decode (fetch to the task's start), store + collect (the result row to the coordinator's resolution
 * after `latencyMs`); and the result's bytes.
 */
export async function latencySplit(
  db: pg.Client,
  queue: string,
  prefix: string,
  t0: number,
  latencyMs: number,
): Promise<{
  split: Pick<TaskTiming, 'taskMs' | 'enqueueMs' | 'pickupMs' | 'readMs' | 'storeCollectMs'>;
  outputBytes: number;
}> {
  const r = (
    await db.query<{ id: string; f: number; t: number; ob: number }>(
      `SELECT task_id AS id, extract(epoch FROM finished_at) * 1000 AS f, task_seconds * 1000 AS t,
              length(output) AS ob
       FROM fedscore_task_result WHERE queue = $1 AND task_id LIKE $2`,
      [queue, `${prefix}/%`],
    )
  ).rows[0]!;
  const j = (
    await db.query<{ c: number; s: number }>(
      `SELECT extract(epoch FROM created_on) * 1000 AS c, extract(epoch FROM started_on) * 1000 AS s
       FROM pgboss.job WHERE name = $1 AND id = $2`,
      [queue, jobIdOf(queue, r.id)],
    )
  ).rows[0]!;
  const [f, taskMs, c, st] = [Number(r.f), Number(r.t), Number(j.c), Number(j.s)];
  return {
    split: {
      taskMs,
      enqueueMs: c - t0,
      pickupMs: st - c,
      readMs: f - taskMs - st,
      storeCollectMs: t0 + latencyMs - f,
    },
    outputBytes: Number(r.ob),
  };
}

export async function overheadPart(
  shape: Shape,
  cluster: PgCluster,
  local: HeWorkerPool,
  columnsList: readonly number[],
  rows: number,
  epochs: number,
): Promise<TaskTiming[]> {
  const out: TaskTiming[] = [];
  const db = new pg.Client({ connectionString: cluster.url });
  await db.connect();
  const children: ChildProcess[] = [];
  try {
    for (const p of columnsList) {
      const queue = `overhead-${p}`;
      const ex: Executor = await QueueExecutor.create({
        connectionString: cluster.url,
        queue,
        sharedFields: PACKED_PRODUCT_SHARED_FIELDS,
      });
      await ex.publishContext(shape.ctx.serialize({ compression: 'none' }));
      await startWorker(cluster.url, queue, children);
      const columns = batchColumns(p, rows, 100 + p);
      const plan = shape.layout.productPlan(p);
      const rng = seededRng(7 + p);
      try {
        for (let e = 1; e <= epochs; e++) {
          const d = Float64Array.from({ length: rows }, () => normal(rng) * 0.1);
          const enc = shape.ctx.encrypt(replicate(d, shape.layout.width, shape.slots));
          try {
            let t = performance.now();
            for (const v of await local.packedProduct(enc, plan, columns, rows)) v.dispose();
            const localMs = performance.now() - t;
            const prefix = `p${p}.e${e}`;
            const t0 = Date.now();
            t = performance.now();
            for (const v of await packedProductOn(ex, enc, plan, columns, rows, emptyWork(), {
              taskId: prefix,
            }))
              v.dispose();
            const latencyMs = performance.now() - t;
            const { split: parts, outputBytes } = await latencySplit(db, queue, prefix, t0, latencyMs);
            const dBytes = enc.serialize({ compression: 'none' }).byteLength;
            out.push({
              columns: p,
              epoch: e,
              localMs,
              latencyMs,
              enqueueMs: parts.enqueueMs,
              pickupMs: parts.pickupMs,
              readMs: parts.readMs,
              taskMs: parts.taskMs,
              storeCollectMs: parts.storeCollectMs,
              overheadMs: latencyMs - parts.taskMs,
              inputBytes: dBytes,
              columnBytes: p * rows * 8,
              outputBytes,
            });
          } finally {
            enc.dispose();
          }
        }
      } finally {
        await stopWorkers(children);
        await ex.close();
      }
    }
  } finally {
    await db.end();
  }
  return out;
}

export interface ThroughputRow {
  where: string;
  processes: number;
  epochSeconds: number;
  productsPerSecond: number;
  /** Queue rows: the workers' seconds in the epoch's tasks, summed, and how many tasks. */
  workerTaskSeconds?: number;
  tasks?: number;
  /**
   * Queue rows: the first epoch (it also uploads each batch's columns) -- its wall seconds, the workers'
   * seconds in its tasks, summed, and how many tasks; the cost model calibrates its per-task times on it.
   */
  firstEpochSeconds?: number;
  firstEpochTaskSeconds?: number;
  firstEpochTasks?: number;
}

/** `localSizes`: the local HE pool's thread counts to run first (the cost model runs none). */
export async function throughputPart(
  shape: Shape,
  cluster: PgCluster,
  workerCounts: readonly number[],
  p: number,
  rows: number,
  batches: number,
  localSizes: readonly number[] = [1, 2],
): Promise<ThroughputRow[]> {
  const plan = shape.layout.productPlan(p);
  const columns = Array.from({ length: batches }, (_, b) => batchColumns(p, rows, 500 + b));
  const rng = seededRng(99);
  const ds = Array.from({ length: batches }, () =>
    Float64Array.from({ length: rows }, () => normal(rng) * 0.1),
  );
  const out: ThroughputRow[] = [];
  // The local HE pool, 1 and 2 threads: the same products in the same order (warm diagonal cache off:
  // a queue task carries its columns, so the pool runs without a cache key too).
  for (const size of localSizes) {
    const pool = await createHeWorkerPool({ size, context: shape.ctx.serialize({ compression: 'none' }) });
    try {
      const t = performance.now();
      for (let b = 0; b < batches; b++) {
        const enc = shape.ctx.encrypt(replicate(ds[b]!, shape.layout.width, shape.slots));
        for (const v of await pool.packedProduct(enc, plan, columns[b]!, rows)) v.dispose();
        enc.dispose();
      }
      const s = (performance.now() - t) / 1000;
      out.push({
        where: `local HE pool, ${size} thread(s)`,
        processes: size,
        epochSeconds: s,
        productsPerSecond: batches / s,
      });
    } finally {
      await pool.close();
    }
  }
  const children: ChildProcess[] = [];
  for (const w of workerCounts) {
    const queue = `throughput-${w}`;
    const ex: Executor = await QueueExecutor.create({
      connectionString: cluster.url,
      queue,
      sharedFields: PACKED_PRODUCT_SHARED_FIELDS,
    });
    try {
      await ex.publishContext(shape.ctx.serialize({ compression: 'none' }));
      await Promise.all(Array.from({ length: w }, () => startWorker(cluster.url, queue, children)));
      // Two epochs: the first uploads each batch's columns once; the second is the steady state.
      let seconds = 0;
      let firstEpochSeconds = 0;
      for (const epoch of [1, 2]) {
        const t = performance.now();
        for (let b = 0; b < batches; b++) {
          const enc = shape.ctx.encrypt(replicate(ds[b]!, shape.layout.width, shape.slots));
          const vs = await packedProductOn(ex, enc, plan, columns[b]!, rows, emptyWork(), {
            taskId: `e${epoch}.b${b}`,
            split: w,
          });
          for (const v of vs) v.dispose();
          enc.dispose();
        }
        seconds = (performance.now() - t) / 1000;
        if (epoch === 1) firstEpochSeconds = seconds;
      }
      const db = new pg.Client({ connectionString: cluster.url });
      await db.connect();
      const tasksOf = (epoch: number) =>
        db.query<{ s: number; n: number }>(
          `SELECT coalesce(sum(task_seconds), 0) AS s, count(*)::int AS n FROM fedscore_task_result
           WHERE queue = $1 AND task_id LIKE $2`,
          [queue, `e${epoch}.%`],
        );
      const r = await tasksOf(2);
      const first = (await tasksOf(1)).rows[0]!;
      await db.end();
      out.push({
        where: `queue, ${w} worker process(es), product cut into ${w} task(s)`,
        processes: w,
        epochSeconds: seconds,
        productsPerSecond: batches / seconds,
        workerTaskSeconds: Number(r.rows[0]!.s),
        tasks: r.rows[0]!.n,
        firstEpochSeconds,
        firstEpochTaskSeconds: Number(first.s),
        firstEpochTasks: first.n,
      });
    } finally {
      await stopWorkers(children);
      await ex.close();
    }
  }
  return out;
}

export const round = (x: number, d = 1): number => Number(x.toFixed(d));

/** The last columns of an overhead table (ms): the split of a task's latency (`latencySplit`). */
export const LATENCY_COLUMNS = [
  'queue: enqueue to result',
  'enqueue',
  'pick-up',
  'worker read + decode',
  'worker in task',
  'store + collect',
  'overhead',
  'overhead / task',
];

/** A task's cells under `LATENCY_COLUMNS`. */
export function latencyCells(
  t: Pick<
    TaskTiming,
    'latencyMs' | 'enqueueMs' | 'pickupMs' | 'readMs' | 'taskMs' | 'storeCollectMs' | 'overheadMs'
  >,
): (number | string)[] {
  return [
    round(t.latencyMs),
    round(t.enqueueMs),
    round(t.pickupMs),
    round(t.readMs),
    round(t.taskMs),
    round(t.storeCollectMs),
    round(t.overheadMs),
    `${round((100 * t.overheadMs) / t.taskMs)} %`,
  ];
}

export default async function queueBench(args: string[]): Promise<BenchResult> {
  // A whole hetero-LR epoch through the parties' node processes (./queue-epoch.ts; loaded only then: it
  // imports this file's helpers, and the node's harness).
  if (args.includes('--epoch')) {
    const { default: queueEpochBench } = await import('./queue-epoch.ts');
    return queueEpochBench(args.filter((a) => a !== '--epoch'));
  }
  // One product with its diagonals encoded (a queue task) and cached (the node's threads).
  if (args.includes('--diagonals')) {
    const { diagonalCacheBench } = await import('./queue-epoch.ts');
    return diagonalCacheBench(args.filter((a) => a !== '--diagonals'));
  }
  const rows = Number(flag(args, '--batch', '4096'));
  const preset = flag(args, '--preset', 'ckks-16384-release') as CkksPresetName;
  const columnsList = ints(args, '--columns', '30,100');
  const epochs = Number(flag(args, '--epochs', '3'));
  const workerCounts = ints(args, '--workers', '1,2,4');
  const tpColumns = Number(flag(args, '--throughput-columns', '100'));
  const tpBatches = Number(flag(args, '--throughput-batches', '4'));
  const load: Record<string, number[]> = { start: loadavg() };
  const layout = packedLayout(rows, Math.max(...columnsList, tpColumns), 1 << 30);
  const ctx = await createCkksContext({
    params: preset,
    rotations: packedRotationSteps(layout),
    relinearization: false,
  });
  const shape: Shape = {
    ctx,
    layout: packedLayout(rows, layout.columns, ctx.slotCount),
    slots: ctx.slotCount,
  };
  const cluster = await startPgCluster();
  const versions: Record<string, string> = {};
  let timings: TaskTiming[] = [];
  let throughput: ThroughputRow[] = [];
  try {
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    versions.postgresql = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v"))
      .rows[0]!.v;
    await c.end();
    if (!args.includes('--skip-overhead')) {
      const local = await createHeWorkerPool({ size: 1, context: ctx.serialize({ compression: 'none' }) });
      try {
        timings = await overheadPart(shape, cluster, local, columnsList, rows, epochs);
      } finally {
        await local.close();
      }
      load.afterOverhead = loadavg();
    }
    if (!args.includes('--skip-throughput')) {
      throughput = await throughputPart(shape, cluster, workerCounts, tpColumns, rows, tpBatches);
      load.afterThroughput = loadavg();
    }
  } finally {
    cluster.stop();
    ctx.dispose();
  }
  const steady = (p: number) => timings.filter((t) => t.columns === p && t.epoch > 1);
  const overheadPct = (xs: TaskTiming[]) =>
    (100 * median(xs.map((t) => t.overheadMs))) / median(xs.map((t) => t.taskMs));
  const tables: BenchTable[] = [];
  if (timings.length > 0) {
    tables.push({
      title: 'Overhead per task (one packed product = one task; ms)',
      columns: [
        'columns',
        'epoch',
        'd bytes',
        'column bytes',
        'output bytes',
        'local pool',
        ...LATENCY_COLUMNS,
      ],
      rows: timings.map((t) => [
        t.columns,
        t.epoch,
        t.inputBytes,
        t.columnBytes,
        t.outputBytes,
        round(t.localMs),
        ...latencyCells(t),
      ]),
      note:
        'Epoch 1 stores the batch columns (once, by digest) and the worker fetches them; later epochs send ' +
        "only d. Overhead = enqueue-to-result at the coordinator minus the worker's time in the task.",
    });
    tables.push({
      title: 'Steady state (epochs 2+, medians)',
      columns: ['columns', 'worker in task ms', 'overhead ms', 'overhead / task', 'target'],
      rows: columnsList.map((p) => {
        const xs = steady(p);
        return [
          p,
          round(median(xs.map((t) => t.taskMs))),
          round(median(xs.map((t) => t.overheadMs))),
          `${round(overheadPct(xs))} %`,
          '<= 5 %',
        ];
      }),
    });
  }
  if (throughput.length > 0) {
    tables.push({
      title: `Throughput: ${tpBatches} products of ${rows} rows x ${tpColumns} columns (one epoch's products, in order)`,
      columns: ['where', 'processes', 'epoch s', 'products / s', "workers' time in tasks, s (tasks)"],
      rows: throughput.map((r) => [
        r.where,
        r.processes,
        round(r.epochSeconds, 2),
        round(r.productsPerSecond, 3),
        r.workerTaskSeconds === undefined ? '-' : `${round(r.workerTaskSeconds, 2)} (${r.tasks})`,
      ]),
      note:
        "Queue rows: the second epoch (the first uploads each batch's columns once). Workers' time: the " +
        "seconds the workers spent in the epoch's tasks, summed (with several workers, in parallel).",
    });
  }
  return {
    summary: {
      ...Object.fromEntries(
        columnsList
          .filter((p) => steady(p).length > 0)
          .map((p) => [`overhead_pct_${p}_columns`, round(overheadPct(steady(p)), 2)]),
      ),
      ...Object.fromEntries(
        throughput.map((r) => [`epoch_s_${r.where.replace(/[^a-z0-9]+/gi, '_')}`, round(r.epochSeconds, 2)]),
      ),
    },
    parameters: {
      preset,
      batch_rows: rows,
      columns: columnsList,
      epochs,
      worker_counts: workerCounts,
      throughput_columns: tpColumns,
      throughput_batches: tpBatches,
      postgresql: versions.postgresql ?? 'unknown',
      'pg-boss': '12.38.0',
      pg: '8.23.1',
      load_average_1m_5m_15m: load,
      database: 'throwaway cluster on loopback (initdb, fsync off), same machine as coordinator and workers',
    },
    tables,
    raw: { timings, throughput },
  };
}
