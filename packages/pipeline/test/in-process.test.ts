/**
 * The hetero-LR job's stages, written once in @fedscore/pipeline, run with every party in this process
 * (`runStageInProcess`: each party's role function over one in-memory network with the real wire codec,
 * each with its own store) -- the same functions a node runs over gRPC. Checked against independent
 * references: the aligned rows against a plain set intersection of the ids, the hold-out sizes against
 * round(fraction x class size), and the joint model's test AUC against a centralized logistic regression
 * on the pooled columns (scheme 'none', so the only difference is SGD against Newton: within 0.03).
 */
import { auc, fitLogisticRegression, predictProba, standardize, type Table } from '@fedscore/core';
import {
  type BinningCheckpoint,
  type EvaluateCheckpoint,
  HETERO_LR_PIPELINE,
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  pipelineFor,
  planStages,
  registeredModels,
  registerPipeline,
  runStageInProcess,
  stageOf,
  stagePartiesOf,
} from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const PLAN: JobPlan = {
  id: 'job-in-process',
  guest: 'bank',
  hosts: ['government'],
  arbiter: 'arbiter',
  seed: 5,
  testFraction: 0.3,
  binning: { enabled: true, method: 'quantile', bins: 5, minIv: 0, scheme: 'none' },
  train: { scheme: 'none', maxEpochs: 8, batchSize: 128, learningRate: 0.3 },
  consent: { purpose: 'training' },
  allowPlaintextScheme: true,
};

describe('the hetero-LR pipeline with every party in one process', () => {
  it('aligns, splits, bins, trains, evaluates and publishes like a pooled reference', async () => {
    const pop = population(2000, 11);
    const plaintextOk = { allowPlaintextScheme: true, allowWeakParameters: false };
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore(), he: plaintextOk },
      { id: 'government', table: pop.host, store: memoryStore(), he: plaintextOk },
      { id: 'arbiter', store: memoryStore(), he: plaintextOk },
    ];
    const stages = planStages(HETERO_LR_PIPELINE, PLAN);
    expect(stages.map((s) => s.name)).toEqual(['psi', 'binning', 'train', 'evaluate', 'publish']);
    for (const stage of stages) await runStageInProcess(stage, { plan: PLAN, parties });
    const [bank, gov, arbiter] = parties.map((p) => p.store);

    // psi: exactly the ids both hold, in the guest's file order; the same rows on both sides.
    const psi = bank!.checkpoint<PsiCheckpoint>('psi');
    const hostIds = new Set(pop.host.ids);
    const expected = pop.guest.ids.flatMap((id, r) => (hostIds.has(id) ? [r] : []));
    expect(psi.rows).toEqual(expected);
    const gPsi = gov!.checkpoint<PsiCheckpoint>('psi');
    expect(gPsi.rows.map((r) => pop.host.ids[r])).toEqual(psi.rows.map((r) => pop.guest.ids[r]));
    expect(gPsi.test).toEqual(psi.test);
    // the hold-out: round(0.3 x class size) of each class
    const y = psi.rows.map((r) => pop.guest.label![r]!);
    for (const cls of [0, 1]) {
      const size = y.filter((v) => v === cls).length;
      expect(psi.test.filter((p) => y[p] === cls).length).toBe(Math.round(0.3 * size));
    }

    // binning with minIv 0 keeps every feature of every party (in IV order)
    expect([...bank!.checkpoint<BinningCheckpoint>('binning').selected].sort()).toEqual([
      'g0',
      'g1',
      'g2',
      'sector',
    ]);
    expect([...gov!.checkpoint<BinningCheckpoint>('binning').selected].sort()).toEqual(['h0', 'h1', 'h2']);

    // evaluate: the joint model against centralized LR on the pooled columns (one-hot sector)
    const ev = bank!.checkpoint<EvaluateCheckpoint>('evaluate');
    expect(ev.testRows).toBe(psi.test.length);
    const test = new Set(psi.test);
    const pooledRow = (p: number): number[] => {
      const g = psi.rows[p]!;
      const h = gPsi.rows[p]!;
      const col = (t: Table, name: string, r: number) => {
        const c = t.columns.find((k) => k.name === name)!;
        return c.kind === 'numeric' ? c.values[r]! : 0;
      };
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
    const trainPos = psi.rows.map((_, p) => p).filter((p) => !test.has(p));
    const d = 9;
    const mat = (pos: number[]) => Float64Array.from(pos.flatMap(pooledRow));
    const scaled = standardize(mat(trainPos), trainPos.length, d, {
      X: mat(psi.test),
      nRows: psi.test.length,
    });
    const model = fitLogisticRegression(
      scaled.train,
      trainPos.length,
      d,
      Float64Array.from(trainPos, (p) => y[p]!),
      { l2: 1e-3 },
    );
    const reference = auc(
      Float64Array.from(psi.test, (p) => y[p]!),
      predictProba(model, scaled.test!, psi.test.length),
    );
    expect(reference).toBeGreaterThan(0.7);
    expect(Math.abs(ev.auc! - reference)).toBeLessThan(0.03);

    // publish: each party wrote its own part; the guest the joint descriptor; the arbiter no model
    expect([...bank!.artifacts.keys()].sort()).toEqual(['bank.model.json', 'joint.json', 'metrics.json']);
    expect([...gov!.artifacts.keys()]).toEqual(['government.model.json']);
    expect([...arbiter!.artifacts.keys()]).toEqual(['arbiter.json']);
    expect(gov!.artifacts.get('government.model.json')).not.toContain('g0');
  }, 120_000);
});

describe('the stage and model registry', () => {
  it('finds hetero-LR, refuses a second registration, and takes a new model built from shared stages', () => {
    expect(pipelineFor('hetero-lr')).toBe(HETERO_LR_PIPELINE);
    expect(() => registerPipeline(HETERO_LR_PIPELINE)).toThrow(/already registered/);
    expect(() => pipelineFor('no-such-model')).toThrow(/no pipeline/);
    const train = { name: 'train', protocols: { 'test.model': 1 }, roles: { guest: async () => ({}) } };
    registerPipeline({
      model: 'test-model',
      stages: [stageOf(HETERO_LR_PIPELINE, 'psi'), train, stageOf(HETERO_LR_PIPELINE, 'publish')],
    });
    expect(registeredModels()).toContain('test-model');
    const p = pipelineFor('test-model');
    expect(planStages(p, PLAN).map((s) => s.name)).toEqual(['psi', 'train', 'publish']);
    expect(stagePartiesOf(stageOf(p, 'train'), PLAN)).toEqual(['bank']);
    expect(stagePartiesOf(stageOf(p, 'publish'), PLAN)).toEqual(['bank', 'government', 'arbiter']);
    expect(() => stageOf(p, 'binning')).toThrow(/no stage 'binning'/);
  });

  it('skips binning when the plan disables it', () => {
    const plan = { ...PLAN, binning: { ...PLAN.binning, enabled: false } };
    expect(planStages(HETERO_LR_PIPELINE, plan).map((s) => s.name)).toEqual([
      'psi',
      'train',
      'evaluate',
      'publish',
    ]);
  });
});
