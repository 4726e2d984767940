/**
 * `fedscore evaluate` against scikit-learn: the CSVs are written from the reference vectors in
 * packages/core/test/fixtures/metrics_reference.json (scripts/sklearn_reference.py: roc_auc_score,
 * max(tpr - fpr) on roc_curve, brier_score_loss). AUC, KS and Gini must agree to 1e-9, on heavily tied
 * scores included. The CLI runs in-process through `main()` with stdout/stderr captured.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const TOL = 1e-9;

interface MetricCase {
  name: string;
  labels: number[];
  scores: number[];
  weights: number[] | null;
  is_prob: boolean;
  roc_auc: number;
  gini: number;
  ks: number;
  ks_threshold: number | null;
  brier?: number;
  lift_numpy?: { count: number[]; positives: number[]; capture: number[]; lift: number[] };
}

const reference = JSON.parse(
  readFileSync(new URL('../../core/test/fixtures/metrics_reference.json', import.meta.url), 'utf8'),
) as { versions: Record<string, string>; metric_cases: MetricCase[] };

const dir = mkdtempSync(join(tmpdir(), 'fedscore-evaluate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeCase(c: MetricCase): string {
  const path = join(dir, `${c.name}.csv`);
  // Scores are written with JavaScript's shortest round-trip form, so the CLI reads the exact doubles.
  const rows = c.labels.map((y, i) => `E${i},${c.scores[i]},${y === 1 ? '1' : '0'}`);
  writeFileSync(path, `enterprise,score,default_flag\n${rows.join('\n')}\n`);
  return path;
}

describe(`fedscore evaluate vs scikit-learn ${reference.versions['sklearn']} (tolerance ${TOL})`, () => {
  for (const c of reference.metric_cases.filter((m) => m.weights === null)) {
    it(`${c.name}: AUC, KS, Gini${c.is_prob ? ', Brier' : ''} and counts`, async () => {
      const path = writeCase(c);
      const r = await runCli([
        'evaluate',
        '--input',
        path,
        '--label',
        'default_flag',
        '--score',
        'score',
        '--json',
        '--quiet',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = lastJson(r.stdout);
      expect(j['n']).toBe(c.labels.length);
      expect(j['positives']).toBe(c.labels.filter((v) => v === 1).length);
      expect(Math.abs((j['auc'] as number) - c.roc_auc)).toBeLessThanOrEqual(TOL);
      expect(Math.abs((j['ks'] as number) - c.ks)).toBeLessThanOrEqual(TOL);
      expect(Math.abs((j['gini'] as number) - c.gini)).toBeLessThanOrEqual(TOL);
      expect(j['ks_threshold']).toBe(c.ks_threshold);
      if (c.is_prob) expect(Math.abs((j['brier'] as number) - c.brier!)).toBeLessThanOrEqual(TOL);
      else expect(j['brier']).toBeNull();
      const lift = j['lift'] as { count: number; positives: number; capture: number; lift: number }[];
      if (c.lift_numpy !== undefined) {
        expect(lift.map((row) => row.count)).toEqual(c.lift_numpy.count);
        expect(lift.map((row) => row.positives)).toEqual(c.lift_numpy.positives);
        lift.forEach((row, k) => {
          expect(Math.abs(row.capture - c.lift_numpy!.capture[k]!)).toBeLessThanOrEqual(TOL);
          expect(Math.abs(row.lift - c.lift_numpy!.lift[k]!)).toBeLessThanOrEqual(TOL);
        });
      }
    });
  }

  it('--higher-is-better negates the score: same AUC as the negated column', async () => {
    const c = reference.metric_cases.find((m) => m.name === 'tied_prob_1dp')!;
    const flipped = { ...c, name: 'tied_flipped', scores: c.scores.map((s) => 1 - s) };
    const path = writeCase(flipped);
    const r = await runCli(
      ['evaluate', '--input', path, '--label', 'default_flag', '--score', 'score'].concat([
        '--higher-is-better',
        '--json',
        '--quiet',
      ]),
    );
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(Math.abs((j['auc'] as number) - c.roc_auc)).toBeLessThanOrEqual(TOL);
    expect(Math.abs((j['ks'] as number) - c.ks)).toBeLessThanOrEqual(TOL);
  });

  it('human output is a small table with the metrics and the lift table', async () => {
    const c = reference.metric_cases.find((m) => m.name === 'tied_prob_1dp')!;
    const r = await runCli([
      'evaluate',
      '--input',
      writeCase(c),
      '--label',
      'default_flag',
      '--score',
      'score',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`AUC    ${c.roc_auc.toFixed(4)}`);
    expect(r.stdout).toContain(`KS     ${c.ks.toFixed(4)}`);
    expect(r.stdout).toMatch(/bin\s+min score\s+max score\s+count\s+positives\s+rate\s+capture\s+lift/);
  });
});

describe('fedscore evaluate errors name file, line and column', () => {
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const run = async (path: string, label = 'y', score = 'p') => {
    const r = await runCli([
      'evaluate',
      '--input',
      path,
      '--label',
      label,
      '--score',
      score,
      '--json',
      '--quiet',
    ]);
    expect(r.code).not.toBe(0);
    return (lastJson(r.stdout) as { error: Record<string, unknown> }).error;
  };

  it('missing file', async () => {
    const path = join(dir, 'absent.csv');
    const e = await run(path);
    expect(e['code']).toBe('io');
    expect(e['file']).toBe(path);
  });
  it('missing column', async () => {
    const path = write('cols.csv', 'id,y,p\n1,1,0.5\n2,0,0.1\n');
    const e = await run(path, 'y', 'prob');
    expect(e).toMatchObject({ code: 'not_found', file: path, line: 1, field: 'prob' });
    expect(await run(path, 'label', 'p')).toMatchObject({ code: 'not_found', field: 'label' });
  });
  it('non-numeric score', async () => {
    const path = write('text.csv', 'id,y,p\n1,1,0.5\n2,0,high\n');
    expect(await run(path)).toMatchObject({ code: 'csv_schema', file: path, line: 3, column: 3, field: 'p' });
  });
  it('missing score', async () => {
    const path = write('gap.csv', 'id,y,p\n1,1,0.5\n2,0,\n3,0,0.2\n');
    expect(await run(path)).toMatchObject({ code: 'missing_value', file: path, line: 3, column: 3 });
  });
  it('label other than 0/1', async () => {
    const path = write('label.csv', 'id,y,p\n1,1,0.5\n2,0,0.1\n3,2,0.3\n');
    expect(await run(path)).toMatchObject({ code: 'csv_schema', file: path, line: 4, column: 2, field: 'y' });
  });
  it('a single class', async () => {
    const path = write('one.csv', 'id,y,p\n1,1,0.5\n2,1,0.1\n');
    expect(await run(path)).toMatchObject({ code: 'single_class', file: path, field: 'y' });
  });
});
