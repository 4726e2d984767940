/**
 * A registered HFL model scores through the scoring package: the `hfl` pipeline's published LayersModel
 * (model.json + base64 weights, the registry artifact) loaded as scoring's `ProbabilityModel`, then
 * probabilities, points, bands and credit lines by `scoreWithProbabilityModel`. References: the
 * probabilities against TensorFlow.js's own predict on the trained weights (`predictTfjs`) and against
 * the logistic function of the trained LR's kernel and bias computed here by hand (float32 weights:
 * tolerance 1e-6); the points against the scale's formula; the bands against the rules' thresholds.
 */
import { createTable, normal, numericColumn, seededRng, uniform } from '@fedscore/core';
import { initTfjsBackend, predictTfjs } from '@fedscore/hfl';
import { hflProbabilityModel, hflRows, runHflInProcess } from '@fedscore/pipeline';
import { parseCreditRules, scoreWithProbabilityModel } from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';

function bankTable(seed: number, rows: number, prefix: string, withFigures = false) {
  const rng = seededRng(seed);
  const x = Array.from({ length: 3 }, () => new Float64Array(rows));
  const y = new Float64Array(rows);
  const turnover = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (const c of x) c[r] = normal(rng, 0, 1);
    y[r] = uniform(rng) < 1 / (1 + Math.exp(-(-0.6 + 1.2 * x[0]![r]! - 0.8 * x[1]![r]!))) ? 1 : 0;
    turnover[r] = 1_000_000 + 1000 * r;
  }
  return createTable({
    ids: Array.from({ length: rows }, (_, r) => `${prefix}-${r}`),
    label: y,
    columns: [
      numericColumn('x0', x[0]!),
      numericColumn('x1', x[1]!),
      numericColumn('x2', x[2]!),
      ...(withFigures ? [numericColumn('turnover', turnover)] : []),
    ],
  });
}

describe('a registered HFL model through the scoring package', () => {
  it('scores, bands and decides credit lines; probabilities equal tfjs predict and the logistic function', async () => {
    await initTfjsBackend();
    const test = bankTable(4, 300, 't', true);
    const run = await runHflInProcess({
      coordinator: 'platform',
      test,
      banks: [1, 2, 3].map((i) => ({ id: `bank-${i}`, table: bankTable(10 + i, 200, `b${i}`) })),
      seed: 3,
      plan: {
        columns: ['x0', 'x1', 'x2'],
        model: 'lr',
        rounds: 4,
        localEpochs: 1,
        learningRate: 0.3,
        batchSize: 32,
        proximalMu: 0,
        secureAgg: true,
      },
    });
    // The registry's artifact, as the node registers it.
    const artifact = JSON.stringify({
      modelJson: JSON.parse(run.publish.hfl.modelJson),
      weightsBase64: run.publish.hfl.weightsBase64,
    });
    const model = await hflProbabilityModel(artifact);
    expect(model.features).toEqual(['x0', 'x1', 'x2']);
    const rules = parseCreditRules(
      JSON.stringify({
        format: 'fedscore.credit-rules',
        version: 1,
        figures: { revenue: 'turnover' },
        baseRateBp: 435,
        rounding: 10000,
        bands: [
          { name: 'A', minScore: 540, revenueMultiple: 0.3, maxLine: 5000000 },
          { name: 'B', minScore: 510, revenueMultiple: 0.1 },
          { name: 'C', approve: false },
        ],
      }),
    );
    const out = await scoreWithProbabilityModel(model, test, { rules });
    const rows = hflRows(test, ['x0', 'x1', 'x2'], 'label');
    const w = run.train.weights;
    const tfjs = predictTfjs({ kind: 'lr', features: 3 }, w, rows.x);
    for (let i = 0; i < test.nRows; i++) {
      const z = w[3]! + w[0]! * rows.x[3 * i]! + w[1]! * rows.x[3 * i + 1]! + w[2]! * rows.x[3 * i + 2]!;
      expect(Math.abs(out.pd[i]! - tfjs[i]!)).toBeLessThan(1e-6);
      expect(Math.abs(out.pd[i]! - 1 / (1 + Math.exp(-z)))).toBeLessThan(1e-6);
      const p = out.pd[i]!;
      const points = 600 - (20 / Math.LN2) * Math.log(50) + (20 / Math.LN2) * Math.log((1 - p) / p);
      expect(Math.abs(out.scores[i]! - points)).toBeLessThan(1e-9);
      const line = out.lines![i]!;
      expect(line.band).toBe(points >= 540 ? 'A' : points >= 510 ? 'B' : 'C');
      expect(line.approved).toBe(line.band !== 'C');
    }
    expect(new Set(out.lines!.map((l) => l.band)).size).toBeGreaterThan(1);
  });

  it('refuses an artifact that is not an HFL model (typed, naming the field)', async () => {
    await expect(hflProbabilityModel('{"modelJson":1}')).rejects.toMatchObject({
      code: 'invalid_argument',
      field: 'artifact',
    });
    await expect(hflProbabilityModel('nope')).rejects.toMatchObject({
      code: 'invalid_argument',
      field: 'artifact',
    });
  });
});
