/**
 * `pnpm bench psi [--n N] [--overlap F] [--threads T] [--batch B] [--id-kind uscc|opaque] [--no-cache]
 *                 [--rate-ids 2048]`:
 * ECDH-PSI over ristretto255 with both parties in one process on this machine, sharing one worker pool
 * (the setting: "both parties on this 2-core machine"), over the in-memory network with the real
 * wire codec.
 *
 * Default: the full size, n = 1,000,000 ids per party with 50% overlap (what results/psi.md records);
 * `--n 100000` for a quick run. Measures, in this order:
 *   1. the single-thread primitive rates (hash-to-group and scalar multiplication, median of 7, on
 *      `--rate-ids` ids: the smoke's 256 keep its seconds down);
 *   2. a cold session: both parties hash and blind everything (2n hashes, 4n scalar multiplications);
 *   3. the government's cache: its set hashed and blinded once (`buildHostCache`: n hashes, n
 *      multiplications), timed on its own -- once per key epoch, shared by every bank it serves;
 *   4. a session with that cache: the host sends the cached points (n hashes, 3n multiplications).
 * For each session: wall seconds, process CPU seconds, ids/s and scalar multiplications/s per core (wall
 * and per CPU second), bytes, and SecretFlow's and FATE's published per-core figures beside them.
 */
import { availableParallelism } from 'node:os';
import { generateUniqueUsccs, permutation, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  type BlindingPoolStats,
  buildHostCache,
  type LocalPsiResult,
  type PsiHostCache,
  type PsiIdKind,
  prepareIds,
  runPsiLocal,
} from '@fedscore/psi';
import { type BenchResult, median, peakRssMb } from './report.ts';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

function choice<T extends string>(args: string[], name: string, allowed: readonly T[], fallback: T): T {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1] as T;
  if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return v;
}

const log = (line: string): void => {
  process.stderr.write(`[psi bench] ${line}\n`);
};

/** SecretFlow ECDH-PSI (ANCHORS.md): 10M ids in 110 s on 32 cores, read as 10M per party (2n ids, 4n mults). */
const SF_IDS_PER_CORE = 20e6 / (110 * 32);
const SF_MULTS_PER_CORE = 40e6 / (110 * 32);
/** FATE 2.0 ECDH-PSI (ANCHORS.md): 100M ids in 50m54s on 16 cores, read as 100M per party. */
const FATE_IDS_PER_CORE = 200e6 / ((50 * 60 + 54) * 16);

interface Measured {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly hashed: number;
  readonly multiplied: number;
  readonly workerCpuSeconds: number;
  readonly workerBusySeconds: number;
  /** Ids handled: both sets in a session (2n), the host's set for the cache (n). */
  readonly ids: number;
}

function delta(after: BlindingPoolStats, before: BlindingPoolStats) {
  return {
    hashed: after.hashed - before.hashed,
    multiplied: after.multiplied - before.multiplied,
    workerCpuSeconds: (after.cpuMs - before.cpuMs) / 1000,
    workerBusySeconds: (after.busyMs - before.busyMs) / 1000,
  };
}

/** Time `fn` by the wall clock, the process CPU clock and the pool's counters. */
async function measure<T>(
  pool: BlindingPool,
  ids: number,
  fn: () => Promise<T>,
): Promise<{ value: T; m: Measured }> {
  const before = pool.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    value,
    m: { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ids, ...delta(pool.stats(), before) },
  };
}

export default async function run(args: string[]): Promise<BenchResult> {
  const n = Math.round(flag(args, 'n', 1_000_000));
  const overlapShare = flag(args, 'overlap', 0.5);
  const threads = Math.round(flag(args, 'threads', availableParallelism()));
  const batchSize = Math.round(flag(args, 'batch', 4096));
  const idKind = choice<PsiIdKind>(args, 'id-kind', ['uscc', 'opaque'], 'uscc');
  const withCache = !args.includes('--no-cache');
  const rateIds = Math.round(flag(args, 'rate-ids', 2048));
  const overlap = Math.round(n * overlapShare);

  // --- inputs: 2n - overlap distinct ids; the host's list in another order. Opaque ids are row
  // numbers of one shared numbering, as in the public benchmark sets.
  const t = performance.now();
  const codes =
    idKind === 'uscc'
      ? generateUniqueUsccs(seededRng('psi-bench'), 2 * n - overlap)
      : Array.from(permutation(seededRng('psi-bench/rows'), 2 * n - overlap), (i) => String(i));
  const guestIds = codes.slice(0, n);
  const hostIds = codes.slice(n - overlap);
  const perm = permutation(seededRng('psi-bench/host-order'), hostIds.length);
  const hostShuffled = Array.from(perm, (i) => hostIds[i]!);
  codes.length = 0;
  log(
    `generated ${n} + ${n} ${idKind} ids (${overlap} shared) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  // --- single-thread primitive rates (libsodium WASM, the batch path the workers run)
  const inline = await BlindingPool.create({ threads: 0 });
  const sample = prepareIds(guestIds.slice(0, rateIds), { idKind });
  const scalar = new Uint8Array(32);
  scalar[0] = 7;
  const points = await inline.hashToGroup(sample.packed, undefined, sample.hashDomain);
  // Timed by this thread's CPU clock as well as the wall clock: other processes share the cores.
  const cpuTimed = async (fn: () => Promise<unknown>): Promise<{ wall: number[]; cpu: number[] }> => {
    const wall: number[] = [];
    const cpu: number[] = [];
    await fn();
    for (let i = 0; i < 7; i++) {
      const c0 = process.threadCpuUsage();
      const w0 = performance.now();
      await fn();
      wall.push(performance.now() - w0);
      const c = process.threadCpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    return { wall, cpu };
  };
  const hashMs = await cpuTimed(() => inline.hashToGroup(sample.packed, undefined, sample.hashDomain));
  const multMs = await cpuTimed(() => inline.blind(points, scalar));
  await inline.close();
  const hashPerSec = sample.count / (median(hashMs.cpu) / 1000);
  const multPerSec = sample.count / (median(multMs.cpu) / 1000);
  const hashPerSecWall = sample.count / (median(hashMs.wall) / 1000);
  const multPerSecWall = sample.count / (median(multMs.wall) / 1000);
  log(
    `one core (CPU clock): hash-to-group ${hashPerSec.toFixed(0)}/s, scalar multiplication ${multPerSec.toFixed(0)}/s`,
  );

  const pool = await BlindingPool.create({ threads });
  let lastLog = 0;
  let stageStart = performance.now();
  const progress = (e: { stage: string; done: number; total?: number }): void => {
    const now = performance.now();
    if (now - lastLog > 15_000) {
      lastLog = now;
      log(`${e.stage}: ${e.done}/${e.total ?? '?'} (${((now - stageStart) / 1000).toFixed(0)} s)`);
    }
  };
  const check = (r: LocalPsiResult, what: string): void => {
    if (r.guest.intersectionSize !== overlap || r.host.intersectionSize !== overlap) {
      throw new Error(
        `${what}: wrong intersection ${r.guest.intersectionSize} / ${r.host.intersectionSize}, want ${overlap}`,
      );
    }
  };

  // --- 2. cold session: both parties, both mode, nothing precomputed
  stageStart = performance.now();
  const cold = await measure(pool, 2 * n, () =>
    runPsiLocal(guestIds, hostShuffled, { pool, batchSize, idKind, progress }),
  );
  check(cold.value, 'cold session');
  const coldRssMb = peakRssMb();
  log(
    `cold session: ${cold.m.seconds.toFixed(1)} s wall, ${cold.m.cpuSeconds.toFixed(1)} s CPU, ${rate(cold.m, 'ids', threads)} ids/s and ${rate(cold.m, 'mults', threads)} mults/s per core (SecretFlow ${Math.round(SF_IDS_PER_CORE)} and ${Math.round(SF_MULTS_PER_CORE)}), peak RSS ${coldRssMb} MB`,
  );

  // --- 3 and 4. the government's cache, built once and timed on its own; then a session with it
  let cacheBuild: Measured | undefined;
  let cached: { value: LocalPsiResult; m: Measured } | undefined;
  if (withCache) {
    stageStart = performance.now();
    // preparing the host's ids belongs to the build: the host keeps them prepared with its cache
    const built = await measure(pool, n, async () => {
      const prepared = prepareIds(hostShuffled, { idKind });
      return { prepared, cache: await buildHostCache(prepared, { pool, batchSize, progress }) };
    });
    cacheBuild = built.m;
    const host = built.value.prepared;
    const hostCache: PsiHostCache = built.value.cache;
    log(
      `host cache: built in ${cacheBuild.seconds.toFixed(1)} s wall, ${cacheBuild.cpuSeconds.toFixed(1)} s CPU`,
    );
    stageStart = performance.now();
    cached = await measure(pool, 2 * n, () =>
      runPsiLocal(guestIds, host, { pool, batchSize, idKind, hostCache, progress }),
    );
    check(cached.value, 'cached session');
    log(
      `cached session: ${cached.m.seconds.toFixed(1)} s wall (cold ${cold.m.seconds.toFixed(1)} s), ${cached.m.cpuSeconds.toFixed(1)} s CPU, ${rate(cached.m, 'ids', threads)} ids/s and ${rate(cached.m, 'mults', threads)} mults/s per core`,
    );
  }
  await pool.close();
  const finalRssMb = peakRssMb();

  const sessionRows = (label: string, m: Measured, r: LocalPsiResult, work: string, goal: string) => [
    [`${label}: wall time, both parties (s)`, round(m.seconds, 1), goal],
    [`${label}: process CPU time (s)`, round(m.cpuSeconds, 1), `${threads} workers + main thread`],
    [
      `${label}: CPU-bound estimate on an idle box (s)`,
      round(m.cpuSeconds / threads, 1),
      'process CPU time / cores: the wall time if nobody else used the cores',
    ],
    [
      `${label}: worker busy wall time (s)`,
      round(m.workerBusySeconds, 1),
      'above worker CPU = cores taken by others',
    ],
    [`${label}: ids hashed to the group`, m.hashed, work.split(',')[0]!],
    [`${label}: scalar multiplications`, m.multiplied, work.split(',')[1]!.trim()],
    [
      `${label}: bytes guest -> host (MB)`,
      round(r.bytes.guestToHost / 2 ** 20, 1),
      '32 B a point + 16 B a key',
    ],
    [
      `${label}: bytes host -> guest (MB)`,
      round(r.bytes.hostToGuest / 2 ** 20, 1),
      `${r.messages} messages, both ways`,
    ],
  ];
  const perCoreRows = (label: string, m: Measured) => [
    [
      `fedscore, ${label}`,
      `${fmtCount(n)} x ${fmtCount(n)}, ${threads} cores, wall`,
      rate(m, 'ids', threads),
      rate(m, 'mults', threads),
      'this benchmark',
    ],
    [
      `fedscore, ${label}`,
      'per process CPU second (all threads)',
      Math.round(m.ids / m.cpuSeconds),
      Math.round(m.multiplied / m.cpuSeconds),
      'this benchmark',
    ],
  ];

  const summary: Record<string, unknown> = {
    n,
    overlap,
    idKind,
    threads,
    seconds: round(cold.m.seconds, 1),
    goalSeconds: 300,
    peakRssMb: coldRssMb,
    goalRssMb: 1024,
    idsPerSecPerCore: rate(cold.m, 'ids', threads),
    scalarMultsPerSecPerCore: rate(cold.m, 'mults', threads),
    cpuBoundEstimateSeconds: round(cold.m.cpuSeconds / threads, 1),
    scalarMultsPerCpuSecond: Math.round(cold.m.multiplied / cold.m.cpuSeconds),
    ...(cacheBuild && cached
      ? {
          cacheBuildSeconds: round(cacheBuild.seconds, 1),
          cachedSessionSeconds: round(cached.m.seconds, 1),
          cachedIdsPerSecPerCore: rate(cached.m, 'ids', threads),
          cachedScalarMultsPerSecPerCore: rate(cached.m, 'mults', threads),
          cachedCpuBoundEstimateSeconds: round(cached.m.cpuSeconds / threads, 1),
        }
      : {}),
    secretflowIdsPerSecPerCore: Math.round(SF_IDS_PER_CORE),
    secretflowScalarMultsPerSecPerCore: Math.round(SF_MULTS_PER_CORE),
  };

  return {
    summary,
    parameters: {
      guestIds: n,
      hostIds: n,
      overlap,
      idKind,
      mode: 'both (both parties learn the intersection, aligned)',
      parties: 'guest and host in one process, in-memory network with the protobuf envelope codec',
      threads,
      batchSize,
      keyBytes: 16,
      cacheMode: withCache
        ? 'measured: cache built once (timed alone), then one session with it'
        : 'not measured (--no-cache)',
      ids:
        idKind === 'uscc'
          ? "generateUniqueUsccs(seededRng('psi-bench'))"
          : "row numbers: permutation(seededRng('psi-bench/rows')) as decimal strings",
    },
    tables: [
      {
        title: `ECDH-PSI ${fmtCount(n)} x ${fmtCount(n)} ${idKind} ids, ${Math.round(overlapShare * 100)}% overlap`,
        columns: ['measure', 'value', 'goal / note'],
        rows: [
          ...sessionRows('cold session', cold.m, cold.value, '2n, 4n', '<= 300 s'),
          ...(cacheBuild
            ? [
                [
                  'host cache build (s)',
                  round(cacheBuild.seconds, 1),
                  'once per key epoch; reused across sessions and banks',
                ],
                [
                  'host cache build: process CPU time (s)',
                  round(cacheBuild.cpuSeconds, 1),
                  `n hashes, n multiplications`,
                ],
              ]
            : []),
          ...(cached
            ? sessionRows(
                'session with the cache',
                cached.m,
                cached.value,
                'n, 3n',
                `cold: ${round(cold.m.seconds, 1)} s; work predicts ~0.72 of it`,
              )
            : []),
          [
            'peak RSS after the cold session (MB)',
            coldRssMb,
            '< 1024 MB; includes generating the 1.5n test ids',
          ],
          [
            'peak RSS, whole run (MB)',
            finalRssMb,
            withCache ? 'includes the cache (36 B an id) and a second session' : '',
          ],
        ],
      },
      {
        title: 'Throughput per core, beside the published figures',
        columns: ['system', 'setting', 'ids/s per core', 'scalar mult/s per core', 'source'],
        rows: [
          ...perCoreRows('cold session', cold.m),
          ...(cached ? perCoreRows('session with the host cache', cached.m) : []),
          [
            'fedscore, peer-point jobs',
            'cold session, per worker CPU second',
            '',
            Math.round(cold.value.pool.blindMultiplied / (cold.value.pool.blindCpuMs / 1000)),
            'this benchmark',
          ],
          [
            'libsodium WASM, one core',
            `primitive, median of 7 x ${sample.count}, CPU clock`,
            Math.round(hashPerSec),
            Math.round(multPerSec),
            'this benchmark',
          ],
          [
            'libsodium WASM, one core',
            `primitive, median of 7 x ${sample.count}, wall clock`,
            Math.round(hashPerSecWall),
            Math.round(multPerSecWall),
            'this benchmark',
          ],
          ['libsodium WASM, one core', 'primitive, idle box', '31k hash', '7.7k', 'ANCHORS.md (here)'],
          ['noble-curves', 'primitive', '', '1.1k', 'ANCHORS.md (here)'],
          [
            'SecretFlow ECDH-PSI (Curve25519)',
            '10M ids, 32 cores, LAN, 110 s',
            Math.round(SF_IDS_PER_CORE),
            Math.round(SF_MULTS_PER_CORE),
            'ANCHORS.md; 10M per party assumed',
          ],
          [
            'FATE 2.0 ECDH-PSI',
            '100M ids, 16 cores, 50m54s',
            Math.round(FATE_IDS_PER_CORE),
            '',
            'ANCHORS.md; 100M per party assumed',
          ],
        ],
        note: 'Per-core figures divide by the cores used. A session handles 2n ids (both sets); with the host cache the host hashes and blinds nothing of its own, so the same 2n ids cost n hashes and 3n multiplications. SecretFlow and FATE use native code on server CPUs; ours is WASM on a shared 2-core VM.',
      },
    ],
    notes: [
      'Machine shared with other engineers working at the same time: wall times depend on their load; CPU-clock figures (thread and process CPU time) do not, and the CPU-bound estimate is what the run costs on an idle 2-core box.',
      "Work per cold session: each party hashes its n ids to ristretto255 and blinds them (n + n multiplications), then blinds the peer's n points (n + n): 2n hashes and 4n multiplications in all. The host cache moves the host's n hashes and n multiplications out of the session into a build done once per key epoch.",
      withCache
        ? "The cache build and the cached session are timed separately; the cached session reuses the cold session's pool and inputs. Peak RSS is the process high-water mark (VmHWM)."
        : 'Cache mode was not measured in this run (--no-cache). Peak RSS is the process high-water mark (VmHWM) after the cold session.',
    ],
    raw: {
      cold: cold.m,
      ...(cacheBuild && { cacheBuild }),
      ...(cached && { cached: cached.m }),
      pool: cold.value.pool,
      hashMs,
      multMs,
      bytes: { cold: cold.value.bytes, ...(cached && { cached: cached.value.bytes }) },
    },
  };
}

/** Ids (2n a session) or scalar multiplications per second per core, by the wall clock. */
function rate(m: Measured, what: 'ids' | 'mults', threads: number): number {
  return Math.round((what === 'ids' ? m.ids : m.multiplied) / (m.seconds * threads));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmtCount(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}
