/**
 * Inputs for the report tests, made the way a user makes them: a seeded population whose labels are drawn
 * from a known scorecard's probability of default (so calibration has a known answer), the two parties'
 * files, `fedscore binning --json` for the IV table, `fedscore scorecard --out` for the scorecard, and a
 * scored CSV plus a shifted baseline population.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normal, type Rng, seededRng, uniform } from '@fedscore/core';
import { buildScorecard, type Scorecard, scoreApplicant, scoreToOdds } from '@fedscore/scoring';
import { lastJson, runCli, WOE_MODEL } from './score-fixtures.ts';

export const SCALING = { baseScore: 600, baseOdds: 50, pdo: 20 } as const;
/** The score tests' WOE model with a higher intercept: a default rate near 10%, as in SME portfolios. */
export const REPORT_MODEL = { ...WOE_MODEL, intercept: -2.4 };

export interface ReportFixture {
  readonly dir: string;
  readonly scored: string;
  readonly baseline: string;
  readonly iv: string;
  readonly scorecard: string;
  readonly card: Scorecard;
  readonly labels: Float64Array;
  readonly points: Float64Array;
}

function poissonish(rng: Rng, mean: number): number {
  // Knuth's method; means here are small.
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= uniform(rng);
  } while (p > l);
  return k - 1;
}

interface Row {
  id: string;
  turnover: number;
  overdue: number;
  tax_paid: number;
  penalties: number;
  points: number;
  pd: number;
  y: number;
}

function population(card: Scorecard, n: number, seed: string, shift: number): Row[] {
  const rng = seededRng(seed);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const size = normal(rng, 15.2 + shift, 1.1);
    const turnover = Math.round(Math.exp(size));
    const tax_paid =
      uniform(rng) < 0.05 ? Number.NaN : Math.round(Math.exp(size - 3.3 + normal(rng, 0, 0.6)));
    const overdue = poissonish(rng, 0.6 - shift / 2);
    const penalties = uniform(rng) < 0.15 - shift / 10 ? 1 + poissonish(rng, 0.5) : 0;
    const values = { turnover, overdue, tax_paid: Number.isNaN(tax_paid) ? null : tax_paid, penalties };
    const points = scoreApplicant(card, values);
    const pd = scoreToOdds(card, points).pd;
    rows.push({
      id: `E${String(i).padStart(6, '0')}`,
      turnover,
      overdue,
      tax_paid,
      penalties,
      points,
      pd,
      y: uniform(rng) < pd ? 1 : 0,
    });
  }
  return rows;
}

function csv(path: string, header: readonly (keyof Row)[], rows: readonly Row[]): void {
  const cell = (v: string | number) => (typeof v === 'number' && Number.isNaN(v) ? '' : String(v));
  writeFileSync(
    path,
    `${header.join(',')}\n${rows.map((r) => header.map((h) => cell(r[h])).join(',')).join('\n')}\n`,
  );
}

/** Writes every input under `dir`; runs `fedscore binning` (plaintext, --he none, for speed) and `scorecard`. */
export async function makeReportFixture(dir: string, n = 4000): Promise<ReportFixture> {
  const modelPath = join(dir, 'woe-lr.json');
  writeFileSync(modelPath, JSON.stringify(REPORT_MODEL));
  const card = buildScorecard(REPORT_MODEL as Parameters<typeof buildScorecard>[0], SCALING);
  const current = population(card, n, 'report-current', 0);
  const training = population(card, n, 'report-training', -0.35);

  const bank = join(dir, 'bank.csv');
  const gov = join(dir, 'gov.csv');
  csv(bank, ['id', 'y', 'turnover', 'overdue'], training);
  csv(gov, ['id', 'tax_paid', 'penalties'], training);
  const iv = join(dir, 'binning.json');
  const b = await runCli([
    'binning',
    '--guest',
    bank,
    '--host',
    gov,
    '--id',
    'id',
    '--label',
    'y',
    '--bins',
    '5',
    '--he',
    'none',
    '--json',
    '--quiet',
    '--log-level',
    'error',
  ]);
  if (b.code !== 0) throw new Error(`fedscore binning failed: ${b.stderr}`);
  writeFileSync(iv, JSON.stringify(lastJson(b.stdout)));

  const scorecard = join(dir, 'scorecard.json');
  const s = await runCli([
    'scorecard',
    '--model',
    modelPath,
    '--base-score',
    String(SCALING.baseScore),
    '--base-odds',
    String(SCALING.baseOdds),
    '--pdo',
    String(SCALING.pdo),
    '--out',
    scorecard,
    '--json',
  ]);
  if (s.code !== 0) throw new Error(`fedscore scorecard failed: ${s.stderr}`);

  const scored = join(dir, 'scored.csv');
  const baseline = join(dir, 'baseline.csv');
  csv(scored, ['id', 'y', 'points', 'pd', 'turnover', 'tax_paid'], current);
  csv(baseline, ['id', 'y', 'points', 'pd', 'turnover', 'tax_paid'], training);
  return {
    dir,
    scored,
    baseline,
    iv,
    scorecard,
    card,
    labels: Float64Array.from(current, (r) => r.y),
    points: Float64Array.from(current, (r) => r.points),
  };
}
