/**
 * Sweep cases over the CLI and the libraries (issue 12, "silent wrong results" and "crashes and unclear
 * errors"): every corrupted cell kind in every command that reads a CSV, huge values on their way into
 * standardization and CKKS, header-only, empty and missing files, wrong delimiters, duplicate ids, bad
 * labels, bad flags, a diverging learning rate, and library calls with out-of-range values.
 *
 * Each case writes small seeded fixture files into its own directory and runs the real CLI
 * (`node packages/cli/src/main.ts ...`, a child process, as a user would) or a library call in a child
 * process. Classification:
 * - refused-clearly: exit 1/2 with `fedscore: error [code] message` whose code is the expected one and
 *   whose message names what the case says it must (file:line:column, the column, the flag);
 * - handled: exit 0 where the input is valid after all, and the result passed the case's check;
 * - silent-wrong: exit 0 where a refusal was due, or a result that failed the check;
 * - crash: an internal error, a stack trace, a WebAssembly fault, a signal, or a typed error that does
 *   not name what it must (an unclear error counts against the sweep like a crash);
 * - hang: past the case's time limit.
 * Details quote error codes and messages only (the CLI's messages never hold data values).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SweepCase, SweepResult } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const CLI = join(repo, 'packages', 'cli', 'src', 'main.ts');

// ---------------------------------------------------------------------------------------------------
// Running and classifying

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Run node on `args` in `cwd`, killing it (by its own pid) past `timeoutMs`. */
export function runNode(args: readonly string[], cwd: string, timeoutMs: number): Promise<ProcessResult> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => {
      if (stdout.length < 1 << 20) stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 1 << 20) stderr += b.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * Run the CLI on `args` in `cwd`. By default in a pooled CLI host process (cli-host.ts: `main(argv)`
 * in-process, as the CLI tests do, without paying the start-up per case); a host that crashed, hung or
 * printed a fault is killed and never reused. FEDSCORE_SWEEP_SPAWN=1 starts one process per invocation
 * (`node packages/cli/src/main.ts ...`, exactly as a user does).
 */
export function runCli(args: readonly string[], cwd: string, timeoutMs: number): Promise<ProcessResult> {
  if (process.env['FEDSCORE_SWEEP_SPAWN'] === '1') return runNode([CLI, ...args], cwd, timeoutMs);
  return runInHost(args, cwd, timeoutMs);
}

const HOST = join(here, 'cli-host.ts');
const idleHosts: ChildProcess[] = [];

function takeHost(): ChildProcess {
  const idle = idleHosts.pop();
  if (idle !== undefined) {
    idle.ref();
    idle.channel?.ref();
    return idle;
  }
  return fork(HOST, [], {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
}

function releaseHost(child: ChildProcess): void {
  child.unref();
  child.channel?.unref();
  idleHosts.push(child);
}

function runInHost(args: readonly string[], cwd: string, timeoutMs: number): Promise<ProcessResult> {
  const child = takeHost();
  return new Promise((done) => {
    let settled = false;
    const finish = (r: ProcessResult, reuse: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners('message');
      child.removeAllListeners('exit');
      if (reuse) releaseHost(child);
      else child.kill('SIGKILL');
      done(r);
    };
    const timer = setTimeout(() => {
      finish({ code: null, signal: 'SIGKILL', stdout: '', stderr: '', timedOut: true }, false);
    }, timeoutMs);
    child.on('message', (m: { code: number; stdout: string; stderr: string }) => {
      const faulty = CRASH_SIGNS.test(m.stderr);
      finish({ code: m.code, signal: null, stdout: m.stdout, stderr: m.stderr, timedOut: false }, !faulty);
    });
    child.on('exit', (code, signal) => {
      finish(
        {
          code,
          signal: signal ?? 'SIGABRT',
          stdout: '',
          stderr: 'the CLI host process died',
          timedOut: false,
        },
        false,
      );
    });
    child.send({ args: [...args], cwd });
  });
}

/** What a refusal must look like. */
export interface Refusal {
  /** Accepted error codes. */
  readonly codes: readonly string[];
  /** Texts the error message must contain (file:line:column, a column name, a flag). */
  readonly mentions?: readonly string[];
  /** Texts stderr must not contain (e.g. 'psi' logs: the flag was checked before PSI ran). */
  readonly absent?: readonly string[];
}

const CRASH_SIGNS =
  /internal error|RuntimeError|WebAssembly|null function|\n\s+at .*\(|Aborted\(|out of bounds/;

function short(text: string, dir?: string): string {
  const t = dir === undefined ? text : text.replaceAll(`${dir}/`, '').replaceAll(dir, '.');
  return t.replace(/\s+/g, ' ').trim().slice(0, 240);
}

/** Classify a process that should have refused the input. */
export function expectRefusal(r: ProcessResult, want: Refusal, dir?: string): SweepResult {
  if (r.timedOut) return { outcome: 'hang', detail: 'killed at the time limit' };
  if (r.signal !== null) return { outcome: 'crash', detail: `died of ${r.signal}` };
  if (CRASH_SIGNS.test(r.stderr)) return { outcome: 'crash', detail: short(r.stderr, dir) };
  if (r.code === 0) return { outcome: 'silent-wrong', detail: 'exit 0: the input was accepted' };
  const m = /fedscore: error \[([a-z_]+)\] (.*)/.exec(r.stderr);
  if (m === null)
    return { outcome: 'crash', detail: `exit ${r.code} without a typed error: ${short(r.stderr, dir)}` };
  const [, code, message] = m as unknown as [string, string, string];
  const detail = short(`[${code}] ${message}`, dir);
  if (!want.codes.includes(code)) {
    return { outcome: 'crash', detail: `unclear: expected ${want.codes.join('|')}, got ${detail}` };
  }
  for (const t of want.mentions ?? []) {
    if (!message.includes(t)) return { outcome: 'crash', detail: `unclear: does not name '${t}': ${detail}` };
  }
  for (const t of want.absent ?? []) {
    if (r.stderr.includes(t)) return { outcome: 'crash', detail: `unclear: stderr shows '${t}': ${detail}` };
  }
  return { outcome: 'refused-clearly', detail };
}

/** Classify a process that should succeed; `check` returns what is wrong with the output, if anything. */
export function expectHandled(
  r: ProcessResult,
  check: (r: ProcessResult) => string | undefined = () => undefined,
  dir?: string,
): SweepResult {
  if (r.timedOut) return { outcome: 'hang', detail: 'killed at the time limit' };
  if (r.signal !== null) return { outcome: 'crash', detail: `died of ${r.signal}` };
  if (CRASH_SIGNS.test(r.stderr)) return { outcome: 'crash', detail: short(r.stderr, dir) };
  if (r.code !== 0) {
    const m = /fedscore: error \[([a-z_]+)\] (.*)/.exec(r.stderr);
    return m === null
      ? { outcome: 'crash', detail: `exit ${r.code}: ${short(r.stderr, dir)}` }
      : { outcome: 'silent-wrong', detail: `refused a valid input: ${short(m[0], dir)}` };
  }
  const problem = check(r);
  return problem === undefined
    ? { outcome: 'handled', detail: 'exit 0, result checked' }
    : { outcome: 'silent-wrong', detail: problem };
}

function lastJson(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').at(-1);
  try {
    return JSON.parse(line ?? '') as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// Fixtures: small seeded files, written into each case's directory

/** Park-Miller minimal standard generator: fixtures only (no secret depends on it). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

const ROWS = 120;

interface Fixture {
  /** File name -> rows (header first), each row its fields. */
  readonly files: Record<string, string[][]>;
}

function baseFixture(): Fixture {
  const r = lcg(20261205);
  const guest: string[][] = [['id', 'y', 'a', 'b']];
  const host: string[][] = [['id', 'c', 'd']];
  const scores: string[][] = [['id', 'y', 'p']];
  const port: string[][] = [['id', 'y', 'x0', 'x1']];
  for (let i = 0; i < ROWS; i++) {
    const a = r() * 2 - 1;
    const b = r() * 2 - 1;
    const c = r() * 2 - 1;
    const y = a + c + 0.6 * (r() - 0.5) > 0 ? 1 : 0;
    guest.push([`c${i}`, String(y), a.toFixed(4), b.toFixed(4)]);
    if (i < ROWS - 10) host.push([`c${i}`, c.toFixed(4), (r() * 10).toFixed(2)]);
    scores.push([`c${i}`, String(y), (1 / (1 + Math.exp(-2 * (a + c)))).toFixed(5)]);
    port.push([`c${i}`, String(y), a.toFixed(4), c.toFixed(4)]);
  }
  for (let i = 0; i < 15; i++) host.push([`x${i}`, '0.1', '1.00']);
  return { files: { 'guest.csv': guest, 'host.csv': host, 'scores.csv': scores, 'port.csv': port } };
}

const enc = new TextEncoder();

/** Write the fixture, with cell (row, col) of `file` replaced by `bytes` (row 0 = the first data row). */
function writeFixture(
  dir: string,
  edit?: { file: string; row: number; col: number; bytes: Uint8Array },
  transform?: (file: string, rows: string[][]) => string[][] | Uint8Array,
): void {
  const fx = baseFixture();
  for (const [name, rows0] of Object.entries(fx.files)) {
    const rows = transform ? transform(name, rows0) : rows0;
    if (rows instanceof Uint8Array) {
      writeFileSync(join(dir, name), rows);
      continue;
    }
    const parts: Uint8Array[] = [];
    rows.forEach((fields, r) => {
      fields.forEach((f, j) => {
        if (j > 0) parts.push(enc.encode(','));
        if (edit && edit.file === name && r === edit.row + 1 && j === edit.col) parts.push(edit.bytes);
        else parts.push(enc.encode(f));
      });
      parts.push(enc.encode('\n'));
    });
    writeFileSync(join(dir, name), Buffer.concat(parts));
  }
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({ features: ['x0', 'x1'], weights: [0.8, -0.5], intercept: -1 }),
  );
}

// ---------------------------------------------------------------------------------------------------
// The commands under test

interface Target {
  readonly name: string;
  readonly file: string;
  /** The column (0-based field index) a corruption goes into, and its header name. */
  readonly col: number;
  readonly colName: string;
  readonly args: readonly string[];
  readonly timeoutMs?: number;
}

const TRAIN = [
  'train',
  'hetero-lr',
  '--guest',
  'guest.csv',
  '--host',
  'host.csv',
  '--id',
  'id',
  '--label',
  'y',
];
const TRAIN_FAST = [...TRAIN, '--he', 'none', '--epochs', '2', '--quiet'];
const BINNING = [
  'binning',
  '--guest',
  'guest.csv',
  '--host',
  'host.csv',
  '--id',
  'id',
  '--label',
  'y',
  '--he',
  'none',
  '--quiet',
];
const EVALUATE = ['evaluate', '--input', 'scores.csv', '--label', 'y', '--score', 'p', '--quiet'];
const SCORE = [
  'score',
  'batch',
  '--model',
  'model.json',
  '--input',
  'port.csv',
  '--label',
  'y',
  '--workers',
  '0',
  '--quiet',
];
const PSI = ['psi', '--guest', 'guest.csv', '--host', 'host.csv', '--id', 'id', '--quiet'];

const TARGETS: readonly Target[] = [
  { name: 'train-guest', file: 'guest.csv', col: 2, colName: 'a', args: TRAIN_FAST },
  { name: 'train-host', file: 'host.csv', col: 1, colName: 'c', args: TRAIN_FAST },
  { name: 'binning-guest', file: 'guest.csv', col: 3, colName: 'b', args: BINNING },
  { name: 'binning-host', file: 'host.csv', col: 2, colName: 'd', args: BINNING },
  { name: 'evaluate', file: 'scores.csv', col: 2, colName: 'p', args: EVALUATE },
  { name: 'score-batch', file: 'port.csv', col: 2, colName: 'x0', args: SCORE },
];

/** One bad cell: its bytes and the error codes that may refuse it. */
interface CellKind {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly codes: readonly string[];
}

const CELL_KINDS: readonly CellKind[] = [
  { name: 'inf', bytes: enc.encode('Inf'), codes: ['csv_schema'] },
  { name: 'neg-infinity', bytes: enc.encode('-Infinity'), codes: ['csv_schema'] },
  { name: 'overflow-1e309', bytes: enc.encode('1e309'), codes: ['csv_schema'] },
  { name: 'latin1-byte', bytes: Uint8Array.from([0x30, 0x2e, 0xe9]), codes: ['csv_parse'] },
  { name: 'lone-continuation-byte', bytes: Uint8Array.from([0x80]), codes: ['csv_parse'] },
  { name: 'nul', bytes: Uint8Array.from([0x31, 0x00]), codes: ['csv_schema'] },
  { name: 'quoted-line-break', bytes: enc.encode('"0.5\n7"'), codes: ['csv_schema'] },
  { name: 'stray-word', bytes: enc.encode('unknown'), codes: ['csv_schema'] },
  { name: 'thousands-separator', bytes: enc.encode('"1,234"'), codes: ['csv_schema'] },
  { name: 'hex', bytes: enc.encode('0x1F'), codes: ['csv_schema'] },
];

const BAD_ROW = 40; // file line 42

function cellCases(): SweepCase[] {
  const out: SweepCase[] = [];
  for (const t of TARGETS) {
    for (const k of CELL_KINDS) {
      out.push({
        id: `csv/${t.name}/${k.name}`,
        group: 'csv-cell',
        timeoutMs: t.timeoutMs ?? 30_000,
        async run(dir) {
          writeFixture(dir, { file: t.file, row: BAD_ROW, col: t.col, bytes: k.bytes });
          const r = await runCli(t.args, dir, (t.timeoutMs ?? 30_000) - 1_000);
          return expectRefusal(
            r,
            { codes: k.codes, mentions: [`${t.file}:${BAD_ROW + 2}:${t.col + 1}`, `'${t.colName}'`] },
            dir,
          );
        },
      });
    }
  }
  // Invalid UTF-8 anywhere: in the ids PSI matches, and in a column PSI ignores.
  for (const [where, col] of [
    ['id', 0],
    ['ignored-column', 2],
  ] as const) {
    for (const k of CELL_KINDS.filter((c) => c.codes.includes('csv_parse'))) {
      for (const file of ['guest.csv', 'host.csv']) {
        out.push({
          id: `csv/psi-${file.replace('.csv', '')}-${where}/${k.name}`,
          group: 'csv-utf8',
          timeoutMs: 30_000,
          async run(dir) {
            writeFixture(dir, { file, row: BAD_ROW, col, bytes: k.bytes });
            const r = await runCli(PSI, dir, 29_000);
            return expectRefusal(
              r,
              { codes: ['csv_parse'], mentions: [`${file}:${BAD_ROW + 2}:${col + 1}`] },
              dir,
            );
          },
        });
      }
    }
  }
  // An id list (--train-ids) holding a byte that is not UTF-8.
  out.push({
    id: 'csv/train-ids-list/latin1-byte',
    group: 'csv-utf8',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir);
      const ids = Array.from({ length: ROWS - 10 }, (_, i) => `c${i}`);
      writeFileSync(
        join(dir, 'train.txt'),
        Buffer.concat([Buffer.from(`${ids.slice(0, 80).join('\n')}\nc8`), Buffer.from([0xe9, 0x0a])]),
      );
      writeFileSync(join(dir, 'test.txt'), `${ids.slice(80).join('\n')}\n`);
      const r = await runCli(
        [...TRAIN_FAST, '--train-ids', 'train.txt', '--test-ids', 'test.txt'],
        dir,
        29_000,
      );
      return expectRefusal(r, { codes: ['invalid_id'], mentions: ['train.txt:81'] }, dir);
    },
  });
  // Ids that differ only in an invalid byte must not collapse into one (they used to become duplicates).
  out.push({
    id: 'csv/train-guest/two-ids-differing-in-invalid-bytes',
    group: 'csv-utf8',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir, undefined, (name, rows) => {
        if (name !== 'guest.csv') return rows;
        const text = rows.map((f) => f.join(',')).join('\n');
        return Buffer.concat([
          Buffer.from(`${text}\n`),
          Buffer.from([0x7a, 0xff]),
          Buffer.from(',1,0.1,0.2\n'),
          Buffer.from([0x7a, 0xfe]),
          Buffer.from(',0,0.3,0.4\n'),
        ]);
      });
      const r = await runCli(TRAIN_FAST, dir, 29_000);
      return expectRefusal(r, { codes: ['csv_parse'], mentions: [`guest.csv:${ROWS + 2}:1`] }, dir);
    },
  });
  return out;
}

/**
 * Blank lines, a CRLF row and a quoted id holding a line break before the bad cell: the error names the
 * physical line (the reader counts lines, not rows).
 */
function lineCases(): SweepCase[] {
  const out: SweepCase[] = [];
  for (const t of TARGETS) {
    out.push({
      id: `lines/${t.name}/blank-lines-crlf-and-quoted-break-before-the-bad-cell`,
      group: 'csv-lines',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir, undefined, (name, rows) => {
          if (name !== t.file) return rows;
          const lines = rows.map((f, r) => {
            const fields = [...f];
            if (r === 10) fields[0] = `"${fields[0]}\nbranch"`;
            if (r === 30) fields[t.col] = 'word';
            return fields.join(',') + (r === 20 ? '\r' : '');
          });
          lines.splice(3, 0, '', ''); // two blank lines after data row 2
          return enc.encode(`${lines.join('\n')}\n`);
        });
        const r = await runCli(t.args, dir, 29_000);
        // Data row 30 starts on line 31, plus two blank lines and one quoted line break: line 34.
        return expectRefusal(r, { codes: ['csv_schema'], mentions: [`${t.file}:34:${t.col + 1}`] }, dir);
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Huge finite values: standardization and CKKS

function hugeCases(): SweepCase[] {
  const out: SweepCase[] = [];
  const refuse = (
    id: string,
    file: string,
    col: number,
    value: string,
    args: readonly string[],
    mentions: readonly string[],
    timeoutMs = 30_000,
  ): SweepCase => ({
    id,
    group: 'huge-values',
    timeoutMs,
    async run(dir) {
      writeFixture(dir, { file, row: BAD_ROW, col, bytes: enc.encode(value) });
      const r = await runCli(args, dir, timeoutMs - 1_000);
      return expectRefusal(r, { codes: ['out_of_range'], mentions }, dir);
    },
  });
  for (const v of ['1e308', '-1e308', '1.7e308', '1e200', '-3e160']) {
    out.push(
      refuse(`huge/train-guest-none/${v}`, 'guest.csv', 2, v, TRAIN_FAST, [
        `guest.csv:${BAD_ROW + 2}:3`,
        "'a'",
      ]),
    );
    out.push(
      refuse(`huge/train-host-none/${v}`, 'host.csv', 1, v, TRAIN_FAST, [`host.csv:${BAD_ROW + 2}:2`, "'c'"]),
    );
  }
  const ckks = [...TRAIN, '--epochs', '1', '--quiet'];
  out.push(
    refuse(
      'huge/train-guest-ckks/1e308',
      'guest.csv',
      2,
      '1e308',
      ckks,
      [`guest.csv:${BAD_ROW + 2}:3`],
      60_000,
    ),
  );
  out.push(
    refuse(
      'huge/train-host-ckks-two-party/1e308',
      'host.csv',
      1,
      '1e308',
      [...ckks, '--mode', 'two-party'],
      ["'c'"],
      60_000,
    ),
  );
  for (const v of ['1e15', '1e308', '-1e308', '3e5', '-1e9']) {
    out.push(
      refuse(`huge/score-batch/${v}`, 'port.csv', 2, v, SCORE, [`port.csv:${BAD_ROW + 2}`, "'x0'"], 60_000),
    );
  }
  // Inside the bound: scored, and the encrypted scores agree with the plaintext ones.
  for (const v of ['2e5', '-2e5', '1e-300']) {
    out.push({
      id: `huge/score-batch/in-range-${v}`,
      group: 'huge-values',
      timeoutMs: 60_000,
      async run(dir) {
        writeFixture(dir, { file: 'port.csv', row: BAD_ROW, col: 2, bytes: enc.encode(v) });
        const r = await runCli([...SCORE, '--json'], dir, 59_000);
        return expectHandled(r, (p) => {
          const err = lastJson(p.stdout)?.['maxAbsError'];
          return typeof err === 'number' && err < 1e-3 ? undefined : `maxAbsError ${String(err)}`;
        });
      },
    });
  }
  // Binning needs no arithmetic on the values beyond comparisons: a huge value is a valid outlier.
  for (const [file, col] of [
    ['guest.csv', 3],
    ['host.csv', 2],
  ] as const) {
    for (const method of ['quantile', 'chimerge']) {
      out.push({
        id: `huge/binning-${file.replace('.csv', '')}-${method}/1e308`,
        group: 'huge-values',
        timeoutMs: 30_000,
        async run(dir) {
          writeFixture(dir, { file, row: BAD_ROW, col, bytes: enc.encode('1e308') });
          const r = await runCli([...BINNING, '--method', method, '--json'], dir, 29_000);
          return expectHandled(r, (p) => {
            const features = (lastJson(p.stdout)?.['features'] ?? []) as { iv?: unknown }[];
            const bad = features.filter((f) => typeof f.iv !== 'number' || !Number.isFinite(f.iv));
            return features.length === 4 && bad.length === 0 ? undefined : 'an IV is not a finite number';
          });
        },
      });
    }
  }
  out.push({
    id: 'huge/evaluate/1e308-score',
    group: 'huge-values',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir, { file: 'scores.csv', row: BAD_ROW, col: 2, bytes: enc.encode('1e308') });
      const r = await runCli([...EVALUATE, '--json'], dir, 29_000);
      return expectHandled(r, (p) => {
        const auc = lastJson(p.stdout)?.['auc'];
        return typeof auc === 'number' && auc > 0.5 && auc <= 1 ? undefined : `auc ${String(auc)}`;
      });
    },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Files: header only, empty, missing, not a file, no features, delimiters, ragged rows, duplicates

function fileCases(): SweepCase[] {
  const out: SweepCase[] = [];
  const commands: readonly { name: string; args: readonly string[]; files: readonly string[] }[] = [
    { name: 'train', args: TRAIN_FAST, files: ['guest.csv', 'host.csv'] },
    { name: 'binning', args: BINNING, files: ['guest.csv', 'host.csv'] },
    { name: 'psi', args: PSI, files: ['guest.csv', 'host.csv'] },
    { name: 'evaluate', args: EVALUATE, files: ['scores.csv'] },
    { name: 'score-batch', args: SCORE, files: ['port.csv'] },
    {
      name: 'baseline',
      args: [
        'baseline',
        '--guest',
        'guest.csv',
        '--host',
        'host.csv',
        '--id',
        'id',
        '--label',
        'y',
        '--quiet',
      ],
      files: ['guest.csv', 'host.csv'],
    },
    {
      name: 'stability',
      args: ['stability', '--expected', 'port.csv', '--actual', 'scores.csv', '--quiet'],
      files: ['port.csv', 'scores.csv'],
    },
  ];
  // Every variant on the first file of each command; the cheaper-to-spot ones on the train guest only.
  const everywhere = new Set(['header-only', 'empty', 'ragged-row', 'semicolon-delimiter']);
  const variants: readonly {
    name: string;
    make: (rows: string[][]) => string[][] | Uint8Array;
    codes: readonly string[];
    mentions: (file: string) => readonly string[];
  }[] = [
    {
      name: 'header-only',
      make: (rows) => [rows[0]!],
      codes: ['csv_schema'],
      mentions: (f) => [`no rows in ${f}`],
    },
    {
      name: 'empty',
      make: () => new Uint8Array(0),
      codes: ['csv_parse'],
      mentions: (f) => [f, 'no header'],
    },
    {
      name: 'bom-only',
      make: () => Uint8Array.from([0xef, 0xbb, 0xbf]),
      codes: ['csv_parse'],
      mentions: (f) => [f, 'no header'],
    },
    {
      name: 'ragged-row',
      make: (rows) => rows.map((r, i) => (i === 50 ? r.slice(0, -1) : r)),
      codes: ['csv_parse'],
      mentions: (f) => [`${f}:51`],
    },
    {
      name: 'extra-field',
      make: (rows) => rows.map((r, i) => (i === 60 ? [...r, '9'] : r)),
      codes: ['csv_parse'],
      mentions: (f) => [`${f}:61`],
    },
    {
      name: 'unterminated-quote',
      make: (rows) => rows.map((r, i) => (i === 70 ? [r[0]!, `"${r[1]}`, ...r.slice(2)] : r)),
      codes: ['csv_parse'],
      mentions: (f) => [`${f}:71`],
    },
    {
      name: 'semicolon-delimiter',
      make: (rows) => enc.encode(`${rows.map((r) => r.join(';')).join('\n')}\n`),
      codes: ['not_found', 'csv_schema'],
      mentions: (f) => [f],
    },
  ];
  for (const c of commands) {
    for (const file of c.files) {
      for (const v of variants) {
        if (!everywhere.has(v.name) && !(c.name === 'train' && file === 'guest.csv')) continue;
        out.push({
          id: `files/${c.name}/${file.replace('.csv', '')}-${v.name}`,
          group: 'files',
          timeoutMs: 30_000,
          async run(dir) {
            writeFixture(dir, undefined, (name, rows) => (name === file ? v.make(rows) : rows));
            const r = await runCli(c.args, dir, 29_000);
            return expectRefusal(r, { codes: v.codes, mentions: v.mentions(file) }, dir);
          },
        });
      }
      out.push({
        id: `files/${c.name}/${file.replace('.csv', '')}-missing`,
        group: 'files',
        timeoutMs: 30_000,
        async run(dir) {
          writeFixture(dir);
          const args = c.args.map((a) => (a === file ? `nowhere-${file}` : a));
          const r = await runCli(args, dir, 29_000);
          return expectRefusal(r, { codes: ['io'], mentions: [`nowhere-${file}`] }, dir);
        },
      });
      if (c.name === 'train' && file === 'guest.csv')
        out.push({
          id: `files/${c.name}/${file.replace('.csv', '')}-is-a-directory`,
          group: 'files',
          timeoutMs: 30_000,
          async run(dir) {
            writeFixture(dir);
            mkdirSync(join(dir, 'folder.csv'));
            const args = c.args.map((a) => (a === file ? 'folder.csv' : a));
            const r = await runCli(args, dir, 29_000);
            return expectRefusal(r, { codes: ['io'], mentions: ['folder.csv'] }, dir);
          },
        });
    }
  }
  // A guest with only the id and the label, a host with only the id.
  for (const [file, keep, args] of [
    ['guest.csv', 2, TRAIN_FAST],
    ['host.csv', 1, TRAIN_FAST],
    ['guest.csv', 2, BINNING],
    ['host.csv', 1, BINNING],
  ] as const) {
    out.push({
      id: `files/${args[0]}/${file.replace('.csv', '')}-no-feature-columns`,
      group: 'files',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir, undefined, (name, rows) =>
          name === file ? rows.map((r) => r.slice(0, keep)) : rows,
        );
        const r = await runCli(args, dir, 29_000);
        return expectRefusal(r, { codes: ['csv_schema'], mentions: [`no feature columns in ${file}`] }, dir);
      },
    });
  }
  // Duplicate ids.
  for (const [file, args] of [
    ['guest.csv', TRAIN_FAST],
    ['host.csv', TRAIN_FAST],
    ['guest.csv', BINNING],
  ] as const) {
    out.push({
      id: `files/${args[0]}/${file.replace('.csv', '')}-duplicate-id`,
      group: 'files',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir, undefined, (name, rows) =>
          name === file ? rows.map((r, i) => (i === 90 ? [rows[12]![0]!, ...r.slice(1)] : r)) : rows,
        );
        const r = await runCli(args, dir, 29_000);
        return expectRefusal(r, { codes: ['duplicate_id'], mentions: [`${file}:91`, 'line 13'] }, dir);
      },
    });
  }
  // The parties share no id.
  out.push({
    id: 'files/train/disjoint-ids',
    group: 'files',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir, undefined, (name, rows) =>
        name === 'host.csv' ? rows.map((r, i) => (i === 0 ? r : [`z${r[0]}`, ...r.slice(1)])) : rows,
      );
      const r = await runCli(TRAIN_FAST, dir, 29_000);
      return expectRefusal(r, { codes: ['invalid_argument'], mentions: ['share no id', '--id'] }, dir);
    },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Labels

function labelCases(): SweepCase[] {
  const edit = (value: string) => (name: string, rows: string[][]) =>
    name === 'guest.csv' ? rows.map((r, i) => (i === 33 ? [r[0]!, value, ...r.slice(2)] : r)) : rows;
  const out: SweepCase[] = [];
  for (const [name, value, codes, mentions] of [
    ['label-2', '2', ['csv_schema'], ['guest.csv:34:2']],
    ['label-word', 'maybe', ['csv_schema'], ['guest.csv:34:2']],
    ['label-missing', '', ['missing_value'], ['guest.csv:34:2']],
    ['label-NA', 'NA', ['missing_value'], ['guest.csv:34:2']],
  ] as const) {
    for (const args of [TRAIN_FAST, BINNING]) {
      out.push({
        id: `labels/${args[0]}/${name}`,
        group: 'labels',
        timeoutMs: 30_000,
        async run(dir) {
          writeFixture(dir, undefined, edit(value));
          const r = await runCli(args, dir, 29_000);
          return expectRefusal(r, { codes, mentions }, dir);
        },
      });
    }
  }
  for (const args of [TRAIN_FAST, BINNING]) {
    out.push({
      id: `labels/${args[0]}/one-class`,
      group: 'labels',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir, undefined, (name, rows) =>
          name === 'guest.csv' ? rows.map((r, i) => (i === 0 ? r : [r[0]!, '0', ...r.slice(2)])) : rows,
        );
        const r = await runCli(args, dir, 29_000);
        return expectRefusal(r, { codes: ['single_class'], mentions: ['guest.csv'] }, dir);
      },
    });
    out.push({
      id: `labels/${args[0]}/no-such-label-column`,
      group: 'labels',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir);
        const r = await runCli(
          args.map((a) => (a === 'y' ? 'bad_flag' : a)),
          dir,
          29_000,
        );
        return expectRefusal(r, { codes: ['not_found'], mentions: ['guest.csv', '--label'] }, dir);
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Flags: refused before any file is read or protocol runs, naming the flag

function flagCases(): SweepCase[] {
  const out: SweepCase[] = [];
  // With --log-level debug, PSI logs how it resolved the ids: its absence shows PSI never started.
  const train = [...TRAIN, '--he', 'none', '--log-level', 'debug'];
  const binning = [...BINNING, '--log-level', 'debug'];
  const fedavg = ['train', 'fedavg', '--client', 'guest.csv', '--client', 'guest.csv', '--test', 'guest.csv'];
  const baseline = ['baseline', '--guest', 'guest.csv', '--host', 'host.csv', '--id', 'id', '--label', 'y'];
  const stability = ['stability', '--expected', 'port.csv', '--actual', 'scores.csv'];
  const cases: readonly [string, readonly string[], readonly string[], string][] = [
    ['train', train, ['--epochs', '0'], '--epochs'],
    ['train', train, ['--epochs', '-1'], '--epochs'],
    ['train', train, ['--epochs', '1.5'], '--epochs'],
    ['train', train, ['--epochs', 'ten'], '--epochs'],
    ['train', train, ['--epochs', '1000000'], '--epochs'],
    ['train', train, ['--batch-size', '0'], '--batch-size'],
    ['train', train, ['--batch-size', '-5'], '--batch-size'],
    ['train', train, ['--batch-size', '5000000'], '--batch-size'],
    ['train', train, ['--l2', '-1'], '--l2'],
    ['train', train, ['--l2', 'NaN'], '--l2'],
    ['train', train, ['--l2', 'Infinity'], '--l2'],
    ['train', train, ['--learning-rate', '0'], '--learning-rate'],
    ['train', train, ['--learning-rate', '-0.1'], '--learning-rate'],
    ['train', train, ['--learning-rate', 'NaN'], '--learning-rate'],
    ['train', train, ['--lr-decay', '-1'], '--lr-decay'],
    ['train', train, ['--lr-schedule', 'cosine'], '--lr-schedule'],
    ['train', train, ['--validation-fraction', '0.95'], '--validation-fraction'],
    ['train', train, ['--validation-fraction', '-0.1'], '--validation-fraction'],
    ['train', train, ['--patience', '-1'], '--patience'],
    ['train', train, ['--seed', '-1'], '--seed'],
    ['train', train, ['--test-fraction', '0'], '--test-fraction'],
    ['train', train, ['--test-fraction', '1.5'], '--test-fraction'],
    ['train', train, ['--woe', '--woe-bins', '0'], '--woe-bins'],
    ['train', train, ['--woe', '--min-iv', '-1'], '--min-iv'],
    ['train', train, ['--min-iv', '0.1'], '--min-iv'],
    ['train', train, ['--paillier-bits', '100'], '--paillier-bits'],
    ['train', train, ['--ckks-preset', 'ckks-2048'], '--ckks-preset'],
    ['train', train, ['--mode', 'three-party'], '--mode'],
    ['train', train, ['--epoch', '3'], '--epoch'],
    ['train', train, ['--epochs', '3', '--epochs', '4'], '--epochs'],
    ['train', train, ['--train-ids', 'ids.txt'], '--test-ids'],
    ['binning', binning, ['--bins', '0'], '--bins'],
    ['binning', binning, ['--bins', '5000'], '--bins'],
    ['binning', binning, ['--min-iv', '-1'], '--min-iv'],
    ['binning', binning, ['--top-k', '0'], '--top-k'],
    ['binning', binning, ['--corr', '0'], '--corr'],
    ['binning', binning, ['--corr', '1.5'], '--corr'],
    ['binning', binning, ['--workers', '-1'], '--workers'],
    ['binning', binning, ['--method', 'kmeans'], '--method'],
    ['psi', PSI, ['--threads', '-1'], '--threads'],
    ['psi', PSI, ['--batch', '0'], '--batch'],
    ['evaluate', EVALUATE, ['--bins', '0'], '--bins'],
    ['fedavg', fedavg, ['--rounds', '0'], '--rounds'],
    ['fedavg', fedavg, ['--learning-rate', '0'], '--learning-rate'],
    ['fedavg', fedavg, ['--batch-size', '0'], '--batch-size'],
    ['fedavg', fedavg, ['--local-epochs', '0'], '--local-epochs'],
    ['fedavg', fedavg, ['--proximal-mu', '-1'], '--proximal-mu'],
    ['fedavg', fedavg, ['--dp-epsilon', '0'], '--dp-epsilon'],
    ['fedavg', fedavg, ['--dp-epsilon', '8', '--dp-delta', '2'], '--dp-delta'],
    ['fedavg', fedavg, ['--dp-epsilon', '8', '--clip-norm', '-1'], '--clip-norm'],
    ['fedavg', fedavg, ['--model', 'cnn'], '--model'],
    ['baseline', baseline, ['--c', '0'], '--c'],
    ['baseline', baseline, ['--test-fraction', '1.5'], '--test-fraction'],
    ['baseline', baseline, ['--impute', 'guess'], '--impute'],
    ['stability', stability, ['--bins', '0'], '--bins'],
    ['stability', stability, ['--strategy', 'kmeans'], '--strategy'],
  ];
  cases.forEach(([cmd, base, extra, flag], i) => {
    out.push({
      id: `flags/${cmd}/${extra.join(' ')}`,
      group: 'cli-flags',
      timeoutMs: 30_000,
      async run(dir) {
        writeFixture(dir);
        const r = await runCli([...base, ...extra], dir, 29_000);
        return expectRefusal(
          r,
          {
            codes: ['invalid_argument', 'out_of_range'],
            mentions: [flag],
            absent: ['psi: ', 'hetero-lr guest ready'],
          },
          dir,
        );
      },
    });
    void i;
  });
  // A missing required flag, and a bad flag with a missing file: the flag is reported, not the file.
  out.push({
    id: 'flags/train/missing --label',
    group: 'cli-flags',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir);
      const r = await runCli(
        TRAIN_FAST.filter((a, i, all) => a !== '--label' && all[i - 1] !== '--label'),
        dir,
        29_000,
      );
      return expectRefusal(r, { codes: ['invalid_argument'], mentions: ['--label'] }, dir);
    },
  });
  out.push({
    id: 'flags/train/bad --epochs before a missing file',
    group: 'cli-flags',
    timeoutMs: 30_000,
    async run(dir) {
      const r = await runCli([...TRAIN, '--epochs', '0'], dir, 29_000);
      return expectRefusal(r, { codes: ['out_of_range'], mentions: ['--epochs'] }, dir);
    },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Training that diverges; categorical columns, declared or mostly words

function trainingCases(): SweepCase[] {
  const out: SweepCase[] = [];
  for (const [name, args, timeoutMs] of [
    ['none-arbiter', ['--he', 'none'], 30_000],
    ['none-two-party', ['--he', 'none', '--mode', 'two-party'], 30_000],
    ['ckks-two-party', ['--mode', 'two-party'], 90_000],
    ['ckks-arbiter', [], 90_000],
  ] as const) {
    out.push({
      id: `diverged/${name}/learning-rate-1e200`,
      group: 'diverged',
      timeoutMs,
      async run(dir) {
        writeFixture(dir);
        const r = await runCli(
          [
            ...TRAIN,
            ...args,
            '--learning-rate',
            '1e200',
            '--lr-schedule',
            'constant',
            '--epochs',
            '20',
            '--quiet',
          ],
          dir,
          timeoutMs - 1_000,
        );
        return expectRefusal(
          r,
          { codes: ['diverged'], mentions: ['--learning-rate', 'diverged in epoch'] },
          dir,
        );
      },
    });
  }
  out.push({
    id: 'categorical/train/mostly-words-column-is-categorical-and-said',
    group: 'categorical',
    timeoutMs: 30_000,
    async run(dir) {
      const sectors = ['retail', 'services', 'manufacturing'];
      writeFixture(dir, undefined, (name, rows) =>
        name === 'host.csv'
          ? rows.map((r, i) => [...r, i === 0 ? 'sector' : i % 17 === 0 ? '7' : sectors[i % 3]!])
          : rows,
      );
      const r = await runCli([...TRAIN_FAST, '--json'], dir, 29_000);
      return expectHandled(r, (p) => {
        if (!p.stderr.includes("column 'sector' read as categorical"))
          return 'no notice of the inferred column';
        const features = lastJson(p.stdout)?.['features'] as { hosts?: Record<string, number> } | undefined;
        return features?.hosts?.['host-1'] === 2 + 4
          ? undefined
          : `host features ${JSON.stringify(features)}`;
      });
    },
  });
  out.push({
    id: 'categorical/train/declared-with---categorical',
    group: 'categorical',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir, undefined, (name, rows) =>
        name === 'host.csv' ? rows.map((r, i) => [...r, i === 0 ? 'zone' : String(i % 4)]) : rows,
      );
      const r = await runCli([...TRAIN_FAST, '--categorical', 'zone', '--json'], dir, 29_000);
      return expectHandled(r, (p) => {
        if (p.stderr.includes('read as categorical')) return 'a declared column was reported as inferred';
        const features = lastJson(p.stdout)?.['features'] as { hosts?: Record<string, number> } | undefined;
        return features?.hosts?.['host-1'] === 2 + 4
          ? undefined
          : `host features ${JSON.stringify(features)}`;
      });
    },
  });
  out.push({
    id: 'categorical/binning/a-column-half-words-is-refused',
    group: 'categorical',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir, undefined, (name, rows) =>
        name === 'guest.csv'
          ? rows.map((r, i) => (i > 0 && i % 3 === 0 ? [...r.slice(0, 3), 'n/a?'] : r))
          : rows,
      );
      const r = await runCli(BINNING, dir, 29_000);
      return expectRefusal(r, { codes: ['csv_schema'], mentions: ['guest.csv:4:4', "'b'"] }, dir);
    },
  });
  out.push({
    id: 'categorical/train/clean-files-train',
    group: 'categorical',
    timeoutMs: 30_000,
    async run(dir) {
      writeFixture(dir);
      const r = await runCli([...TRAIN, '--he', 'none', '--epochs', '5', '--quiet', '--json'], dir, 29_000);
      return expectHandled(r, (p) => {
        const test = lastJson(p.stdout)?.['test'] as { auc?: number } | undefined;
        if (p.stderr.includes('read as categorical')) return 'a numeric column was reported as categorical';
        return (test?.auc ?? 0) > 0.8 ? undefined : `test AUC ${String(test?.auc)}`;
      });
    },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Library calls, in a child process (a WASM fault there cannot take the runner down)

const pkg = (name: string): string => pathToFileURL(join(repo, 'packages', name, 'src', 'index.ts')).href;

interface LibCase {
  readonly id: string;
  /** The body of an async function; it may `return` a value (then the call was accepted). */
  readonly body: string;
  readonly code: string;
  readonly field?: string;
}

const LIB_CASES: readonly LibCase[] = [
  {
    id: 'lib/he/encrypt-1e308',
    body: `const ctx = await he.createCkksContext({}); try { return ctx.encrypt([1, 1e308]).length; } finally { ctx.dispose(); }`,
    code: 'out_of_range',
    field: 'values',
  },
  {
    id: 'lib/he/encrypt-symmetric-serialized-minus-1e308',
    body: `const ctx = await he.createCkksContext({}); try { return ctx.encryptSymmetricSerialized([-1e308]).length; } finally { ctx.dispose(); }`,
    code: 'out_of_range',
    field: 'values',
  },
  {
    id: 'lib/he/encode-1e30',
    body: `const ctx = await he.createCkksContext({}); try { return ctx.encode([1e30]).length; } finally { ctx.dispose(); }`,
    code: 'out_of_range',
    field: 'values',
  },
  {
    id: 'lib/he/multiply-by-1e308',
    body: `const ctx = await he.createCkksContext({}); try { return ctx.encrypt([1]).mul(1e308).length; } finally { ctx.dispose(); }`,
    code: 'out_of_range',
    field: 'scalar',
  },
  {
    id: 'lib/he/encrypt-NaN',
    body: `const ctx = await he.createCkksContext({}); try { return ctx.encrypt([Number.NaN]).length; } finally { ctx.dispose(); }`,
    code: 'invalid_argument',
    field: 'values',
  },
  {
    id: 'lib/he/deep-preset-value-bound',
    body: `he.checkCkksRange([1, 300], he.ckksValueBound(he.CKKS_PRESETS['ckks-8192-deep']), 'tax_paid'); return 'accepted';`,
    code: 'out_of_range',
    field: 'tax_paid',
  },
  {
    id: 'lib/core/parse-csv-invalid-utf8-id',
    body: `return (await core.parseCsv([new Uint8Array([105,100,44,120,10,65,0xff,44,49,10])], { file: 'f.csv' })).nRows;`,
    code: 'csv_parse',
    field: 'id',
  },
  {
    id: 'lib/core/parse-csv-one-word-in-numbers',
    body: `return (await core.parseCsv('id,x\\n1,1\\n2,2\\n3,three\\n4,4\\n', {})).nRows;`,
    code: 'csv_schema',
    field: 'x',
  },
  {
    id: 'lib/vfl/standardize-1e308',
    body: `const c = Float64Array.from({ length: 10 }, (_, i) => i); c[3] = 1e308; return vfl.fitStandardization([c], Uint32Array.from({ length: 10 }, (_, i) => i), ['revenue']).scale[0];`,
    code: 'out_of_range',
    field: 'revenue',
  },
  {
    id: 'lib/core/standardizer-1e308',
    body: `const X = Float64Array.from({ length: 10 }, (_, i) => (i === 3 ? 1e308 : i)); return core.fitStandardizer(X, 10, 1).scale[0];`,
    code: 'out_of_range',
    field: 'columns[0]',
  },
  {
    id: 'lib/scoring/batch-1e15',
    body: `const x = Float64Array.from({ length: 50 }, (_, i) => i / 50); x[7] = 1e15; return (await scoring.runBatchScoring({ model: { features: ['x'], weights: [0.5], intercept: 0 }, columns: [x], poolSize: 0 })).scores.length;`,
    code: 'out_of_range',
    field: 'x',
  },
];

function libCases(): SweepCase[] {
  return LIB_CASES.map((c) => ({
    id: c.id,
    group: 'library',
    timeoutMs: 60_000,
    async run(dir) {
      const script = [
        `import * as core from '${pkg('core')}';`,
        `import * as he from '${pkg('he')}';`,
        `import * as vfl from '${pkg('vfl')}';`,
        `import * as scoring from '${pkg('scoring')}';`,
        `void core; void he; void vfl; void scoring;`,
        `try {`,
        `  const value = await (async () => { ${c.body} })();`,
        `  console.log(JSON.stringify({ accepted: true, value: String(value) }));`,
        `} catch (e) {`,
        `  console.log(JSON.stringify({ name: e?.constructor?.name, code: e?.code, field: e?.field, message: String(e?.message ?? e) }));`,
        `}`,
        `process.exit(0);`,
      ].join('\n');
      writeFileSync(join(dir, 'case.ts'), script);
      const r = await runNode([join(dir, 'case.ts')], dir, 59_000);
      if (r.timedOut) return { outcome: 'hang', detail: 'killed at the time limit' };
      if (r.signal !== null || r.code !== 0)
        return { outcome: 'crash', detail: `exit ${r.code}: ${short(r.stderr)}` };
      const out = lastJson(r.stdout) as
        | { accepted?: boolean; name?: string; code?: string; field?: string; message?: string }
        | undefined;
      if (out === undefined) return { outcome: 'crash', detail: `no result: ${short(r.stderr)}` };
      if (out.accepted) return { outcome: 'silent-wrong', detail: 'the call was accepted' };
      if (out.name !== 'FedscoreError')
        return { outcome: 'crash', detail: `${out.name}: ${short(out.message ?? '')}` };
      if (out.code !== c.code || (c.field !== undefined && out.field !== c.field)) {
        return {
          outcome: 'crash',
          detail: `unclear: [${out.code}] field ${out.field}: ${short(out.message ?? '')}`,
        };
      }
      return { outcome: 'refused-clearly', detail: short(`[${out.code}] ${out.message}`) };
    },
  }));
}

/**
 * The commands outside the hetero-LR/binning/scoring path that read the same files: the centralized
 * baseline, horizontal FL (train fedavg) and the governance commands' id and JSON-lines files (found in
 * the issue 12 audit: 1e308 was refused naming 'columns[0]' or as a wire error, a diverging fedavg as a
 * wire error on a NaN update, invalid UTF-8 in `consent check --ids` counted as one more id).
 */
function otherCommandCases(): SweepCase[] {
  const out: SweepCase[] = [];
  const BASELINE = ['baseline', '--guest', 'guest.csv', '--host', 'host.csv', '--id', 'id', '--label', 'y'];
  const FEDAVG = ['train', 'fedavg', '--client', 'guest.csv', '--client', 'g2.csv', '--test', 'guest.csv'];
  /** The fixture plus g2.csv, a second bank: the guest's rows (fedavg needs two clients). */
  const fedavgFixture = (dir: string, edit?: Parameters<typeof writeFixture>[1]): void => {
    writeFixture(dir, edit, (name, rows) => {
      if (name === 'guest.csv') {
        writeFileSync(join(dir, 'g2.csv'), `${rows.map((f) => f.join(',')).join('\n')}\n`);
      }
      return rows;
    });
  };
  for (const v of ['1e308', '-1e200']) {
    for (const [file, col, colName] of [
      ['guest.csv', 2, 'a'],
      ['host.csv', 1, 'c'],
    ] as const) {
      out.push({
        id: `huge/baseline-${file.replace('.csv', '')}/${v}`,
        group: 'huge-values',
        timeoutMs: 30_000,
        async run(dir) {
          writeFixture(dir, { file, row: BAD_ROW, col, bytes: enc.encode(v) });
          const r = await runCli(BASELINE, dir, 29_000);
          return expectRefusal(
            r,
            { codes: ['out_of_range'], mentions: [`${file}:${BAD_ROW + 2}:${col + 1}`, `'${colName}'`] },
            dir,
          );
        },
      });
    }
    out.push({
      id: `huge/fedavg-client/${v}`,
      group: 'huge-values',
      timeoutMs: 60_000,
      async run(dir) {
        fedavgFixture(dir, { file: 'guest.csv', row: BAD_ROW, col: 2, bytes: enc.encode(v) });
        const r = await runCli([...FEDAVG, '--rounds', '2', '--quiet'], dir, 59_000);
        return expectRefusal(
          r,
          { codes: ['out_of_range'], mentions: [`guest.csv:${BAD_ROW + 2}:3`, "'a'"] },
          dir,
        );
      },
    });
  }
  for (const secure of [false, true]) {
    out.push({
      id: `diverged/fedavg${secure ? '-secure-agg' : ''}/learning-rate-1e200`,
      group: 'diverged',
      timeoutMs: 60_000,
      async run(dir) {
        fedavgFixture(dir);
        const r = await runCli(
          [
            ...FEDAVG,
            '--learning-rate',
            '1e200',
            '--rounds',
            '3',
            '--quiet',
            ...(secure ? ['--secure-agg'] : []),
          ],
          dir,
          59_000,
        );
        return expectRefusal(
          r,
          { codes: ['diverged'], mentions: ['--learning-rate', 'diverged in round'] },
          dir,
        );
      },
    });
  }
  out.push({
    id: 'diverged/fedavg/sane-learning-rate-trains',
    group: 'diverged',
    timeoutMs: 60_000,
    async run(dir) {
      fedavgFixture(dir);
      const r = await runCli([...FEDAVG, '--rounds', '3', '--json'], dir, 59_000);
      return expectHandled(r, (p) => {
        const auc = (lastJson(p.stdout)?.['test'] as { auc?: unknown } | undefined)?.auc;
        return typeof auc === 'number' && auc > 0.55 && auc <= 1 ? undefined : `test auc ${String(auc)}`;
      });
    },
  });
  const ENT = '91350100M000100Y';
  out.push({
    id: 'utf8/consent-check-ids/latin1-byte',
    group: 'csv-utf8',
    timeoutMs: 30_000,
    async run(dir) {
      writeFileSync(
        join(dir, 'ids.txt'),
        Buffer.concat([Buffer.from(`${ENT}\nent-`), Buffer.from([0xe9, 0x0a])]),
      );
      const r = await runCli(
        [
          'consent',
          'check',
          '--store',
          'state',
          '--ids',
          'ids.txt',
          '--grantee',
          'bank',
          '--purpose',
          'training',
        ],
        dir,
        29_000,
      );
      return expectRefusal(r, { codes: ['invalid_id'], mentions: ['ids.txt:2', 'invalid UTF-8'] }, dir);
    },
  });
  out.push({
    id: 'utf8/consent-import-jsonl/latin1-byte',
    group: 'csv-utf8',
    timeoutMs: 30_000,
    async run(dir) {
      const line = `{"enterprise":"${ENT}","grantee":"bank","purpose":"training","scope":["*"],"expiresAt":"2030-01-01"}`;
      writeFileSync(
        join(dir, 'consents.jsonl'),
        Buffer.concat([
          Buffer.from(`${line}\n${line.replace('"bank"', '"bank')}`),
          Buffer.from([0xff, 0x22, 0x0a]),
        ]),
      );
      const r = await runCli(
        ['consent', 'import', '--store', 'state', '--party', 'gov', '--file', 'consents.jsonl'],
        dir,
        29_000,
      );
      return expectRefusal(
        r,
        { codes: ['invalid_config'], mentions: ['consents.jsonl:2', 'invalid UTF-8'] },
        dir,
      );
    },
  });
  return out;
}

export const cases: SweepCase[] = [
  ...cellCases(),
  ...lineCases(),
  ...hugeCases(),
  ...fileCases(),
  ...labelCases(),
  ...flagCases(),
  ...trainingCases(),
  ...libCases(),
  ...otherCommandCases(),
];
