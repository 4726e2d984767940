/**
 * Bad inputs to the training, binning and scoring commands (issue 12, "crashes and unclear errors" and
 * "silent wrong results"), in-process: each is refused before any protocol runs where it can be, with an
 * error that names the file, the physical line and the column, or the flag -- or, for a column that is
 * mostly words, read as categorical with a notice on stderr. The full matrix of corruptions runs in
 * `pnpm sweep` (scripts/sweep); these pin one of each class.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, seededRng, uniform } from '@fedscore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-bad-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rng = seededRng(12);
const guestRows = ['id,y,a,b'];
const hostRows = ['id,c,sector'];
for (let i = 0; i < 150; i++) {
  const a = uniform(rng) * 2 - 1;
  const c = uniform(rng) * 2 - 1;
  const y = a + c + 0.5 * (uniform(rng) - 0.5) > 0 ? 1 : 0;
  guestRows.push(`e${i},${y},${a.toFixed(4)},${(uniform(rng) * 4).toFixed(3)}`);
  hostRows.push(`e${i},${c.toFixed(4)},${['retail', 'services', 'farming'][i % 3]}`);
}
function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
const guest = file('guest.csv', guestRows);
const host = file('host.csv', hostRows);
const train = (g: string, h: string, ...extra: string[]) =>
  runCli([
    'train',
    'hetero-lr',
    '--guest',
    g,
    '--host',
    h,
    '--id',
    'id',
    '--label',
    'y',
    '--he',
    'none',
    '--quiet',
    ...extra,
  ]);

/** The `fedscore: error [code] message` line of stderr. */
function errorLine(stderr: string): string {
  return /fedscore: error .*/.exec(stderr)?.[0] ?? `(no typed error) ${stderr}`;
}

describe('bad inputs are refused clearly', () => {
  it('one Inf in a numeric guest column: file, physical line and column, not a categorical column', async () => {
    const lines = [...guestRows];
    lines.splice(3, 0, ''); // a blank line before: the bad cell of data row 20 is on file line 23
    lines[22] = lines[22]!.replace(/,[^,]*$/, ',Inf');
    const r = await train(file('guest-inf.csv', lines), host, '--epochs', '1');
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[csv_schema]');
    expect(errorLine(r.stderr)).toContain('guest-inf.csv:23:4');
    expect(errorLine(r.stderr)).toContain("field 'b'");
  });

  it('a column of words is categorical, and the CLI says so', async () => {
    const r = await train(guest, host, '--epochs', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("column 'sector' read as categorical (150 of 150 values are not numbers)");
    expect((lastJson(r.stdout)['features'] as { hosts: Record<string, number> }).hosts['host-1']).toBe(4);
  });

  it('header-only and id/label-only files name the file', async () => {
    const headerOnly = await train(file('guest-header.csv', ['id,y,a,b']), host);
    expect(errorLine(headerOnly.stderr)).toContain('no rows in');
    expect(errorLine(headerOnly.stderr)).toContain('guest-header.csv');
    const idLabel = await train(
      file(
        'guest-idlabel.csv',
        guestRows.map((l) => l.split(',').slice(0, 2).join(',')),
      ),
      host,
    );
    expect(errorLine(idLabel.stderr)).toContain('no feature columns in');
    expect(errorLine(idLabel.stderr)).toContain('guest-idlabel.csv');
    const psi = await runCli([
      'psi',
      '--guest',
      join(dir, 'guest-header.csv'),
      '--host',
      host,
      '--id',
      'id',
      '--quiet',
    ]);
    expect(errorLine(psi.stderr)).toContain('no rows in');
  });

  it('bad training flags are refused before PSI, naming the flag', async () => {
    for (const [flag, value] of [
      ['--epochs', '0'],
      ['--batch-size', '0'],
      ['--l2', '-1'],
      ['--learning-rate', '0'],
      ['--validation-fraction', '0.95'],
    ] as const) {
      const r = await train(guest, host, '--log-level', 'debug', flag, value);
      expect(r.code).toBe(1);
      expect(errorLine(r.stderr)).toContain(`field '${flag}'`);
      expect(r.stderr).not.toContain('maxEpochs');
      expect(r.stderr).not.toContain('psi: '); // PSI logs how it resolved the ids when it starts
    }
  });

  it('a learning rate that diverges says so, with the epoch and the flag', async () => {
    const r = await train(
      guest,
      host,
      '--learning-rate',
      '1e200',
      '--lr-schedule',
      'constant',
      '--epochs',
      '20',
    );
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(
      /\[diverged\] field '--learning-rate': training diverged in epoch \d+/,
    );
  });

  it('1e308 in a training row names file, line and column (it made "scale": null)', async () => {
    const lines = [...guestRows];
    lines[40] = lines[40]!.replace(/^([^,]*,[^,]*),[^,]*/, '$1,1e308');
    const r = await train(file('guest-huge.csv', lines), host, '--epochs', '1');
    expect(errorLine(r.stderr)).toContain('[out_of_range]');
    expect(errorLine(r.stderr)).toContain('guest-huge.csv:41:3');
    expect(errorLine(r.stderr)).toContain("field 'a'");
  });

  it('1e15 in batch scoring is refused naming file, line and column (it came back 338 off)', async () => {
    const lines = ['id,x0,x1'];
    for (let i = 0; i < 40; i++) lines.push(`${i},${(i % 7) / 3},${i === 30 ? '1e15' : (i % 5) / 2}`);
    const input = file('portfolio.csv', lines);
    const model = join(dir, 'model.json');
    writeFileSync(model, JSON.stringify({ features: ['x0', 'x1'], weights: [0.8, -0.5], intercept: -1 }));
    const r = await runCli([
      'score',
      'batch',
      '--model',
      model,
      '--input',
      input,
      '--workers',
      '0',
      '--quiet',
    ]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[out_of_range]');
    expect(errorLine(r.stderr)).toContain('portfolio.csv:32');
    expect(errorLine(r.stderr)).toContain("field 'x1'");
  });
});

describe('the other training commands', () => {
  const huge = (): string => {
    const lines = [...guestRows];
    lines[40] = lines[40]!.replace(/^([^,]*,[^,]*),[^,]*/, '$1,1e308');
    return file('guest-huge-2.csv', lines);
  };

  it('baseline: 1e308 names file, line and column (it named the matrix column columns[0])', async () => {
    const r = await runCli(['baseline', '--guest', huge(), '--host', host, '--id', 'id', '--label', 'y']);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[out_of_range]');
    expect(errorLine(r.stderr)).toContain('guest-huge-2.csv:41:3');
    expect(errorLine(r.stderr)).toContain("field 'a'");
    expect(r.stderr).not.toContain('columns[');
  });

  it('train fedavg: 1e308 in a client file names file, line and column (it was a wire error)', async () => {
    const r = await runCli(['train', 'fedavg', '--client', guest, '--client', huge(), '--test', guest]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[out_of_range]');
    expect(errorLine(r.stderr)).toContain('guest-huge-2.csv:41:3');
    expect(r.stderr).not.toContain('Float64Vector');
  });

  it('train fedavg: a learning rate that diverges says so, with the round and the flag', async () => {
    for (const secure of [[], ['--secure-agg']]) {
      const r = await runCli([
        'train',
        'fedavg',
        '--client',
        guest,
        '--client',
        guest,
        '--test',
        guest,
        '--learning-rate',
        '1e200',
        '--rounds',
        '3',
        ...secure,
      ]);
      expect(r.code).toBe(1);
      expect(errorLine(r.stderr)).toMatch(
        /\[diverged\] field '--learning-rate': training diverged in round 1: .*lower the learning rate/,
      );
      expect(r.stderr).not.toContain('Float64Vector');
    }
  });

  it('train fedavg: bad flags are refused before any file is read, naming the flag', async () => {
    for (const [flag, value] of [
      ['--learning-rate', '0'],
      ['--batch-size', '0'],
      ['--local-epochs', '0'],
      ['--proximal-mu', '-1'],
      ['--dp-epsilon', '0'],
      ['--dp-delta', '2'],
      ['--clip-norm', '0'],
    ] as const) {
      const r = await runCli([
        'train',
        'fedavg',
        '--client',
        'nowhere.csv',
        '--client',
        guest,
        '--test',
        guest,
        flag,
        value,
      ]);
      expect(r.code, flag).toBe(1);
      expect(errorLine(r.stderr)).toContain(`[out_of_range] field '${flag}': ${value} is outside`);
    }
  });

  it('train fedavg with a sane learning rate on the same files trains (the check does not fire)', async () => {
    const r = await runCli([
      'train',
      'fedavg',
      '--client',
      guest,
      '--client',
      guest,
      '--test',
      guest,
      '--rounds',
      '3',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // The guest's 'a' alone carries part of the signal (the label is a + c + noise): well above chance.
    expect((lastJson(r.stdout)['test'] as { auc: number }).auc).toBeGreaterThan(0.6);
  });
});

describe('invalid UTF-8 in the governance commands’ files is refused naming the line', () => {
  // Two enterprise ids that differ only in one invalid byte: a lossy decode made both 'ent-\uFFFD'.
  const bytes = (...lines: (string | Uint8Array)[]): Uint8Array =>
    Buffer.concat(lines.flatMap((l) => [typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')]));
  const store = join(dir, 'gov-store');
  const [ent] = generateUniqueUsccs(seededRng('bad-inputs-consent'), 1) as [string];

  it('consent check --ids (it counted the mangled id as one more enterprise without consent)', async () => {
    const valid = join(dir, 'consents-ok.jsonl');
    writeFileSync(
      valid,
      `{"enterprise":"${ent}","grantee":"bank","purpose":"training","scope":["*"],"expiresAt":"2030-01-01"}\n`,
    );
    const init = await runCli(['consent', 'import', '--store', store, '--party', 'gov', '--file', valid]);
    expect(init.code, init.stderr).toBe(0);
    const path = join(dir, 'ids-latin1.txt');
    writeFileSync(path, bytes(ent, Uint8Array.of(0x65, 0x6e, 0x74, 0x2d, 0xe9), 'x'));
    const r = await runCli([
      'consent',
      'check',
      '--store',
      store,
      '--ids',
      path,
      '--grantee',
      'bank',
      '--purpose',
      'training',
    ]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[invalid_id]');
    expect(errorLine(r.stderr)).toContain('ids-latin1.txt:2');
    expect(errorLine(r.stderr)).toContain('invalid UTF-8');
  });

  it('consent import --file (JSON lines)', async () => {
    const path = join(dir, 'consents-latin1.jsonl');
    const ok = `{"enterprise":"${ent}","grantee":"bank","purpose":"training","scope":["*"],"expiresAt":"2030-01-01"}`;
    writeFileSync(
      path,
      bytes(
        ok,
        Buffer.concat([Buffer.from(ok.replace('"bank"', '"bank')), Uint8Array.of(0xff), Buffer.from('"')]),
      ),
    );
    const r = await runCli(['consent', 'import', '--store', store, '--party', 'gov', '--file', path]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('[invalid_config]');
    expect(errorLine(r.stderr)).toContain('consents-latin1.jsonl:2');
    expect(errorLine(r.stderr)).toContain('invalid UTF-8');
  });
});
