/**
 * `fedscore baseline`: the centralized LR reference.
 * - On ../shared/data/default_credit with its fixed train/test id lists (skipped with a printed reason
 *   when absent): guest-only and pooled test AUC and KS must match the LR rows of
 *   shared/data/baselines.csv (sklearn StandardScaler + LogisticRegression(C=1)) to 1e-3, and the train
 *   AUC must match sklearn's Newton fit in packages/core/test/fixtures/metrics_reference.json to 1e-6.
 * - On a small generated pair of files (always): the seeded stratified split, categorical one-hot
 *   columns, imputation, and typed errors.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normal, seededRng, uniform } from '@fedscore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

interface Scores {
  train: { auc: number; ks: number };
  test: { auc: number; ks: number };
  n_features: number;
}

const DATA = new URL('../../../../shared/data/', import.meta.url).pathname;
const DC = join(DATA, 'default_credit');
const haveData = existsSync(join(DATA, 'baselines.csv')) && existsSync(DC);
if (!haveData) console.log(`skipping baseline-vs-baselines.csv test: ${DC} is absent`);

describe.skipIf(!haveData)('fedscore baseline on ../shared/data/default_credit vs baselines.csv', () => {
  it('guest-only and pooled test AUC/KS within 1e-3 of baselines.csv, train AUC within 1e-6 of sklearn', async () => {
    const r = await runCli([
      'baseline',
      '--guest',
      join(DC, 'default_credit_hetero_guest.csv'),
      '--host',
      join(DC, 'default_credit_hetero_host.csv'),
      '--id',
      'id',
      '--label',
      'y',
      '--train-ids',
      join(DC, 'default_credit_train_ids.txt'),
      '--test-ids',
      join(DC, 'default_credit_test_ids.txt'),
      '--json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('not a federated run');
    const j = lastJson(r.stdout);
    expect(j['n_train']).toBe(24000);
    expect(j['n_test']).toBe(6000);

    const lines = readFileSync(join(DATA, 'baselines.csv'), 'utf8').trim().split(/\r?\n/);
    const head = lines[0]!.split(',');
    const row = (features: string) => {
      const f = lines
        .map((l) => l.split(','))
        .find((c) => c[0] === 'default_credit' && c[1] === features && c[head.indexOf('model')] === 'LR')!;
      return { auc: Number(f[head.indexOf('test_auc')]), ks: Number(f[head.indexOf('test_ks')]) };
    };
    const fixture = JSON.parse(
      readFileSync(new URL('../../core/test/fixtures/metrics_reference.json', import.meta.url), 'utf8'),
    ) as { logistic_shared: { dataset: string; features: string; tight: { train_auc: number } }[] };
    for (const features of ['guest_only', 'pooled'] as const) {
      const got = j[features] as Scores;
      const want = row(features);
      expect(Math.abs(got.test.auc - want.auc), `${features} test AUC`).toBeLessThanOrEqual(1e-3);
      expect(Math.abs(got.test.ks - want.ks), `${features} test KS`).toBeLessThanOrEqual(1e-3);
      const sk = fixture.logistic_shared.find(
        (e) => e.dataset === 'default_credit' && e.features === features,
      );
      if (sk !== undefined) {
        expect(Math.abs(got.train.auc - sk.tight.train_auc), `${features} train AUC`).toBeLessThanOrEqual(
          1e-6,
        );
      }
    }
    expect((j['guest_only'] as Scores).n_features).toBe(13);
    expect((j['pooled'] as Scores).n_features).toBe(23);
  });
});

describe('fedscore baseline on generated files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-baseline-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // 600 enterprises; the guest holds two weak features, the host a strong one and a categorical one.
  const rng = seededRng(7);
  const n = 600;
  const guestRows: string[] = ['uscc,bad,revenue,debt_ratio'];
  const hostRows: string[] = ['uscc,tax_paid,sector'];
  const sectors = ['retail', 'manufacturing', 'services'];
  for (let i = 0; i < n; i++) {
    const a = normal(rng);
    const b = normal(rng);
    const t = normal(rng);
    const sector = sectors[i % 3]!;
    const z = 0.3 * a - 0.2 * b + 1.5 * t + (sector === 'retail' ? 0.5 : 0) - 1;
    const y = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    guestRows.push(`G${i},${y},${a.toFixed(6)},${b.toFixed(6)}`);
    // the host knows every other guest enterprise plus some of its own
    if (i % 2 === 0) hostRows.push(`G${i},${t.toFixed(6)},${sector}`);
  }
  for (let i = 0; i < 50; i++) hostRows.push(`H${i},0.5,retail`);
  const guest = join(dir, 'guest.csv');
  const host = join(dir, 'host.csv');
  writeFileSync(guest, `${guestRows.join('\n')}\n`);
  writeFileSync(host, `${hostRows.join('\n')}\n`);
  const base = [
    'baseline',
    '--guest',
    guest,
    '--host',
    host,
    '--id',
    'uscc',
    '--label',
    'bad',
    '--json',
    '--quiet',
  ];

  it('inner-joins on id, splits 80/20 stratified and reproducibly by seed, one-hot encodes categories', async () => {
    const a = await runCli([...base, '--seed', '3']);
    expect(a.code, a.stderr).toBe(0);
    const j = lastJson(a.stdout);
    expect(j['n_joined']).toBe(300);
    expect(j['n_test']).toBe(60);
    expect(j['n_train']).toBe(240);
    expect((j['guest_only'] as Scores).n_features).toBe(2);
    expect((j['pooled'] as Scores).n_features).toBe(2 + 1 + 3);
    // the host's strong feature must help: pooled beats guest-only on test
    expect((j['pooled'] as Scores).test.auc).toBeGreaterThan((j['guest_only'] as Scores).test.auc + 0.1);
    const again = lastJson((await runCli([...base, '--seed', '3'])).stdout);
    expect(again).toEqual(j);
    const other = lastJson((await runCli([...base, '--seed', '4'])).stdout);
    expect((other['pooled'] as Scores).test.auc).not.toBe((j['pooled'] as Scores).test.auc);
  });

  it('help says plainly that it pools raw data and is not a federated run', async () => {
    const r = await runCli(['baseline', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('RAW data');
    expect(r.stdout).toContain('not a federated');
  });

  it('id lists: an id missing from the data, and train/test overlap, are typed errors naming the file', async () => {
    const train = join(dir, 'train.txt');
    const test = join(dir, 'test.txt');
    writeFileSync(train, 'G0\nG2\nG4\nG6\n');
    writeFileSync(test, 'G8\nG1\n'); // G1 is not in the host file
    let r = await runCli([...base, '--train-ids', train, '--test-ids', test]);
    expect(r.code).toBe(1);
    expect((lastJson(r.stdout) as { error: object }).error).toMatchObject({
      code: 'not_found',
      file: test,
      details: { entry: 2 },
    });
    writeFileSync(test, 'G8\nG2\n');
    r = await runCli([...base, '--train-ids', train, '--test-ids', test]);
    expect((lastJson(r.stdout) as { error: object }).error).toMatchObject({
      code: 'invalid_argument',
      file: test,
    });
    r = await runCli([...base, '--train-ids', train]);
    expect((lastJson(r.stdout) as { error: object }).error).toMatchObject({ field: '--test-ids' });
  });

  it('missing values: an error naming file/line/column by default, imputed on train with --impute', async () => {
    const gappy = join(dir, 'guest_gap.csv');
    const rows = [...guestRows];
    rows[5] = rows[5]!.replace(/,[^,]*$/, ',');
    writeFileSync(gappy, `${rows.join('\n')}\n`);
    const args = [
      'baseline',
      '--guest',
      gappy,
      '--host',
      host,
      '--id',
      'uscc',
      '--label',
      'bad',
      '--json',
      '--quiet',
    ];
    const r = await runCli(args);
    expect(r.code).toBe(1);
    expect((lastJson(r.stdout) as { error: object }).error).toMatchObject({
      code: 'missing_value',
      file: gappy,
      line: 6,
      column: 4,
    });
    const ok = await runCli([...args, '--impute', 'mean']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a missing id column names the flag', async () => {
    const r = await runCli([
      ...base.slice(0, 5),
      '--id',
      'enterprise',
      '--label',
      'bad',
      '--json',
      '--quiet',
    ]);
    expect((lastJson(r.stdout) as { error: object }).error).toMatchObject({
      code: 'not_found',
      field: 'enterprise',
      line: 1,
    });
  });
});
