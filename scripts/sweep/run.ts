/**
 * The bad-input and fault sweep runner (issue 12): `pnpm sweep [--group G]... [--json out.json]
 * [--concurrency N] [--id-prefix P]`.
 *
 * Loads every `scripts/sweep/cases-*.ts` module (each exports `cases: SweepCase[]`), runs each case in
 * its own temporary directory with its time limit (default 60 s; past it the case is a hang), prints a
 * table per group and a final line with the count of each outcome, and exits 1 when any case is
 * silent-wrong, a crash or a hang (0 otherwise). Cases run the real CLI or library code in child
 * processes, so a fault in one cannot take the runner down; a case whose `run` itself throws is a crash.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SweepCase, SweepOutcome, SweepResult } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));

export const OUTCOMES: readonly SweepOutcome[] = [
  'refused-clearly',
  'handled',
  'silent-wrong',
  'crash',
  'hang',
];
const FAILING: ReadonlySet<SweepOutcome> = new Set(['silent-wrong', 'crash', 'hang']);
const DEFAULT_TIMEOUT_MS = 60_000;

export interface CaseReport extends SweepResult {
  readonly id: string;
  readonly group: string;
  readonly ms: number;
}

/** Every case of every `cases-*.ts` module next to this file, in file then declaration order. */
export async function loadCases(dir: string = here): Promise<SweepCase[]> {
  const files = readdirSync(dir)
    .filter((f) => /^cases-.+\.ts$/.test(f))
    .sort();
  const out: SweepCase[] = [];
  const ids = new Set<string>();
  for (const f of files) {
    const mod = (await import(join(dir, f))) as { cases?: SweepCase[] };
    if (!Array.isArray(mod.cases)) throw new Error(`${f} does not export 'cases: SweepCase[]'`);
    for (const c of mod.cases) {
      if (ids.has(c.id)) throw new Error(`case id '${c.id}' repeats (in ${f})`);
      ids.add(c.id);
      out.push(c);
    }
  }
  return out;
}

/** Run one case in a fresh temporary directory; a throw is a crash, a missed deadline a hang. */
export async function runCase(c: SweepCase): Promise<CaseReport> {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-sweep-'));
  const t0 = performance.now();
  const limit = c.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let result: SweepResult;
  try {
    result = await Promise.race([
      c.run(dir).catch(
        (e: unknown): SweepResult => ({
          outcome: 'crash',
          detail: `the case threw: ${e instanceof Error ? e.message : String(e)}`.slice(0, 300),
        }),
      ),
      new Promise<SweepResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ outcome: 'hang', detail: `no result within ${limit} ms` }),
          limit + 2_000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
  return { id: c.id, group: c.group, ms: Math.round(performance.now() - t0), ...result };
}

/** Run `cases` with at most `concurrency` at a time, reporting each as it finishes. */
export async function runCases(
  cases: readonly SweepCase[],
  concurrency: number,
  onDone: (r: CaseReport) => void = () => {},
): Promise<CaseReport[]> {
  const out: CaseReport[] = new Array(cases.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const i = next++;
      out[i] = await runCase(cases[i]!);
      onDone(out[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, cases.length)) }, worker));
  return out;
}

export function countOutcomes(reports: readonly CaseReport[]): Record<SweepOutcome, number> {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<SweepOutcome, number>;
  for (const r of reports) counts[r.outcome]++;
  return counts;
}

/** The tables (one per group) and the summary line, as markdown. */
export function renderReport(reports: readonly CaseReport[]): string {
  const lines: string[] = [];
  const groups = [...new Set(reports.map((r) => r.group))];
  for (const g of groups) {
    const rows = reports.filter((r) => r.group === g);
    const c = countOutcomes(rows);
    lines.push(
      `### ${g} (${rows.length} cases: ${OUTCOMES.filter((o) => c[o] > 0)
        .map((o) => `${c[o]} ${o}`)
        .join(', ')})`,
    );
    lines.push('');
    lines.push('| case | outcome | ms | detail |');
    lines.push('|---|---|---:|---|');
    for (const r of rows) {
      const detail = r.detail.replaceAll('|', '\\|').replaceAll('\n', ' ');
      lines.push(`| ${r.id} | ${r.outcome} | ${r.ms} | ${detail} |`);
    }
    lines.push('');
  }
  lines.push(summaryLine(reports));
  return `${lines.join('\n')}\n`;
}

export function summaryLine(reports: readonly CaseReport[]): string {
  const c = countOutcomes(reports);
  return `sweep: ${reports.length} cases: ${OUTCOMES.map((o) => `${c[o]} ${o}`).join(', ')}`;
}

interface Args {
  groups: string[];
  json: string | undefined;
  concurrency: number;
  idPrefix: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { groups: [], json: undefined, concurrency: 2, idPrefix: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--group') a.groups.push(value());
    else if (flag === '--json') a.json = value();
    else if (flag === '--concurrency') a.concurrency = Number(value());
    else if (flag === '--id-prefix') a.idPrefix = value();
    else
      throw new Error(
        `unknown flag '${flag}' (flags: --group G, --json FILE, --concurrency N, --id-prefix P)`,
      );
  }
  if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new Error('--concurrency must be >= 1');
  return a;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`sweep: ${(e as Error).message}\n`);
    return 2;
  }
  let cases = await loadCases();
  if (args.groups.length > 0) cases = cases.filter((c) => args.groups.includes(c.group));
  if (args.idPrefix !== undefined) cases = cases.filter((c) => c.id.startsWith(args.idPrefix!));
  if (cases.length === 0) {
    process.stderr.write('sweep: no case selected\n');
    return 2;
  }
  const t0 = performance.now();
  let done = 0;
  const reports = await runCases(cases, args.concurrency, (r) => {
    done++;
    process.stderr.write(`[${done}/${cases.length}] ${r.outcome.padEnd(15)} ${r.id} (${r.ms} ms)\n`);
  });
  process.stdout.write(renderReport(reports));
  process.stderr.write(
    `wall ${((performance.now() - t0) / 1000).toFixed(1)} s, concurrency ${args.concurrency}\n`,
  );
  if (args.json !== undefined) {
    writeFileSync(
      args.json,
      `${JSON.stringify({ cases: reports, counts: countOutcomes(reports) }, null, 2)}\n`,
    );
  }
  return reports.some((r) => FAILING.has(r.outcome)) ? 1 : 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`sweep: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
