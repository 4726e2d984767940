/**
 * `fedscore report`: the report's numbers against independent references computed here by brute force
 * (pairwise AUC with ties counted one half, KS by sweeping every threshold, histogram and lift counts,
 * PSI recomputed from its own bins, calibration against the scorecard's known PD: labels are drawn from
 * it), and the HTML file: self-contained (a CSP forbidding fetches, no external src/href), every section
 * present, inputs escaped, and typed errors naming the flag, file or column.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreToOdds } from '@fedscore/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReportData, thinCurve, uniformHistogram } from '../src/report/data.ts';
import { makeReportFixture, type ReportFixture } from './report-fixtures.ts';
import { lastJson, runCli } from './score-fixtures.ts';

function pairwiseAuc(labels: ArrayLike<number>, risk: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (risk[i]! > risk[j]!) wins += 1;
      else if (risk[i] === risk[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

function sweepKs(labels: ArrayLike<number>, risk: ArrayLike<number>): number {
  const ts = [...new Set(Array.from(risk))];
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < labels.length; i++) labels[i] === 1 ? pos++ : neg++;
  let best = 0;
  for (const t of ts) {
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < labels.length; i++) {
      if (risk[i]! >= t) labels[i] === 1 ? tp++ : fp++;
    }
    best = Math.max(best, tp / pos - fp / neg);
  }
  return best;
}

describe('fedscore report', () => {
  let dir: string;
  let fx: ReportFixture;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedscore-report-test-'));
    fx = await makeReportFixture(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('computes AUC, KS, histograms, lift and calibration equal to brute-force references', () => {
    const { labels, points, card } = fx;
    const risk = Float64Array.from(points, (v) => -v);
    const pd = Float64Array.from(points, (s) => scoreToOdds(card, s).pd);
    const d = buildReportData({
      title: 't',
      generatedAt: 'now',
      sources: { scores: 's.csv', label: 'y', score: 'points' },
      labels,
      scores: points,
      higherIsBetter: true,
      pd: { values: pd, source: 'card' },
      histogramBins: 12,
      calibrationBins: 8,
    });
    // exact to float rounding: the same counts in another order
    expect(d.summary.auc).toBeCloseTo(pairwiseAuc(labels, risk), 12);
    expect(d.summary.ks).toBeCloseTo(sweepKs(labels, risk), 12);
    expect(Math.max(...d.ks.gap)).toBeCloseTo(d.summary.ks, 12);
    expect(d.summary.gini).toBeCloseTo(2 * d.summary.auc - 1, 12);
    expect(d.summary.brier).toBeNull();
    // the KS threshold is in points: bads share with points <= t minus goods share
    const t = d.summary.ksThreshold!;
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < labels.length; i++) if (points[i]! <= t) labels[i] === 1 ? tp++ : fp++;
    expect(tp / d.summary.positives - fp / (d.summary.n - d.summary.positives)).toBeCloseTo(d.summary.ks, 12);
    // KS curve ascending in points, cumulative shares non-increasing as the threshold rises... in points
    // the risky end is low: shares grow with the threshold
    for (let i = 1; i < d.ks.score.length; i++) {
      expect(d.ks.score[i]!).toBeGreaterThan(d.ks.score[i - 1]!);
      expect(d.ks.cumBad[i]!).toBeGreaterThanOrEqual(d.ks.cumBad[i - 1]!);
    }
    // ROC from (0,0) to (1,1); its trapezoid area is the AUC (no thinning at this size: <= 120 scores)
    expect([d.roc.fpr[0], d.roc.tpr[0]]).toEqual([0, 0]);
    expect([d.roc.fpr.at(-1), d.roc.tpr.at(-1)]).toEqual([1, 1]);
    let area = 0;
    for (let i = 1; i < d.roc.fpr.length; i++)
      area += ((d.roc.fpr[i]! - d.roc.fpr[i - 1]!) * (d.roc.tpr[i]! + d.roc.tpr[i - 1]!)) / 2;
    expect(area).toBeCloseTo(d.summary.auc, 12);
    // histograms: every row counted once, in its class
    const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
    expect(sum(d.distribution.badCount)).toBe(d.summary.positives);
    expect(sum(d.distribution.goodCount)).toBe(d.summary.n - d.summary.positives);
    expect(d.distribution.edges).toHaveLength(13);
    expect(sum(d.distribution.badShare)).toBeCloseTo(1, 12);
    // lift: bins cover every row; bin 1 is the riskiest (lowest points) and the riskiest bin lifts
    expect(sum(d.lift.map((r) => r.count))).toBe(d.summary.n);
    expect(sum(d.lift.map((r) => r.bads))).toBe(d.summary.positives);
    expect(d.lift[0]!.maxScore).toBeLessThanOrEqual(d.lift.at(-1)!.minScore);
    expect(d.lift[0]!.lift).toBeGreaterThan(1.5);
    expect(d.lift.at(-1)!.capture).toBeCloseTo(1, 12);
    // calibration: the labels were drawn from this PD, so the observed rate matches the predicted one
    // within sampling error: 4 binomial standard errors per bin (the seed is fixed)
    const cal = d.calibration;
    if ('unavailable' in cal) throw new Error('calibration missing');
    expect(sum(cal.counts)).toBe(d.summary.n);
    cal.predicted.forEach((p, i) => {
      const se = Math.sqrt((p * (1 - p)) / cal.counts[i]!);
      expect(Math.abs(cal.observed[i]! - p)).toBeLessThan(4 * se);
    });
  });

  it('thins long curves for drawing only, keeping both ends', () => {
    expect(thinCurve(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const k = thinCurve(100_001, 1000);
    expect(k).toHaveLength(1000);
    expect(k[0]).toBe(0);
    expect(k.at(-1)).toBe(100_000);
    expect(uniformHistogram([0, 0.5, 1, 1], 0, 1, 2)).toEqual([1, 3]);
    // a long continuous score: exact metrics on all rows, at most 1000 points drawn
    const n = 5000;
    const labels = Float64Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1 : 0));
    const scores = Float64Array.from(
      { length: n },
      (_, i) => (((i * 7919) % n) / n + (labels[i]! ? 0.2 : 0)) / 1.2,
    );
    const d = buildReportData({
      title: 't',
      generatedAt: 'now',
      sources: { scores: 's', label: 'y', score: 'p' },
      labels,
      scores,
      higherIsBetter: false,
    });
    expect(d.roc.fpr.length).toBeLessThanOrEqual(1000);
    expect(d.ks.score.length).toBeLessThanOrEqual(1000);
    expect(d.summary.auc).toBeCloseTo(pairwiseAuc(labels, scores), 12);
    expect(d.summary.brier).not.toBeNull();
  });

  it('writes a self-contained HTML report with every section from the CLI inputs', async () => {
    const out = join(dir, 'report.html');
    const r = await runCli([
      'report',
      '--scores',
      fx.scored,
      '--baseline',
      fx.baseline,
      '--label',
      'y',
      '--score',
      'points',
      '--higher-is-better',
      '--psi-column',
      'turnover',
      '--psi-column',
      'tax_paid',
      '--iv',
      fx.iv,
      '--scorecard',
      fx.scorecard,
      '--title',
      'SME <line> model & "Q3"',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout) as {
      sections: string[];
      auc: number;
      psi: number;
      psi_band: string;
      calibration: string;
      bytes: number;
    };
    expect(j.sections).toEqual([
      'summary',
      'roc',
      'ks',
      'distribution',
      'calibration',
      'lift',
      'stability',
      'iv',
      'scorecard',
    ]);
    expect(j.auc).toBeCloseTo(
      pairwiseAuc(
        fx.labels,
        Float64Array.from(fx.points, (v) => -v),
      ),
      12,
    );
    // the training population was made smaller and riskier: the score has moved
    expect(j.psi).toBeGreaterThan(0.02);
    expect(j.calibration).toContain("scorecard's scaling");
    const html = readFileSync(out, 'utf8');
    expect(html.length).toBe(j.bytes);
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'`);
    // nothing loaded from anywhere: no src or href attributes, no stylesheet links, no CSS imports
    expect(html).not.toMatch(/<(script|img|iframe|link)[^>]*\s(src|href)=/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
    expect(html).toContain('uPlot');
    for (const id of ['roc', 'ks', 'distribution', 'calibration', 'lift', 'stability'])
      expect(html).toContain(`data-chart="${id}"`);
    for (const id of ['lift-table', 'stability-table', 'iv-table', 'scorecard-table'])
      expect(html).toContain(`<section id="${id}"`);
    // the title is escaped everywhere it appears
    expect(html).toContain('SME &#60;line&#62; model &#38; &#34;Q3&#34;');
    expect(html).not.toContain('<line>');
    // IV table: the binning JSON's features; scorecard: every bin's points
    const binning = JSON.parse(readFileSync(fx.iv, 'utf8')) as { features: { name: string; iv: number }[] };
    for (const f of binning.features) {
      expect(html).toContain(`<td>${f.name}</td><td>${f.iv.toFixed(4)}</td>`);
    }
    for (const f of fx.card.features)
      for (const p of f.points) expect(html).toContain(`<td>${p.toFixed(2)}</td>`);
    // the embedded data carries the PSI rows of the score and both extra columns
    const m = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
    const data = JSON.parse(m![1]!) as { stability: { rows: { name: string }[] } };
    expect(data.stability.rows.map((x) => x.name).sort()).toEqual(['points', 'tax_paid', 'turnover']);
  });

  it('recomputes the PSI from its own bins, which are the baseline deciles', async () => {
    const out = join(dir, 'psi.html');
    const r = await runCli([
      'report',
      '--scores',
      fx.scored,
      '--baseline',
      fx.baseline,
      '--label',
      'y',
      '--score',
      'points',
      '--higher-is-better',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    const m = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
    const d = JSON.parse(m![1]!) as {
      stability: { psi: number; bins: { lower: number | null; upper: number | null }[] };
    };
    const column = (file: string) =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => Number(l.split(',')[2]));
    const expected = column(fx.baseline);
    const actual = column(fx.scored);
    const inBin = (v: number, b: { lower: number | null; upper: number | null }) =>
      (b.lower === null || v > b.lower) && (b.upper === null || v <= b.upper);
    let psi = 0;
    for (const b of d.stability.bins) {
      const e = expected.filter((v) => inBin(v, b)).length / expected.length;
      const a = actual.filter((v) => inBin(v, b)).length / actual.length;
      psi += (Math.max(a, 1e-4) - Math.max(e, 1e-4)) * Math.log(Math.max(a, 1e-4) / Math.max(e, 1e-4));
    }
    expect(d.stability.psi).toBeCloseTo(psi, 10);
    expect(d.stability.bins.length).toBeGreaterThan(3);
  });

  it('says why calibration is missing, and reads a probability score as its own PD', async () => {
    const out = join(dir, 'plain.html');
    const r = await runCli([
      'report',
      '--scores',
      fx.scored,
      '--label',
      'y',
      '--score',
      'points',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout) as { sections: string[]; calibration: null; psi: null };
    expect(j.sections).toEqual(['summary', 'roc', 'ks', 'distribution', 'lift']);
    expect(j.calibration).toBeNull();
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('Calibration</b> not drawn: the score is not a probability');
    expect(html).toContain('no baseline population was given');

    const r2 = await runCli([
      'report',
      '--scores',
      fx.scored,
      '--label',
      'y',
      '--score',
      'pd',
      '--out',
      out,
      '--json',
    ]);
    expect(r2.code, r2.stderr).toBe(0);
    expect((lastJson(r2.stdout) as { calibration: string }).calibration).toBe('the score pd');
  });

  it('documents its flags in --help', async () => {
    const r = await runCli(['report', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--scores',
      '--label',
      '--score',
      '--higher-is-better',
      '--pd',
      '--baseline',
      '--iv',
      '--scorecard',
      '--out',
    ])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('fedscore binning --json');
  });

  it('refuses bad input with typed errors naming the flag, file or column', async () => {
    const out = join(dir, 'bad.html');
    const base = ['report', '--scores', fx.scored, '--out', out, '--json'];
    const missing = await runCli([...base, '--label', 'default_flag', '--score', 'points']);
    expect(missing.code).toBe(1);
    expect(lastJson(missing.stdout)).toMatchObject({ error: { code: 'not_found', field: 'default_flag' } });

    const same = await runCli([...base, '--label', 'y', '--score', 'y']);
    expect(same.code).toBe(1);
    expect(lastJson(same.stdout)).toMatchObject({ error: { field: '--score' } });

    const psiCol = await runCli([...base, '--label', 'y', '--score', 'points', '--psi-column', 'turnover']);
    expect(lastJson(psiCol.stdout)).toMatchObject({
      error: { code: 'invalid_argument', field: '--psi-column' },
    });

    const badIv = join(dir, 'not-iv.json');
    writeFileSync(badIv, JSON.stringify({ features: [{ party: 'bank', name: 'x' }] }));
    const iv = await runCli([...base, '--label', 'y', '--score', 'points', '--iv', badIv]);
    expect(lastJson(iv.stdout)).toMatchObject({
      error: { code: 'invalid_config', file: badIv, field: 'features[0].iv' },
    });

    const pd = await runCli([...base, '--label', 'y', '--score', 'points', '--pd', 'turnover']);
    expect(lastJson(pd.stdout)).toMatchObject({ error: { code: 'out_of_range', field: 'turnover' } });

    const one = join(dir, 'one-class.csv');
    writeFileSync(one, 'y,score\n0,0.1\n0,0.2\n');
    const single = await runCli(['report', '--scores', one, '--label', 'y', '--out', out, '--json']);
    expect(lastJson(single.stdout)).toMatchObject({ error: { code: 'single_class', field: 'y' } });

    const bins = await runCli([...base, '--label', 'y', '--score', 'points', '--bins', '0']);
    expect(lastJson(bins.stdout)).toMatchObject({ error: { code: 'out_of_range', field: '--bins' } });
  });
});
