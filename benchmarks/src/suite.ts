/**
 * `pnpm bench all [--network memory|lan|wan] [--smoke] [--only a,b] [--out DIR] [--html-only]`: the suite, each
 * benchmark in its own child process (its own heap and worker pools, as a user would run it), then the
 * HTML page (./html.ts) over every result in the results directory.
 *
 * `--network` is passed to the benchmarks that run parties as processes (`net`, `net-hfl`,
 * `net-secureboost`); the others run all
 * parties in one process and are the `memory` profile whatever is asked. `--smoke` runs each benchmark
 * at a tiny size in seconds (to keep the commands from rotting; the figures mean nothing) and writes to
 * results/smoke/ unless `--out` says otherwise, so it never overwrites the committed results.
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
  /** Flags of the smoke run, or why it has none. */
  readonly smoke: readonly string[] | { readonly skip: string };
  /** Takes `--network`. */
  readonly network?: boolean;
}

/** The suite the README promises, in run order; benchmarks found in src/ but not listed run with no flags. */
export const SUITE: readonly SuiteEntry[] = [
  { name: 'net', full: [], smoke: ['--smoke'], network: true },
  // Horizontal FL with the coordinator and each bank its own node process (net/hfl.ts).
  { name: 'net', as: 'net-hfl', full: ['--kind', 'hfl'], smoke: ['--kind', 'hfl', '--smoke'], network: true },
  // SecureBoost with the bank and the government each its own node process (no arbiter), at the size of
  // the committed results/net-secureboost.md (FATE's shape is a cost-model prediction: docs/benchmarks.md).
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
    smoke: ['--kind', 'secureboost', '--smoke', '--trees', '1', '--depth', '1', '--sbt-bins', '4'],
    network: true,
  },
  { name: 'psi', full: [], smoke: ['--n', '2000'] },
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
    smoke: { skip: 'its smallest run trains the public sets (minutes); `net --smoke` covers hetero-LR' },
  },
  { name: 'he', full: [], smoke: ['--quick', '--runs', '1'] },
  { name: 'scoring', full: [], smoke: ['--runs', '1', '--requests', '10'] },
  { name: 'csv', full: [], smoke: ['--rows', '2000', '--runs', '1'] },
  { name: 'consent', full: [], smoke: ['--ids', '20000', '--runs', '1'] },
  {
    name: 'secureboost',
    full: [],
    smoke: [
      '--rows',
      '1000',
      '--host-features',
      '3',
      '--guest-features',
      '3',
      '--trees',
      '1',
      '--depth',
      '2',
      '--bins',
      '8',
      '--paillier-rows',
      '100',
      '--data',
      'no-shared-data',
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
    ],
  },
  // Last: it checks its predictions against the committed results of the benchmarks above.
  { name: 'cost-model', full: [], smoke: ['--smoke'] },
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
  const only = flagValue(args, 'only')?.split(',');
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
  const outcomes: SuiteOutcome[] = [];
  for (const e of entries) {
    const flags = smoke ? e.smoke : e.full;
    if (!Array.isArray(flags)) {
      outcomes.push({
        name: e.as ?? e.name,
        status: 'skipped',
        seconds: 0,
        detail: (flags as { skip: string }).skip,
      });
      process.stderr.write(`[bench all] ${e.as ?? e.name}: skipped (${(flags as { skip: string }).skip})\n`);
      continue;
    }
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
    outcomes.push(
      r.code === 0
        ? { name: label, status: 'ok', seconds }
        : { name: label, status: 'failed', seconds, detail: `exit ${r.code}: ${r.tail}` },
    );
  }
  const page = writeIndexHtml(out, { network, smoke, outcomes, htmlOnly: args.includes('--html-only') });
  process.stderr.write(`[bench all] wrote ${page}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  for (const f of failed) process.stderr.write(`[bench all] FAILED ${f.name}: ${f.detail}\n`);
  return failed.length === 0 ? 0 : 1;
}
