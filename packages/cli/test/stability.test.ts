/**
 * `fedscore stability`: PSI per column equals core populationStabilityIndex on the same values (exact),
 * a shifted column is flagged, and missing values are counted, not binned.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normal, populationStabilityIndex, seededRng } from '@fedscore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './score-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-stability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fedscore stability', () => {
  it('PSI per feature and per score, shifted columns flagged', async () => {
    const rng = seededRng(4);
    const n = 2000;
    const e = { a: [] as number[], b: [] as number[], score: [] as number[] };
    const a = { a: [] as number[], b: [] as number[], score: [] as number[] };
    for (let i = 0; i < n; i++) {
      e.a.push(normal(rng));
      a.a.push(normal(rng));
      e.b.push(normal(rng));
      a.b.push(normal(rng, 1, 1)); // shifted
      e.score.push(600 + 30 * normal(rng));
      a.score.push(590 + 30 * normal(rng));
    }
    const write = (file: string, t: typeof e, missingAt?: number) => {
      const lines = ['id,a,b,score'];
      for (let i = 0; i < n; i++) lines.push(`${i},${i === missingAt ? '' : t.a[i]},${t.b[i]},${t.score[i]}`);
      writeFileSync(join(dir, file), `${lines.join('\n')}\n`);
    };
    write('train.csv', e);
    write('new.csv', a, 5);
    const r = await runCli([
      'stability',
      '--expected',
      join(dir, 'train.csv'),
      '--actual',
      join(dir, 'new.csv'),
      '--column',
      'a',
      '--column',
      'b',
      '--score',
      'score',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout) as {
      rows: { name: string; kind: string; psi: number; actualMissing: number }[];
      shifted: string[];
    };
    const byName = Object.fromEntries(j.rows.map((x) => [x.name, x]));
    expect(byName['b']!.psi).toBeCloseTo(populationStabilityIndex(e.b, a.b).psi, 12);
    expect(byName['score']!.psi).toBeCloseTo(populationStabilityIndex(e.score, a.score).psi, 12);
    expect(byName['a']!.psi).toBeCloseTo(
      populationStabilityIndex(
        e.a,
        a.a.filter((_, i) => i !== 5),
      ).psi,
      12,
    );
    expect(byName['a']!.actualMissing).toBe(1);
    expect(byName['score']!.kind).toBe('score');
    expect(j.shifted).toEqual(['b']);
  });

  it('a missing column is an error naming it', async () => {
    writeFileSync(join(dir, 'x.csv'), 'id,a\n1,2\n2,3\n');
    const r = await runCli([
      'stability',
      '--expected',
      join(dir, 'x.csv'),
      '--actual',
      join(dir, 'x.csv'),
      '--column',
      'zz',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/zz/);
  });

  it('a header-only file is "no rows in FILE" (it was "column has no values on one side")', async () => {
    writeFileSync(join(dir, 'full.csv'), 'id,a\n1,2\n2,3\n');
    writeFileSync(join(dir, 'header.csv'), 'id,a\n');
    for (const [e, a] of [
      ['full.csv', 'header.csv'],
      ['header.csv', 'full.csv'],
    ]) {
      const r = await runCli(['stability', '--expected', join(dir, e!), '--actual', join(dir, a!)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[csv_schema]');
      expect(r.stderr).toContain('no rows in');
      expect(r.stderr).toContain('header.csv');
    }
  });

  it('a file with another delimiter is "no numeric column in FILE" with the hint (not "none in common")', async () => {
    writeFileSync(join(dir, 'full.csv'), 'id,a\n1,2\n2,3\n');
    writeFileSync(join(dir, 'semi.csv'), 'id;a\n1;2\n2;3\n');
    const r = await runCli([
      'stability',
      '--expected',
      join(dir, 'full.csv'),
      '--actual',
      join(dir, 'semi.csv'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[csv_schema]');
    expect(r.stderr).toMatch(
      /semi\.csv:1: no numeric column in .*semi\.csv \(its header is one column: is the field separator --delimiter ',' right\?\)/,
    );
  });

  it('--bins 0 names the flag, before reading the files', async () => {
    const r = await runCli([
      'stability',
      '--expected',
      'nowhere.csv',
      '--actual',
      'nowhere.csv',
      '--bins',
      '0',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("[out_of_range] field '--bins': --bins must be at least 1, got 0");
  });

  it('says which columns it does not compare: read as categorical, or in one file only', async () => {
    const rows = (extra: (i: number) => string) =>
      ['a,sector,only_e', ...Array.from({ length: 20 }, (_, i) => `${i % 7},${extra(i)},${i}`)].join('\n');
    writeFileSync(join(dir, 'e.csv'), `${rows((i) => ['retail', 'farming'][i % 2]!)}\n`);
    writeFileSync(
      join(dir, 'a.csv'),
      `${['a,sector', ...Array.from({ length: 20 }, (_, i) => `${(i + 1) % 7},${['retail', 'farming'][i % 2]}`)].join('\n')}\n`,
    );
    const r = await runCli([
      'stability',
      '--expected',
      join(dir, 'e.csv'),
      '--actual',
      join(dir, 'a.csv'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "column 'sector' read as categorical (20 of 20 values are not numbers): not compared",
    );
    expect(r.stderr).toContain("numeric column 'only_e' is not in the other file: not compared");
    expect((lastJson(r.stdout)['rows'] as { name: string }[]).map((x) => x.name)).toEqual(['a']);
  });
});
