/**
 * `pnpm bench cost-model-portfolio [--enterprises 102400] [--features 330] [--workers 1,2] [--runs 5]
 *                                  [--skip-run]`
 *
 * Issue 18's cost model for portfolio scoring on the queue (task kind `linearCombinations`,
 * packages/scoring batch.ts), kept apart from `bench cost-model` (its hetero-LR, binning, PSI and
 * SecureBoost runs take the best part of an hour on this shared machine; this one takes minutes):
 *
 * 1. Measures, in the same minutes, what `predictPortfolioScoring` (src/cost-model.ts) needs at the level
 *    the run's blocks go at (`inputLevel: 'lowest'`, as `fedscore score batch` sends them): the data
 *    owner's encryption of one column of a block, a worker's whole task as `fedscore worker` runs it
 *    (decode the stored envelope, `linearCombinationsHandler`: load, multiply-add, re-randomize,
 *    serialize) at two column counts (per column and per block by a straight line), the data owner's
 *    decryption of a block's scores, the bytes of each, and the byte path's rates on a throwaway
 *    PostgreSQL (the model owner's task encoding + id, INSERT, binary COPY read: queue-portfolio's
 *    `bytePath`, on a block of --features columns).
 * 2. Runs portfolio scoring for real on the queue (`runBatchScoring` with its model owner's blocks
 *    offloaded to a `QueueExecutor`, `fedscore worker` processes, both roles in this process as
 *    `fedscore score batch --queue` runs them) at --enterprises x --features with each of --workers
 *    worker processes, and checks the prediction for this machine (everything on its cores) against it.
 * 3. Predicts 10M enterprises x 330 features on N = 1, 2, 4, 8, 16 worker machines of 16 cores (one
 *    `fedscore worker` process a core), the data owner encrypting and decrypting on a 16-core machine,
 *    the database at the rates measured here, and says which resource bounds it at each N.
 *
 * Not a test: every time depends on the machine's load, recorded before and after each part.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { FedscoreError, normal, seededRng } from '@fedscore/core';
import {
  createCkksContext,
  type LinearCombinationsRequest,
  linearCombinationsHandler,
  loadCkksPublicContext,
} from '@fedscore/he';
import { decodeEnvelope, encodeTask, HE_TASK_SHARED_FIELDS, QueueExecutor } from '@fedscore/queue';
import { startPgCluster, startWorker } from '@fedscore/queue/testing';
import { runBatchScoring } from '@fedscore/scoring';
import {
  type PortfolioByteRates,
  type PortfolioCosts,
  type PortfolioPrediction,
  portfolioBytesBoundAt,
  predictPortfolioScoring,
  relativeError,
} from './cost-model.ts';
import { cpuOf, postgresCpu } from './proc-cpu.ts';
import { flag, ints, round, stopWorkers } from './queue.bench.ts';
import { bytePath } from './queue-portfolio.bench.ts';
import type { BenchResult, BenchTable } from './report.ts';
import { median } from './report.ts';

const TARGET = { enterprises: 10_000_000, features: 330 };
const TARGET_MACHINES = [1, 2, 4, 8, 16];
const CORES_PER_MACHINE = 16;

function medianMs(runs: number, f: () => void): number {
  f(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const load = (): number[] => loadavg().map((x) => round(x, 2));
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${round(100 * x, 1)} %`;
const mb = (b: number): string => `${round(b / 1e6, 1)}`;

/** The columns and the model of a run: values well inside ckks-8192's range, weights of norm ~1. */
function population(enterprises: number, features: number) {
  const rng = seededRng('cost-model-portfolio');
  const columns = Array.from({ length: features }, () =>
    Float64Array.from({ length: enterprises }, () => normal(rng)),
  );
  const weights = Array.from({ length: features }, () => normal(rng) / Math.sqrt(features));
  const model = { features: columns.map((_, j) => `x${j}`), weights, intercept: -1.5 };
  return { columns, model };
}

export default async function costModelPortfolioBench(args: string[]): Promise<BenchResult> {
  const enterprises = Number(flag(args, '--enterprises', '102400'));
  const features = Number(flag(args, '--features', '330'));
  const workerCounts = ints(args, '--workers', '1,2');
  const runs = Number(flag(args, '--runs', '5'));
  const skipRun = args.includes('--skip-run');
  for (const [name, v] of [
    ['--enterprises', enterprises],
    ['--features', features],
    ['--runs', runs],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new FedscoreError('invalid_argument', `${name} takes a positive integer`, { field: name });
    }
  }
  const cores = availableParallelism();
  const loads: Record<string, number[]> = { start: load() };
  const { columns, model } = population(enterprises, features);

  // --- 1. per-block costs, at the level the run sends its blocks at -------------------------------
  // The run's own choice of level ('lowest'), read back from the bytes of a one-block run below; the
  // measurements use ckks-8192 (runBatchScoring's data-owner-mode preset) at level 1, which that run
  // confirms (its bytes against these).
  const ctx = await createCkksContext({ params: 'ckks-8192', relinearization: false });
  const S = ctx.slotCount;
  const level = 1;
  const pub = await loadCkksPublicContext(ctx.serialize({ compression: 'none' }), {
    expected: { scheme: 'ckks' },
  });
  const handler = linearCombinationsHandler(pub);
  const context = ctx.serialize({ compression: 'none' });
  const rng = seededRng('cost-model-portfolio/block');
  const column = () => Float64Array.from({ length: S }, () => normal(rng));
  const encOpts = { compression: 'none', level } as const;
  const v = column();
  const encryptMsPerColumn = medianMs(runs * 4, () => ctx.encryptSymmetricSerialized(v, encOpts));
  const request = (f: number): LinearCombinationsRequest => ({
    op: 'linearCombinations',
    jobs: [
      {
        ciphertexts: Array.from({ length: f }, () => ctx.encryptSymmetricSerialized(column(), encOpts)),
        add: Float64Array.from({ length: S }, () => -1.5 + normal(rng) * 2 ** -20),
      },
    ],
    first: 0,
    weights: Array.from({ length: f }, () => normal(rng) / Math.sqrt(f)),
    rerandomize: true,
    level,
    outputLevel: 0,
    options: { compression: 'none' },
    context,
  });
  // A worker's task: decode the stored envelope, then the handler (the context is a shared field the
  // worker holds already).
  const workerMs = (req: LinearCombinationsRequest) => {
    const { bytes } = encodeTask(req, HE_TASK_SHARED_FIELDS);
    return {
      bytes: bytes.length,
      ms: medianMs(runs, () => {
        const env = decodeEnvelope(bytes);
        handler({ ...(env.task as LinearCombinationsRequest), context });
      }),
    };
  };
  // Two column counts around the task size (the line is fitted where it is used).
  const fb = Math.max(2, features);
  const fa = Math.max(1, Math.round(fb / 4));
  const ra = request(fa);
  const rb = request(fb);
  const wa = workerMs(ra);
  const wb = workerMs(rb);
  const evalMsPerColumn = (wb.ms - wa.ms) / (fb - fa);
  const evalMsPerBlock = Math.max(0, wa.ms - fa * evalMsPerColumn);
  const inputBytesPerColumn = (wb.bytes - wa.bytes) / (fb - fa);
  const inputBytesPerBlock = wa.bytes - fa * inputBytesPerColumn;
  const scores = handler(ra)[0]!;
  const decryptMsPerBlock = medianMs(runs * 2, () => {
    const c = ctx.deserializeVector(scores);
    try {
      ctx.decrypt(c);
    } finally {
      c.dispose();
    }
  });
  loads.afterOps = load();

  const cluster = await startPgCluster();
  const children: ChildProcess[] = [];
  const runRows: (string | number)[][] = [];
  const checks: {
    workers: number;
    measured: number;
    predicted: PortfolioPrediction;
    load: number[][];
    bytes: number;
    cpu: { coordinator: number; workers: number; postgres: number };
  }[] = [];
  let rates: PortfolioByteRates;
  let costs: PortfolioCosts;
  let path: Awaited<ReturnType<typeof bytePath>>;
  try {
    // The byte path on one block task of --features columns (each its own ciphertext: V8's serializer
    // writes a repeated object once).
    path = await bytePath(cluster, rb, runs);
    loads.afterBytePath = load();
    rates = {
      encodeBytesPerSecond: path.bytes / (path.encodeTaskMs / 1000),
      dbWriteBytesPerSecond: path.bytes / (path.pgInsertMs / 1000),
      dbReadBytesPerSecond: path.bytes / (path.pgReadCopyMs / 1000),
    };
    costs = {
      slots: S,
      encryptMsPerColumn,
      decryptMsPerBlock,
      evalMsPerColumn,
      evalMsPerBlock,
      inputBytesPerColumn,
      inputBytesPerBlock,
      outputBytesPerBlock: scores.length,
      // queue-portfolio's steady median at level 1 (results/queue-portfolio.md): enqueue, pick-up, store.
      queueOverheadMs: 72,
    };

    // --- 2. the real run ------------------------------------------------------------------------
    if (!skipRun) {
      for (const n of workerCounts) {
        const queue = `portfolio-${n}`;
        const executor = await QueueExecutor.create<LinearCombinationsRequest, Uint8Array[]>({
          connectionString: cluster.url,
          queue,
          sharedFields: HE_TASK_SHARED_FIELDS,
        });
        try {
          const pids: number[] = [];
          for (let i = 0; i < n; i++) pids.push((await startWorker(cluster.url, queue, children)).pid!);
          const port = Number(new URL(cluster.url).port);
          const before = load();
          const cpu0 = { w: pids.map((p) => cpuOf(p)), p: postgresCpu(port) };
          const r = await runBatchScoring({
            model,
            columns,
            poolSize: 2,
            inputLevel: 'lowest',
            offload: { executor, taskIdPrefix: `cost-model-portfolio.${n}` },
          });
          const after = load();
          // CPU seconds the run took, by process (its warm-up included for the workers and PostgreSQL).
          const cpu = {
            coordinator: r.runCpuSeconds,
            workers: pids.reduce((a, p, i) => a + cpuOf(p) - cpu0.w[i]!, 0),
            postgres: postgresCpu(port) - cpu0.p,
          };
          // The run's own bytes say which level it sent: per block, features ciphertexts of that level.
          const predicted = predictPortfolioScoring({ enterprises, features }, costs, rates, {
            workers: n,
            coresPerWorker: 1,
            dataOwnerCores: 2,
            sharedCores: cores,
          });
          checks.push({
            workers: n,
            measured: r.runSeconds,
            predicted,
            load: [before, after],
            bytes: r.bytesToModelOwner,
            cpu,
          });
          runRows.push([
            `${n} worker process(es), ${cores} cores shared`,
            round(r.runSeconds, 1),
            round(predicted.wallSeconds, 1),
            pct(relativeError(predicted.wallSeconds, r.runSeconds)),
            predicted.bound,
            `${round(predicted.encryptSeconds, 1)} / ${round(predicted.encodeSeconds, 1)} / ${round(predicted.databaseSeconds, 1)} / ${round(predicted.workerSeconds, 1)} / ${round(predicted.sharedSeconds, 1)}`,
            `${round(predicted.fillSeconds, 2)} / ${round(predicted.decryptSeconds, 2)}`,
            `${round(cpu.coordinator, 1)} / ${round(cpu.workers, 1)} / ${round(cpu.postgres, 1)} (model: ${round(predicted.encryptSeconds * 2 + (predicted.blocks * decryptMsPerBlock) / 1000 + predicted.encodeSeconds, 1)} / ${round(predicted.workerSeconds * n, 1)} / ${round(predicted.databaseSeconds, 1)})`,
            `${mb(r.bytesToModelOwner)} vs ${mb(predicted.blocks * (features * inputBytesPerColumn))}`,
            `${before.join(' / ')} -> ${after.join(' / ')}`,
          ]);
        } finally {
          await stopWorkers(children);
          await executor.close();
        }
      }
    }
  } finally {
    await stopWorkers(children);
    cluster.stop();
    ctx.dispose();
    pub.dispose();
  }
  loads.end = load();

  // --- 3. the target --------------------------------------------------------------------------
  const place = { coresPerWorker: CORES_PER_MACHINE, dataOwnerCores: CORES_PER_MACHINE };
  const targetRows: (string | number)[][] = [];
  const targetRaw: Record<string, PortfolioPrediction> = {};
  for (const n of TARGET_MACHINES) {
    const p = predictPortfolioScoring(TARGET, costs, rates, { ...place, workers: n });
    targetRaw[`N=${n}`] = p;
    targetRows.push([
      n,
      n * CORES_PER_MACHINE,
      round(p.encryptSeconds, 0),
      round(p.encodeSeconds, 0),
      round(p.databaseSeconds, 0),
      round(p.workerSeconds, 0),
      round(p.fillSeconds + p.decryptSeconds, 1),
      round(p.wallSeconds, 0),
      round(p.wallSeconds / 60, 1),
      p.bound,
    ]);
  }
  const bytesAt = portfolioBytesBoundAt(TARGET, costs, rates, place);
  const target1 = targetRaw['N=1']!;
  // Where the workers' CPU alone would have put it with a database that kept up.
  const unbound = TARGET_MACHINES.map((n) => {
    const p = targetRaw[`N=${n}`]!;
    return `${n}: ${round(Math.max(p.encryptSeconds, p.encodeSeconds, p.workerSeconds), 0)} s`;
  }).join(', ');
  const dbNeeded =
    target1.dbBytes /
    Math.max(target1.encryptSeconds, target1.encodeSeconds, targetRaw['N=16']!.workerSeconds);

  const costRows: (string | number)[][] = [
    [
      'data owner: encrypt one column of a block (seeded symmetric, level 1, serialized)',
      round(encryptMsPerColumn, 2),
      'ms',
    ],
    [`worker: one task, ${fa} columns (decode the envelope, handler)`, round(wa.ms, 1), 'ms'],
    [`worker: one task, ${fb} columns`, round(wb.ms, 1), 'ms'],
    ['worker: per column (the line through both)', round(evalMsPerColumn, 2), 'ms'],
    [
      'worker: per block (addend, re-randomization, level drop, serialization)',
      round(evalMsPerBlock, 1),
      'ms',
    ],
    ["data owner: load and decrypt a block's scores", round(decryptMsPerBlock, 2), 'ms'],
    ['bytes in a task: per column', round(inputBytesPerColumn, 0), 'bytes'],
    ['bytes in a task: per block (addend, weights, envelope)', round(inputBytesPerBlock, 0), 'bytes'],
    ["bytes of a block's scores (level 0)", scores.length, 'bytes'],
    [
      `model owner: encode a ${features}-column task + SHA-256 id (${mb(path.bytes)} MB)`,
      round(path.encodeTaskMs, 1),
      `ms = ${round(rates.encodeBytesPerSecond / 1e6, 0)} MB/s`,
    ],
    [
      'database: INSERT (binary parameter)',
      round(path.pgInsertMs, 1),
      `ms = ${round(rates.dbWriteBytesPerSecond / 1e6, 0)} MB/s`,
    ],
    [
      'database: read (binary COPY)',
      round(path.pgReadCopyMs, 1),
      `ms = ${round(rates.dbReadBytesPerSecond / 1e6, 0)} MB/s`,
    ],
    [
      'queue overhead per task (enqueue, pick-up, store; queue-portfolio steady median, level 1)',
      costs.queueOverheadMs,
      'ms (pipeline fill only)',
    ],
  ];
  const tables: BenchTable[] = [
    {
      title: `Measured per-block costs (ckks-8192, ${S} enterprises a block, this run)`,
      columns: ['what', 'value', 'unit'],
      rows: costRows,
      note: `Medians of ${runs} (encryption ${runs * 4}, decryption ${runs * 2}) on one thread of this ${cores}-core machine under the load in the parameters. The worker line is fitted through ${fa} and ${fb} columns. The byte path: queue-portfolio's bytePath on a block task of ${features} columns (${round(path.bytes / 1e6, 1)} MB) on a throwaway PostgreSQL on loopback (fsync off).`,
    },
    ...(runRows.length === 0
      ? []
      : [
          {
            title: `Check: portfolio scoring on the queue, ${enterprises} enterprises x ${features} features (${Math.ceil(enterprises / S)} blocks), everything on this machine`,
            columns: [
              'run',
              'measured s',
              'predicted s',
              'error',
              'bound (predicted)',
              "s: data owner's encryption / task encoding / database / workers' CPU / all on the shared cores",
              's: fill / decryptions',
              'CPU s measured: this process (data owner + model owner) / workers / PostgreSQL (model: encryption + decryption + encoding / workers / database bytes)',
              'MB to the model owner: measured (plan with the public context + blocks) vs the blocks at level 1 (model)',
              'load average 1/5/15 before -> after',
            ],
            rows: runRows,
            note: `runBatchScoring as \`fedscore score batch --queue\` runs it: data-owner mode, inputLevel 'lowest', the data owner's pool of 2 threads, the model owner's blocks on a QueueExecutor served by \`fedscore worker\` processes (one task at a time each), the database, coordinator and workers on the same ${cores} cores. Seconds: the run after the warm-up (context stored, workers' context loaded). The prediction for this machine adds every CPU term (the database's bytes counted as its CPU) over the ${cores} cores; the other terms are each resource alone.`,
          },
        ]),
    {
      title: `Prediction: ${TARGET.enterprises / 1e6}M enterprises x ${TARGET.features} features (${target1.blocks} blocks, ${round(target1.dbBytes / 1e9, 1)} GB through the database) on N worker machines of ${CORES_PER_MACHINE} cores`,
      columns: [
        'N machines',
        'worker cores',
        "data owner's encryption s (16 cores)",
        "model owner's task encoding s (one thread)",
        "database's bytes s",
        "workers' CPU s",
        'fill + decryptions s',
        'wall s',
        'wall min',
        'bound by',
      ],
      rows: targetRows,
      note: `This run's per-block costs and byte rates: a core as fast as this loaded one, one database as fast as this machine's loopback cluster (every byte written once and read once: ${round(rates.dbWriteBytesPerSecond / 1e6, 0)} MB/s in, ${round(rates.dbReadBytesPerSecond / 1e6, 0)} MB/s out, one after the other). Bytes-bound ${bytesAt === undefined ? 'at no N up to 1024' : `from N = ${bytesAt}`}: the database's ${round(target1.databaseSeconds, 0)} s stay while the workers' CPU falls as 1/N (without that bound the slowest other resource would give, by N: ${unbound}); to keep pace with the next slowest resource at N = 16 the database would have to write and then read ${round(dbNeeded / 1e6, 0)} MB/s of task bytes (1 / (1 / write + 1 / read); here ${round(1e-6 / (1 / rates.dbWriteBytesPerSecond + 1 / rates.dbReadBytesPerSecond), 0)} MB/s). Left out: the links between the parties (the record blocks cross from the data owner to the model owner: ${round((target1.blocks * (TARGET.features * inputBytesPerColumn)) / 1e9, 1)} GB, ${round((target1.blocks * (TARGET.features * inputBytesPerColumn) * 8) / 1e9, 0)} s at 1 Gb/s, a stream of its own that overlaps the others), several databases or a faster one, pg-boss's own rows, the workers' contention on the database's connections.`,
    },
  ];
  const check = (n: number) => checks.find((c) => c.workers === n);
  return {
    summary: {
      target: `${TARGET.enterprises} x ${TARGET.features}`,
      ...Object.fromEntries(
        TARGET_MACHINES.map((n) => [`wall_s_${n}_machines`, round(targetRaw[`N=${n}`]!.wallSeconds, 0)]),
      ),
      ...Object.fromEntries(TARGET_MACHINES.map((n) => [`bound_${n}_machines`, targetRaw[`N=${n}`]!.bound])),
      bytes_bound_from_machines: bytesAt ?? 'none up to 1024',
      ...Object.fromEntries(
        workerCounts.flatMap((n) => {
          const c = check(n);
          return c === undefined
            ? []
            : [
                [`check_${n}_workers_measured_s`, round(c.measured, 1)],
                [`check_${n}_workers_predicted_s`, round(c.predicted.wallSeconds, 1)],
                [`check_${n}_workers_error`, pct(relativeError(c.predicted.wallSeconds, c.measured))],
              ];
        }),
      ),
    },
    parameters: {
      command: `bench cost-model-portfolio ${args.join(' ')}`.trim(),
      enterprises,
      features,
      worker_counts: workerCounts,
      runs,
      preset: 'ckks-8192',
      level: level,
      cores,
      target: TARGET,
      target_machines: TARGET_MACHINES,
      cores_per_machine: CORES_PER_MACHINE,
      load_average_1m_5m_15m: loads,
      database: 'throwaway cluster on loopback (initdb, fsync off), same machine as coordinator and workers',
    },
    tables,
    notes: [
      "How the model composes the stages: src/cost-model.ts, `predictPortfolioScoring` (the blocks stream through the data owner's encryption, the model owner's task encoding, the database and the workers; the slowest bounds the run; the data owner decrypts every block after the last arrives, batch.ts). Its arithmetic is checked by hand in benchmarks/test/cost-model.test.ts.",
      'The machine is shared with other engineers (load averages in the parameters): the per-op times, the rates and the check run are all inflated by that load, in the same minutes.',
    ],
    raw: { costs, rates, bytePath: path, checks, target: targetRaw },
  };
}
