/**
 * `pnpm bench <name> --out DIR` (issue 20: `bench net --out` wrote the committed files): the runner
 * writes a single benchmark's JSON and markdown into DIR and leaves benchmarks/results/ alone, and the
 * benchmark itself never sees the flag. csv at its smoke size stands for every benchmark (the runner
 * writes all of them the same way); a bare `--out` is refused with one line.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNNER = join(BENCH, 'run.ts');
const out = mkdtempSync(join(tmpdir(), 'fedscore-bench-out-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const env = { ...process.env };
    delete env['FEDSCORE_BENCH_RESULTS'];
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', RUNNER, ...args],
      { timeout: 120_000, env, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => ok({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

describe('pnpm bench <name> --out DIR', () => {
  it('writes the results into DIR, not into benchmarks/results', async () => {
    const committed = join(BENCH, 'results', 'csv.json');
    const before = existsSync(committed) ? statSync(committed).mtimeMs : undefined;
    const dir = join(out, 'nested', 'dir');
    const r = await run(['csv', '--rows', '2000', '--runs', '1', '--out', dir]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'csv.json'), 'utf8')) as { name: string };
    expect(json.name).toBe('csv');
    expect(readFileSync(join(dir, 'csv.md'), 'utf8')).toMatch(/^# Benchmark: csv/);
    expect(r.stderr).toContain(`wrote ${join(dir, 'csv.json')}`);
    expect(existsSync(committed) ? statSync(committed).mtimeMs : undefined).toBe(before);
  }, 150_000);

  it('refuses --out without a directory', async () => {
    const r = await run(['csv', '--out']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--out needs a directory');
  });
});
