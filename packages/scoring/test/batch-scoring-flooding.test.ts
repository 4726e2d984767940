/**
 * The model-owner release of batch scoring is flooded by the rule of docs/he.md (sd = sqrt(12 t) 2^15 E):
 * - the circuit error E the flooding is sized from is re-measured on every run, without any flooding, on
 *   the worst case found (the whole weight norm BATCH_RELEASE_MAX_WEIGHT_NORM on one weight, inputs at
 *   +-ckksValueBound, one full block), and must stay 2x below BATCH_RELEASE_ERROR_BOUND at each preset
 *   that has one (measured when written: ckks-16384-release max 2^-34.8 at |x| = 8, ckks-8192 max 2^-20.0 at |x| = 2^18),
 *   at ckks-16384-release also with the record blocks one level down (`inputLevel`), its scores cut to
 *   the lowest level that holds them (the model owner's `outputLevel`: level 1 from either);
 * - the policy is the formula at 30 bits, its grid sd/16..sd/32, and the released scores carry noise of
 *   that sd (the model owner's result minus the exact score: sample sd within 10 % of it over 16,384
 *   values; the estimate's relative error is ~0.6 %);
 * - the budget is counted per key, across data-owner instances, and a run past it is refused before
 *   anything is sent (`release_budget`); parameters without a measured bound are refused; the model
 *   owner refuses a model whose weights exceed the norm the bound was measured for (`privacy_floor`).
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
  type CkksPresetName,
  type CkksSecretContext,
  ckksValueBound,
  createCkksContext,
  releaseGrid,
} from '@fedscore/he';
import {
  BATCH_RELEASE_ERROR_BOUND,
  BATCH_RELEASE_MAX_WEIGHT_NORM,
  BATCH_RELEASE_SECURITY_BITS,
  BATCH_SCORING_PROTOCOL,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  batchReleasePolicy,
  DEFAULT_BATCH_RELEASE_BUDGET,
  type LinearScoreModel,
  linearScores,
  releaseBatchScores,
  SCORING_VERSION,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const rng = seededRng('batch-flooding');

/** One run; resolves to the party that learns the scores' output. */
async function score(
  dataOwner: BatchScoringDataOwner,
  modelOwner: BatchScoringModelOwner,
  model: LinearScoreModel,
  columns: Float64Array[],
  resultTo: 'data-owner' | 'model-owner',
): Promise<Float64Array> {
  const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec);
  const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'f' };
  const out = await runParties(network, {
    d: () =>
      dataOwner.score({
        session: new ProtocolSession(network.channel('data-owner'), spec),
        modelOwner: 'model-owner',
        columns,
        features: model.features,
        resultTo,
      }),
    m: () => modelOwner.score(new ProtocolSession(network.channel('model-owner'), spec), 'data-owner'),
  });
  return (resultTo === 'data-owner' ? out.d : out.m)!;
}

/** Worst case of the bound: features at +-bound (random signs), the whole norm on one weight or spread. */
function worstCase(ctx: CkksSecretContext, records: number, spread: boolean) {
  const F = 8;
  const x = ckksValueBound(ctx.params) * (1 - 2 ** -20);
  const columns = Array.from({ length: F }, () =>
    Float64Array.from({ length: records }, () => (normal(rng) < 0 ? -x : x)),
  );
  const w = BATCH_RELEASE_MAX_WEIGHT_NORM;
  const model: LinearScoreModel = {
    features: columns.map((_, j) => `x${j}`),
    weights: columns.map((_, j) => (spread ? (j % 2 === 0 ? 1 : -1) * (w / Math.sqrt(F)) : j === 0 ? w : 0)),
    intercept: -1.5,
  };
  return { columns, model, exact: linearScores(model, columns) };
}

describe('batch scoring: model-owner release flooding', () => {
  for (const preset of ['ckks-16384-release', 'ckks-8192'] as CkksPresetName[]) {
    it(`${preset}: the unflooded circuit error stays 2x below BATCH_RELEASE_ERROR_BOUND`, async () => {
      const ctx = await createCkksContext({ params: preset, relinearization: false });
      try {
        let max = 0;
        // Record blocks at the top and, where the masks still fit the scores' level (ckks-16384-release:
        // level 1 holds 2^62), one level down (`inputLevel`): the same error terms on other primes.
        const inputLevels = preset === 'ckks-16384-release' ? [ctx.levels, ctx.levels - 1] : [ctx.levels];
        for (const inputLevel of inputLevels) {
          for (const spread of [false, true]) {
            const { columns, model, exact } = worstCase(ctx, ctx.slotCount, spread);
            // Data-owner mode with the model owner's own flooding off: the decryption minus the exact score
            // is the circuit's error and nothing else (no mask, so no float64 rounding of a large value).
            const mo = new BatchScoringModelOwner({ model, poolSize: 0, noiseStdDev: 0 });
            try {
              const got = await score(
                new BatchScoringDataOwner({ context: ctx, inputLevel }),
                mo,
                model,
                columns,
                'data-owner',
              );
              for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i]! - exact[i]!));
            } finally {
              await mo.close();
            }
          }
        }
        expect(max).toBeGreaterThan(0);
        expect(max).toBeLessThan(BATCH_RELEASE_ERROR_BOUND[preset]! / 2);
      } finally {
        ctx.dispose();
      }
    }, 120_000);
  }

  it('the policy is sqrt(12 t) 2^15 E at 30 bits; parameters without a measured bound are refused', async () => {
    const ctx = await createCkksContext({ params: 'ckks-16384-release', relinearization: false });
    try {
      const p = batchReleasePolicy(ctx.params, 4);
      const sd = Math.sqrt(48) * 2 ** 15 * BATCH_RELEASE_ERROR_BOUND['ckks-16384-release']!;
      expect(p.noiseStdDev).toBeCloseTo(sd, 15);
      expect(p.statisticalSecurity).toBe(BATCH_RELEASE_SECURITY_BITS);
      expect(p.grid).toBe(releaseGrid(sd));
      expect(p.grid).toBeLessThanOrEqual(sd / 16);
      expect(p.grid).toBeGreaterThan(sd / 32);
      // The scores' precision at the default budget: sd below 2e-5, so 5 sd stays within 1e-4.
      expect(5 * batchReleasePolicy(ctx.params, DEFAULT_BATCH_RELEASE_BUDGET).noiseStdDev).toBeLessThan(1e-4);
      // Released values lie on the grid.
      const released = releaseBatchScores(
        Float64Array.from({ length: 64 }, () => normal(rng) * 2 ** 29),
        p,
      );
      for (const v of released) expect(Number.isInteger(v / p.grid)).toBe(true);
    } finally {
      ctx.dispose();
    }
    const deep = await createCkksContext({ params: 'ckks-8192-deep', relinearization: false });
    try {
      const e = (() => {
        try {
          batchReleasePolicy(deep.params, 4);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(FedscoreError);
      expect((e as FedscoreError).field).toBe('context');
    } finally {
      deep.dispose();
    }
  });

  it('releases carry noise of the stated sd; the budget is counted per key and refused past it', async () => {
    const ctx = await createCkksContext({ params: 'ckks-16384-release', relinearization: false });
    try {
      const records = 2 * ctx.slotCount; // 2 blocks
      const columns = Array.from({ length: 3 }, () =>
        Float64Array.from({ length: records }, () => normal(rng)),
      );
      const model = { features: ['a', 'b', 'c'], weights: [0.8, -1.1, 0.3], intercept: -1 };
      const exact = linearScores(model, columns);
      const mo = new BatchScoringModelOwner({ model, poolSize: 0, noiseStdDev: 0 });
      try {
        const dataOwner = new BatchScoringDataOwner({ context: ctx, releaseBudget: 2 });
        const stated = dataOwner.releasePolicy().noiseStdDev;
        const got = await score(dataOwner, mo, model, columns, 'model-owner');
        let ss = 0;
        for (let i = 0; i < records; i++) ss += (got[i]! - exact[i]!) ** 2;
        const sd = Math.sqrt(ss / records);
        expect(sd).toBeGreaterThan(stated * 0.9);
        expect(sd).toBeLessThan(stated * 1.1);
        // The budget (2 blocks) is spent: one more block under this key is refused, before anything is
        // sent, by this instance and by a new one on the same key; another budget on it is refused too.
        const one = columns.map((c) => c.subarray(0, 1));
        for (const d of [dataOwner, new BatchScoringDataOwner({ context: ctx, releaseBudget: 2 })]) {
          await expect(score(d, mo, model, one, 'model-owner')).rejects.toMatchObject({
            code: 'release_budget',
            field: 'releaseBudget',
          });
        }
        await expect(
          score(new BatchScoringDataOwner({ context: ctx, releaseBudget: 8 }), mo, model, one, 'model-owner'),
        ).rejects.toMatchObject({ code: 'release_budget' });
        // Data-owner mode releases nothing and is not counted.
        expect((await score(dataOwner, mo, model, one, 'data-owner')).length).toBe(1);
      } finally {
        await mo.close();
      }
    } finally {
      ctx.dispose();
    }
  }, 120_000);

  it('the model owner refuses, in model-owner mode, weights beyond the norm the bound holds for', async () => {
    const ctx = await createCkksContext({ params: 'ckks-16384-release', relinearization: false });
    try {
      const columns = [Float64Array.of(1, 2), Float64Array.of(0.5, -1)];
      const model = { features: ['a', 'b'], weights: [BATCH_RELEASE_MAX_WEIGHT_NORM, 1], intercept: 0 };
      const mo = new BatchScoringModelOwner({ model, poolSize: 0 });
      try {
        await expect(
          score(new BatchScoringDataOwner({ context: ctx }), mo, model, columns, 'model-owner'),
        ).rejects.toMatchObject({ code: 'privacy_floor', field: 'model.weights' });
        // The same model scores in data-owner mode (nothing decrypted leaves the key holder).
        expect(
          (await score(new BatchScoringDataOwner({ context: ctx }), mo, model, columns, 'data-owner')).length,
        ).toBe(2);
      } finally {
        await mo.close();
      }
    } finally {
      ctx.dispose();
    }
  });
});
