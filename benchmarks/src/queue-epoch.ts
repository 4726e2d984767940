/**
 * `pnpm bench queue --epoch [--enterprises 30000] [--gov-extra 276] [--bank-extra 0] [--batch 4096]
 *                           [--epochs 2] [--workers 0,1,2,4] [--network lan] [--seed 7]
 *                           [--timeout-minutes 20] --as queue-epoch`
 *
 * Issue 18's throughput target on a whole hetero-LR epoch as the node runs it, not one product: for
 * each worker count w, the three parties as `fedscore node` processes over gRPC + mutual TLS (the
 * `bench net` harness, ./net/parties.ts: a dev CA, one shaping proxy per ordered pair of parties), the
 * government (host, 24 + `--gov-extra` columns, so its products clear the queue's `minColumns` of 64)
 * with `queue: { kind: pgboss, split: w }` on a throwaway PostgreSQL cluster and w `fedscore worker`
 * processes; w = 0 is the `queue: none` baseline (the host's products on its own HE threads). The bank
 * (guest, 14 + `--bank-extra` columns) keeps its narrow products on its threads in every run, and the
 * arbiter holds the secret key and decrypts. One arbiter-mode CKKS job per w (binning off, so every
 * host column is trained on; testFraction 0; `--epochs` epochs of batches of `--batch`) on the same
 * generated files; fresh node processes per w (split is node config), one PostgreSQL cluster for all.
 *
 * Per epoch (from the train stage's start, then each epoch checkpoint of the bank, as `bench net`):
 * - wall seconds;
 * - the CPU seconds of every process (utime + stime from /proc, sampled every 250 ms and interpolated at
 *   the epoch marks): each node, each worker, PostgreSQL (the postmaster, its live and reaped backends)
 *   and this process (the proxies); and the machine's busy cores from /proc/stat (everyone's, the
 *   other engineers' jobs included) -- what saturates;
 * - the queue: per task (a trigger copies each input and result row as written, since the node prunes a
 *   done job's rows) the worker's seconds in it and its time in the database outside it (input stored
 *   to result stored, minus the task: pick-up, the worker's read and decode, the result's write); the
 *   seconds any task was on the queue and any worker computing (unions of intervals, the database's
 *   clock), whose difference is what the queue added to the epoch's chain between the node's enqueue
 *   and its read of the result; task input, result and shared blob bytes;
 * - bytes: each party's wire bytes to the other parties (the proxies), and the wire bytes between the
 *   government's node and PostgreSQL and between the workers and PostgreSQL (a counting, unshaped proxy
 *   in front of the database for each).
 *
 * Not a test: timings depend on the machine's load, recorded before and after each run.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FedscoreError, normal, seededRng } from '@fedscore/core';
import {
  allTasks,
  createCkksContext,
  createHeWorkerPool,
  DiagonalCache,
  loadCkksPublicContext,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductHandler,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { type JobEvent, type JobStore, submitJob } from '@fedscore/node';
import { startPgCluster, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import {
  grantJobConsents,
  type JobData,
  type JobShape,
  jobDataSources,
  PARTIES,
  type Party,
  sentThroughProxies,
  startPartyProcesses,
  waitForJob,
  withJobStore,
  writeJobData,
} from './net/parties.ts';
import {
  bytesBetween,
  type LinkShape,
  PROFILE_SHAPES,
  parseNetworkProfile,
  ShapedProxy,
} from './net/shaper.ts';
import { cpuOf, findPostmaster, machineBusySeconds, postgresCpuOf } from './proc-cpu.ts';
import { flag, round, stopWorkers } from './queue.bench.ts';
import { type BenchResult, type BenchTable, median } from './report.ts';

const UNSHAPED: LinkShape = { latencyMs: 0, bitsPerSecond: Number.POSITIVE_INFINITY };

/** Worker counts: non-negative integers, comma-separated (0: the `queue: none` baseline). */
function workerCounts(args: string[]): number[] {
  const out = flag(args, '--workers', '0,1,2,4')
    .split(',')
    .map((x) => Number(x));
  if (out.some((x) => !Number.isInteger(x) || x < 0 || x > 16)) {
    throw new FedscoreError('invalid_argument', '--workers takes integers in [0, 16], comma-separated', {
      field: '--workers',
    });
  }
  return out;
}

function positive(args: string[], name: string, fallback: string, min = 1): number {
  const v = Number(flag(args, name, fallback));
  if (!Number.isInteger(v) || v < min) {
    throw new FedscoreError('invalid_argument', `${name} takes an integer >= ${min}`, { field: name });
  }
  return v;
}

interface Sample {
  readonly t: number;
  readonly cpu: Record<string, number>;
}

/** Every 250 ms, the CPU seconds of each named process, PostgreSQL, this process and the machine. */
class CpuSampler {
  readonly samples: Sample[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly pids: () => Record<string, number | undefined>;
  readonly postmaster: number | undefined;
  constructor(pids: () => Record<string, number | undefined>, postmaster: number | undefined) {
    this.pids = pids;
    this.postmaster = postmaster;
    this.sample();
    this.#timer = setInterval(() => this.sample(), 250);
  }
  sample(): void {
    const cpu: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      if (pid !== undefined) cpu[name] = cpuOf(pid);
    }
    if (this.postmaster !== undefined) cpu.postgresql = postgresCpuOf(this.postmaster);
    const u = process.cpuUsage();
    cpu.bench = (u.user + u.system) / 1e6;
    cpu.machine = machineBusySeconds();
    this.samples.push({ t: Date.now(), cpu });
  }
  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }
  /** `name`'s CPU seconds at time `t`, linear between the samples around it. */
  at(name: string, t: number): number | undefined {
    const xs = this.samples.filter((s) => s.cpu[name] !== undefined);
    if (xs.length === 0) return undefined;
    const i = xs.findIndex((s) => s.t >= t);
    if (i < 0) return xs.at(-1)!.cpu[name];
    if (i === 0) return xs[0]!.cpu[name];
    const [a, b] = [xs[i - 1]!, xs[i]!];
    const f = b.t === a.t ? 1 : (t - a.t) / (b.t - a.t);
    return a.cpu[name]! + f * (b.cpu[name]! - a.cpu[name]!);
  }
}

/** Copies of the queue's input, result and blob rows as written (the node prunes a done job's). */
const LOG_SQL = `
CREATE TABLE IF NOT EXISTS bench_task_input_log (queue text, task_id text, enqueued_at timestamptz, bytes bigint);
CREATE TABLE IF NOT EXISTS bench_task_result_log (queue text, task_id text, finished_at timestamptz,
  task_seconds double precision, bytes bigint, deliveries integer);
CREATE TABLE IF NOT EXISTS bench_task_blob_log (hash text, stored_at timestamptz, bytes bigint);
CREATE OR REPLACE FUNCTION bench_log_input() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_task_input_log VALUES (NEW.queue, NEW.task_id, NEW.enqueued_at, octet_length(NEW.input));
  RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION bench_log_result() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_task_result_log VALUES (NEW.queue, NEW.task_id, NEW.finished_at, NEW.task_seconds,
    coalesce(octet_length(NEW.output), 0), NEW.deliveries);
  RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION bench_log_blob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_task_blob_log VALUES (NEW.hash, NEW.stored_at, octet_length(NEW.bytes));
  RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER bench_log_input AFTER INSERT ON fedscore_task_input
  FOR EACH ROW EXECUTE FUNCTION bench_log_input();
CREATE OR REPLACE TRIGGER bench_log_result AFTER INSERT OR UPDATE ON fedscore_task_result
  FOR EACH ROW EXECUTE FUNCTION bench_log_result();
CREATE OR REPLACE TRIGGER bench_log_blob AFTER INSERT ON fedscore_task_blob
  FOR EACH ROW EXECUTE FUNCTION bench_log_blob();
`;

interface TaskRow {
  readonly enqueued: number;
  readonly finished: number;
  readonly taskSeconds: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly deliveries: number;
}

/** Total length of the union of intervals [a, b] (ms). */
export function unionMs(intervals: readonly (readonly [number, number])[]): number {
  const xs = [...intervals].sort((x, y) => x[0] - y[0]);
  let total = 0;
  let [s, e] = [Number.NaN, Number.NaN];
  for (const [a, b] of xs) {
    if (Number.isNaN(s) || a > e) {
      if (!Number.isNaN(s)) total += e - s;
      [s, e] = [a, b];
    } else e = Math.max(e, b);
  }
  if (!Number.isNaN(s)) total += e - s;
  return total;
}

export interface EpochFigures {
  readonly epoch: number;
  readonly seconds: number;
  /** CPU seconds in the epoch per process (bank, government, arbiter, worker-k, postgresql, bench). */
  readonly cpuSeconds: Record<string, number>;
  /** The machine's busy cores over the epoch (everyone's), and this run's processes' share of them. */
  readonly machineBusyCores: number;
  readonly runCores: number;
  /** Wire bytes each party sent to the other parties in the epoch. */
  readonly partyBytes: Record<Party, number>;
  /** Wire bytes on the database's connections in the epoch (queue runs). */
  readonly databaseBytes?: {
    readonly nodeToDb: number;
    readonly dbToNode: number;
    readonly workersToDb: number;
    readonly dbToWorkers: number;
  };
  readonly queue?: {
    readonly tasks: number;
    readonly redelivered: number;
    readonly taskSecondsSum: number;
    readonly taskSecondsMedian: number;
    /** Per task, input stored to result stored minus the task (database clock), median, ms. */
    readonly inDbOverheadMsMedian: number;
    /** Seconds any task was on the queue; any worker was in a task; their difference. */
    readonly onQueueSeconds: number;
    readonly computingSeconds: number;
    readonly queueOnChainSeconds: number;
    readonly inputBytes: number;
    readonly outputBytes: number;
    readonly blobBytes: number;
    /**
     * The workers' diagonal caches in the epoch (their per-task debug lines, by arrival time): packed-
     * product diagonals served from a cache and encoded.
     */
    readonly diagonalHits: number;
    readonly diagonalEncodes: number;
  };
}

export interface EpochRun {
  readonly workers: number;
  readonly queue: 'none' | 'pgboss';
  readonly split: number;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  readonly jobSeconds: number;
  readonly alignedRows: number;
  readonly epochs: readonly EpochFigures[];
}

export default async function queueEpochBench(args: string[]): Promise<BenchResult> {
  const enterprises = positive(args, '--enterprises', '30000', 100);
  const govExtra = positive(args, '--gov-extra', '276', 0);
  const bankExtra = positive(args, '--bank-extra', '0', 0);
  const batch = positive(args, '--batch', '4096');
  const epochs = positive(args, '--epochs', '2');
  const seed = positive(args, '--seed', '7', 0);
  const timeoutMs = positive(args, '--timeout-minutes', '20') * 60_000;
  const network = parseNetworkProfile(flag(args, '--network', 'lan'), 'lan');
  const link: LinkShape = network === 'memory' ? UNSHAPED : PROFILE_SHAPES[network];
  const counts = workerCounts(args);
  const shape: JobShape = {
    enterprises,
    bankCustomers: enterprises,
    govExtraFeatures: govExtra,
    bankExtraFeatures: bankExtra,
    bins: 10,
    minIv: 0,
    maxEpochs: epochs,
    batchSize: batch,
    seed,
    testFraction: 0,
  };
  const log = (line: string) => process.stderr.write(`[queue --epoch] ${line}\n`);
  const loadStart = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-queue-epoch-'));
  const cluster = await startPgCluster();
  const dbPort = Number(new URL(cluster.url).port);
  const runs: EpochRun[] = [];
  let versions = 'unknown';
  try {
    const data = await writeJobData(shape, dir);
    log(`population written: ${enterprises} enterprises, ${24 + govExtra} + ${14 + bankExtra} columns`);
    const postmaster = findPostmaster(dbPort);
    const db = new pg.Client({ connectionString: cluster.url });
    await db.connect();
    const ctx: RunContext = { db, dbPort, postmaster, data, link, seed, epochs, batch, timeoutMs, log };
    try {
      versions = (await db.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
      for (const [k, w] of counts.entries()) {
        runs.push(await runOne(ctx, k, w));
      }
    } finally {
      await db.end();
    }
  } finally {
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return report(runs, {
    enterprises,
    government_columns: 24 + govExtra,
    bank_columns: 14 + bankExtra,
    batch,
    epochs,
    seed,
    network,
    worker_counts: counts,
    postgresql: versions,
    'pg-boss': '12.38.0',
    pg: '8.23.1',
    load_average_1m_5m_15m: { start: loadStart, end: loadavg() },
    database:
      'throwaway cluster on loopback (initdb, fsync off), same machine as the nodes and workers; ' +
      "the government's node and the workers each reach it through a counting proxy",
  });
}

/** What every run of one bench invocation shares. */
interface RunContext {
  readonly db: pg.Client;
  readonly dbPort: number;
  readonly postmaster: number | undefined;
  readonly data: JobData;
  readonly link: LinkShape;
  readonly seed: number;
  readonly epochs: number;
  readonly batch: number;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

async function runOne(ctx: RunContext, k: number, w: number): Promise<EpochRun> {
  const { db, dbPort, postmaster, data, link, seed, epochs, batch, timeoutMs, log } = ctx;
  const queueName = `he-epoch-${k}-w${w}`;
  const jobId = `epoch-${k}-w${w}`;
  // Counting, unshaped proxies in front of the database: the government's node, and the workers.
  const nodeDb = await ShapedProxy.start({ target: { host: '127.0.0.1', port: dbPort }, up: UNSHAPED });
  const workersDb = await ShapedProxy.start({
    target: { host: '127.0.0.1', port: dbPort },
    up: UNSHAPED,
  });
  const urlAt = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;
  const children: ChildProcess[] = [];
  const processes = await startPartyProcesses<string>({
    parties: PARTIES,
    link,
    data: (p) => jobDataSources(p, data),
    consents: (c) => grantJobConsents(c, data),
    log,
    config: (p) =>
      p === 'government' && w > 0
        ? {
            queue: {
              kind: 'pgboss',
              url: urlAt(nodeDb.port),
              name: queueName,
              split: w,
              expireSeconds: 900,
            },
          }
        : {},
  });
  let sampler: CpuSampler | undefined;
  const cacheLines: DiagonalLine[] = [];
  try {
    if (w > 0) {
      await db.query(LOG_SQL);
      await Promise.all(
        Array.from({ length: w }, () =>
          startWorker(urlAt(workersDb.port), queueName, children, { logLevel: 'debug' }).then((c) =>
            watchDiagonals(c, cacheLines),
          ),
        ),
      );
    }
    const { cluster: nodes, procs, proxies } = processes;
    const pids = (): Record<string, number | undefined> => ({
      ...Object.fromEntries(PARTIES.map((p) => [p, procs[p]?.child.pid])),
      ...Object.fromEntries(children.map((c, i) => [`worker-${i + 1}`, c.pid])),
    });
    const loadBefore = loadavg();
    log(`run ${k}: ${w === 0 ? 'queue: none' : `${w} worker process(es)`}, load ${loadBefore.join(' ')}`);
    sampler = new CpuSampler(pids, postmaster);
    const jobsOf = <T>(p: Party, fn: (j: JobStore) => T): T =>
      withJobStore(nodes.stateDir(p), p === 'bank', fn);
    const t0 = Date.now();
    jobsOf('bank', (jobs) =>
      submitJob(jobs, 'bank', {
        id: jobId,
        guest: 'bank',
        hosts: ['government'],
        arbiter: 'arbiter',
        data: { bank: 'loans', government: 'credit' },
        seed,
        testFraction: 0,
        binning: { enabled: false },
        train: { scheme: 'ckks', maxEpochs: epochs, batchSize: batch },
      }),
    );
    await waitForJob({
      read: () => jobsOf('bank', (jobs) => jobs.get(jobId)),
      parties: PARTIES,
      procs,
      coordinator: 'bank',
      deadline: t0 + timeoutMs,
      log,
    });
    const jobSeconds = (Date.now() - t0) / 1000;
    sampler.stop();
    const loadAfter = loadavg();
    const events: readonly JobEvent[] = jobsOf('bank', (jobs) => jobs.events(jobId));
    const alignedRows = jobsOf(
      'bank',
      (jobs) => jobs.requireCheckpoint<{ rows: number[] }>(jobId, 'psi').rows.length,
    );
    const trainStart = Math.min(
      ...events.filter((e) => e.stage === 'train' && e.kind === 'attempt').map((e) => e.time),
    );
    const marks = [trainStart, ...events.filter((e) => e.kind === 'epoch_checkpoint').map((e) => e.time)];
    const tasks = w === 0 ? [] : await taskRows(db, queueName);
    const blobs =
      w === 0
        ? []
        : (
            await db.query<{ t: number; b: string }>(
              'SELECT extract(epoch FROM stored_at) * 1000 AS t, bytes AS b FROM bench_task_blob_log',
            )
          ).rows.map((r) => ({ t: Number(r.t), bytes: Number(r.b) }));
    const names = Object.keys(sampler.samples.at(-1)!.cpu);
    const out: EpochFigures[] = marks.slice(1).map((to, i) => {
      const from = marks[i]!;
      const seconds = (to - from) / 1000;
      const cpuSeconds: Record<string, number> = {};
      for (const n of names) {
        const a = sampler!.at(n, from);
        const b = sampler!.at(n, to);
        if (a !== undefined && b !== undefined) cpuSeconds[n] = round(b - a, 2);
      }
      const machine = cpuSeconds.machine ?? 0;
      delete cpuSeconds.machine;
      const runCpu = Object.values(cpuSeconds).reduce((s, x) => s + x, 0);
      const inEpoch = tasks.filter((t) => t.enqueued >= from && t.enqueued < to);
      const onQueue = unionMs(inEpoch.map((t) => [t.enqueued, t.finished] as const)) / 1000;
      const computing =
        unionMs(inEpoch.map((t) => [t.finished - t.taskSeconds * 1000, t.finished] as const)) / 1000;
      return {
        epoch: i + 1,
        seconds,
        cpuSeconds,
        machineBusyCores: round(machine / seconds, 2),
        runCores: round(runCpu / seconds, 2),
        partyBytes: Object.fromEntries(
          PARTIES.map((p) => [p, sentThroughProxies(p, PARTIES, proxies, from, to)]),
        ) as Record<Party, number>,
        ...(w > 0 && {
          databaseBytes: {
            nodeToDb: bytesBetween(nodeDb.stats.up, from, to),
            dbToNode: bytesBetween(nodeDb.stats.down, from, to),
            workersToDb: bytesBetween(workersDb.stats.up, from, to),
            dbToWorkers: bytesBetween(workersDb.stats.down, from, to),
          },
          queue: {
            tasks: inEpoch.length,
            redelivered: inEpoch.filter((t) => t.deliveries > 1).length,
            taskSecondsSum: round(
              inEpoch.reduce((s, t) => s + t.taskSeconds, 0),
              2,
            ),
            taskSecondsMedian: round(median(inEpoch.map((t) => t.taskSeconds)), 3),
            inDbOverheadMsMedian: round(
              median(inEpoch.map((t) => t.finished - t.enqueued - t.taskSeconds * 1000)),
              1,
            ),
            onQueueSeconds: round(onQueue, 2),
            computingSeconds: round(computing, 2),
            queueOnChainSeconds: round(onQueue - computing, 2),
            inputBytes: inEpoch.reduce((s, t) => s + t.inputBytes, 0),
            outputBytes: inEpoch.reduce((s, t) => s + t.outputBytes, 0),
            blobBytes: blobs.filter((b) => b.t >= from && b.t < to).reduce((s, b) => s + b.bytes, 0),
            diagonalHits: cacheLines.filter((l) => l.t >= from && l.t < to).reduce((s, l) => s + l.hits, 0),
            diagonalEncodes: cacheLines
              .filter((l) => l.t >= from && l.t < to)
              .reduce((s, l) => s + l.encodes, 0),
          },
        }),
      };
    });
    log(`run ${k}: epochs ${out.map((e) => e.seconds.toFixed(1)).join(', ')} s`);
    return {
      workers: w,
      queue: w === 0 ? 'none' : 'pgboss',
      split: Math.max(1, w),
      loadBefore,
      loadAfter,
      jobSeconds,
      alignedRows,
      epochs: out,
    };
  } finally {
    sampler?.stop();
    await stopWorkers(children);
    await processes.close();
    await nodeDb.close();
    await workersDb.close();
  }
}

/** One worker task's diagonal cache counts (its `queue worker: diagonal cache` debug line), at arrival. */
interface DiagonalLine {
  readonly t: number;
  readonly hits: number;
  readonly encodes: number;
}

/** Collect a `fedscore worker`'s diagonal cache lines from its stderr (started with `--log-level debug`). */
function watchDiagonals(child: ChildProcess, lines: DiagonalLine[]): void {
  let rest = '';
  child.stderr?.on('data', (b: Buffer) => {
    const parts = (rest + b.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const m = /queue worker: diagonal cache hits=(\d+) encodes=(\d+)/.exec(line);
      if (m !== null) lines.push({ t: Date.now(), hits: Number(m[1]), encodes: Number(m[2]) });
    }
  });
}

async function taskRows(db: pg.Client, queue: string): Promise<TaskRow[]> {
  const r = await db.query<{
    e: number;
    f: number;
    s: number;
    ib: string;
    ob: string;
    d: number;
  }>(
    `SELECT extract(epoch FROM i.enqueued_at) * 1000 AS e, extract(epoch FROM r.finished_at) * 1000 AS f,
              r.task_seconds AS s, i.bytes AS ib, r.bytes AS ob, r.deliveries AS d
       FROM bench_task_input_log i
       JOIN (SELECT DISTINCT ON (queue, task_id) * FROM bench_task_result_log
             ORDER BY queue, task_id, finished_at DESC) r USING (queue, task_id)
       WHERE i.queue = $1`,
    [queue],
  );
  return r.rows.map((x) => ({
    enqueued: Number(x.e),
    finished: Number(x.f),
    taskSeconds: Number(x.s),
    inputBytes: Number(x.ib),
    outputBytes: Number(x.ob),
    deliveries: Number(x.d),
  }));
}

const fmtBytes = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function report(runs: readonly EpochRun[], parameters: Record<string, unknown>): BenchResult {
  const name = (r: EpochRun) => (r.workers === 0 ? 'queue: none (host threads)' : `${r.workers} worker(s)`);
  const steady = (r: EpochRun) => r.epochs.at(-1)!;
  const tables: BenchTable[] = [];
  tables.push({
    title: 'Epoch wall time and CPU seconds per process (each run: its last epoch = the steady state)',
    columns: [
      'run',
      'epoch',
      'wall s',
      'CPU s: bank / government / arbiter',
      'CPU s: workers (each)',
      'CPU s: PostgreSQL',
      'CPU s: bench (proxies)',
      'cores busy: this run / machine',
      'load 1m before / after',
    ],
    rows: runs.flatMap((r) =>
      r.epochs.map((e) => {
        const c = e.cpuSeconds;
        const workers = Object.keys(c)
          .filter((n) => n.startsWith('worker-'))
          .map((n) => c[n]!);
        return [
          name(r),
          e.epoch,
          round(e.seconds, 1),
          `${c.bank ?? '-'} / ${c.government ?? '-'} / ${c.arbiter ?? '-'}`,
          workers.length === 0
            ? '-'
            : `${round(
                workers.reduce((s, x) => s + x, 0),
                2,
              )} (${workers.join(', ')})`,
          c.postgresql ?? '-',
          c.bench ?? '-',
          `${e.runCores} / ${e.machineBusyCores}`,
          `${r.loadBefore[0]!.toFixed(1)} / ${r.loadAfter[0]!.toFixed(1)}`,
        ];
      }),
    ),
    note:
      "Epoch 1 runs from the train stage's start (it carries the CKKS key setup and the upload of each " +
      "batch's columns to the queue, once by digest); later epochs from one checkpoint to the next. Cores " +
      'busy: CPU seconds / wall seconds, of this run’s processes and of the whole machine (other ' +
      "engineers' jobs included; the machine has 2).",
  });
  const queued = runs.filter((r) => r.workers > 0);
  if (queued.length > 0) {
    tables.push({
      title: 'The queue in each epoch',
      columns: [
        'run',
        'epoch',
        'tasks (redelivered)',
        'worker s in tasks: sum / median',
        'in-database overhead a task, ms (median)',
        's on the queue / any worker computing / queue on the chain',
        'task bytes in / out / blobs',
        'wire bytes node<->db / workers<->db',
        'diagonals: cache hits / encoded (hit rate)',
      ],
      rows: queued.flatMap((r) =>
        r.epochs.map((e) => {
          const q = e.queue!;
          const b = e.databaseBytes!;
          return [
            name(r),
            e.epoch,
            `${q.tasks} (${q.redelivered})`,
            `${q.taskSecondsSum} / ${q.taskSecondsMedian}`,
            q.inDbOverheadMsMedian,
            `${q.onQueueSeconds} / ${q.computingSeconds} / ${q.queueOnChainSeconds}`,
            `${fmtBytes(q.inputBytes)} / ${fmtBytes(q.outputBytes)} / ${fmtBytes(q.blobBytes)}`,
            `${fmtBytes(b.nodeToDb + b.dbToNode)} / ${fmtBytes(b.workersToDb + b.dbToWorkers)}`,
            `${q.diagonalHits} / ${q.diagonalEncodes} (${
              q.diagonalHits + q.diagonalEncodes === 0
                ? '-'
                : `${round((100 * q.diagonalHits) / (q.diagonalHits + q.diagonalEncodes), 1)} %`
            })`,
          ];
        }),
      ),
      note:
        'In-database overhead: input row stored to result row stored, minus the worker’s seconds in the ' +
        "task (pick-up, the worker's read and decode, the result's write). On the queue: the union of the " +
        "tasks' input-to-result intervals; computing: the union of the workers' task intervals; their " +
        'difference is what the queue added between the enqueue and the result while no worker computed. ' +
        'Not counted there: the node’s encode before the input row and its read of the result after it. ' +
        'Diagonals: what the workers’ diagonal caches served and encoded (fedscore worker --diagonal-cache-mib; ' +
        'each task’s debug line, by arrival time).',
    });
  }
  tables.push({
    title: 'Wire bytes each party sent to the other parties per epoch',
    columns: ['run', 'epoch', 'bank', 'government', 'arbiter'],
    rows: runs.flatMap((r) =>
      r.epochs.map((e) => [
        name(r),
        e.epoch,
        fmtBytes(e.partyBytes.bank),
        fmtBytes(e.partyBytes.government),
        fmtBytes(e.partyBytes.arbiter),
      ]),
    ),
  });
  const summary: Record<string, unknown> = {};
  for (const r of runs) {
    const e = steady(r);
    let key = r.workers === 0 ? 'none' : `${r.workers}_workers`;
    // A worker count given twice (`--workers 0,1,2,4,0`: the baseline again, for the load's drift).
    while (`epoch_s_${key}` in summary) key = `${key}_again`;
    summary[`epoch_s_${key}`] = round(e.seconds, 1);
    summary[`machine_busy_cores_${key}`] = e.machineBusyCores;
    if (e.queue !== undefined) {
      summary[`queue_overhead_pct_${key}`] = round(
        (100 * e.queue.inDbOverheadMsMedian) / (1000 * e.queue.taskSecondsMedian),
        2,
      );
      const uses = e.queue.diagonalHits + e.queue.diagonalEncodes;
      if (uses > 0) summary[`diagonal_hit_pct_${key}`] = round((100 * e.queue.diagonalHits) / uses, 1);
    }
  }
  return {
    summary,
    parameters: { ...parameters, aligned_rows: runs[0]?.alignedRows ?? 0 },
    tables,
    raw: { runs },
  };
}

/**
 * `pnpm bench queue --diagonals [--batch 4096] [--columns 300] [--reps 3] --as queue-diagonals`: why a
 * product costs a queue worker more than the node's threads (`--epoch`'s CPU columns). One packed product
 * y = M [[d]] of a batch of `--batch` rows x `--columns` columns, on one HE pool thread in this process,
 * d at the hetero-LR product level (one prime below a fresh ciphertext, as `cipher.ts` runs it), timed
 * (CPU seconds of this process, the pool's thread included, and wall) `--reps` times each way: with its
 * diagonals encoded for the product (no cache key: what a queue task does, `packedProductHandler`) and
 * with the batch's encoded diagonals cached under a key (what the node's threads do across epochs; the
 * first keyed product fills the cache and is reported apart). Then the queue worker's own path: the
 * `packedProduct` handler a `fedscore worker` runs (`packedProductHandler` on this process's main thread,
 * under the public context: deserialize d, evaluate, serialize the parts) with the worker's diagonal
 * cache (`DiagonalCache`, `evict: 'lru'`, keyed by the SHA-256 of the column block): a miss (a fresh
 * cache: encodes and holds them) and a hit (a cache that holds the block: the next epoch's task), and the
 * SHA-256 of the column block alone (paid on every task). The cache's bytes for the block are reported.
 */
export async function diagonalCacheBench(args: string[]): Promise<BenchResult> {
  const rows = positive(args, '--batch', '4096');
  const p = positive(args, '--columns', '300');
  const reps = positive(args, '--reps', '3');
  const preset = 'ckks-16384-release';
  const load: Record<string, number[]> = { start: loadavg() };
  const layout0 = packedLayout(rows, p, 1 << 30);
  const ctx = await createCkksContext({
    params: preset,
    rotations: packedRotationSteps(layout0),
    relinearization: false,
  });
  const layout = packedLayout(rows, p, ctx.slotCount);
  const plan = layout.productPlan(p);
  const rng = seededRng(300);
  const columns = Array.from({ length: p }, () => Float64Array.from({ length: rows }, () => normal(rng)));
  const d = Float64Array.from({ length: rows }, () => normal(rng) * 0.1);
  const pool = await createHeWorkerPool({
    size: 1,
    context: ctx.serialize({ compression: 'none' }),
    diagonalCacheBytes: 2 ** 30,
  });
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const timings: { mode: string; rep: number; cpuSeconds: number; wallSeconds: number }[] = [];
  const slots = ctx.slotCount;
  const productLevel = Math.max(1, ctx.levels - 1);
  const publicCtx = await loadCkksPublicContext(ctx.serialize({ compression: 'none' }));
  const warm = new DiagonalCache(publicCtx, 2 ** 30, { evict: 'lru' });
  let workerCacheBytes = 0;
  let workerCacheProducts = 0;
  try {
    const once = async (mode: string, rep: number, key: string | undefined) => {
      const fresh = ctx.encrypt(replicate(d, layout.width, ctx.slotCount));
      const enc = fresh.atLevel(Math.max(1, ctx.levels - 1));
      fresh.dispose();
      try {
        const [c0, t0] = [cpu(), performance.now()];
        for (const v of await pool.packedProduct(enc, plan, columns, rows, key)) v.dispose();
        timings.push({
          mode,
          rep,
          cpuSeconds: round(cpu() - c0, 3),
          wallSeconds: round((performance.now() - t0) / 1000, 3),
        });
      } finally {
        enc.dispose();
      }
    };
    // The worker's handler, on this thread (the pool's thread idles meanwhile).
    const request = (): PackedProductRequest => {
      const fresh = ctx.encrypt(replicate(d, layout.width, ctx.slotCount));
      const enc = fresh.atLevel(Math.max(1, ctx.levels - 1));
      fresh.dispose();
      try {
        return {
          op: 'packedProduct',
          d: enc.serialize({ compression: 'none' }),
          columns: p,
          width: layout.width,
          rows,
          tasks: allTasks(plan),
          fold: true,
          batch: columns,
        };
      } finally {
        enc.dispose();
      }
    };
    const onWorker = (mode: string, rep: number, cache: DiagonalCache): PackedPartsResult => {
      const req = request();
      const handler = packedProductHandler(publicCtx, { diagonals: cache });
      const [c0, t0] = [cpu(), performance.now()];
      const out = handler(req);
      timings.push({
        mode,
        rep,
        cpuSeconds: round(cpu() - c0, 3),
        wallSeconds: round((performance.now() - t0) / 1000, 3),
      });
      return out;
    };
    const digestOnce = (rep: number) => {
      const [c0, t0] = [cpu(), performance.now()];
      const h = createHash('sha256');
      for (const c of columns) h.update(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      h.digest('hex');
      timings.push({
        mode: 'worker: SHA-256 of the column block (every task)',
        rep,
        cpuSeconds: round(cpu() - c0, 4),
        wallSeconds: round((performance.now() - t0) / 1000, 4),
      });
    };
    // Interleaved, so every way shares the same minutes of a shared machine.
    await once('cached: first use (fills the cache)', 1, 'batch-0');
    onWorker('worker cache: first use (fills it)', 1, warm);
    workerCacheBytes = warm.bytes;
    workerCacheProducts = warm.size;
    for (let r = 1; r <= reps; r++) {
      await once('encoded for the product (queue task)', r, undefined);
      await once('cached diagonals (node threads)', r, 'batch-0');
      const cold = new DiagonalCache(publicCtx, 2 ** 30, { evict: 'lru' });
      try {
        onWorker('worker cache miss (encodes, holds)', r, cold);
      } finally {
        cold.dispose();
      }
      onWorker('worker cache hit', r, warm);
      digestOnce(r);
    }
  } finally {
    warm.dispose();
    publicCtx.dispose();
    await pool.close();
    ctx.dispose();
  }
  load.end = loadavg();
  const of = (mode: string) => timings.filter((t) => t.mode === mode);
  const encoded = median(of('encoded for the product (queue task)').map((t) => t.cpuSeconds));
  const cached = median(of('cached diagonals (node threads)').map((t) => t.cpuSeconds));
  const miss = median(of('worker cache miss (encodes, holds)').map((t) => t.cpuSeconds));
  const hit = median(of('worker cache hit').map((t) => t.cpuSeconds));
  const digest = median(of('worker: SHA-256 of the column block (every task)').map((t) => t.cpuSeconds));
  return {
    summary: {
      cpu_s_encoded_median: encoded,
      cpu_s_cached_median: cached,
      encoded_over_cached: round(encoded / cached, 2),
      worker_cpu_s_miss_median: miss,
      worker_cpu_s_hit_median: hit,
      worker_miss_over_hit: round(miss / hit, 2),
      worker_hit_over_node_cached: round(hit / cached, 2),
      worker_digest_cpu_s_median: digest,
      worker_cache_bytes: workerCacheBytes,
      worker_cache_mib: round(workerCacheBytes / 2 ** 20, 1),
      worker_cache_products: workerCacheProducts,
    },
    parameters: {
      preset,
      batch_rows: rows,
      columns: p,
      reps,
      pool_threads: 1,
      d_level: 'hetero-LR product level (levels - 1)',
      slots,
      product_level: productLevel,
      worker_cache: "DiagonalCache evict 'lru', 1 GiB (fedscore worker --diagonal-cache-mib default)",
      load_average_1m_5m_15m: load,
    },
    tables: [
      {
        title: `One packed product of ${rows} rows x ${p} columns, one HE thread`,
        columns: ['diagonals', 'rep', 'CPU s', 'wall s'],
        rows: timings.map((t) => [t.mode, t.rep, t.cpuSeconds, t.wallSeconds]),
        note: 'CPU: this process (the pool thread included). Wall moves with the machine’s load; CPU does not. The worker rows are the `packedProduct` handler a `fedscore worker` runs (d deserialized, parts serialized; its database round trips and task decoding are the queue overhead, not here), on this thread; a miss uses a fresh cache, a hit the cache the first use filled. The SHA-256 row is included in every worker row.',
      },
    ],
    raw: { timings },
  };
}
