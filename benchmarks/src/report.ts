/** Benchmark results: machine facts, versions, parameters, figures, and the anchors beside them. */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Where results are written: benchmarks/results, or $FEDSCORE_BENCH_RESULTS (`bench all --smoke`, tests). */
export const RESULTS_DIR = process.env['FEDSCORE_BENCH_RESULTS'] ?? join(here, '..', 'results');
const ROOT = join(here, '..', '..');

export interface BenchTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  readonly note?: string;
}

export interface BenchResult {
  /** One-line headline figures (also printed as JSON by the runner). */
  readonly summary: Record<string, unknown>;
  /** What was run: sizes, parameters, seeds. */
  readonly parameters: Record<string, unknown>;
  /** Tables for the markdown report; include the ANCHORS.md figures beside ours, with their source. */
  readonly tables: readonly BenchTable[];
  /** Free text for the markdown report (method, caveats). */
  readonly notes?: readonly string[];
  /** Raw measurements for the JSON file. */
  readonly raw?: Record<string, unknown>;
  /**
   * Further results the same run measured, by file name (the runner writes each as <name>.json and
   * <name>.md beside this one: `bench net --smoke-kinds` writes net-hfl, net-secureboost and net-psi).
   */
  readonly also?: Readonly<Record<string, BenchResult>>;
}

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly date: string;
  readonly commit: string;
  readonly packages: Record<string, string>;
}

export function machineInfo(): MachineInfo {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {}
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
    commit,
    packages: packageVersions(),
  };
}

function packageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [
    'node-seal',
    'paillier-bigint',
    'libsodium-wrappers-sumo',
    'protobufjs',
    'zod',
    'typescript',
    '@grpc/grpc-js',
    '@tensorflow/tfjs-core',
  ]) {
    try {
      const p = join(ROOT, 'node_modules', '.pnpm');
      const dirs = execSync(`ls ${p} | grep -E '^${name.replace('/', '\\+')}@' || true`)
        .toString()
        .trim()
        .split('\n');
      // Several versions may be installed (grpc-js brings its own protobufjs): list them all.
      const versions = [
        // `<name with / as +>@<version>[_<peer hash>]`; a scoped name starts with '@' itself.
        ...new Set(dirs.map((d) => d.slice(name.length + 1).split('_')[0]).filter((v): v is string => !!v)),
      ];
      if (versions.length) out[name] = versions.join(' + ');
    } catch {}
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Time `fn` `runs` times (after `warmup` runs) and return the per-run milliseconds. */
export async function timeRuns(
  fn: () => unknown | Promise<unknown>,
  runs: number,
  warmup = 2,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export function peakRssMb(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {}
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

export function writeResult(
  name: string,
  result: BenchResult,
  dryRun = false,
  dir: string = RESULTS_DIR,
  /** The files' name when not the benchmark's (`--as`: a named run such as net-hfl). */
  fileName: string = name,
): { json: string; md: string } | undefined {
  const machine = machineInfo();
  if (dryRun) return undefined;
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${fileName}.json`);
  const md = join(dir, `${fileName}.md`);
  const { also: _also, ...own } = result;
  writeFileSync(json, `${JSON.stringify({ name, machine, ...own }, null, 2)}\n`);
  writeFileSync(md, renderMarkdown(name, machine, own));
  return { json, md };
}

function renderMarkdown(name: string, machine: MachineInfo, r: BenchResult): string {
  const lines = [
    `# Benchmark: ${name}`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node} (${machine.platform}); commit ${machine.commit}; ${machine.date}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    '## Parameters',
    '',
    ...Object.entries(r.parameters).map(
      ([k, v]) => `- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`,
    ),
    '',
    '## Summary',
    '',
    '```json',
    JSON.stringify(r.summary, null, 2),
    '```',
    '',
  ];
  for (const t of r.tables) {
    lines.push(
      `## ${t.title}`,
      '',
      `| ${t.columns.join(' | ')} |`,
      `|${t.columns.map(() => '---').join('|')}|`,
    );
    for (const row of t.rows)
      lines.push(`| ${row.map((c) => (typeof c === 'number' ? fmt(c) : c)).join(' | ')} |`);
    if (t.note) lines.push('', t.note);
    lines.push('');
  }
  if (r.notes?.length) lines.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(3);
  if (a >= 0.001) return x.toFixed(4);
  return x.toExponential(2);
}
