/**
 * Horizontal FL as party processes (issue 20, `bench net --kind hfl`): the node's `hfl` job -- FedAvg or
 * FedProx rounds under secure aggregation (packages/pipeline/src/stages/hfl.ts), then evaluate and publish
 * -- with the coordinator (the platform, holding the common test set) and each bank its own `fedscore
 * node` OS process over gRPC with mutual TLS, every link through a shaping proxy (./shaper.ts); and the
 * same job in this process over the in-memory network (`runHflInProcess`, what `fedscore train fedavg`
 * runs), on the same rows and seed, for the ratio and the AUC check.
 *
 * Data: the generated population dealt to non-IID banks by region (`splitHorizontal`, packages/datasets),
 * each bank's rows its own CSV file, the common test set the platform's. Each bank grants the platform
 * consent for all its customers (its node requires consent, as deployed); the job is submitted to the
 * platform's store, exactly as a user submits one (`fedscore jobs submit` writes the same row).
 *
 * Read back across processes: the stage times (first `attempt` to last `stage_done` over the nodes' job
 * events), each round's seconds from the coordinator's train checkpoint (its own clock around the round:
 * local training at the banks and every secure-aggregation phase; the same field in memory), the bytes
 * each party put on the wire per round (the proxies' timelines between the coordinator's `progress`
 * events, one per round when rounds <= 10; otherwise a segment's bytes are shared equally among its
 * rounds), the AUC from the coordinator's evaluate checkpoint, and each process's CPU seconds.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ProgressEvent } from '@fedscore/core';
import { readCsvFile, writeCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, generatePopulation, ID_COLUMN, splitHorizontal } from '@fedscore/datasets';
import { type JobEvent, type JobStore, submitJob, validateJobSpec } from '@fedscore/node';
import { type NodeCluster, trainingConsents } from '@fedscore/node/testing';
import { type HflEvaluateCheckpoint, type HflTrainCheckpoint, runHflInProcess } from '@fedscore/pipeline';
import {
  cpuSecondsOf,
  cpuSecondsSince,
  type PartyProcesses,
  proxiesQuiet,
  sentThroughProxies,
  startPartyProcesses,
  waitForJob,
  withJobStore,
} from './parties.ts';
import type { LinkShape } from './shaper.ts';

const JOB_ID = 'netbench-hfl';
export const HFL_COORDINATOR = 'platform';
export const HFL_STAGES = ['train', 'evaluate', 'publish'] as const;

/** What one HFL job is: data and FedAvg settings, the same for every profile. */
export interface HflShape {
  /** Enterprises generated; 20 % are the common test set, the rest are dealt to the banks. */
  readonly enterprises: number;
  /** Banks (2 to 8; secure aggregation needs at least 2). */
  readonly banks: number;
  /** At most this many rows per bank. */
  readonly bankRows: number;
  readonly model: 'lr' | 'mlp';
  readonly rounds: number;
  readonly learningRate: number;
  readonly batchSize: number;
  /** FedProx μ (0 = FedAvg). */
  readonly proximalMu: number;
  readonly seed: number;
  /**
   * The parties' names and data sources, when not the defaults (`platform` with its `test` set, `bank-1`..
   * with their `loans`): `bench net --smoke-kinds` runs the job on the hetero-LR job's processes, with
   * the arbiter as the coordinator and the bank and the government as the banks.
   */
  readonly names?: HflNames;
}

export interface HflNames {
  readonly coordinator: string;
  /** One per bank (`banks` of them). */
  readonly banks: readonly string[];
  /** The coordinator's data source (its test set) and each bank's. */
  readonly testData: string;
  readonly bankData: string;
}

export const bankIds = (shape: Pick<HflShape, 'banks' | 'names'>): string[] =>
  shape.names !== undefined
    ? [...shape.names.banks]
    : Array.from({ length: shape.banks }, (_, i) => `bank-${i + 1}`);

export const coordinatorOf = (shape: Pick<HflShape, 'names'>): string =>
  shape.names?.coordinator ?? HFL_COORDINATOR;

export const hflParties = (shape: Pick<HflShape, 'banks' | 'names'>): string[] => [
  coordinatorOf(shape),
  ...bankIds(shape),
];

/** The job spec both runs use: the node validates it into the plan; the in-process run takes that plan. */
export function hflJobSpec(shape: HflShape) {
  const banks = bankIds(shape);
  const coordinator = coordinatorOf(shape);
  return {
    id: JOB_ID,
    kind: 'hfl' as const,
    guest: coordinator,
    hosts: banks,
    data: Object.fromEntries([
      [coordinator, shape.names?.testData ?? 'test'],
      ...banks.map((b) => [b, shape.names?.bankData ?? 'loans']),
    ]) as Record<string, string>,
    seed: shape.seed,
    model: 'netbench-hfl',
    hfl: {
      model: shape.model,
      rounds: shape.rounds,
      secureAgg: true,
      learningRate: shape.learningRate,
      batchSize: shape.batchSize,
      proximalMu: shape.proximalMu,
    },
  };
}

export interface HflData {
  /** Each party's CSV: the platform's test set and each bank's rows. */
  readonly files: Readonly<Record<string, string>>;
  readonly rows: Readonly<Record<string, number>>;
  readonly columns: number;
}

/** Generate the population, deal it to the banks and write every party's CSV into `dir`. */
export async function writeHflData(shape: HflShape, dir: string): Promise<HflData> {
  const split = splitHorizontal(
    generatePopulation({ enterprises: shape.enterprises, overlap: 1, defaultRate: 0.1, seed: shape.seed }),
    { banks: shape.banks, bankRows: shape.bankRows, seed: shape.seed + 1 },
  );
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  const rows: Record<string, number> = {};
  const banks = bankIds(shape);
  for (const [i, b] of split.banks.entries()) {
    files[banks[i]!] = join(dir, `${banks[i]}.csv`);
    rows[banks[i]!] = b.table.ids.length;
    await writeCsvFile(files[banks[i]!]!, b.table);
  }
  const coordinator = coordinatorOf(shape);
  files[coordinator] = join(dir, 'test.csv');
  rows[coordinator] = split.test.ids.length;
  await writeCsvFile(files[coordinator], split.test);
  return { files, rows, columns: split.columns.length };
}

export interface HflStageFigures {
  readonly seconds: number;
  /** Bytes each party sent during the stage (wire bytes across processes, envelope bytes in memory). */
  readonly bytesSent: Record<string, number>;
}

export interface HflRun {
  readonly mode: 'processes' | 'memory';
  readonly stages: Partial<Record<(typeof HFL_STAGES)[number], HflStageFigures>>;
  /** Each round's seconds, from the coordinator's train checkpoint (its clock around the round). */
  readonly roundSeconds: readonly number[];
  /** Bytes each party sent in each round (index r - 1). */
  readonly roundBytes: Record<string, number[]>;
  /** The coordinator's test AUC and KS (its evaluate checkpoint). */
  readonly auc: number;
  readonly ks: number;
  readonly testRows: number;
  /** The TensorFlow.js backend the banks trained on (the coordinator's train checkpoint). */
  readonly backend: string;
  readonly totalSeconds: number;
  /** Across processes: CPU seconds (user + system) of each node process, start to the end of the job. */
  readonly cpuSeconds?: Record<string, number>;
}

const readTable = (f: string) =>
  readCsvFile(f, { file: f, idColumn: ID_COLUMN, labelColumn: DEFAULT_LABEL_COLUMN, impute: 'keep' });

/**
 * Run the job with the platform and every bank its own `fedscore node` process, every ordered pair of
 * parties through its own proxy shaped by `link` (so each byte is counted per sender and shaped per
 * direction, whichever pairs the protocol uses).
 */
export async function runHflAcrossProcesses(
  shape: HflShape,
  data: HflData,
  link: LinkShape,
  options: { readonly timeoutMs?: number; readonly log?: (line: string) => void } = {},
): Promise<HflRun> {
  const parties = hflParties(shape);
  const processes = await startPartyProcesses({
    parties,
    link,
    data: (p) => hflDataSources(shape, data, p),
    consents: async (cluster) => grantHflConsents(shape, data, cluster),
    ...(options.log !== undefined && { log: options.log }),
  });
  try {
    return await runHflJobOn(processes, shape, options);
  } finally {
    await processes.close();
  }
}

/** `p`'s data source of the job: the coordinator's test set or a bank's rows (both labelled). */
export function hflDataSources(
  shape: HflShape,
  data: HflData,
  p: string,
): Record<string, { path: string; id: string; label: string }> {
  const name =
    p === coordinatorOf(shape) ? (shape.names?.testData ?? 'test') : (shape.names?.bankData ?? 'loans');
  return { [name]: { path: data.files[p]!, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } };
}

/** Each bank's consent for the coordinator to train on all its customers (its node requires consent). */
export async function grantHflConsents(
  shape: HflShape,
  data: HflData,
  cluster: NodeCluster<string>,
): Promise<void> {
  for (const b of bankIds(shape)) {
    const t = await readCsvFile(data.files[b]!, { idColumn: ID_COLUMN, impute: 'keep' });
    cluster.grantConsents(b, trainingConsents(t.ids, coordinatorOf(shape)));
  }
}

/**
 * Submit the job to the coordinator's node of running `processes` (a superset of the job's parties may
 * run) and read the run back once it is done.
 */
export async function runHflJobOn(
  processes: PartyProcesses<string>,
  shape: HflShape,
  options: { readonly timeoutMs?: number; readonly log?: (line: string) => void } = {},
): Promise<HflRun> {
  const log = options.log ?? (() => {});
  const parties = hflParties(shape);
  const coordinator = coordinatorOf(shape);
  const { cluster, procs, proxies } = processes;
  const jobsOf = <T>(p: string, fn: (j: JobStore) => T): T =>
    withJobStore(cluster.stateDir(p), p === coordinator, fn);
  // Shared processes: the previous job's last bytes are delivered before this one's windows open.
  if (processes.shared) await proxiesQuiet(proxies);
  const cpuBase = processes.shared ? cpuSecondsOf(parties, procs) : {};
  const t0 = Date.now();
  jobsOf(coordinator, (jobs) => submitJob(jobs, coordinator, hflJobSpec(shape)));
  log('job submitted');
  await waitForJob({
    read: () => jobsOf(coordinator, (jobs) => jobs.get(JOB_ID)),
    parties,
    procs,
    coordinator: coordinator,
    deadline: t0 + (options.timeoutMs ?? 600_000),
    log,
  });
  const totalSeconds = (Date.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsSince(parties, procs, cpuBase) as Record<string, number>;
  const events = Object.fromEntries(parties.map((p) => [p, jobsOf(p, (jobs) => jobs.events(JOB_ID))]));
  const train = jobsOf(coordinator, (jobs) => jobs.requireCheckpoint<HflTrainCheckpoint>(JOB_ID, 'train'));
  const evaluate = jobsOf(coordinator, (jobs) =>
    jobs.requireCheckpoint<HflEvaluateCheckpoint>(JOB_ID, 'evaluate'),
  );
  const sentBetween = (p: string, from: number, to: number): number =>
    sentThroughProxies(p, parties, proxies, from, to);
  const stages: HflRun['stages'] = {};
  for (const stage of HFL_STAGES) {
    const all = parties.flatMap((p) => (events[p] as JobEvent[]).filter((e) => e.stage === stage));
    const start = Math.min(...all.filter((e) => e.kind === 'attempt').map((e) => e.time));
    const end = Math.max(...all.filter((e) => e.kind === 'stage_done').map((e) => e.time));
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    stages[stage] = {
      seconds: (end - start) / 1000,
      bytesSent: Object.fromEntries(parties.map((p) => [p, sentBetween(p, start, end)])),
    };
  }
  const coordinatorEvents = events[coordinator] as JobEvent[];
  const trainStart = Math.min(
    ...coordinatorEvents.filter((e) => e.stage === 'train' && e.kind === 'attempt').map((e) => e.time),
  );
  // The coordinator's recorded round ends (progress events: `unit=round done=r total=R`).
  const marks: { round: number; time: number }[] = [{ round: 0, time: trainStart }];
  for (const e of coordinatorEvents) {
    const m = /^unit=round done=(\d+) total=\d+$/.exec(e.kind === 'progress' ? (e.detail ?? '') : '');
    if (m !== null && e.time >= trainStart) marks.push({ round: Number(m[1]), time: e.time });
  }
  const roundBytes: Record<string, number[]> = Object.fromEntries(
    parties.map((p) => [p, new Array<number>(train.rounds).fill(0)]),
  );
  for (let i = 1; i < marks.length; i++) {
    const a = marks[i - 1]!;
    const b = marks[i]!;
    const covered = b.round - a.round;
    if (covered <= 0) continue;
    for (const p of parties) {
      const bytes = sentBetween(p, a.time, b.time);
      for (let r = a.round; r < b.round; r++) roundBytes[p]![r] = bytes / covered;
    }
  }
  return {
    mode: 'processes',
    stages,
    roundSeconds: train.history.map((h) => h.seconds),
    roundBytes,
    auc: evaluate.auc,
    ks: evaluate.ks,
    testRows: evaluate.testRows,
    backend: train.backend,
    totalSeconds,
    ...(Object.keys(cpuSeconds).length > 0 && { cpuSeconds }),
  };
}

/**
 * The same job in this process: `runHflInProcess` (the pipeline's stage functions over the in-memory
 * network with the real wire codec, each party its own store) on the plan the node validates from the
 * same spec, the same CSV files read as the node reads them. Bytes are encoded envelope bytes; a message
 * belongs to the round the coordinator has not yet reported done (evaluate and publish are not split out:
 * the train stage is timed from the run's start to the last round).
 */
export async function runHflInMemory(shape: HflShape, data: HflData): Promise<HflRun> {
  const plan = validateJobSpec(hflJobSpec(shape));
  const parties = hflParties(shape);
  const coordinator = coordinatorOf(shape);
  const t0 = performance.now();
  const test = await readTable(data.files[coordinator]!);
  const banks = await Promise.all(
    bankIds(shape).map(async (id) => ({ id, table: await readTable(data.files[id]!) })),
  );
  const roundBytes: Record<string, number[]> = Object.fromEntries(
    parties.map((p) => [p, new Array<number>(shape.rounds).fill(0)]),
  );
  let roundsDone = 0;
  let trainEnd = 0;
  const onProgress = (p: ProgressEvent): void => {
    if (p.stage !== 'rounds' || p.unit !== undefined) return;
    roundsDone = Math.max(roundsDone, p.done);
    if (roundsDone === shape.rounds) trainEnd = performance.now();
  };
  const trainStart = performance.now();
  const r = await runHflInProcess({
    id: JOB_ID,
    coordinator,
    test,
    banks,
    seed: shape.seed,
    plan: plan.hfl!,
    progress: onProgress,
    onMessage: (m) => {
      if (roundsDone < shape.rounds) roundBytes[m.from]![roundsDone]! += m.bytes.length;
    },
  });
  const totalSeconds = (performance.now() - t0) / 1000;
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    mode: 'memory',
    stages: {
      // From the run's start (train is its first stage) to the coordinator's last round.
      train: {
        seconds: (trainEnd - trainStart) / 1000,
        bytesSent: Object.fromEntries(parties.map((p) => [p, sum(roundBytes[p]!)])),
      },
    },
    roundSeconds: r.train.history.map((h) => h.seconds),
    roundBytes,
    auc: r.evaluate.auc,
    ks: r.evaluate.ks,
    testRows: r.evaluate.testRows,
    backend: r.train.backend,
    totalSeconds,
  };
}
