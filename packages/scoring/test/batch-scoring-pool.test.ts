/**
 * Batch scoring on @fedscore/he's worker pool: the model owner refuses a record block whose ciphertexts are
 * not fresh with the same typed error (`protocol_step` naming `features[j]`) whether it evaluates on the
 * main thread or on the pool, and a data owner given a pool over its own secret context scores within
 * 1e-4 of the plaintext linear scores (CKKS error ~1e-8 plus flooding noise sd 2^-20).
 */
import {
  createInMemoryNetwork,
  FedscoreError,
  normal,
  ProtocolSession,
  runParties,
  seededRng,
} from '@fedscore/core';
import {
  type CkksSecretContext,
  createCkksContext,
  createHeWorkerPool,
  type HeWorkerPool,
} from '@fedscore/he';
import {
  BATCH_SCORING_PROTOCOL,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  batchInputLevel,
  linearScores,
  SCORING_VERSION,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let ctx: CkksSecretContext;
let pool: HeWorkerPool;
beforeAll(async () => {
  ctx = await createCkksContext({ relinearization: false });
  pool = await createHeWorkerPool({ size: 2, context: ctx });
}, 60_000);
afterAll(async () => {
  await pool?.close();
  ctx?.dispose();
});

function portfolio(n: number, f: number, seed: string) {
  const rng = seededRng(seed);
  const columns = Array.from({ length: f }, () => Float64Array.from({ length: n }, () => normal(rng)));
  const model = {
    features: columns.map((_, j) => `x${j}`),
    weights: columns.map(() => normal(rng, 0, 0.5)),
    intercept: 0.25,
  };
  return { columns, model };
}

async function run(
  dataOwner: BatchScoringDataOwner,
  modelOwner: BatchScoringModelOwner,
  p: ReturnType<typeof portfolio>,
  resultTo: 'data-owner' | 'model-owner' = 'data-owner',
) {
  const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec);
  const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'pool' };
  return runParties(network, {
    d: () =>
      dataOwner.score({
        session: new ProtocolSession(network.channel('data-owner'), spec),
        modelOwner: 'model-owner',
        columns: p.columns,
        features: p.model.features,
        resultTo,
      }),
    m: () => modelOwner.score(new ProtocolSession(network.channel('model-owner'), spec), 'data-owner'),
  });
}

describe('batch scoring on the HE worker pool', () => {
  it('data owner with a pool over its own secret context: within 1e-4 of plaintext', async () => {
    const p = portfolio(5000, 3, 'pool-ok');
    const modelOwner = new BatchScoringModelOwner({ model: p.model, poolSize: 2 });
    try {
      const out = await run(new BatchScoringDataOwner({ context: ctx, pool }), modelOwner, p);
      const want = linearScores(p.model, p.columns);
      let m = 0;
      for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(out.d![i]! - want[i]!));
      expect(m).toBeLessThan(1e-4);
    } finally {
      await modelOwner.close();
    }
  });

  it('a block of non-fresh ciphertexts: protocol_step naming the feature, on the main thread and on the pool', async () => {
    const p = portfolio(100, 2, 'pool-bad');
    // A data owner whose "encryption" returns ciphertexts one level down (already multiplied).
    const lowered: HeWorkerPool = {
      ...pool,
      encryptSymmetric: async (vectors) =>
        vectors.map((v, j) =>
          j === 1 ? ctx.scope(() => ctx.encrypt(v).mul(1).serialize()) : ctx.encryptSymmetricSerialized(v),
        ),
    };
    for (const poolSize of [0, 2]) {
      const modelOwner = new BatchScoringModelOwner({ model: p.model, poolSize });
      try {
        const e = await run(new BatchScoringDataOwner({ context: ctx, pool: lowered }), modelOwner, p).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e, `poolSize ${poolSize}`).toBeInstanceOf(FedscoreError);
        expect((e as FedscoreError).code).toBe('protocol_step');
        expect((e as FedscoreError).field).toBe('features[1]');
      } finally {
        await modelOwner.close();
      }
    }
  });

  it('record blocks one level down (batchInputLevel): within 1e-4 of plaintext on the main thread and the pool', async () => {
    const p = portfolio(5000, 3, 'pool-level');
    // |score| <= |b| + sum |w_j| max |x_j| (normal columns: below 6) fits level 0 (2^18 at ckks-8192).
    const bound =
      Math.abs(p.model.intercept) +
      p.model.weights.reduce((s, w, j) => s + Math.abs(w) * Math.max(...p.columns[j]!.map(Math.abs)), 0);
    const inputLevel = batchInputLevel(ctx.params, 2 * bound);
    expect(inputLevel).toBe(1);
    expect(batchInputLevel(ctx.params, 2 * bound, 30)).toBe(2);
    const want = linearScores(p.model, p.columns);
    for (const poolSize of [0, 2]) {
      const modelOwner = new BatchScoringModelOwner({ model: p.model, poolSize });
      try {
        const out = await run(
          new BatchScoringDataOwner({ context: ctx, inputLevel, ...(poolSize > 0 && { pool }) }),
          modelOwner,
          p,
        );
        let m = 0;
        for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(out.d![i]! - want[i]!));
        expect(m, `poolSize ${poolSize}`).toBeLessThan(1e-4);
      } finally {
        await modelOwner.close();
      }
    }
  });

  it('record blocks too low for the masks (model-owner mode): out_of_range naming record-block.level', async () => {
    const p = portfolio(100, 2, 'pool-level-mask');
    // Level 0 at ckks-8192 holds |y| < 2^18: the model owner's 2^30 masks would wrap.
    const modelOwner = new BatchScoringModelOwner({ model: p.model, poolSize: 0 });
    try {
      const e = await run(
        new BatchScoringDataOwner({ context: ctx, inputLevel: 1, releaseBudget: 1000 }),
        modelOwner,
        p,
        'model-owner',
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(FedscoreError);
      expect((e as FedscoreError).code).toBe('out_of_range');
      expect((e as FedscoreError).field).toBe('record-block.level');
    } finally {
      await modelOwner.close();
    }
    expect(() => new BatchScoringDataOwner({ context: ctx, inputLevel: 0 })).toThrow(
      expect.objectContaining({ code: 'out_of_range', field: 'inputLevel' }),
    );
  });
});
