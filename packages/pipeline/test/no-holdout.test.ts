/**
 * A job without a hold-out (`testFraction: 0`, FATE's benchmark setting: every aligned row trained on).
 * The stages run with every party in this process (`runStageInProcess`, real wire codec). Checked: no
 * row is held out; the model trains on every aligned row; the evaluation is recorded as in-sample only
 * (`inSample`, on all aligned rows; no test AUC, no curves, 0 test rows in the published metrics), and
 * its AUC agrees with an independent in-sample reference: a centralized logistic regression fitted and
 * scored on the same pooled rows (scheme 'none', so the only difference is SGD against Newton: within
 * 0.03, as in-process.test.ts).
 */
import { auc, fitLogisticRegression, predictProba, standardize, type Table } from '@fedscore/core';
import {
  type EvaluateCheckpoint,
  HETERO_LR_PIPELINE,
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  planStages,
  runStageInProcess,
} from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const PLAN: JobPlan = {
  id: 'job-no-holdout',
  guest: 'bank',
  hosts: ['government'],
  arbiter: 'arbiter',
  seed: 5,
  testFraction: 0,
  binning: { enabled: true, method: 'quantile', bins: 5, minIv: 0, scheme: 'none' },
  train: { scheme: 'none', maxEpochs: 8, batchSize: 128, learningRate: 0.3 },
  consent: { purpose: 'training' },
  allowPlaintextScheme: true,
};

describe('testFraction 0: train on every aligned row, evaluate in-sample', () => {
  it('holds out nothing, trains on all rows and records the evaluation as in-sample only', async () => {
    const pop = population(1500, 17);
    const plaintextOk = { allowPlaintextScheme: true, allowWeakParameters: false };
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore(), he: plaintextOk },
      { id: 'government', table: pop.host, store: memoryStore(), he: plaintextOk },
      { id: 'arbiter', store: memoryStore(), he: plaintextOk },
    ];
    for (const stage of planStages(HETERO_LR_PIPELINE, PLAN))
      await runStageInProcess(stage, { plan: PLAN, parties });
    const [bank, gov] = parties.map((p) => p.store);
    const psi = bank!.checkpoint<PsiCheckpoint>('psi');
    const gPsi = gov!.checkpoint<PsiCheckpoint>('psi');
    expect(psi.rows.length).toBeGreaterThan(800);
    expect(psi.test).toEqual([]);
    expect(gPsi.test).toEqual([]);

    // In-sample only: no test figures anywhere a hold-out AUC is read from.
    const ev = bank!.checkpoint<EvaluateCheckpoint>('evaluate');
    expect(ev.testRows).toBe(0);
    expect(ev.auc).toBeUndefined();
    expect(ev.ks).toBeUndefined();
    expect(ev.curves).toBeUndefined();
    expect(ev.inSample?.rows).toBe(psi.rows.length);
    expect(gov!.checkpoint<EvaluateCheckpoint>('evaluate')).toEqual({
      testRows: 0,
      inSample: { rows: psi.rows.length },
    });
    const joint = JSON.parse(bank!.artifacts.get('joint.json')!) as { metrics?: Record<string, unknown> };
    expect(JSON.stringify(joint)).not.toMatch(/"auc"/);
    const metrics = JSON.parse(bank!.artifacts.get('metrics.json')!) as {
      test: EvaluateCheckpoint;
      aligned: number;
    };
    expect(metrics.test.inSample?.auc).toBe(ev.inSample?.auc);
    expect(metrics.aligned).toBe(psi.rows.length);

    // Reference: centralized LR fitted and scored on every aligned row (in-sample too).
    const y = psi.rows.map((r) => pop.guest.label![r]!);
    const col = (t: Table, name: string, r: number) => {
      const c = t.columns.find((k) => k.name === name)!;
      return c.kind === 'numeric' ? c.values[r]! : 0;
    };
    const pooledRow = (p: number): number[] => {
      const g = psi.rows[p]!;
      const h = gPsi.rows[p]!;
      const code = (pop.guest.columns[3] as { codes: Int32Array }).codes[g]!;
      return [
        col(pop.guest, 'g0', g),
        col(pop.guest, 'g1', g),
        col(pop.guest, 'g2', g),
        code === 0 ? 1 : 0,
        code === 1 ? 1 : 0,
        code === 2 ? 1 : 0,
        col(pop.host, 'h0', h),
        col(pop.host, 'h1', h),
        col(pop.host, 'h2', h),
      ];
    };
    const all = psi.rows.map((_, p) => p);
    const d = 9;
    const scaled = standardize(Float64Array.from(all.flatMap(pooledRow)), all.length, d);
    const model = fitLogisticRegression(scaled.train, all.length, d, Float64Array.from(y), { l2: 1e-3 });
    const reference = auc(Float64Array.from(y), predictProba(model, scaled.train, all.length));
    expect(reference).toBeGreaterThan(0.7);
    expect(Math.abs(ev.inSample!.auc! - reference)).toBeLessThan(0.03);
  }, 120_000);
});
