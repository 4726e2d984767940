/**
 * `pnpm bench all [--network memory|lan|wan] [--smoke] [--only a,b] [--out DIR] [--html-only] [--jobs N]`: the
 * suite, each benchmark in its own child process (its own heap and worker pools, as a user would run it),
 * `--jobs` of them at a time (default 1; 3 with `--smoke`), then the HTML page (./html.ts) over every
 * result in the results directory.
 *
 * `--network` is passed to the benchmarks that run parties as processes (`net`, `net-hfl`, `scoring-api-net`,
 * `net-secureboost`); the others run all
 * parties in one process and are the `memory` profile whatever is asked. `--smoke` runs each benchmark
 * at a tiny size in seconds (to keep the commands from rotting; the figures mean nothing) and writes to
 * results/smoke/ unless `--out` says otherwise, so it never overwrites the committed results; the
 * kinds `net` runs across processes share one start of the node processes (`net --smoke-kinds`).
 * `--html-only` runs nothing and writes the page over the results already there.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeIndexHtml } from './html.ts';
import { type NetworkProfile, parseNetworkProfile } from './net/shaper.ts';

const here = dirname(fileURLToPath(import.meta.url));
const RUNNER = join(here, '..', 'run.ts');

export interface SuiteEntry {
  /** The benchmark (src/<name>.bench.ts). */
  readonly name: string;
  /** The result files' name when not the benchmark's (the runner's `--as`); also what `--only` names. */
  readonly as?: string;
  /** Flags of the full run (the sizes results/<name>.md records). */
  readonly full: readonly string[];
  /**
   * Flags of the smoke run; or why it has none; or the entry whose smoke runs it (`with`: the `net`
   * entry's `--smoke-kinds` runs every kind across processes on one set of node processes).
   */
  readonly smoke: readonly string[] | { readonly skip: string } | { readonly with: string };
  /** Takes `--network`. */
  readonly network?: boolean;
}

/** The suite the README promises, in run order; benchmarks found in src/ but not listed run with no flags. */
export const SUITE: readonly SuiteEntry[] = [
  // The smoke runs every kind across processes -- HFL, the hetero-LR job, SecureBoost and PSI-only -- as
  // four jobs on one start of the three node processes (net.bench.ts `smokeKinds`), writing net,
  // net-secureboost, net-hfl and net-psi; SecureBoost at one tree of depth 1 over 4 bins.
  {
    name: 'net',
    full: [],
    smoke: [
      '--smoke',
      '--smoke-kinds',
      // The PSI-only job over wan on the same processes (the proxies reshaped), the others over lan.
      '--psi-network',
      'wan',
      '--enterprises',
      '300',
      '--bank-customers',
      '200',
      '--depth',
      '1',
      '--sbt-bins',
      '4',
    ],
    network: true,
  },
  // Horizontal FL with the coordinator and each bank its own node process (net/hfl.ts).
  { name: 'net', as: 'net-hfl', full: ['--kind', 'hfl'], smoke: { with: 'net' }, network: true },
  // SecureBoost with the bank and the government each its own node process (no arbiter), at the size of
  // the committed results/net-secureboost.md. FATE's feature shape (30 + 300) at 11,700 aligned rows is a
  // separate committed run, results/net-secureboost-fate-features.md (~10 min here: not in the suite);
  // so is FATE's 100k rows as processes, results/net-secureboost-100k.md (~40 min for one tree here).
  {
    name: 'net',
    as: 'net-secureboost',
    full: [
      '--kind',
      'secureboost',
      '--enterprises',
      '5000',
      '--bank-customers',
      '5000',
      '--gov-extra',
      '6',
      '--bank-extra',
      '16',
    ],
    smoke: { with: 'net' },
    network: true,
  },
  { name: 'psi', full: [], smoke: ['--n', '1000', '--rate-ids', '256'] },
  {
    name: 'binning',
    full: [],
    smoke: [
      '--rows',
      '1000',
      '--host-features',
      '24',
      '--guest-features',
      '14',
      '--bins',
      '5',
      '--runs',
      '1',
    ],
  },
  {
    name: 'hetero-lr',
    full: [],
    // The wrapper and `fedscore bench hetero-lr` end to end on its generated scale run, at 600 rows x
    // (30 + 300) features, one epoch of one batch, no public sets, no Paillier, no cache sweep.
    smoke: [
      '--skip-public',
      '--skip-paillier',
      '--scale-rows',
      '600',
      '--scale-epochs',
      '1',
      '--scale-batch-size',
      '512',
      '--ckks-rows',
      '0',
      '--cache-sweep',
      'none',
      // The scale run on the NOT SECURE smoke preset (the release preset's moduli at N = 2048; the
      // result says NOT SECURE): its arbiter's keys ~8x smaller and faster to make.
      '--scale-ckks-preset',
      'ckks-2048-smoke-insecure',
      '--allow-weak-parameters',
    ],
  },
  { name: 'he', full: [], smoke: ['--quick', '--runs', '1'] },
  {
    name: 'scoring',
    full: [],
    smoke: ['--runs', '1', '--requests', '10', '--rows', '2000', '--workers', '1'],
  },
  {
    name: 'scoring-api',
    as: 'scoring-api-net',
    full: [],
    // Two scoring sessions (each opens with a CKKS key generation) instead of the node's 8.
    smoke: [
      '--enterprises',
      '300',
      '--seconds',
      '1',
      '--long-seconds',
      '1',
      '--warmup',
      '1',
      '--sessions',
      '2',
    ],
    network: true,
  },
  { name: 'csv', full: [], smoke: ['--rows', '2000', '--runs', '1'] },
  { name: 'consent', full: [], smoke: ['--ids', '20000', '--runs', '1'] },
  {
    name: 'secureboost',
    full: [],
    smoke: [
      '--rows',
      '500',
      '--host-features',
      '3',
      '--guest-features',
      '3',
      '--trees',
      '1',
      '--depth',
      '1',
      '--bins',
      '4',
      '--paillier-rows',
      '10',
      '--data',
      'no-shared-data',
      // Keys made in a fraction of the time: CKKS N = 8192 (128-bit) instead of the release preset's
      // 16384, and a NOT SECURE 1024-bit Paillier key (the result says so).
      '--ckks-preset',
      'ckks-8192',
      '--paillier-bits',
      '1024',
      '--allow-weak-parameters',
    ],
  },
  // Issue 15's scale target run, guest and host each its own process with its own peak RSS (about an
  // hour for one tree on this shared machine; results/secureboost-scale.md).
  {
    name: 'secureboost',
    as: 'secureboost-scale',
    full: ['--scale', '--trees', '1'],
    smoke: [
      '--scale',
      '--smoke',
      '--rows',
      '2000',
      '--host-features',
      '6',
      '--guest-features',
      '4',
      '--trees',
      '1',
      '--depth',
      '2',
      '--bins',
      '8',
      '--op-runs',
      '1',
      // Trained on CKKS N = 8192 (128-bit): keys and public context ~4x smaller than the default's.
      '--ckks-preset',
      'ckks-8192',
    ],
  },
  // Last: it checks its predictions against the committed results of the benchmarks above.
  { name: 'cost-model', full: [], smoke: ['--smoke'] },
];

/**
 * The order the smoke starts its entries in (`as ?? name`; entries not listed follow in suite order):
 * longest first, so that the two at a time finish together instead of one waiting on a long entry
 * started last (their seconds, one at a time: benchmarks/README.md, "CI smoke", whose second pass made
 * secureboost, secureboost-scale and hetero-lr cheaper than scoring, cost-model and he). The net entry first:
 * its node processes spend much of their time waiting on one another, which the other entries fill.
 */
export const SMOKE_ORDER: readonly string[] = [
  'net',
  'scoring-api-net',
  'scoring',
  'cost-model',
  'he',
  'secureboost-scale',
  'secureboost',
  'hetero-lr',
  'psi',
  'binning',
  'consent',
  'csv',
];

export interface SuiteOutcome {
  readonly name: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly seconds: number;
  readonly detail?: string;
}

function runOne(
  name: string,
  args: readonly string[],
  out: string,
): Promise<{ code: number | null; tail: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', RUNNER, name, ...args], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, FEDSCORE_BENCH_RESULTS: out },
    });
    const tail: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      tail.push(d.toString());
      if (tail.length > 40) tail.shift();
    });
    child.once('exit', (code) => ok({ code, tail: tail.join('').split('\n').slice(-8).join('\n') }));
  });
}

function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
}

export async function runSuite(args: readonly string[], defaultOut: string): Promise<number> {
  const smoke = args.includes('--smoke');
  const network: NetworkProfile = parseNetworkProfile(flagValue(args, 'network'), 'lan');
  const named = flagValue(args, 'only')?.split(',');
  // A smoke run by another entry's smoke (`{ with }`) brings that entry along.
  const only =
    named === undefined || !smoke
      ? named
      : [
          ...named,
          ...SUITE.filter((e) => named.includes(e.as ?? e.name)).flatMap((e) =>
            'with' in e.smoke ? [e.smoke.with] : [],
          ),
        ];
  const out = flagValue(args, 'out') ?? (smoke ? join(defaultOut, 'smoke') : defaultOut);
  const available = readdirSync(here)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.replace(/\.bench\.ts$/, ''));
  const entries: SuiteEntry[] = [
    ...SUITE.filter((e) => available.includes(e.name)),
    ...available
      .filter((n) => !SUITE.some((e) => e.name === n))
      .map(
        (name): SuiteEntry => ({
          name,
          full: [],
          smoke: { skip: 'no smoke size defined in benchmarks/src/suite.ts' },
        }),
      ),
  ].filter((e) => only === undefined || only.includes(e.as ?? e.name));
  if (args.includes('--html-only')) entries.length = 0;
  const rank = (e: SuiteEntry): number => {
    const i = SMOKE_ORDER.indexOf(e.as ?? e.name);
    return i < 0 ? SMOKE_ORDER.length : i;
  };
  // In entry order whatever order they finish in.
  const slots: (SuiteOutcome | undefined)[] = entries.map(() => undefined);
  const queue: { i: number; e: SuiteEntry; flags: readonly string[] }[] = [];
  entries.forEach((e, i) => {
    const flags = smoke ? e.smoke : e.full;
    if (Array.isArray(flags)) queue.push({ i, e, flags });
    else if ('skip' in flags) {
      slots[i] = { name: e.as ?? e.name, status: 'skipped', seconds: 0, detail: flags.skip };
      process.stderr.write(`[bench all] ${e.as ?? e.name}: skipped (${flags.skip})\n`);
    }
  });
  const runEntry = async ({ i, e, flags }: (typeof queue)[number]): Promise<void> => {
    const withNetwork = [
      ...flags,
      ...(e.network === true ? ['--network', network] : []),
      ...(e.as !== undefined ? ['--as', e.as] : []),
    ];
    const label = e.as ?? e.name;
    process.stderr.write(`[bench all] ${label}: ${e.name} ${withNetwork.join(' ')}\n`);
    const t0 = performance.now();
    const r = await runOne(e.name, withNetwork, out);
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(
      `[bench all] ${label}: ${r.code === 0 ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)} s\n`,
    );
    slots[i] =
      r.code === 0
        ? { name: label, status: 'ok', seconds }
        : { name: label, status: 'failed', seconds, detail: `exit ${r.code}: ${r.tail}` };
  };
  // The smoke starts the longest first (SMOKE_ORDER; a stable sort keeps the suite's order otherwise).
  if (smoke) queue.sort((a, b) => rank(a.e) - rank(b.e));
  // The smoke runs three benchmarks at a time (its figures mean nothing, so sharing the cores costs only
  // their accuracy; the net entry's processes wait on one another much of the time, and on a machine
  // shared with other work more of its own runnable threads get it more of the cores: 111 s at load 12
  // against 143 s at load 15 two at a time, benchmarks/README.md "CI smoke"); the full suite one at a
  // time, each on a machine to itself.
  const jobs = Number(flagValue(args, 'jobs') ?? (smoke ? 3 : 1));
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error('--jobs needs a whole number >= 1');
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await runEntry(next);
    }),
  );
  entries.forEach((e, i) => {
    const flags = smoke ? e.smoke : e.full;
    if (Array.isArray(flags) || !('with' in flags)) return;
    // Run by another entry's smoke (it wrote this entry's files): that entry's outcome.
    const by = slots.find((o) => o?.name === flags.with);
    const detail = `run by the ${flags.with} smoke on the same node processes`;
    slots[i] = { name: e.as ?? e.name, status: by?.status ?? 'failed', seconds: 0, detail };
    process.stderr.write(`[bench all] ${e.as ?? e.name}: ${detail}\n`);
  });
  const outcomes = slots.filter((o): o is SuiteOutcome => o !== undefined);
  const page = writeIndexHtml(out, { network, smoke, outcomes, htmlOnly: args.includes('--html-only') });
  process.stderr.write(`[bench all] wrote ${page}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  for (const f of failed) process.stderr.write(`[bench all] FAILED ${f.name}: ${f.detail}\n`);
  return failed.length === 0 ? 0 : 1;
}
