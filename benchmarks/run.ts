/**
 * Benchmark runner: `pnpm bench <name> [flags] [--out DIR]` runs `src/<name>.bench.ts`, whose default
 * export returns a `BenchResult`, and writes `<name>.json` and `<name>.md` into DIR (default `results/`,
 * or $FEDSCORE_BENCH_RESULTS; `--no-write`: nothing). `pnpm bench --list` lists them.
 * `--as NAME` writes `NAME.json` and `NAME.md` instead (a named run of a benchmark: `bench net --kind hfl
 * --as net-hfl`; the JSON's `name` stays the benchmark's). A result's `also` (further named results of the
 * same run) is written beside it, each under its own name.
 * `pnpm bench all [--network memory|lan|wan] [--smoke] [--only a,b] [--out DIR] [--html-only]` runs the suite and
 * writes results/index.html (src/suite.ts).
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFedscoreError } from '@fedscore/core';
import { RESULTS_DIR, writeResult } from './src/report.ts';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(join(here, 'src'))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''));

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--list' || name === '--help') {
  console.log(
    `Usage: pnpm bench <name> [flags] [--out DIR] | pnpm bench all [--network memory|lan|wan] [--smoke] [--only a,b] [--out DIR]\nBenchmarks: ${available.join(', ')}`,
  );
  process.exit(name === undefined ? 2 : 0);
}
// A refused flag or input (a typed error) is one line naming the field; anything else is a bug: stack.
process.on('uncaughtException', (e) => {
  if (!isFedscoreError(e)) throw e;
  console.error(`bench ${name}: error [${e.code}] ${e.message}`);
  process.exit(2);
});
// Loaded only for `all`: the page (src/html.ts) imports @fedscore/pipeline, about 1.2 CPU s of module
// loading that every single benchmark's process would otherwise pay (the smoke starts 12 of them).
if (name === 'all') {
  const { runSuite } = await import('./src/suite.ts');
  process.exit(await runSuite(args, RESULTS_DIR));
}
if (!available.includes(name)) {
  console.error(`unknown benchmark '${name}'; available: ${available.join(', ')}`);
  process.exit(2);
}
// `--out DIR` is the runner's (where the files go), as for `all`; the benchmark gets the other flags.
const outAt = args.indexOf('--out');
let outDir = RESULTS_DIR;
if (outAt >= 0) {
  const dir = args[outAt + 1];
  if (dir === undefined || dir === '' || dir.startsWith('--')) {
    console.error(`bench ${name}: --out needs a directory`);
    process.exit(2);
  }
  outDir = resolve(dir);
  args.splice(outAt, 2);
}
// `--as NAME` is the runner's too: the files' name.
const asAt = args.indexOf('--as');
let fileName = name;
if (asAt >= 0) {
  const as = args[asAt + 1];
  if (as === undefined || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(as)) {
    console.error(`bench ${name}: --as needs a file name (lower-case letters, digits and '-')`);
    process.exit(2);
  }
  fileName = as;
  args.splice(asAt, 2);
}
const mod = (await import(join(here, 'src', `${name}.bench.ts`))) as {
  default: (args: string[]) => Promise<import('./src/report.ts').BenchResult>;
};
const result = await mod.default(args);
const paths = writeResult(name, result, args.includes('--no-write'), outDir, fileName);
console.log(JSON.stringify(result.summary));
if (paths) console.error(`wrote ${paths.json} and ${paths.md}`);
// Further results of the same run (`bench net --smoke-kinds`), each under its own file name.
for (const [also, r] of Object.entries(result.also ?? {})) {
  const p = writeResult(name, r, args.includes('--no-write'), outDir, also);
  if (p) console.error(`wrote ${p.json} and ${p.md}`);
}
