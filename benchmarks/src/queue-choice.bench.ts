/**
 * `pnpm bench queue-choice [--sizes 1024,1048576,4560387] [--latency-tasks 40,20,15]
 *                          [--throughput-tasks 200,40,24] [--bytes-tasks 20,5,4] [--workers 1,2]
 *                          [--skip-pgboss] [--skip-bullmq]`
 *
 * Issue 18's choice of queue, measured: pg-boss on PostgreSQL (as shipped: `QueueExecutor` and
 * `serveTaskQueue` of @fedscore/queue -- input row, pg-boss job, result row with NOTIFY, the worker's
 * two round trips per task) against BullMQ on Redis (`Queue.add`, a `Worker`, results from the
 * `QueueEvents` stream; the payload base64 in the job's JSON, as BullMQ's data is JSON), each broker a
 * throwaway server on loopback with durability off (PostgreSQL: `@fedscore/queue/testing`, fsync off;
 * Redis: no RDB snapshots, no AOF). Task payloads of 1 KiB, 1 MiB and 4,560,387 bytes (the input of
 * one portfolio-scoring block, benchmarks/results/queue-portfolio.md); each payload is different (a task
 * id is the digest of its bytes). Workers are separate processes (src/queue-choice-worker.ts), one task
 * at a time each, answering with the payload's SHA-256 (checked here), so the handler costs next to
 * nothing and the figures are the queues' own.
 *
 * Per broker and payload, in one run (brokers alternate per payload so load drifts hit both alike):
 * 1. latency: one worker, tasks one after another, enqueue to result as the caller sees it;
 * 2. throughput with 1 and 2 worker processes: a batch enqueued at once, first enqueue to last result;
 * 3. bytes through the broker: one worker, tasks one after another, with coordinator and worker
 *    connected through a byte-counting TCP relay in this process (both directions, every connection,
 *    the queue's background polling included). Separate from 1 and 2, which connect directly.
 *
 * Without redis-server (Debian's `redis-server` package; CI does not install it and no test uses Redis)
 * the BullMQ half is skipped with the reason printed; without PostgreSQL's binaries, the pg-boss half.
 * Not a test: timings depend on the machine's load, recorded with every phase.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FedscoreError } from '@fedscore/core';
import { QueueExecutor } from '@fedscore/queue';
import { postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ints, stopWorkers } from './queue.bench.ts';
import { type BenchResult, type BenchTable, median } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const WORKER = join(here, 'queue-choice-worker.ts');
const ROOT = join(here, '..', '..');

type Broker = 'pgboss' | 'bullmq';
const LABEL: Record<Broker, string> = { pgboss: 'pg-boss (PostgreSQL)', bullmq: 'BullMQ (Redis)' };

/** One queue's caller side: send a payload, resolve with the worker's answer. */
interface Caller {
  run(payload: Buffer): Promise<string>;
  close(): Promise<void>;
}

interface Endpoint {
  /** What a worker process is given: a postgres URL or host:port. */
  readonly workerArg: string;
  caller(queue: string, port?: number): Promise<Caller>;
  /** The same endpoint's address on another port (the relay's). */
  via(port: number): string;
  readonly port: number;
}

// ---------------------------------------------------------------------------------------------------
// Brokers

/** The redis-server binary, or undefined. */
function redisServer(): string | undefined {
  return ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** A throwaway redis-server on loopback (no persistence), stopped and deleted by `stop`. */
async function startRedis(bin: string): Promise<{ port: number; version: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-redis-'));
  const port = await freePort();
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited (${code}): ${out}`));
    });
  });
  const version =
    execFileSync(bin, ['--version'])
      .toString()
      .match(/v=(\S+)/)?.[1] ?? 'unknown';
  return {
    port,
    version,
    stop: () =>
      new Promise<void>((r) => {
        const done = (): void => {
          rmSync(dir, { recursive: true, force: true });
          r();
        };
        if (child.exitCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}

function pgbossEndpoint(url: string): Endpoint {
  const port = Number(new URL(url).port);
  const via = (p: number): string => {
    const u = new URL(url);
    u.port = String(p);
    return u.toString();
  };
  return {
    workerArg: url,
    port,
    via,
    async caller(queue, relayPort) {
      const ex = await QueueExecutor.create<{ payload: Uint8Array }, string>({
        connectionString: relayPort === undefined ? url : via(relayPort),
        queue,
      });
      return { run: (payload) => ex.run({ payload }), close: () => ex.close() };
    },
  };
}

function bullmqEndpoint(port: number): Endpoint {
  return {
    workerArg: `127.0.0.1:${port}`,
    port,
    via: (p) => `127.0.0.1:${p}`,
    async caller(queue, relayPort) {
      const connection = { host: '127.0.0.1', port: relayPort ?? port, maxRetriesPerRequest: null };
      const q = new Queue<{ payload: string }, string>(queue, { connection });
      const events = new QueueEvents(queue, { connection });
      const pending = new Map<string, { resolve: (v: string) => void; reject: (e: Error) => void }>();
      // Results come from the events stream (as the pg-boss executor's come by NOTIFY), so a completed
      // job can be removed at once (removeOnComplete), as its input row is in the pg-boss executor.
      events.on('completed', ({ jobId, returnvalue }) => {
        const p = pending.get(jobId);
        if (p === undefined) return;
        pending.delete(jobId);
        const v: unknown = returnvalue;
        p.resolve(typeof v === 'string' && v.startsWith('"') ? (JSON.parse(v) as string) : String(v));
      });
      events.on('failed', ({ jobId, failedReason }) => {
        const p = pending.get(jobId);
        if (p === undefined) return;
        pending.delete(jobId);
        p.reject(new Error(`job ${jobId} failed: ${failedReason}`));
      });
      await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
      let n = 0;
      return {
        async run(payload) {
          // The job id is chosen here so the result cannot arrive before it is awaited.
          const jobId = `t${++n}`;
          const result = new Promise<string>((resolve, reject) => pending.set(jobId, { resolve, reject }));
          await q.add(
            'task',
            { payload: payload.toString('base64') },
            { jobId, attempts: 6, removeOnComplete: true, removeOnFail: false },
          );
          return result;
        },
        async close() {
          await events.close();
          await q.obliterate({ force: true }).catch(() => undefined);
          await q.close();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Workers, payloads, the byte-counting relay

function startChoiceWorker(broker: Broker, arg: string, queue: string, children: ChildProcess[]) {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', WORKER, broker, arg, queue],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  let err = '';
  return new Promise<ChildProcess>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('queue-choice worker ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before ready: ${err}`)));
  });
}

let taskNumber = 0;

/** Payloads of `size` bytes, each different: random bytes once, then the task's number in the first 8. */
function payloads(size: number, count: number): Buffer[] {
  const first = taskNumber;
  taskNumber += count;
  const base = randomBytes(size);
  return Array.from({ length: count }, (_, i) => {
    const b = Buffer.from(base);
    if (size >= 8) b.writeBigUInt64BE(BigInt(first + i), 0);
    else b[0] = (first + i) & 0xff;
    return b;
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A TCP relay on loopback to `port` counting the bytes each way, over every connection. */
async function startRelay(port: number) {
  const counts = { toBroker: 0, fromBroker: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (b: Buffer) => {
      counts.toBroker += b.length;
    });
    upstream.on('data', (b: Buffer) => {
      counts.fromBroker += b.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return {
    port: typeof a === 'object' && a !== null ? a.port : 0,
    counts,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Phases

interface LatencyRow {
  broker: Broker;
  size: number;
  tasks: number;
  p50: number;
  p95: number;
  mean: number;
  max: number;
  load: number;
}
interface ThroughputRow {
  broker: Broker;
  size: number;
  workers: number;
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  mibPerSecond: number;
  load: number;
}
interface BytesRow {
  broker: Broker;
  size: number;
  tasks: number;
  toBrokerPerTask: number;
  fromBrokerPerTask: number;
  totalPerPayloadByte: number;
  load: number;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function check(out: string, payload: Buffer, broker: Broker): void {
  if (out !== sha256(payload)) {
    throw new FedscoreError('internal', `${broker}: a worker's answer is not its payload's digest`, {
      field: 'result',
    });
  }
}

let queueNumber = 0;

async function withWorkers<T>(
  broker: Broker,
  ep: Endpoint,
  workers: number,
  relayPort: number | undefined,
  body: (caller: Caller) => Promise<T>,
): Promise<T> {
  const queue = `qc-${broker}-${++queueNumber}`;
  const children: ChildProcess[] = [];
  // The caller first: it creates the queue (and, for pg-boss, its tables) the workers then serve.
  const caller = await ep.caller(queue, relayPort);
  try {
    const arg = relayPort === undefined ? ep.workerArg : ep.via(relayPort);
    await Promise.all(Array.from({ length: workers }, () => startChoiceWorker(broker, arg, queue, children)));
    // Warm-up: connections and first-use paths, not measured.
    for (const p of payloads(1024, 2)) check(await caller.run(p), p, broker);
    return await body(caller);
  } finally {
    await stopWorkers(children);
    await caller.close();
  }
}

async function latencyPhase(broker: Broker, ep: Endpoint, size: number, tasks: number): Promise<LatencyRow> {
  const ms: number[] = [];
  await withWorkers(broker, ep, 1, undefined, async (caller) => {
    for (const p of payloads(size, tasks)) {
      const t = performance.now();
      const out = await caller.run(p);
      ms.push(performance.now() - t);
      check(out, p, broker);
    }
  });
  return {
    broker,
    size,
    tasks,
    p50: median(ms),
    p95: quantile(ms, 0.95),
    mean: ms.reduce((a, b) => a + b, 0) / ms.length,
    max: Math.max(...ms),
    load: loadavg()[0]!,
  };
}

async function throughputPhase(
  broker: Broker,
  ep: Endpoint,
  size: number,
  tasks: number,
  workers: number,
): Promise<ThroughputRow> {
  const seconds = await withWorkers(broker, ep, workers, undefined, async (caller) => {
    const ps = payloads(size, tasks);
    const t = performance.now();
    const outs = await Promise.all(ps.map((p) => caller.run(p)));
    const s = (performance.now() - t) / 1000;
    for (const [i, o] of outs.entries()) check(o, ps[i]!, broker);
    return s;
  });
  return {
    broker,
    size,
    workers,
    tasks,
    seconds,
    tasksPerSecond: tasks / seconds,
    mibPerSecond: (tasks * size) / 2 ** 20 / seconds,
    load: loadavg()[0]!,
  };
}

async function bytesPhase(broker: Broker, ep: Endpoint, size: number, tasks: number): Promise<BytesRow> {
  const relay = await startRelay(ep.port);
  try {
    const counted = await withWorkers(broker, ep, 1, relay.port, async (caller) => {
      const before = { ...relay.counts };
      for (const p of payloads(size, tasks)) check(await caller.run(p), p, broker);
      return {
        toBroker: relay.counts.toBroker - before.toBroker,
        fromBroker: relay.counts.fromBroker - before.fromBroker,
      };
    });
    return {
      broker,
      size,
      tasks,
      toBrokerPerTask: counted.toBroker / tasks,
      fromBrokerPerTask: counted.fromBroker / tasks,
      totalPerPayloadByte: (counted.toBroker + counted.fromBroker) / tasks / size,
      load: loadavg()[0]!,
    };
  } finally {
    await relay.close();
  }
}

// ---------------------------------------------------------------------------------------------------

function perSize(args: string[], name: string, fallback: string, sizes: number): number[] {
  const v = ints(args, name, fallback);
  if (v.length !== sizes) {
    throw new FedscoreError('invalid_argument', `${name} takes one count per size (${sizes})`, {
      field: name,
    });
  }
  return v;
}

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const sizeLabel = (n: number): string =>
  n >= 2 ** 20 ? `${round(n / 2 ** 20, 2)} MiB (${n} B)` : n >= 1024 ? `${round(n / 1024, 1)} KiB` : `${n} B`;

function packageVersion(name: string): string {
  try {
    const dir = join(ROOT, 'node_modules', '.pnpm');
    const hit = execFileSync('ls', [dir])
      .toString()
      .split('\n')
      .find((d) => d.startsWith(`${name}@`));
    if (hit !== undefined) {
      const pkg = JSON.parse(readFileSync(join(dir, hit, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      };
      return pkg.version;
    }
  } catch {}
  return 'unknown';
}

export default async function run(args: string[]): Promise<BenchResult> {
  const sizes = ints(args, '--sizes', '1024,1048576,4560387');
  const latencyTasks = perSize(args, '--latency-tasks', '40,20,15', sizes.length);
  const throughputTasks = perSize(args, '--throughput-tasks', '200,40,24', sizes.length);
  const bytesTasks = perSize(args, '--bytes-tasks', '20,5,4', sizes.length);
  const workerCounts = ints(args, '--workers', '1,2');

  const skipped: string[] = [];
  const endpoints: Partial<Record<Broker, Endpoint>> = {};
  const stops: (() => Promise<void> | void)[] = [];
  const versions: Record<string, string> = {};
  try {
    if (args.includes('--skip-pgboss')) skipped.push('pg-boss: skipped by --skip-pgboss');
    else {
      const why = postgresUnavailable();
      if (why !== undefined) skipped.push(`pg-boss: ${why}`);
      else {
        const cluster = await startPgCluster();
        stops.push(() => cluster.stop());
        const db = new pg.Client({ connectionString: cluster.url });
        await db.connect();
        versions.postgresql = (await db.query<{ v: string }>("SELECT current_setting('server_version') AS v"))
          .rows[0]!.v;
        await db.end();
        versions['pg-boss'] = packageVersion('pg-boss');
        endpoints.pgboss = pgbossEndpoint(cluster.url);
      }
    }
    if (args.includes('--skip-bullmq')) skipped.push('BullMQ: skipped by --skip-bullmq');
    else {
      const bin = redisServer();
      if (bin === undefined) {
        skipped.push(
          "BullMQ: redis-server not found in /usr/bin or /usr/local/bin (Debian's redis-server package; not installed by .ci/run)",
        );
      } else {
        const redis = await startRedis(bin);
        stops.push(() => redis.stop());
        versions.redis = redis.version;
        versions.bullmq = packageVersion('bullmq');
        versions.ioredis = packageVersion('ioredis');
        const probe = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
        await probe.connect();
        await probe.quit();
        endpoints.bullmq = bullmqEndpoint(redis.port);
      }
    }
    for (const s of skipped) console.error(`bench queue-choice: ${s}`);

    const brokers = (['pgboss', 'bullmq'] as const).filter((b) => endpoints[b] !== undefined);
    const latency: LatencyRow[] = [];
    const throughput: ThroughputRow[] = [];
    const bytes: BytesRow[] = [];
    const loadStart = loadavg();
    for (const [i, size] of sizes.entries()) {
      // Alternate which broker goes first, so a load change between them does not favour one.
      const order = i % 2 === 0 ? brokers : [...brokers].reverse();
      for (const b of order) {
        const ep = endpoints[b]!;
        console.error(`bench queue-choice: ${b} ${size} B`);
        latency.push(await latencyPhase(b, ep, size, latencyTasks[i]!));
        for (const w of workerCounts)
          throughput.push(await throughputPhase(b, ep, size, throughputTasks[i]!, w));
        bytes.push(await bytesPhase(b, ep, size, bytesTasks[i]!));
      }
    }
    const loadEnd = loadavg();

    const tables: BenchTable[] = [
      {
        title: 'Latency: enqueue to result, one task at a time, one worker process (ms)',
        columns: ['queue', 'payload', 'tasks', 'p50', 'p95', 'mean', 'max', 'load 1m'],
        rows: latency.map((r) => [
          LABEL[r.broker],
          sizeLabel(r.size),
          r.tasks,
          round(r.p50),
          round(r.p95),
          round(r.mean),
          round(r.max),
          round(r.load, 2),
        ]),
      },
      {
        title: 'Throughput: a batch enqueued at once, first enqueue to last result',
        columns: [
          'queue',
          'payload',
          'worker processes',
          'tasks',
          's',
          'tasks/s',
          'payload MiB/s',
          'load 1m',
        ],
        rows: throughput.map((r) => [
          LABEL[r.broker],
          sizeLabel(r.size),
          r.workers,
          r.tasks,
          round(r.seconds, 2),
          round(r.tasksPerSecond, 1),
          round(r.mibPerSecond, 1),
          round(r.load, 2),
        ]),
        note: 'Each worker process runs one task at a time.',
      },
      {
        title: 'Bytes through the broker per task (coordinator and worker, both directions, one worker)',
        columns: ['queue', 'payload', 'tasks', 'to the broker', 'from the broker', 'total / payload bytes'],
        rows: bytes.map((r) => [
          LABEL[r.broker],
          sizeLabel(r.size),
          r.tasks,
          Math.round(r.toBrokerPerTask),
          Math.round(r.fromBrokerPerTask),
          round(r.totalPerPayloadByte, 2),
        ]),
        note:
          "Counted by a TCP relay between the broker and all of the phase's connections (caller and worker), " +
          "so the queue libraries' background polling during the tasks is included; the answer is 64 hex characters.",
      },
    ];
    const summary: Record<string, number> = {};
    for (const r of latency) summary[`latency_p50_ms_${r.broker}_${r.size}`] = round(r.p50);
    for (const r of throughput)
      summary[`tasks_per_s_${r.broker}_${r.size}_${r.workers}w`] = round(r.tasksPerSecond, 2);
    for (const r of bytes)
      summary[`broker_bytes_per_payload_byte_${r.broker}_${r.size}`] = round(r.totalPerPayloadByte, 2);
    return {
      summary,
      parameters: {
        sizes_bytes: sizes,
        latency_tasks: latencyTasks,
        throughput_tasks: throughputTasks,
        bytes_tasks: bytesTasks,
        worker_processes: workerCounts,
        ...versions,
        skipped,
        load_average_start_1m_5m_15m: loadStart,
        load_average_end_1m_5m_15m: loadEnd,
        brokers:
          'throwaway servers on loopback, same machine as caller and workers: PostgreSQL (initdb, fsync off), redis-server (no RDB, no AOF)',
        handler: 'SHA-256 of the payload (hex), checked by the caller',
      },
      tables,
      notes: [
        'pg-boss as shipped in @fedscore/queue: the caller is `QueueExecutor` (task bytes in `fedscore_task_input`, a pg-boss job, the result by LISTEN/NOTIFY with a 1 s poll floor), the worker `serveTaskQueue` (two round trips per task: duplicate check + input read, then result + input delete + NOTIFY in one statement; pg-boss fetches in batches of two, polls every 0.5 s besides NOTIFY).',
        "BullMQ raw: `Queue.add` with the payload base64 in the job's JSON (BullMQ's data is JSON), `attempts: 6`, `removeOnComplete: true`; a `Worker` with concurrency 1; results from one `QueueEvents` listener. It has none of the executor's task ids by digest, result rows or shared blobs.",
        "Two caveats on the bytes: the relay sits in this process (the caller), so the bytes phase is not timed; and the pg-boss caller writes the input as binary and the worker reads it by binary COPY (`serveTaskQueue`'s default byte transfer, 'copy'), 1.0x the payload each way, where BullMQ moves base64 both ways (4/3 x 2).",
      ],
      raw: { latency, throughput, bytes },
    };
  } finally {
    for (const s of stops.reverse()) await s();
  }
}
