/**
 * One training job with each party as its own OS process, over the node's real transport (gRPC with
 * mutual TLS, packages/node/src/transport/grpc.ts), every link through a shaping proxy (./shaper.ts); and
 * the same stages on the same data with all parties in this process over core's in-memory network, for
 * the ratio.
 *
 * Across processes: a generated population (packages/datasets) is written as the bank's and the
 * government's CSV files; a dev CA issues each party a certificate; each party's node config names its
 * peers at the proxies in front of them -- one proxy per ordered pair (from, to), so every byte on the
 * wire is counted per sending party and shaped per direction; the government grants consent for every
 * enterprise (its node requires consent, as deployed); the three nodes are started by the CLI entry
 * (`fedscore node --config`, through `NodeCluster` of `@fedscore/node/testing`, as the node's own tests
 * start theirs), the job is submitted to the bank's store, and the run is read back from each node's job events: the stage times (first `attempt`
 * to last `stage_done` over the parties), the epochs (`epoch_checkpoint` events), and the bytes each
 * party put on the wire during each stage (the proxies' timelines; TLS records and HTTP/2 frames
 * included -- what a network carries, not the payload).
 *
 * In memory: the same CSV files read the same way, then the same stage functions the nodes run (the
 * pipeline's psi, binning, train, evaluate and publish, `runStageInProcess`) on the plan validated from
 * the same job spec, over core's in-memory network with the real wire codec. It skips what the node
 * adds around the stages (consent filtering, checkpoints in SQLite, audit entries, job control
 * messages), so `processes / memory` is the cost of the transport, the processes and that bookkeeping
 * together.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import type { CkksPresetName } from '@fedscore/he';
import {
  type JobEvent,
  type JobRecord,
  JobStore,
  NodeStore,
  submitJob,
  validateJobSpec,
} from '@fedscore/node';
import {
  NodeCluster,
  type NodeConfigOverrides,
  type NodeProcess,
  trainingConsents,
} from '@fedscore/node/testing';
import {
  type BinningCheckpoint,
  type InProcessParty,
  type JobPlan,
  type MemoryStore,
  memoryStore,
  type PsiCheckpoint,
  pipelineFor,
  planStages,
  runStageInProcess,
} from '@fedscore/pipeline';
import { bytesBetween, type LinkShape, ShapedProxy } from './shaper.ts';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../packages/cli/src/main.ts');
export const PARTIES = ['bank', 'government', 'arbiter'] as const;
export type Party = (typeof PARTIES)[number];
/** The stages timed (evaluate and publish are small and reported in `stages` too). */
export const TIMED_STAGES = ['psi', 'binning', 'train', 'evaluate', 'publish'] as const;

/** The job kinds the harness runs: the node's 'hetero-lr' and 'secureboost' pipelines. */
export type JobKind = 'hetero-lr' | 'secureboost';

/** SecureBoost's hyperparameters the harness sets (vfl's `SecureBoostHyperparams`; the rest default). */
export interface SecureBoostShape {
  readonly trees: number;
  readonly depth: number;
  readonly bins: number;
}

/** The parties of a job of this shape, guest first (SecureBoost runs without the arbiter). */
export function partiesOf(shape: Pick<JobShape, 'kind'>): readonly Party[] {
  return shape.kind === 'secureboost' ? ['bank', 'government'] : PARTIES;
}

/** What one job is: data shape and algorithm settings, the same for both runs. */
export interface JobShape {
  /** Default 'hetero-lr' (arbiter mode). 'secureboost' has no arbiter and no binning stage. */
  readonly kind?: JobKind;
  /** SecureBoost's trees, depth and bins (kind 'secureboost' only). */
  readonly secureboost?: SecureBoostShape;
  /** Government enterprises (the host's rows). */
  readonly enterprises: number;
  /** Bank customers (the guest's rows; most are government enterprises). */
  readonly bankCustomers: number;
  /** Bank customers the government does not hold (default: the generator's 3 % of `bankCustomers`). */
  readonly bankOnlyCustomers?: number;
  /** Features beyond the generator's 24 government and 14 bank ones. */
  readonly govExtraFeatures: number;
  readonly bankExtraFeatures: number;
  readonly bins: number;
  readonly minIv: number;
  readonly maxEpochs: number;
  readonly batchSize: number;
  readonly seed: number;
  /**
   * The job's hold-out share (absent: the node's default, JOB_DEFAULTS.testFraction). 0: every aligned
   * row is trained on, as FATE's benchmark does (evaluation then in-sample; hetero-LR only).
   */
  readonly testFraction?: number;
  /** The train stage's CKKS preset (absent: the pipeline's default for the kind). */
  readonly ckksPreset?: CkksJobPreset;
  /**
   * The job asks for parameters below 128-bit security (`allowWeakParameters`: the smoke's
   * SMOKE_CKKS_PRESET), and every party accepts them (node config `accept.weakParameters`, in memory
   * each party's `he`). Never in a measured run.
   */
  readonly allowWeakParameters?: boolean;
}

/**
 * The NOT SECURE CKKS preset the smoke trains hetero-LR with (@fedscore/he presets.ts: the default
 * preset's moduli at N = 2048; a job spec names it only with `allowWeakParameters`): the same code paths
 * as the default's, with keys ~8x smaller and faster to make. Its figures mean nothing.
 */
export const SMOKE_CKKS_PRESET = 'ckks-2048-smoke-insecure' satisfies CkksPresetName;

/** A CKKS preset a job's `train.ckksPreset` may name (@fedscore/he's presets). */
export type CkksJobPreset = CkksPresetName;

export interface StageFigures {
  readonly seconds: number;
  /** Bytes each party sent during the stage (wire bytes across processes, payload bytes in memory). */
  readonly bytesSent: Record<Party, number>;
}

export interface JobRun {
  readonly mode: 'processes' | 'memory';
  readonly stages: Partial<Record<(typeof TIMED_STAGES)[number], StageFigures>>;
  /** Seconds of each training epoch, from the guest's view. */
  readonly epochSeconds: readonly number[];
  /**
   * Bytes each party sent in each training epoch, over the same intervals as `epochSeconds` (epoch 1 from
   * the start of `train`, so it carries the key setup; each later one from the guest's previous epoch
   * checkpoint to its own). Wire bytes across processes (the proxies' timelines, 5 ms resolution), encoded
   * envelope bytes in memory. Messages after the last checkpoint (the model's publication inside the
   * stage) are in no epoch.
   */
  readonly epochBytes?: readonly Record<Party, number>[];
  readonly alignedRows: number;
  /** Features each party kept after binning's IV selection (hetero-LR with every stage run). */
  readonly selectedFeatures?: { readonly bank: number; readonly government: number };
  readonly totalSeconds: number;
  /**
   * Across processes: CPU seconds (user + system) each node process used from its start to the end of
   * the run, read from /proc (Linux; absent elsewhere). Their sum over the cores is the run's CPU-bound
   * time on an idle machine, which a loaded machine's wall clock is not.
   */
  readonly cpuSeconds?: Partial<Record<Party, number>>;
}

/** CPU seconds (utime + stime) of a live process from /proc/<pid>/stat, or undefined off Linux. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    // USER_HZ is 100 on every Linux ABI Node runs on.
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The shaping proxies between node processes: one per ordered pair of `parties` (`from>to`, forwarding
 * to `to`'s gRPC port, `link` on the way up), put into `proxies` (the caller closes them).
 */
export async function startProxies(
  parties: readonly string[],
  ports: Readonly<Record<string, number>>,
  link: LinkShape,
  proxies: Map<string, ShapedProxy>,
): Promise<void> {
  for (const from of parties) {
    for (const to of parties) {
      if (from === to) continue;
      proxies.set(
        `${from}>${to}`,
        await ShapedProxy.start({ target: { host: '127.0.0.1', port: ports[to]! }, up: link }),
      );
    }
  }
}

/** `p`'s peers, each at the proxy of the ordered pair (p, peer): a node config's `peers`. */
export function peersThroughProxies(
  p: string,
  parties: readonly string[],
  proxies: ReadonlyMap<string, ShapedProxy>,
): Record<string, { address: string }> {
  return Object.fromEntries(
    parties
      .filter((q) => q !== p)
      .map((q) => [q, { address: `127.0.0.1:${proxies.get(`${p}>${q}`)!.port}` }]),
  );
}

/** Wire bytes `p` sent through the proxies between the times `from` and `to` (ms). */
export function sentThroughProxies(
  p: string,
  parties: readonly string[],
  proxies: ReadonlyMap<string, ShapedProxy>,
  from: number,
  to: number,
): number {
  let n = 0;
  for (const q of parties) {
    if (q === p) continue;
    // p's own connections to q carry p's requests up; q's connections to p carry p's replies down.
    n += bytesBetween(proxies.get(`${p}>${q}`)!.stats.up, from, to);
    n += bytesBetween(proxies.get(`${q}>${p}`)!.stats.down, from, to);
  }
  return n;
}

/** `fn` over the job store in `stateDir` (a node's state), opened read-only unless `writable`. */
export function withJobStore<T>(stateDir: string, writable: boolean, fn: (jobs: JobStore) => T): T {
  const store = NodeStore.open(stateDir, { readOnly: !writable });
  try {
    return fn(new JobStore(store));
  } finally {
    store.close();
  }
}

/**
 * Poll the coordinator's job (`read`, every 200 ms) until it is done or `stop` says enough, logging each
 * new stage; throws when it fails (with the coordinator's log), when a node process exits, or after
 * `deadline` (ms since the epoch).
 */
export async function waitForJob<P extends string>(options: {
  readonly read: () => JobRecord | undefined;
  readonly parties: readonly P[];
  readonly procs: Partial<Record<P, NodeProcess>>;
  readonly coordinator: P;
  readonly deadline: number;
  readonly log: (line: string) => void;
  readonly stop?: (job: JobRecord | undefined) => boolean;
}): Promise<void> {
  const { procs, parties } = options;
  let lastStage: string | null = null;
  for (;;) {
    const j = options.read();
    if (j?.stage !== lastStage) {
      lastStage = j?.stage ?? null;
      options.log(`stage ${lastStage}`);
    }
    if (j?.status === 'failed')
      throw new Error(
        `the job failed: ${j.error?.code} ${j.error?.message}\n${procs[options.coordinator]?.log.join('\n')}`,
      );
    if (j?.status === 'done') return;
    if (options.stop?.(j) === true) return;
    if (Date.now() > options.deadline) throw new Error(`the job timed out at stage ${j?.stage}`);
    for (const p of parties) {
      if (procs[p]!.child.exitCode !== null)
        throw new Error(`${p} node exited during the job:\n${procs[p]!.log.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The CPU seconds of each node process still readable (`processCpuSeconds`). */
export function cpuSecondsOf<P extends string>(
  parties: readonly P[],
  procs: Partial<Record<P, NodeProcess>>,
): Partial<Record<P, number>> {
  const out: Partial<Record<P, number>> = {};
  for (const p of parties) {
    const c = processCpuSeconds(procs[p]?.child.pid);
    if (c !== undefined) out[p] = c;
  }
  return out;
}

const JOB_ID = 'netbench';

/** The job both runs do: submitted to the bank's node across processes, validated into the plan in memory. */
function jobSpec(shape: JobShape, id: string = JOB_ID) {
  if (shape.kind === 'secureboost') {
    return {
      id,
      kind: 'secureboost' as const,
      guest: 'bank',
      hosts: ['government'],
      data: { bank: 'loans', government: 'credit' },
      seed: shape.seed,
      ...(shape.testFraction !== undefined && { testFraction: shape.testFraction }),
      train: {
        scheme: 'ckks' as const,
        ...(shape.ckksPreset !== undefined && { ckksPreset: shape.ckksPreset }),
      },
      ...(shape.secureboost !== undefined && { secureboost: { ...shape.secureboost } }),
      ...(shape.allowWeakParameters === true && { allowWeakParameters: true }),
    };
  }
  return {
    id,
    guest: 'bank',
    hosts: ['government'],
    arbiter: 'arbiter',
    data: { bank: 'loans', government: 'credit' },
    seed: shape.seed,
    ...(shape.testFraction !== undefined && { testFraction: shape.testFraction }),
    binning: { bins: shape.bins, minIv: shape.minIv, scheme: 'ckks' as const },
    train: {
      scheme: 'ckks' as const,
      maxEpochs: shape.maxEpochs,
      batchSize: shape.batchSize,
      ...(shape.ckksPreset !== undefined && { ckksPreset: shape.ckksPreset }),
    },
    ...(shape.allowWeakParameters === true && { allowWeakParameters: true }),
  };
}

/** Write the population's CSV files into `dir` (once; both runs read them). */
export async function writeJobData(shape: JobShape, dir: string) {
  return writePopulation(
    {
      enterprises: shape.enterprises,
      bankCustomers: shape.bankCustomers,
      // The generator takes bank-only customers as a fraction of the bank customers (default 3 %).
      ...(shape.bankOnlyCustomers !== undefined && {
        bankOnlyFraction: shape.bankOnlyCustomers / shape.bankCustomers,
      }),
      govExtraFeatures: shape.govExtraFeatures,
      bankExtraFeatures: shape.bankExtraFeatures,
      seed: shape.seed,
    },
    join(dir, 'data'),
  );
}

export type JobData = Awaited<ReturnType<typeof writeJobData>>;

/** How far a run goes: the whole job, or its `psi` stage only (PSI-only: the processes stop after it). */
export interface RunOptions {
  readonly psiOnly?: boolean;
}

/**
 * Running `fedscore node` processes, one per party, every ordered pair of parties through its own
 * shaping proxy: what one job runs on (`runAcrossProcesses`), or several jobs one after another
 * (`bench net --smoke-kinds`, which starts the processes once). `close` stops the processes and proxies.
 */
export interface PartyProcesses<P extends string = string> {
  readonly parties: readonly P[];
  readonly cluster: NodeCluster<P>;
  readonly procs: Partial<Record<P, NodeProcess>>;
  readonly proxies: ReadonlyMap<string, ShapedProxy>;
  /** More than one job runs on these processes: a job's CPU seconds are counted from its submission. */
  readonly shared: boolean;
  /**
   * Stop the processes (SIGTERM, SIGKILL after `graceMs`, default the cluster's 10 s: a node drains its
   * running stage first) and the proxies.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Start one `fedscore node` process per party (through `NodeCluster`, as the node's own tests do), each
 * with the data sources `data(p)` names and its peers at the proxies in front of them, every link shaped by
 * `link`; `consents` grants what the hosts need before the nodes start.
 */
export async function startPartyProcesses<P extends string>(options: {
  readonly parties: readonly P[];
  readonly link: LinkShape;
  readonly data: (p: P) => NonNullable<NodeConfigOverrides['data']>;
  readonly consents: (cluster: NodeCluster<P>) => Promise<void>;
  readonly shared?: boolean;
  /** Every node accepts HE parameters below 128-bit security (config `accept.weakParameters`; smoke only). */
  readonly acceptWeakParameters?: boolean;
  readonly log?: (line: string) => void;
  /** More of `p`'s config (e.g. the host's `queue`, `bench queue --epoch`); peers, data, limits win. */
  readonly config?: (p: P) => NodeConfigOverrides;
  /**
   * The nodes' store and stage polls (config `limits.jobPollMs` and `limits.stagePollMs`, ms); default
   * the config's (500 and 300 ms). The smoke polls every 100 ms: at the defaults a job waits ~0.25 s
   * to start and each stage ~0.15 s past its end, seconds over the smoke's four jobs.
   */
  readonly pollMs?: number;
}): Promise<PartyProcesses<P>> {
  const { parties } = options;
  const proxies = new Map<string, ShapedProxy>();
  const cluster = await NodeCluster.create({
    parties,
    cliMain: CLI,
    config: (p): NodeConfigOverrides => ({
      ...options.config?.(p),
      // Each peer at the proxy of the ordered pair (p, peer).
      peers: peersThroughProxies(p, parties, proxies),
      data: options.data(p),
      limits: {
        peerDownSeconds: 120,
        retries: 2,
        ...(options.pollMs !== undefined && { jobPollMs: options.pollMs, stagePollMs: options.pollMs }),
      },
      ...(options.acceptWeakParameters === true && { accept: { weakParameters: true } }),
    }),
  });
  const procs: Partial<Record<P, NodeProcess>> = {};
  const close = async (graceMs?: number): Promise<void> => {
    if (graceMs !== undefined) {
      await Promise.all(
        Object.values<NodeProcess | undefined>(procs).map((p) =>
          p === undefined ? undefined : cluster.stopProcess(p, graceMs),
        ),
      );
    }
    await cluster.close();
    for (const p of proxies.values()) await p.close();
  };
  try {
    await startProxies(parties, cluster.ports, options.link, proxies);
    await options.consents(cluster);
    options.log?.(`starting the ${parties.length} node processes`);
    await Promise.all(
      parties.map(async (p) => {
        procs[p] = await cluster.startProcess(p, { readyTimeoutMs: 120_000 });
      }),
    );
  } catch (e) {
    await close();
    throw e;
  }
  return { parties, cluster, procs, proxies, shared: options.shared === true, close };
}

/**
 * Wait until no proxy has delivered a byte for `quietMs` (giving up after `timeoutMs`): on node processes
 * shared by several jobs, the last frames of the previous job (acknowledgements, trailers, delayed by the
 * link's shape) must be through before the next job's stage windows open, or the proxies' time-stamped
 * bytes put them in its first stage -- e.g. a party that takes no part in it.
 */
export async function proxiesQuiet(
  proxies: ReadonlyMap<string, ShapedProxy>,
  quietMs = 300,
  timeoutMs = 5_000,
): Promise<void> {
  const delivered = (): number => {
    let n = 0;
    for (const p of proxies.values()) n += p.stats.up.bytes + p.stats.down.bytes;
    return n;
  };
  const t0 = Date.now();
  let last = delivered();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 50));
    const now = delivered();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

/** The data sources of the job's parties: the bank's loans (labelled) and the government's credit file. */
export function jobDataSources(p: string, data: JobData): NonNullable<NodeConfigOverrides['data']> {
  return p === 'bank'
    ? { loans: { path: data.bank.path, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
    : p === 'government'
      ? { credit: { path: data.government.path, id: ID_COLUMN } }
      : {};
}

/** The government's consent for the bank to train on every enterprise of its file (as deployed). */
export async function grantJobConsents(cluster: NodeCluster<string>, data: JobData): Promise<void> {
  const govIds = (await readCsvFile(data.government.path, { idColumn: ID_COLUMN, impute: 'keep' })).ids;
  cluster.grantConsents('government', trainingConsents(govIds, 'bank'));
}

/** CPU seconds each process used since `base` (a reading of `cpuSecondsOf`); `base` empty: since start. */
export function cpuSecondsSince<P extends string>(
  parties: readonly P[],
  procs: Partial<Record<P, NodeProcess>>,
  base: Partial<Record<P, number>>,
): Partial<Record<P, number>> {
  const now = cpuSecondsOf(parties, procs);
  const out: Partial<Record<P, number>> = {};
  for (const p of parties) {
    if (now[p] !== undefined) out[p] = Math.round((now[p]! - (base[p] ?? 0)) * 100) / 100;
  }
  return out;
}

/**
 * Run the job with each party as its own `fedscore node` process, every link shaped by `link`. The data
 * must have been written by `writeJobData` into `dataDir`. With `psiOnly` the run ends when the bank's
 * node has recorded the `psi` stage done by every party (the next stage has started; the processes are
 * then stopped): the figures are that stage's.
 */
export async function runAcrossProcesses(
  shape: JobShape,
  data: JobData,
  link: LinkShape,
  options: RunOptions & { readonly timeoutMs?: number; readonly log?: (line: string) => void } = {},
): Promise<JobRun> {
  const parties: readonly string[] = partiesOf(shape);
  const processes = await startPartyProcesses<string>({
    parties,
    link,
    data: (p) => jobDataSources(p, data),
    consents: (cluster) => grantJobConsents(cluster, data),
    ...(shape.allowWeakParameters === true && { acceptWeakParameters: true }),
    ...(options.log !== undefined && { log: options.log }),
  });
  try {
    return await runJobOn(processes, shape, options);
  } finally {
    await processes.close();
  }
}

/**
 * Submit the job (id `jobId`, default 'netbench') to the bank's node of running `processes` (a superset
 * of the job's parties may run) and read the run back from the nodes' job events once it is done (or,
 * with `psiOnly`, once every party has finished psi: the job then runs on until the processes stop, so a
 * PSI-only job is the last one on shared processes).
 */
export async function runJobOn(
  processes: PartyProcesses<string>,
  shape: JobShape,
  options: RunOptions & {
    readonly timeoutMs?: number;
    readonly log?: (line: string) => void;
    readonly jobId?: string;
  } = {},
): Promise<JobRun> {
  const log = options.log ?? (() => {});
  const parties = partiesOf(shape);
  const psiOnly = options.psiOnly === true;
  const { cluster, procs, proxies } = processes;
  const jobsOf = <T>(p: Party, fn: (j: JobStore) => T): T =>
    withJobStore(cluster.stateDir(p), p === 'bank', fn);
  const id = options.jobId ?? JOB_ID;
  // Shared processes: the previous job's last bytes are delivered before this one's windows open.
  if (processes.shared) await proxiesQuiet(proxies);
  const cpuBase = processes.shared ? cpuSecondsOf(parties, procs) : {};
  const t0 = Date.now();
  jobsOf('bank', (jobs) => submitJob(jobs, 'bank', jobSpec(shape, id)));
  log(`job ${id} submitted`);
  await waitForJob({
    read: () => jobsOf('bank', (jobs) => jobs.get(id)),
    parties,
    procs,
    coordinator: 'bank',
    deadline: t0 + (options.timeoutMs ?? 600_000),
    log,
    // PSI-only: every party has finished psi once the bank's job is at a later stage.
    stop: (j) => psiOnly && j?.stage != null && j.stage !== 'psi',
  });
  const totalSeconds = (Date.now() - t0) / 1000;
  const cpuSeconds = cpuSecondsSince(parties, procs, cpuBase);
  const events = {} as Record<Party, readonly JobEvent[]>;
  for (const p of PARTIES) events[p] = parties.includes(p) ? jobsOf(p, (jobs) => jobs.events(id)) : [];
  const psi = jobsOf('bank', (jobs) => jobs.requireCheckpoint<{ rows: number[]; test: number[] }>(id, 'psi'));
  const selected =
    psiOnly || shape.kind === 'secureboost'
      ? undefined
      : {
          bank: jobsOf(
            'bank',
            (j) => j.requireCheckpoint<{ selected: string[] }>(id, 'binning').selected.length,
          ),
          government: jobsOf(
            'government',
            (j) => j.requireCheckpoint<{ selected: string[] }>(id, 'binning').selected.length,
          ),
        };
  const sentBetween = (p: Party, from: number, to: number): number =>
    parties.includes(p) ? sentThroughProxies(p, parties, proxies, from, to) : 0;
  const stages: JobRun['stages'] = {};
  for (const stage of psiOnly ? (['psi'] as const) : TIMED_STAGES) {
    const all = PARTIES.flatMap((p) => events[p].filter((e) => e.stage === stage));
    const start = Math.min(...all.filter((e) => e.kind === 'attempt').map((e) => e.time));
    const end = Math.max(...all.filter((e) => e.kind === 'stage_done').map((e) => e.time));
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    stages[stage] = {
      seconds: (end - start) / 1000,
      bytesSent: Object.fromEntries(PARTIES.map((p) => [p, sentBetween(p, start, end)])) as Record<
        Party,
        number
      >,
    };
  }
  const trainStart = Math.min(
    ...events.bank.filter((e) => e.stage === 'train' && e.kind === 'attempt').map((e) => e.time),
  );
  const marks = [trainStart, ...events.bank.filter((e) => e.kind === 'epoch_checkpoint').map((e) => e.time)];
  const epochSeconds = marks.slice(1).map((t, i) => (t - marks[i]!) / 1000);
  const epochBytes = marks
    .slice(1)
    .map(
      (t, i) =>
        Object.fromEntries(PARTIES.map((p) => [p, sentBetween(p, marks[i]!, t)])) as Record<Party, number>,
    );
  return {
    mode: 'processes',
    stages,
    epochSeconds,
    ...(epochBytes.length > 0 && { epochBytes }),
    alignedRows: psi.rows.length,
    ...(selected !== undefined && { selectedFeatures: selected }),
    totalSeconds,
    ...(Object.keys(cpuSeconds).length > 0 && { cpuSeconds }),
  };
}

/**
 * The same stages on the same files with the three parties in this process: the pipeline's stage
 * functions, the ones each node runs over gRPC (packages/pipeline `runStageInProcess`), each party with
 * its own in-memory store, over the in-memory network with the real wire codec (bytes are encoded
 * envelope bytes), on the plan the node validates from the same job spec. The epochs are timed as across
 * processes: from the start of `train` to each epoch checkpoint the bank saves.
 */
export async function runInMemory(
  shape: JobShape,
  data: JobData,
  options: RunOptions & { readonly jobId?: string } = {},
): Promise<JobRun> {
  const jobParties = partiesOf(shape);
  const t0 = performance.now();
  const bank: Table = await readCsvFile(data.bank.path, {
    idColumn: ID_COLUMN,
    labelColumn: DEFAULT_LABEL_COLUMN,
  });
  const gov: Table = await readCsvFile(data.government.path, { idColumn: ID_COLUMN });
  const plan: JobPlan = { ...validateJobSpec(jobSpec(shape, options.jobId)), id: options.jobId ?? JOB_ID };
  const epochMarks: number[] = [];
  const bankStore = memoryStore();
  const stores: Record<Party, MemoryStore> = {
    bank: {
      ...bankStore,
      saveEpochCheckpoint(stage, epoch, bytes) {
        bankStore.saveEpochCheckpoint(stage, epoch, bytes);
        epochMarks.push(performance.now());
      },
    },
    government: memoryStore(),
    arbiter: memoryStore(),
  };
  const tables: Partial<Record<Party, Table>> = { bank, government: gov };
  const parties: InProcessParty[] = jobParties.map((id) => ({
    id,
    store: stores[id],
    ...(shape.allowWeakParameters === true && {
      he: { allowPlaintextScheme: false, allowWeakParameters: true },
    }),
    ...(tables[id] !== undefined && { table: tables[id] }),
  }));
  const stages: Record<string, StageFigures> = {};
  // Bytes per party per training epoch: bucket i holds what was sent after i epoch checkpoints.
  const epochSent: Record<Party, number>[] = [];
  let trainStart = 0;
  const pipeline = pipelineFor(shape.kind ?? 'hetero-lr');
  const stageDefs = planStages(pipeline, plan).filter((s) => options.psiOnly !== true || s.name === 'psi');
  for (const stage of stageDefs) {
    const sent = Object.fromEntries(PARTIES.map((p) => [p, 0])) as Record<Party, number>;
    const s0 = performance.now();
    if (stage.name === 'train') trainStart = s0;
    await runStageInProcess(stage, {
      plan,
      parties,
      onMessage: (m) => {
        sent[m.from as Party] += m.bytes.length;
        if (stage.name !== 'train') return;
        const at = epochMarks.length;
        epochSent[at] ??= Object.fromEntries(PARTIES.map((p) => [p, 0])) as Record<Party, number>;
        const bucket = epochSent[at]!;
        bucket[m.from as Party] += m.bytes.length;
      },
    });
    stages[stage.name] = { seconds: (performance.now() - s0) / 1000, bytesSent: sent };
  }
  const marks = [trainStart, ...epochMarks];
  const psi = stores.bank.checkpoint<PsiCheckpoint>('psi');
  const zero = (): Record<Party, number> =>
    Object.fromEntries(PARTIES.map((p) => [p, 0])) as Record<Party, number>;
  const epochBytes = epochMarks.map((_, i) => epochSent[i] ?? zero());
  return {
    mode: 'memory',
    stages,
    epochSeconds: marks.slice(1).map((t, i) => (t - marks[i]!) / 1000),
    ...(epochBytes.length > 0 && { epochBytes }),
    alignedRows: psi.rows.length,
    ...(options.psiOnly !== true &&
      shape.kind !== 'secureboost' && {
        selectedFeatures: {
          bank: stores.bank.checkpoint<BinningCheckpoint>('binning').selected.length,
          government: stores.government.checkpoint<BinningCheckpoint>('binning').selected.length,
        },
      }),
    totalSeconds: (performance.now() - t0) / 1000,
  };
}
