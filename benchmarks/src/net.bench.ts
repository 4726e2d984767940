/**
 * `pnpm bench net [--network memory|lan|wan|all] [--enterprises 10000] [--bank-customers 6000] [--min-iv 0.02]
 *                 [--gov-extra 0] [--bank-extra 0] [--epochs 2] [--batch 1024] [--bins 10] [--smoke]
 *                 [--psi-only] [--bank-only N] [--kind hetero-lr|secureboost|hfl] [--trees 1] [--depth 3]
 *                 [--sbt-bins 32] [--skip-memory] [--timeout-minutes 10] [--test-fraction 0.3] [--fate-shape]
 *                 [--banks 3] [--bank-rows 4000] [--rounds 10] [--hfl-model mlp|lr]
 *                 [--learning-rate 0.1 (mlp) | 0.3 (lr)] [--hfl-batch 32] [--mu 0] [--ckks-preset NAME]
 *                 [--smoke --smoke-kinds]`
 *
 * One training job (PSI -> WOE binning with selection by IV -> arbiter-mode hetero-LR under CKKS ->
 * evaluate -> publish) on the generated population, run
 *   - `memory`: every party in this process over the in-memory network (net/parties.ts `runInMemory`);
 *   - `lan` / `wan`: each party its own `fedscore node` process over gRPC with mutual TLS, every link
 *     through the user-space shaper (net/shaper.ts: lan 1 Gbps / 0.1 ms, wan 100 Mbps / 50 ms one way).
 * Reports per profile the seconds of each stage, training seconds per epoch, and bytes sent per party per
 * stage, and the ratio of each shaped profile to `memory` on the same files (target: lan within 1.3x).
 * `--network all` (the default) runs memory, lan and wan in that order on the same data.
 *
 * `--psi-only`: the job's `psi` stage only (the processes stop when every party has finished it), for
 * PSI at sizes whose later stages would not fit here: n x n with 50% overlap is `--enterprises n
 * --bank-customers n/2 --bank-only n/2`. `--kind secureboost`: the node's SecureBoost job (bank and
 * government only; no binning stage; `--trees`, `--depth`, `--sbt-bins` its hyperparameters, CKKS).
 * `--skip-memory`: only the shaped profile (a size whose in-memory figure is already measured).
 *
 * `--kind hfl`: horizontal FL (net/hfl.ts): the node's `hfl` job, FedAvg (FedProx with `--mu`) under
 * secure aggregation, with the coordinator (platform) and each of `--banks` banks its own node process;
 * `--enterprises` generated (default 20,000; 20 % the platform's test set), at most `--bank-rows` per bank.
 * Reports seconds per round, the job's seconds, bytes per party per round and the test AUC of every
 * profile against the in-process run's (which always runs: it is the reference; `--skip-memory` only
 * leaves its timings out of the comparison rows).
 *
 * `--ckks-preset`: the train stage's CKKS preset (absent: the pipeline's default; hetero-LR's arbiter
 * mode needs its default, ckks-16384-release, for the masks it releases).
 *
 * `--smoke --smoke-kinds [--psi-network lan|wan]` (the CI smoke of `bench all`, `smokeKinds` below): the
 * HFL job, hetero-LR, SecureBoost and PSI-only at their smoke sizes as four jobs on one start of the
 * three node processes, each kind in memory too; writes net, net-secureboost, net-hfl and net-psi. The
 * PSI-only job runs over `--psi-network` (default `--network`'s profile): the proxies are reshaped.
 *
 * Default size: 10,000 enterprises (about a minute per profile on this 2-core machine). The anchors'
 * shape, FATE's 100k x (30 + 300), is `--fate-shape` (FATE_SHAPE: `--enterprises 100000 --bank-customers
 * 100000 --gov-extra 276 --bank-extra 16 --min-iv 0 --epochs 2 --batch 8192 --test-fraction 0`; any flag
 * given beside it wins): for a quiet machine, not a shared one. `--test-fraction` is the job's hold-out
 * share (default the node's 0.3); 0 trains on every aligned row, as FATE's benchmark does (100,000 rows
 * per epoch at the FATE shape), and the job's evaluation is then in-sample.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CKKS_PRESETS, type CkksPresetName } from '@fedscore/he';
import { JOB_DEFAULTS } from '@fedscore/pipeline';
import {
  coordinatorOf,
  grantHflConsents,
  HFL_STAGES,
  type HflData,
  type HflRun,
  type HflShape,
  hflDataSources,
  hflParties,
  runHflAcrossProcesses,
  runHflInMemory,
  runHflJobOn,
  writeHflData,
} from './net/hfl.ts';
import {
  grantJobConsents,
  type JobKind,
  type JobRun,
  type JobShape,
  jobDataSources,
  PARTIES,
  type PartyProcesses,
  partiesOf,
  proxiesQuiet,
  runAcrossProcesses,
  runInMemory,
  runJobOn,
  SMOKE_CKKS_PRESET,
  startPartyProcesses,
  TIMED_STAGES,
  writeJobData,
} from './net/parties.ts';
import { NETWORK_PROFILES, type NetworkProfile, PROFILE_SHAPES } from './net/shaper.ts';
import type { BenchResult, BenchTable } from './report.ts';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number >= 0`);
  return v;
}

const log = (line: string): void => {
  process.stderr.write(`[net bench] ${line}\n`);
};

/**
 * `--fate-shape`: FATE 2.0's hetero-LR benchmark shape, 100,000 aligned rows x (30 bank + 300 government
 * features; the generator's 14 + 16 and 24 + 276), every feature kept (min IV 0) and every aligned row
 * trained on (test fraction 0: FATE's benchmark trains on all of its 100k rows; our job's evaluation is
 * then in-sample). Batch 8192: the slot count of the default CKKS preset (ckks-16384-release), one
 * ciphertext per batch; a packed product costs about the same at any batch up to the slot count, so 13
 * batches per epoch instead of 25 at 4096 (bench hetero-lr --scale-compare-batch measures both in one
 * run). FATE's own batch size for that benchmark is not published with the figure (ANCHORS.md).
 * Two epochs: the steady epoch is epoch 2 (epoch 1 carries the key setup).
 */
export const FATE_SHAPE = {
  enterprises: 100_000,
  bankCustomers: 100_000,
  govExtraFeatures: 276,
  bankExtraFeatures: 16,
  minIv: 0,
  maxEpochs: 2,
  batchSize: 8192,
  testFraction: 0,
} as const;

/** FATE 2.0 on 1 Gb LAN, 16 cores, 100k x (30 + 300) (ANCHORS.md): seconds. */
const FATE = { lrEpoch: 136, binning: 68, sbtTreeLow: 114, sbtTreeHigh: 221 };
/** SecretFlow ECDH-PSI (ANCHORS.md): 10M x 10M on 32 cores, LAN, seconds; and PSI v2 ECDH-25519. */
const SECRETFLOW_PSI = { n: 10e6, seconds: 110, cores: 32, v2Seconds: 67 };
/** Cores of the shared machine the extrapolation is from (the run's own processes all share them). */
const MACHINE_CORES = 2;

function choiceFlag<T extends string>(args: string[], name: string, allowed: readonly T[], fallback: T): T {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1] as T;
  if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return v;
}

export function profilesFrom(args: string[]): NetworkProfile[] {
  const i = args.indexOf('--network');
  const v = i < 0 ? 'all' : args[i + 1];
  if (v === 'all') return [...NETWORK_PROFILES];
  if (!(NETWORK_PROFILES as readonly string[]).includes(v ?? ''))
    throw new Error(`--network must be one of ${NETWORK_PROFILES.join(', ')}, all`);
  const shaped = v as NetworkProfile;
  if (args.includes('--skip-memory')) {
    if (shaped === 'memory') throw new Error('--skip-memory needs a shaped --network (lan or wan)');
    return [shaped];
  }
  return v === 'memory' ? ['memory'] : ['memory', shaped];
}

/**
 * Steady-state seconds per training epoch: the mean over epochs 2.. (epoch 1 across processes is timed
 * from the train stage's start and so carries the key setup; in memory the guest times its epoch loop
 * only). With one epoch, that epoch.
 */
export const perEpoch = (r: JobRun): number => {
  const e = r.epochSeconds.length > 1 ? r.epochSeconds.slice(1) : r.epochSeconds;
  return e.length === 0 ? Number.NaN : e.reduce((a, b) => a + b, 0) / e.length;
};

const trainSeconds = (r: JobRun): number => r.stages.train?.seconds ?? Number.NaN;

/**
 * Bytes per party of a steady training epoch: the mean over epochs 2.. (epoch 1 carries the key setup),
 * rounded to bytes; with one epoch, that epoch; undefined without per-epoch bytes.
 */
export function steadyEpochBytes(r: JobRun, parties: readonly string[]): Record<string, number> | undefined {
  const all = r.epochBytes ?? [];
  const e = all.length > 1 ? all.slice(1) : all;
  if (e.length === 0) return undefined;
  return Object.fromEntries(
    parties.map((p) => [p, Math.round(e.reduce((a, x) => a + (x[p as keyof typeof x] ?? 0), 0) / e.length)]),
  );
}

/** The hetero-LR or SecureBoost job of `bench net` from its flags (`--fate-shape`: FATE_SHAPE's values). */
export function jobShapeFrom(args: string[], kind: JobKind = 'hetero-lr', smoke = false): JobShape {
  const fate = args.includes('--fate-shape');
  if (fate && kind !== 'hetero-lr') throw new Error('--fate-shape is the hetero-LR job at FATE 2.0 shape');
  const preset = (name: keyof typeof FATE_SHAPE, otherwise: number): number =>
    fate ? FATE_SHAPE[name] : otherwise;
  const testFraction =
    args.includes('--test-fraction') || fate
      ? flag(args, 'test-fraction', FATE_SHAPE.testFraction)
      : undefined;
  if (testFraction !== undefined && !(testFraction < 1)) throw new Error('--test-fraction must be in [0, 1)');
  const ckksPreset = args.includes('--ckks-preset')
    ? choiceFlag(args, 'ckks-preset', Object.keys(CKKS_PRESETS) as CkksPresetName[], 'ckks-16384-release')
    : undefined;
  // The NOT SECURE smoke preset only in a smoke run, which then asks for (and accepts) weak parameters.
  const weak = ckksPreset === SMOKE_CKKS_PRESET;
  if (weak && !smoke) throw new Error(`--ckks-preset ${SMOKE_CKKS_PRESET} is NOT SECURE: smoke runs only`);
  return {
    kind,
    ...(kind === 'secureboost' && {
      secureboost: {
        trees: flag(args, 'trees', 1),
        depth: flag(args, 'depth', smoke ? 2 : 3),
        bins: flag(args, 'sbt-bins', smoke ? 8 : 32),
      },
    }),
    ...(args.includes('--bank-only') && { bankOnlyCustomers: flag(args, 'bank-only', 0) }),
    enterprises: flag(args, 'enterprises', preset('enterprises', smoke ? 600 : 10_000)),
    bankCustomers: flag(args, 'bank-customers', preset('bankCustomers', smoke ? 400 : 6_000)),
    govExtraFeatures: flag(args, 'gov-extra', preset('govExtraFeatures', 0)),
    bankExtraFeatures: flag(args, 'bank-extra', preset('bankExtraFeatures', 0)),
    bins: flag(args, 'bins', smoke ? 5 : 10),
    // --min-iv 0 keeps every feature (FATE's hetero-LR benchmark trains on all 30 + 300 columns).
    minIv: flag(args, 'min-iv', preset('minIv', 0.02)),
    maxEpochs: flag(args, 'epochs', preset('maxEpochs', smoke ? 2 : 3)),
    batchSize: flag(args, 'batch', preset('batchSize', smoke ? 256 : 1024)),
    seed: flag(args, 'seed', 7),
    ...(testFraction !== undefined && { testFraction }),
    ...(ckksPreset !== undefined && { ckksPreset }),
    ...(weak && { allowWeakParameters: true }),
  };
}

export default async function netBench(args: string[]): Promise<BenchResult> {
  const smoke = args.includes('--smoke');
  const psiOnly = args.includes('--psi-only');
  if (args.includes('--smoke-kinds')) {
    if (!smoke || psiOnly || args.includes('--kind'))
      throw new Error('--smoke-kinds runs every kind at its smoke size: use it with --smoke alone');
    return smokeKinds(args);
  }
  const chosen = choiceFlag(args, 'kind', ['hetero-lr', 'secureboost', 'hfl'] as const, 'hetero-lr');
  if (chosen === 'hfl') {
    if (psiOnly) throw new Error('--psi-only runs the psi stage of the default job kind');
    return hflNetBench(args, smoke);
  }
  const kind: JobKind = chosen;
  if (psiOnly && kind !== 'hetero-lr')
    throw new Error('--psi-only runs the psi stage of the default job kind');
  const shape = jobShapeFrom(args, kind, smoke);
  const profiles = profilesFrom(args);
  const timeoutMs = flag(args, 'timeout-minutes', 10) * 60_000;
  const load = { before: loadavg().map((x) => Math.round(x * 100) / 100) };
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-netbench-data-'));
  const runs = new Map<NetworkProfile, JobRun>();
  // The bank's rows as the generator wrote them (its customers plus those the government does not hold).
  let bankRows = shape.bankCustomers;
  try {
    log(`writing the population: ${shape.enterprises} enterprises, ${shape.bankCustomers} bank customers`);
    const data = await writeJobData(shape, dir);
    bankRows = data.options.bankCustomers + data.options.bankOnlyCustomers;
    for (const profile of profiles) {
      log(`profile ${profile}`);
      const run =
        profile === 'memory'
          ? await runInMemory(shape, data, { psiOnly })
          : await runAcrossProcesses(shape, data, PROFILE_SHAPES[profile], {
              psiOnly,
              timeoutMs,
              log: (l) => log(`${profile}: ${l}`),
            });
      runs.set(profile, run);
      log(`profile ${profile}: ${run.totalSeconds.toFixed(1)} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  return jobResult({ shape, runs, profiles, psiOnly, smoke, load, loadAfter, bankRows });
}

interface JobResultInput {
  readonly shape: JobShape;
  readonly runs: ReadonlyMap<NetworkProfile, JobRun>;
  readonly profiles: readonly NetworkProfile[];
  readonly psiOnly: boolean;
  readonly smoke: boolean;
  readonly load: { readonly before: readonly number[] };
  readonly loadAfter: readonly number[];
  /** The bank's rows as the generator wrote them (the PSI guest's ids). */
  readonly bankRows: number;
  /** The other jobs run on the same node processes (`--smoke-kinds`), for the notes. */
  readonly sharedWith?: readonly string[];
}

/** The result of one job kind's runs: tables, summary, parameters and notes. */
/** Whether a job's run is at FATE's 100k x (30 + 300) (24 + 14 generated columns plus the extras). */
function anchorSizeNote(shape: JobShape): string {
  const columns = 24 + 14 + shape.govExtraFeatures + shape.bankExtraFeatures;
  if (shape.enterprises !== 100_000 || columns !== 330) {
    return `a different size from this run (${shape.enterprises} enterprises, ${columns} columns)`;
  }
  return shape.testFraction === 0
    ? 'the same size as this run, which trains on all of its aligned rows as FATE does'
    : `the same population as this run, which holds out ${Math.round((shape.testFraction ?? JOB_DEFAULTS.testFraction) * 100)} % of its aligned rows`;
}

function jobResult(o: JobResultInput): BenchResult {
  const { shape, runs, profiles, psiOnly, smoke, load, loadAfter, bankRows } = o;
  const parties = partiesOf(shape);
  const memory = runs.get('memory');
  const sbt = shape.secureboost;
  // A job on parameters below 128-bit security (the smoke's preset) says so beside its figures.
  const weakNote =
    shape.allowWeakParameters === true && !psiOnly
      ? `NOT SECURE: the train stage ran on ${shape.ckksPreset ?? 'weak parameters'} (below 128-bit ` +
        'security; the job asked for weak parameters and every party accepted them), so that the smoke ' +
        "proves the command in seconds: its train seconds and bytes say nothing of a real run's " +
        '(ckks-16384-release, the default).'
      : undefined;
  const stagesRun = TIMED_STAGES.filter((s) => [...runs.values()].some((r) => r.stages[s] !== undefined));
  const vsMemory = (r: JobRun, f: (x: JobRun) => number): string =>
    memory === undefined || r === memory ? '-' : (f(r) / f(memory)).toFixed(2);
  const psiSeconds = (r: JobRun): number => r.stages.psi?.seconds ?? Number.NaN;
  const perTree = (r: JobRun): number => trainSeconds(r) / (sbt?.trees ?? 1);
  const stageRows: (string | number)[][] = [];
  for (const [profile, r] of runs) {
    const row: (string | number)[] = [profile];
    for (const s of stagesRun) row.push(r.stages[s]?.seconds ?? '-');
    if (psiOnly) row.push(vsMemory(r, psiSeconds));
    else if (sbt !== undefined) row.push(perTree(r), r.totalSeconds, vsMemory(r, trainSeconds));
    else {
      row.push(perEpoch(r), r.totalSeconds, vsMemory(r, perEpoch), vsMemory(r, trainSeconds));
    }
    stageRows.push(row);
  }
  const byteRows: (string | number)[][] = [];
  for (const [profile, r] of runs) {
    for (const s of stagesRun) {
      const f = r.stages[s];
      if (f === undefined) continue;
      const total = parties.reduce((a, p) => a + f.bytesSent[p], 0);
      byteRows.push([
        profile,
        s,
        ...parties.map((p) => f.bytesSent[p]),
        f.seconds > 0 ? Math.round((total * 8) / f.seconds / 1e4) / 100 : '-',
      ]);
    }
  }
  const processNote = `Stage seconds across processes: first \`attempt\` event to last \`stage_done\` event over the ${parties.length} nodes (their stores' job events)`;
  const stageTable: BenchTable = psiOnly
    ? {
        title: 'Seconds of the psi stage',
        columns: ['profile', 'psi s', 'psi vs memory'],
        rows: stageRows,
        note:
          `${processNote}: the government's consent filter of its ${shape.enterprises} ids, ECDH-PSI (both ` +
          'parties learn the intersection), the stratified hold-out and the checkpoints. In memory: the ' +
          "same stage function over the in-memory network, without the consent filter. Each party's PSI " +
          'uses its own pool of blinding workers (the default, one per core), so across processes and in ' +
          'memory alike four workers share the two cores.',
      }
    : sbt !== undefined
      ? {
          title: 'Seconds per stage and per tree',
          columns: ['profile', ...stagesRun.map((s) => `${s} s`), 'train s/tree', 'job s', 'train vs memory'],
          rows: stageRows,
          note:
            `${processNote}; train s/tree: the train stage over the trees (${sbt.trees}), CKKS key ` +
            `setup included. FATE 2.0 (16 cores, Paillier, 1 Gb LAN, 100k x (30 + 300)): ${FATE.sbtTreeLow}-` +
            `${FATE.sbtTreeHigh} s per tree -- ${anchorSizeNote(shape)}.`,
        }
      : {
          title: 'Seconds per stage and per training epoch',
          columns: [
            'profile',
            ...stagesRun.map((s) => `${s} s`),
            'train s/epoch',
            'job s',
            'epoch vs memory',
            'train vs memory',
          ],
          rows: stageRows,
          note:
            `${processNote}; train s/epoch: the mean of epochs 2.. between the guest's per-epoch ` +
            "checkpoints (epoch 1 carries the key setup), in memory the guest's own epoch times for the same " +
            'epochs; train vs memory compares the whole train stage, setup included. ' +
            `FATE 2.0 (16 cores, 1 Gb LAN, 100k x (30 + 300)): ${FATE.lrEpoch} s per coordinated-LR epoch, ` +
            `${FATE.binning} s binning -- ${anchorSizeNote(shape)}.`,
        };
  const tables: BenchTable[] = [
    stageTable,
    {
      title: 'Bytes sent per party per stage',
      columns: ['profile', 'stage', ...parties.map((p) => `${p} bytes`), 'all parties Mbit/s over the stage'],
      rows: byteRows,
      note:
        'Across processes: bytes on the wire (TLS records, HTTP/2 frames, acknowledgements) counted by the ' +
        'proxy of each link and attributed to the stage by time (5 ms resolution). In memory: encoded ' +
        'envelope bytes (the wire codec). Their difference is the transport overhead. Mbit/s = all bytes ' +
        'of the stage * 8 / its seconds: far below the link rate where computation or round trips dominate, ' +
        'and a ceiling where the transport cannot fill the link.',
    },
  ];
  // Hetero-LR's bytes per party per training epoch (issue 20 asks for them per epoch, not per stage).
  const epochByteRows: (string | number)[][] = [];
  if (!psiOnly && sbt === undefined) {
    for (const [profile, r] of runs) {
      (r.epochBytes ?? []).forEach((e, i) => {
        epochByteRows.push([profile, i + 1, ...parties.map((p) => e[p])]);
      });
    }
  }
  if (epochByteRows.length > 0) {
    tables.push({
      title: 'Bytes sent per party per training epoch',
      columns: ['profile', 'epoch', ...parties.map((p) => `${p} bytes`)],
      rows: epochByteRows,
      note:
        "Over the same intervals as the epoch times: epoch 1 from the train stage's start, so it carries the " +
        "key setup (the arbiter's public context and Galois keys to both parties); each later epoch from the " +
        "guest's previous epoch checkpoint to its own -- the steady figure. Across processes wire bytes by " +
        'time (5 ms resolution), in memory encoded envelope bytes. FATE and SecretFlow publish no bytes per ' +
        'party for their benchmarks (ANCHORS.md): nothing to put beside these.',
    });
  }
  const lan = runs.get('lan');
  const wan = runs.get('wan');
  const shaped = wan ?? lan;
  const psiIds = bankRows;
  // The PSI parties' CPU seconds (node processes, start to end of the stage): the load-free reading.
  const psiCpu = (r: JobRun): number | undefined =>
    r.cpuSeconds?.bank === undefined || r.cpuSeconds.government === undefined
      ? undefined
      : r.cpuSeconds.bank + r.cpuSeconds.government;
  const shapedCpu = shaped === undefined ? undefined : psiCpu(shaped);
  const extrapolation =
    psiOnly && shaped !== undefined
      ? psiExtrapolation(psiSeconds(shaped), psiIds, shape.enterprises, shapedCpu)
      : undefined;
  if (extrapolation !== undefined) tables.push(extrapolation.table);
  const summary: Record<string, unknown> = psiOnly
    ? {
        kind: 'psi-only',
        guestIds: psiIds,
        hostIds: shape.enterprises,
        aligned: memory?.alignedRows ?? shaped?.alignedRows,
        ...Object.fromEntries([...runs].map(([p, r]) => [`${p}PsiSeconds`, round(psiSeconds(r))])),
        ...Object.fromEntries(
          [...runs].map(([p, r]) => [
            `${p}PsiBytes`,
            Object.fromEntries(parties.map((q) => [q, r.stages.psi?.bytesSent[q] ?? 0])),
          ]),
        ),
        ...Object.fromEntries(
          [...runs].flatMap(([p, r]) => {
            const c = psiCpu(r);
            return c === undefined ? [] : [[`${p}PsiCpuSeconds`, round(c)]];
          }),
        ),
        ...(memory !== undefined &&
          lan !== undefined && { lanOverMemoryPsi: round(psiSeconds(lan) / psiSeconds(memory)) }),
        ...(memory !== undefined &&
          wan !== undefined && { wanOverMemoryPsi: round(psiSeconds(wan) / psiSeconds(memory)) }),
        ...extrapolation?.summary,
      }
    : sbt !== undefined
      ? {
          kind: 'secureboost',
          enterprises: shape.enterprises,
          aligned: memory?.alignedRows ?? shaped?.alignedRows,
          trees: sbt.trees,
          ...Object.fromEntries([...runs].map(([p, r]) => [`${p}TreeSeconds`, round(perTree(r))])),
          ...Object.fromEntries([...runs].map(([p, r]) => [`${p}JobSeconds`, round(r.totalSeconds)])),
          ...(memory !== undefined &&
            lan !== undefined && { lanOverMemoryTrain: round(trainSeconds(lan) / trainSeconds(memory)) }),
          ...(memory !== undefined &&
            wan !== undefined && { wanOverMemoryTrain: round(trainSeconds(wan) / trainSeconds(memory)) }),
        }
      : {
          enterprises: shape.enterprises,
          aligned: memory?.alignedRows ?? lan?.alignedRows ?? wan?.alignedRows,
          testFraction: shape.testFraction ?? JOB_DEFAULTS.testFraction,
          ...Object.fromEntries([...runs].map(([p, r]) => [`${p}EpochSeconds`, round(perEpoch(r))])),
          ...Object.fromEntries([...runs].map(([p, r]) => [`${p}JobSeconds`, round(r.totalSeconds)])),
          ...Object.fromEntries(
            [...runs].flatMap(([p, r]) => {
              const steady = steadyEpochBytes(r, parties);
              return steady === undefined ? [] : [[`${p}EpochBytes`, steady]];
            }),
          ),
          ...(memory !== undefined &&
            lan !== undefined && {
              lanOverMemoryEpoch: round(perEpoch(lan) / perEpoch(memory)),
              lanOverMemoryTrain: round(trainSeconds(lan) / trainSeconds(memory)),
            }),
          ...(memory !== undefined &&
            wan !== undefined && {
              wanOverMemoryEpoch: round(perEpoch(wan) / perEpoch(memory)),
              wanOverMemoryTrain: round(trainSeconds(wan) / trainSeconds(memory)),
            }),
        };
  return {
    summary,
    parameters: {
      ...shape,
      profiles,
      shapes: Object.fromEntries(profiles.filter((p) => p !== 'memory').map((p) => [p, PROFILE_SHAPES[p]])),
      scheme: psiOnly
        ? 'ECDH-PSI over ristretto255 (psi stage only)'
        : sbt !== undefined
          ? 'ckks (SecureBoost histograms), no arbiter'
          : `ckks (binning and training${shape.ckksPreset === undefined ? '' : `; train ${shape.ckksPreset}`}), arbiter mode${weakNote === undefined ? '' : ' -- NOT SECURE parameters (smoke)'}`,
      psiOnly,
      smoke,
      loadAverage: { before: load.before, after: loadAfter },
    },
    tables,
    notes: [
      `Each party a \`fedscore node\` OS process (gRPC + mutual TLS, dev CA), one shaping proxy per ordered ` +
        `pair of parties on loopback; all ${parties.length} processes and the proxies share this 2-core machine, so ` +
        'CPU contention between parties is part of every shaped figure and absent from none.',
      'The in-memory run skips consent filtering, SQLite checkpoints and audit entries that the node adds; ' +
        'the ratio is the cost of processes, transport and that bookkeeping together.',
      "The shaper works on Node timers (about 1 ms): the lan profile's 0.1 ms latency is below that " +
        'resolution, so lan here has up to ~1 ms per delivery (bandwidth is exact on average).',
      `Machine load average (1, 5, 15 min) before ${load.before.join(' / ')}, after ${loadAfter.join(' / ')}: ` +
        "a shared machine; the anchors' shapes are for a quiet machine.",
      ...sharedNote(o.sharedWith),
      ...(weakNote === undefined ? [] : [weakNote]),
    ],
    raw: Object.fromEntries(runs),
  };
}

/** The job's shape from the flags (the smoke sizes with `--smoke`). */
/** The note of a result whose job ran on node processes shared with other jobs (`--smoke-kinds`). */
function sharedNote(sharedWith: readonly string[] | undefined): string[] {
  return sharedWith === undefined
    ? []
    : [
        `Smoke (\`--smoke-kinds\`): this job ran on the same three node processes (bank, government, arbiter) ` +
          `as ${sharedWith.join(', ')}, one job after another; its figures prove the command works, not a size.`,
      ];
}

/**
 * The smoke's node processes poll their store and their stages' parties this often (ms; config limits):
 * a stage's end is seen ~50 ms after it instead of ~150 ms, a job starts ~50 ms after its submission
 * instead of ~250 ms. Not shorter: each stage poll is a gRPC call to every other party of the stage,
 * whose bytes count in the stage's wire bytes and whose CPU the loaded machine pays (at 50 ms the net
 * entry took more CPU seconds than at the defaults).
 */
const SMOKE_POLL_MS = 100;

/** The job ids of the kinds `--smoke-kinds` runs one after another on the same node processes. */
const SMOKE_JOB_IDS = { 'hetero-lr': 'netbench', secureboost: 'netbench-sbt', psi: 'netbench-psi' } as const;

/**
 * `bench net --smoke --smoke-kinds` (the CI smoke of `bench all`): every kind the suite runs across
 * processes -- HFL, the hetero-LR job, SecureBoost and PSI-only, in that order -- at its smoke size, with the three node
 * processes (bank, government, arbiter) and their shaping proxies started once and the four jobs submitted
 * one after another (starting node processes is most of a smoke's time on a loaded machine). The HFL job
 * takes the arbiter as its coordinating platform and the bank and the government as its two banks, each
 * with an HFL data source beside its vertical one; the PSI-only job is last (its run ends when psi is
 * done, and the processes are then stopped). Each kind also runs in memory as its own command does. The
 * result is the hetero-LR job's (results/net); the others are written beside it as net-secureboost,
 * net-hfl and net-psi, each as its own command would write it.
 */
async function smokeKinds(args: string[]): Promise<BenchResult> {
  const profiles = profilesFrom(args);
  const shapedProfile = profiles.find((p): p is Exclude<NetworkProfile, 'memory'> => p !== 'memory');
  if (profiles.filter((p) => p !== 'memory').length > 1)
    throw new Error(
      '--smoke-kinds runs one shaped profile: --network memory, lan or wan (and --psi-network)',
    );
  const psiProfile = choiceFlag(args, 'psi-network', ['lan', 'wan'] as const, shapedProfile ?? 'lan');
  const timeoutMs = flag(args, 'timeout-minutes', 10) * 60_000;
  // Hetero-LR on the NOT SECURE smoke preset unless asked otherwise: the default preset's moduli (its
  // arbiter mode's masks of 2^40 need them) on a ring of N = 2048, keys ~8x smaller and faster to make;
  // the job asks for weak parameters and every party accepts them (the figures are marked as such).
  const lrShape = jobShapeFrom(args, 'hetero-lr', true);
  const lr: JobShape =
    lrShape.ckksPreset === undefined
      ? { ...lrShape, ckksPreset: SMOKE_CKKS_PRESET, allowWeakParameters: true }
      : lrShape;
  // SecureBoost on the smallest CKKS preset unless asked otherwise (the smoke proves the command; about
  // half the release preset's time).
  const sbtShape = jobShapeFrom(args, 'secureboost', true);
  const sbt: JobShape = { ...sbtShape, ckksPreset: sbtShape.ckksPreset ?? 'ckks-8192' };
  const hfl = hflShapeFrom(args, true, {
    coordinator: 'arbiter',
    banks: ['bank', 'government'],
    testData: 'hfl-test',
    bankData: 'hfl-loans',
  });
  const load = { before: loadavg().map((x) => Math.round(x * 100) / 100) };
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-netbench-smoke-'));
  const runs = {
    lr: new Map<NetworkProfile, JobRun>(),
    sbt: new Map<NetworkProfile, JobRun>(),
    psi: new Map<NetworkProfile, JobRun>(),
    hfl: new Map<NetworkProfile, HflRun>(),
  };
  let memoryHfl: HflRun;
  let hflData: HflData;
  let bankRows: number;
  let starting: Promise<PartyProcesses<string>> | undefined;
  try {
    // SecureBoost and PSI-only read the hetero-LR job's population (the same flags make the same files).
    log(`writing the populations: ${lr.enterprises} enterprises (vertical), ${hfl.enterprises} (HFL)`);
    const data = await writeJobData(lr, dir);
    bankRows = data.options.bankCustomers + data.options.bankOnlyCustomers;
    hflData = await writeHflData(hfl, join(dir, 'hfl'));
    // The node processes start (for the one shaped profile) while the in-memory runs compute: they
    // exchange nothing before a job is submitted, so the runs do not disturb one another's figures more
    // than sharing the cores does. The jobs wait for the in-memory runs: the shaping proxies run on this
    // process's event loop and time-stamp the bytes as they forward them, which a loop kept busy by the
    // in-memory runs would do late (running them side by side saved little once the smoke preset made
    // them short, and was not kept).
    const shaped = shapedProfile;
    const slog = (l: string) => log(`${shaped}: ${l}`);
    const p0 = performance.now();
    if (shaped !== undefined) log(`profile ${shaped}: starting the node processes`);
    starting =
      shaped === undefined
        ? undefined
        : startPartyProcesses<string>({
            parties: PARTIES,
            link: PROFILE_SHAPES[shaped],
            data: (p) => ({ ...jobDataSources(p, data), ...hflDataSources(hfl, hflData, p) }),
            consents: async (cluster) => {
              await grantJobConsents(cluster, data);
              await grantHflConsents(hfl, hflData, cluster);
            },
            shared: true,
            pollMs: SMOKE_POLL_MS,
            ...(lr.allowWeakParameters === true && { acceptWeakParameters: true }),
            log: slog,
          });
    // A failed start is reported where it is awaited, after the in-memory runs.
    starting?.catch(() => undefined);
    log('profile memory');
    const m0 = performance.now();
    const lrMemory = await runInMemory(lr, data);
    const sbtMemory = await runInMemory(sbt, data, { jobId: SMOKE_JOB_IDS.secureboost });
    const psiMemory = await runInMemory(lr, data, { psiOnly: true, jobId: SMOKE_JOB_IDS.psi });
    memoryHfl = await runHflInMemory(hfl, hflData);
    if (profiles.includes('memory')) {
      runs.lr.set('memory', lrMemory);
      runs.sbt.set('memory', sbtMemory);
      runs.psi.set('memory', psiMemory);
      runs.hfl.set('memory', memoryHfl);
    }
    log(`profile memory: ${((performance.now() - m0) / 1000).toFixed(1)} s`);
    if (shaped !== undefined && starting !== undefined) {
      const processes = await starting;
      log(`profile ${shaped}: the node processes are up (${((performance.now() - p0) / 1000).toFixed(1)} s)`);
      // HFL first: after the HFL job it coordinated, the arbiter's node sends a last frame or two (39
      // bytes each: a 17-byte HTTP/2 frame in a TLS record) up to seconds later; after HFL they land in
      // the hetero-LR job, where the arbiter is a party, instead of SecureBoost's or PSI-only's stages,
      // where it must send nothing (seen in 3 of ~22 smokes with PSI-only right after HFL).
      runs.hfl.set(shaped, await runHflJobOn(processes, hfl, { timeoutMs, log: slog }));
      runs.lr.set(shaped, await runJobOn(processes, lr, { timeoutMs, log: slog }));
      runs.sbt.set(
        shaped,
        await runJobOn(processes, sbt, { timeoutMs, log: slog, jobId: SMOKE_JOB_IDS.secureboost }),
      );
      // PSI-only over `--psi-network` (the suite's smoke: wan, so that both shaped profiles run).
      if (psiProfile !== shaped) {
        // The previous job's last bytes through first, at the shape they were sent under.
        await proxiesQuiet(processes.proxies);
        log(`profile ${psiProfile}: the proxies reshaped for the PSI-only job`);
        for (const proxy of processes.proxies.values()) proxy.reshape(PROFILE_SHAPES[psiProfile]);
      }
      runs.psi.set(
        psiProfile,
        await runJobOn(processes, lr, {
          timeoutMs,
          log: (l) => log(`${psiProfile}: ${l}`),
          psiOnly: true,
          jobId: SMOKE_JOB_IDS.psi,
        }),
      );
      log(`profile ${shaped}: ${((performance.now() - p0) / 1000).toFixed(1)} s (four jobs, one start)`);
    }
  } finally {
    // The PSI-only job's later stages are still running; nothing of them is read.
    await (await starting?.catch(() => undefined))?.close(500);
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  const common = { profiles, smoke: true, load, loadAfter, bankRows };
  const named = (others: string[]) => others.map((o) => `the ${o} job`);
  const result = jobResult({
    ...common,
    shape: lr,
    runs: runs.lr,
    psiOnly: false,
    sharedWith: named(['SecureBoost', 'HFL', 'PSI-only']),
  });
  return {
    ...result,
    also: {
      'net-secureboost': jobResult({
        ...common,
        shape: sbt,
        runs: runs.sbt,
        psiOnly: false,
        sharedWith: named(['hetero-LR', 'HFL', 'PSI-only']),
      }),
      'net-hfl': hflResult({
        ...common,
        shape: hfl,
        runs: runs.hfl,
        memory: memoryHfl,
        data: hflData,
        sharedWith: named(['hetero-LR', 'SecureBoost', 'PSI-only']),
      }),
      'net-psi': jobResult({
        ...common,
        profiles: profiles.map((p) => (p === 'memory' ? p : psiProfile)),
        shape: lr,
        runs: runs.psi,
        psiOnly: true,
        sharedWith: named(['hetero-LR', 'SecureBoost', 'HFL']),
      }),
    },
  };
}

/**
 * SecretFlow's PSI at 10M x 10M from this run's psi stage, per core: ECDH-PSI's work is linear in the ids
 * (each party hashes its ids and multiplies its own and the peer's points: 2 hashes and 4 scalar
 * multiplications per id pair, all independent), so seconds = measured * (10M / n) * (2 cores / c) for c
 * cores, assuming (1) the work stays CPU-bound and splits across cores without loss (one blinding worker
 * per core, no shared state), (2) the network is not the bottleneck (bytes scale by the same 10M / n; at
 * 1 Gbps they take a few seconds) and (3) the per-core rate of this machine's cores.
 */
export function psiExtrapolation(
  seconds: number,
  guestIds: number,
  hostIds: number,
  cpuSeconds?: number,
): { table: BenchTable; summary: Record<string, number> } {
  const n = Math.max(guestIds, hostIds);
  const scale = SECRETFLOW_PSI.n / n;
  const on = (cores: number, s = seconds) => s * scale * (MACHINE_CORES / cores);
  const idsPerSecPerCore = (guestIds + hostIds) / seconds / MACHINE_CORES;
  // CPU-bound: the parties' CPU seconds spread over this machine's cores, as on an idle machine.
  const idle = cpuSeconds === undefined ? undefined : cpuSeconds / MACHINE_CORES;
  const idleRows: (string | number)[][] =
    idle === undefined
      ? []
      : [
          [
            `CPU-bound on an idle ${MACHINE_CORES}-core machine`,
            round(idle),
            `the PSI parties' CPU seconds (${round(cpuSeconds!)}) / ${MACHINE_CORES} cores`,
          ],
          [
            `10M x 10M, ${MACHINE_CORES} cores, CPU-bound`,
            round(on(MACHINE_CORES, idle)),
            'from the line above',
          ],
          [
            `10M x 10M, ${SECRETFLOW_PSI.cores} cores, CPU-bound`,
            round(on(SECRETFLOW_PSI.cores, idle)),
            'from the line above',
          ],
        ];
  return {
    summary: {
      idsPerSecPerCore: Math.round(idsPerSecPerCore),
      extrapolated10MSecondsOn2Cores: round(on(MACHINE_CORES)),
      extrapolated10MSecondsOn32Cores: round(on(SECRETFLOW_PSI.cores)),
      ...(idle !== undefined && {
        cpuBoundSeconds: round(idle),
        cpuBoundIdsPerSecPerCore: Math.round((guestIds + hostIds) / idle / MACHINE_CORES),
        extrapolated10MSecondsOn32CoresCpuBound: round(on(SECRETFLOW_PSI.cores, idle)),
      }),
      secretflow10MSecondsOn32Cores: SECRETFLOW_PSI.seconds,
    },
    table: {
      title: "Extrapolation to SecretFlow's 10M x 10M",
      columns: ['setting', 'seconds', 'note'],
      rows: [
        [
          `measured, ${guestIds} x ${hostIds}, ${MACHINE_CORES} cores`,
          round(seconds),
          'this run (shaped profile)',
        ],
        [`10M x 10M, ${MACHINE_CORES} cores`, round(on(MACHINE_CORES)), `x ${round(scale)} ids`],
        [
          `10M x 10M, ${SECRETFLOW_PSI.cores} cores`,
          round(on(SECRETFLOW_PSI.cores)),
          `x ${MACHINE_CORES}/${SECRETFLOW_PSI.cores} cores`,
        ],
        ...idleRows,
        [
          `SecretFlow ECDH-PSI, ${SECRETFLOW_PSI.cores} cores, LAN`,
          SECRETFLOW_PSI.seconds,
          `PSI v2 ECDH-25519: ${SECRETFLOW_PSI.v2Seconds} s (../shared/ANCHORS.md)`,
        ],
      ],
      note:
        'Per-core extrapolation: ECDH-PSI does 2 hash-to-group and 4 scalar multiplications per id pair, ' +
        'independent of one another, so its time is linear in the ids and divides by the cores. Assumed: ' +
        'the work stays CPU-bound and splits across cores without loss (one blinding worker per core), ' +
        'the network is not the bottleneck (bytes grow by the same factor; at 1 Gbps they take seconds), ' +
        "and a core of SecretFlow's machine does what a core of this one does. Measured ids/s per core: " +
        `${Math.round(idsPerSecPerCore)} (both parties' ids over the wall time and ${MACHINE_CORES} cores).`,
    },
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** |AUC across processes - AUC in one process| allowed: the same float32 training and exact sum (1e-9). */
export const HFL_AUC_TOLERANCE = 1e-9;

/** Mean seconds of rounds 2.. (round 1 carries the banks' TensorFlow.js start-up); with one round, it. */
export const steadyRound = (r: HflRun): number => {
  const s = r.roundSeconds.length > 1 ? r.roundSeconds.slice(1) : r.roundSeconds;
  return s.length === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / s.length;
};

const meanOf = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** `bench net --kind hfl` (module comment). */
async function hflNetBench(args: string[], smoke: boolean): Promise<BenchResult> {
  const shape = hflShapeFrom(args, smoke);
  const profiles = profilesFrom(args);
  const timeoutMs = flag(args, 'timeout-minutes', 10) * 60_000;
  const load = { before: loadavg().map((x) => Math.round(x * 100) / 100) };
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-netbench-hfl-'));
  const runs = new Map<NetworkProfile, HflRun>();
  let memory: HflRun;
  let data: Awaited<ReturnType<typeof writeHflData>>;
  try {
    log(`writing the population: ${shape.enterprises} enterprises dealt to ${shape.banks} banks`);
    data = await writeHflData(shape, join(dir, 'data'));
    // The in-process run is the AUC reference whether or not its timings are reported.
    log('profile memory');
    memory = await runHflInMemory(shape, data);
    if (profiles.includes('memory')) runs.set('memory', memory);
    log(`profile memory: ${memory.totalSeconds.toFixed(1)} s`);
    for (const profile of profiles) {
      if (profile === 'memory') continue;
      log(`profile ${profile}`);
      const run = await runHflAcrossProcesses(shape, data, PROFILE_SHAPES[profile], {
        timeoutMs,
        log: (l) => log(`${profile}: ${l}`),
      });
      runs.set(profile, run);
      log(`profile ${profile}: ${run.totalSeconds.toFixed(1)} s, AUC ${run.auc}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  return hflResult({ shape, runs, memory, data, profiles, smoke, load, loadAfter });
}

interface HflResultInput {
  readonly shape: HflShape;
  readonly runs: ReadonlyMap<NetworkProfile, HflRun>;
  /** The in-process run (the AUC reference, in `runs` too when its timings are reported). */
  readonly memory: HflRun;
  readonly data: HflData;
  readonly profiles: readonly NetworkProfile[];
  readonly smoke: boolean;
  readonly load: { readonly before: readonly number[] };
  readonly loadAfter: readonly number[];
  readonly sharedWith?: readonly string[];
}

/** The result of the HFL job's runs. */
function hflResult(o: HflResultInput): BenchResult {
  const { shape, runs, memory, data, profiles, smoke, load, loadAfter } = o;
  const parties = hflParties(shape);
  const vsMemory = (r: HflRun, f: (x: HflRun) => number): string =>
    r === memory || !runs.has('memory') ? '-' : (f(r) / f(memory)).toFixed(2);
  const aucDiff = (r: HflRun): number => Math.abs(r.auc - memory.auc);
  const bytesPerRound = (r: HflRun, p: string): number => Math.round(meanOf(r.roundBytes[p] ?? []));
  const stageRows = [...runs].map(([profile, r]) => [
    profile,
    r.roundSeconds[0] ?? '-',
    steadyRound(r),
    ...HFL_STAGES.map((s) => r.stages[s]?.seconds ?? '-'),
    r.totalSeconds,
    vsMemory(r, steadyRound),
  ]);
  const byteRows = [...runs].map(([profile, r]) => [
    profile,
    ...parties.map((p) => bytesPerRound(r, p)),
    ...parties.map((p) => r.stages.train?.bytesSent[p] ?? '-'),
  ]);
  const aucRows = [...runs].map(([profile, r]) => [
    profile,
    r.auc,
    r.ks,
    r.testRows,
    aucDiff(r),
    aucDiff(r) <= HFL_AUC_TOLERANCE ? 'yes' : 'NO',
  ]);
  const shaped = [...runs].filter(([p]) => p !== 'memory');
  const tables: BenchTable[] = [
    {
      title: 'Seconds per round and per stage',
      columns: [
        'profile',
        'round 1 s',
        'round s (rounds 2..)',
        ...HFL_STAGES.map((s) => `${s} s`),
        'job s',
        'round vs memory',
      ],
      rows: stageRows,
      note:
        "Round seconds: the coordinator's train checkpoint (its clock from sending a round's instruction " +
        "to the round's sum: the banks' local training and every secure-aggregation phase), the same field " +
        "in memory; round 1 carries the banks' TensorFlow.js start-up. Stage seconds across processes: " +
        `first \`attempt\` to last \`stage_done\` event over the ${parties.length} nodes; in memory only train ` +
        "is timed (run start to the coordinator's last round; evaluate and publish are in the job's seconds).",
    },
    {
      title: 'Bytes sent per party per round, and over the train stage',
      columns: ['profile', ...parties.map((p) => `${p} B/round`), ...parties.map((p) => `${p} train B`)],
      rows: byteRows,
      note:
        'Per round: the mean over the rounds. Across processes: bytes on the wire (TLS records, HTTP/2 ' +
        "frames, acknowledgements) counted by each link's proxy, attributed to a round by the coordinator's " +
        "per-round progress events (5 ms resolution); train B also holds the stage's start and commit " +
        'messages. In memory: encoded envelope bytes (the wire codec), each message in the round the ' +
        'coordinator had not yet reported done.',
    },
    {
      title: 'Test AUC against the in-process run',
      columns: ['profile', 'AUC', 'KS', 'test rows', '|AUC - in-process AUC|', `within ${HFL_AUC_TOLERANCE}`],
      rows: aucRows,
      note:
        "The coordinator's evaluate checkpoint on the common test set. The in-process run is " +
        '`runHflInProcess` (what `fedscore train fedavg` runs) on the plan the node validated from the same ' +
        'job spec and the same CSV files: the same float32 training and the same exact secure sum, so the ' +
        `AUC must agree to ${HFL_AUC_TOLERANCE} (as packages/node/test/hfl-job.test.ts asserts in one process).`,
    },
  ];
  const summary: Record<string, unknown> = {
    kind: 'hfl',
    banks: shape.banks,
    rounds: shape.rounds,
    model: shape.model,
    memoryAuc: round6(memory.auc),
    aucTolerance: HFL_AUC_TOLERANCE,
    aucMaxAbsDiff: shaped.length === 0 ? 0 : Math.max(...shaped.map(([, r]) => aucDiff(r))),
    aucWithinTolerance: shaped.every(([, r]) => aucDiff(r) <= HFL_AUC_TOLERANCE),
    ...Object.fromEntries([...runs].map(([p, r]) => [`${p}RoundSeconds`, round(steadyRound(r))])),
    ...Object.fromEntries([...runs].map(([p, r]) => [`${p}JobSeconds`, round(r.totalSeconds)])),
    ...Object.fromEntries([...runs].map(([p, r]) => [`${p}Auc`, round6(r.auc)])),
    ...Object.fromEntries(
      [...runs].map(([p, r]) => [
        `${p}BytesPerRound`,
        Object.fromEntries(parties.map((q) => [q, bytesPerRound(r, q)])),
      ]),
    ),
    ...Object.fromEntries(
      shaped
        .filter(() => runs.has('memory'))
        .map(([p, r]) => [`${p}OverMemoryRound`, round(steadyRound(r) / steadyRound(memory))]),
    ),
  };
  return {
    summary,
    parameters: {
      ...shape,
      coordinator: coordinatorOf(shape),
      rows: data.rows,
      features: data.columns,
      profiles,
      shapes: Object.fromEntries(profiles.filter((p) => p !== 'memory').map((p) => [p, PROFILE_SHAPES[p]])),
      backend: [...new Set([...runs.values(), memory].map((r) => r.backend))].join(', '),
      scheme: `FedAvg${shape.proximalMu > 0 ? ` (FedProx mu ${shape.proximalMu})` : ''}, ${shape.model}, secure aggregation (SecAgg, complete graph), TensorFlow.js`,
      smoke,
      loadAverage: { before: load.before, after: loadAfter },
    },
    tables,
    notes: [
      `Each party a \`fedscore node\` OS process (gRPC + mutual TLS, dev CA): the platform (coordinator, ` +
        `the common test set) and ${shape.banks} banks, one shaping proxy per ordered pair of parties on ` +
        `loopback; all ${parties.length} processes and the proxies share this 2-core machine.`,
      'The in-process run skips what the node adds around the stages (consent filtering, SQLite ' +
        'checkpoints, audit entries, job control messages), and its banks train one after another on ' +
        "one JavaScript thread, where as processes they train side by side on the machine's 2 cores.",
      `Machine load average (1, 5, 15 min) before ${load.before.join(' / ')}, after ${loadAfter.join(' / ')}: ` +
        'the machine is shared with other engineers running tests and benchmarks at the same time, so ' +
        'seconds here carry their load; bytes and AUC do not depend on it.',
      ...sharedNote(o.sharedWith),
    ],
    raw: Object.fromEntries(runs),
  };
}

/** The HFL job's shape from the flags (the smoke sizes with `--smoke`). */
function hflShapeFrom(args: string[], smoke: boolean, names?: HflShape['names']): HflShape {
  // Default: the MLP (32, 16) of `bench hfl` (1,313 weights: each bank's secure-aggregation input is
  // 1,314 values a round), 10 rounds; the smoke run trains LR (27 values) for 2 rounds.
  const model = choiceFlag(args, 'hfl-model', ['lr', 'mlp'] as const, smoke ? 'lr' : 'mlp');
  const shape: HflShape = {
    ...(names !== undefined && { names }),
    enterprises: flag(args, 'enterprises', smoke ? 2_000 : 20_000),
    banks: names?.banks.length ?? flag(args, 'banks', 3),
    bankRows: flag(args, 'bank-rows', smoke ? 300 : 4_000),
    model,
    rounds: flag(args, 'rounds', smoke ? 2 : 10),
    learningRate: flag(args, 'learning-rate', model === 'mlp' ? 0.1 : 0.3),
    batchSize: flag(args, 'hfl-batch', 32),
    proximalMu: flag(args, 'mu', 0),
    seed: flag(args, 'seed', 7),
  };
  if (!Number.isInteger(shape.banks) || shape.banks < 2 || shape.banks > 8)
    throw new Error('--banks must be 2 to 8 (secure aggregation needs 2)');
  return shape;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
