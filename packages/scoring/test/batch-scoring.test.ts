/**
 * Batch portfolio scoring under CKKS: scores equal the plaintext linear scores within 1e-4 (CKKS error
 * ~1e-8 plus flooding noise sd 2^-20 ~ 1e-6; in model-owner mode, at ckks-16384-release, the data
 * owner's release flooding sized for its key, sd ~1e-5 for one block), and the AUC of the encrypted scores equals the plaintext
 * AUC to 4 decimals. Message capture: the model owner receives the plan (count and column names), the
 * public context (no secret key) and ciphertexts only; the data owner receives ciphertexts only; the
 * steps each party receives are those of the "who learns what" table in docs/protocols/batch-scoring.md.
 * In model-owner mode, what the data owner decrypts (every block-scores ciphertext, decrypted with its
 * key) is never within 1 point of a raw score: the model owner's masks are uniform on +-2^30 (KS test)
 * and fresh per run.
 */
import {
  auc,
  type CryptoRng,
  createInMemoryNetwork,
  FedscoreError,
  normal,
  ProtocolSession,
  runParties,
  seededRng,
  uniform,
} from '@fedscore/core';
import { expectNoSecret } from '@fedscore/core/testing';
import {
  type CkksSecretContext,
  createCkksContext,
  type HeWorkerPool,
  loadCkksSecretContext,
} from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import {
  BATCH_SCORING_PROTOCOL,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  DEFAULT_BATCH_MASK_BITS,
  linearFromScorecard,
  linearScores,
  runBatchScoring,
  SCORING_VERSION,
  woeColumns,
} from '@fedscore/scoring';
import { ciphertextBatchStep, envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { enterprises, twoPartyScorecard } from './fixtures.ts';

function synthetic(n: number, f: number, seed: number) {
  const rng = seededRng(seed);
  const columns = Array.from({ length: f }, () => Float64Array.from({ length: n }, () => normal(rng)));
  const model = {
    features: columns.map((_, j) => `x${j}`),
    weights: columns.map(() => normal(rng, 0, 0.5)),
    intercept: -1.5,
  };
  const z = linearScores(model, columns);
  const labels = Float64Array.from(z, (v) => (uniform(rng) < 1 / (1 + Math.exp(-v)) ? 1 : 0));
  return { columns, model, labels, reference: z };
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Does `hay` contain the little-endian float64 bytes of `value`? */
function containsFloat64(hay: Uint8Array, value: number): boolean {
  const needle = new Uint8Array(Float64Array.of(value).buffer);
  outer: for (let i = 0; i + 8 <= hay.length; i++) {
    for (let k = 0; k < 8; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

describe('batch scoring', () => {
  it('data-owner mode on two worker threads: within 1e-4 of plaintext, AUC equal to 4 decimals', async () => {
    const { columns, model, labels, reference } = synthetic(9000, 6, 11);
    const r = await runBatchScoring({ model, columns, resultTo: 'data-owner', poolSize: 2 });
    expect(maxAbsDiff(r.scores, reference)).toBeLessThan(1e-4);
    expect(auc(labels, r.scores).toFixed(4)).toBe(auc(labels, reference).toFixed(4));
  });

  it('model-owner mode (masked release), main thread: within 1e-4, the masked scores sent at level 1', async () => {
    const { columns, model, reference } = synthetic(5000, 4, 12);
    const r = await runBatchScoring({ model, columns, resultTo: 'model-owner', poolSize: 0, capture: true });
    expect(maxAbsDiff(r.scores, reference)).toBeLessThan(1e-4);
    // ckks-16384-release (data primes 60, 60, 55, 55): the rescale leaves level 2, but q0 q1 already
    // holds the masked scores (2^30 masks, |x| <= 8), so the model owner drops q2 first: 2 primes of 3.
    const scores = r.captured.filter((m) => m.step === 'block-scores');
    const blocks = r.captured.filter((m) => m.step === 'record-block');
    expect(scores.length).toBe(1); // 5000 records: one block of 8192 slots
    for (const m of scores) {
      const batch = ciphertextBatchStep('block-scores').decode(m.payload);
      expect(batch.level).toBe(1);
      // A full (two-polynomial) ciphertext at 2 primes: 2 x 16384 x 2 x 8 bytes and a header.
      expect(batch.items[0]!.length).toBeGreaterThan(2 * 16384 * 2 * 8);
      expect(batch.items[0]!.length).toBeLessThan(2 * 16384 * 3 * 8);
    }
    expect(ciphertextBatchStep('record-block').decode(blocks[0]!.payload).level).toBe(3);
  });

  it('a scorecard party model on WOE columns gives the scorecard partial scores', async () => {
    const card = twoPartyScorecard();
    const rows = enterprises(3000, 5);
    const cols: Record<string, number[]> = {};
    for (const name of ['turnover', 'overdue']) cols[name] = rows.map((e) => e[name]!);
    const model = linearFromScorecard(card, 'bank');
    const woe = woeColumns(card, 'bank', cols);
    const r = await runBatchScoring({ model, columns: woe, poolSize: 0 });
    const { partialScore } = await import('@fedscore/scoring');
    rows.forEach((e, i) => {
      expect(Math.abs(r.scores[i]! - partialScore(card, 'bank', e))).toBeLessThan(1e-4);
    });
  });

  it('message capture: who learns what', async () => {
    const { columns, model } = synthetic(4100, 3, 13);
    for (const resultTo of ['data-owner', 'model-owner'] as const) {
      const ctx = await createCkksContext({ relinearization: false });
      const dataOwner = new BatchScoringDataOwner({ context: ctx });
      const modelOwner = new BatchScoringModelOwner({ model, poolSize: 0 });
      const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec, { capture: true });
      const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 's' };
      await runParties(network, {
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
      const toModel = network.receivedBy('model-owner').map((m) => m.step);
      const toData = network.receivedBy('data-owner').map((m) => m.step);
      // The table of docs/protocols/batch-scoring.md.
      expect(toModel).toEqual([
        'batch-plan',
        'record-block',
        'record-block',
        ...(resultTo === 'model-owner' ? ['released-scores'] : []),
      ]);
      expect(toData).toEqual(['block-scores', 'block-scores']);
      // The plan's context is public: it does not load as a secret context.
      const plan = fedscore.scoring.BatchPlan.decode(network.receivedBy('model-owner')[0]!.payload);
      expect(plan.records).toBe(4100);
      await expect(loadCkksSecretContext(plan.context)).rejects.toThrow();
      // no window of the data owner's secret key in any byte the model owner receives
      expectNoSecret(
        network.receivedBy('model-owner').map((m) => m.bytes),
        ckksSecretKeyBytes(ctx),
        'to the model owner',
      );
      // No feature value crosses the wire in the clear.
      const sample = [columns[0]![0]!, columns[1]![17]!, columns[2]![4099]!];
      for (const m of network.captured)
        for (const v of sample) expect(containsFloat64(m.bytes, v)).toBe(false);
      await modelOwner.close();
      ctx.dispose();
    }
  });

  it('model-owner mode: what the data owner decrypts is the score under a fresh uniform mask of 2^30', async () => {
    const { columns, model, reference } = synthetic(4100, 3, 15);
    const ctx = await createCkksContext({ relinearization: false });
    /** One run; returns what the data owner decrypts (every block-scores ciphertext, with its key). */
    const decryptedByDataOwner = async (): Promise<Float64Array> => {
      const dataOwner = new BatchScoringDataOwner({ context: ctx });
      const modelOwner = new BatchScoringModelOwner({ model, poolSize: 0 });
      const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec, { capture: true });
      const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'm' };
      await runParties(network, {
        d: () =>
          dataOwner.score({
            session: new ProtocolSession(network.channel('data-owner'), spec),
            modelOwner: 'model-owner',
            columns,
            features: model.features,
            resultTo: 'model-owner',
          }),
        m: () => modelOwner.score(new ProtocolSession(network.channel('model-owner'), spec), 'data-owner'),
      });
      await modelOwner.close();
      const out: number[] = [];
      for (const m of network.receivedBy('data-owner')) {
        const batch = ciphertextBatchStep('block-scores').decode(m.payload);
        const v = ctx.deserializeVector(batch.items[0]!);
        try {
          out.push(...ctx.decrypt(v).subarray(0, batch.slotsPerItem));
        } finally {
          v.dispose();
        }
      }
      return Float64Array.from(out);
    };
    const first = await decryptedByDataOwner();
    const second = await decryptedByDataOwner();
    ctx.dispose();
    expect(first.length).toBe(reference.length);
    const bound = 2 ** DEFAULT_BATCH_MASK_BITS;
    const masks = Float64Array.from(first, (v, i) => v - reference[i]!);
    // No raw score: every decrypted value is more than 1 point away from the record's score (a uniform
    // mask on +-2^30 lands within 1 with probability 2^-30 per record).
    for (let i = 0; i < masks.length; i++) expect(Math.abs(masks[i]!)).toBeGreaterThan(1);
    // The masks are large and uniform on [-2^30, 2^30]: within the bound, and KS distance of
    // (mask / 2^30 + 1) / 2 from U(0, 1) below the 0.1 % critical value 1.95 / sqrt(n).
    expect(Math.max(...masks.map(Math.abs))).toBeLessThanOrEqual(bound + 1);
    const u = [...masks].map((m) => (m / bound + 1) / 2).sort((a, b) => a - b);
    let d = 0;
    u.forEach((v, i) => {
      d = Math.max(d, Math.abs((i + 1) / u.length - v), Math.abs(v - i / u.length));
    });
    expect(d).toBeLessThan(1.95 / Math.sqrt(u.length));
    // Fresh per run (a cryptographic generator, not a fixed seed): a second run's masks differ everywhere.
    for (let i = 0; i < masks.length; i++)
      expect(Math.abs(second[i]! - reference[i]! - masks[i]!)).toBeGreaterThan(1);
  });

  /** One run against `modelOwner`; resolves to the error it fails with (undefined when it succeeds). */
  async function failure(
    modelOwner: BatchScoringModelOwner,
    run: { columns: Float64Array[]; features: readonly string[]; pool?: HeWorkerPool },
    ctx: CkksSecretContext,
  ): Promise<FedscoreError | undefined> {
    const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec);
    const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 's' };
    try {
      await runParties(network, {
        d: () =>
          new BatchScoringDataOwner({ context: ctx, ...(run.pool && { pool: run.pool }) }).score({
            session: new ProtocolSession(network.channel('data-owner'), spec),
            modelOwner: 'model-owner',
            columns: run.columns,
            features: run.features,
            resultTo: 'data-owner',
          }),
        m: () => modelOwner.score(new ProtocolSession(network.channel('model-owner'), spec), 'data-owner'),
      });
      return undefined;
    } catch (e) {
      expect(e).toBeInstanceOf(FedscoreError);
      return e as FedscoreError;
    } finally {
      await modelOwner.close();
    }
  }

  it('refuses a plan whose columns differ from the model: other order, fewer, more, one renamed', async () => {
    const { columns, model } = synthetic(100, 3, 14);
    const ctx = await createCkksContext({ relinearization: false });
    const plans: [string, string[]][] = [
      ['swapped', ['x1', 'x0', 'x2']],
      ['a prefix of the model', ['x0', 'x1']],
      ['one more', ['x0', 'x1', 'x2', 'x3']],
      ['last renamed', ['x0', 'x1', 'y']],
    ];
    for (const [what, features] of plans) {
      const cols = features.map((_, j) => columns[j % columns.length]!);
      const e = await failure(
        new BatchScoringModelOwner({ model, poolSize: 0 }),
        { columns: cols, features },
        ctx,
      );
      expect(e?.code, what).toBe('protocol_step');
      expect(e?.field, what).toBe('batch-plan.features');
      expect(e?.message, what).toMatch(/other columns than the model/);
    }
    // The same model and data with the model's own columns are scored.
    expect(
      await failure(
        new BatchScoringModelOwner({ model, poolSize: 0 }),
        { columns, features: model.features },
        ctx,
      ),
    ).toBeUndefined();
    ctx.dispose();
  });

  it("refuses a record block with another number of ciphertexts than the model's columns", async () => {
    const { columns, model } = synthetic(100, 2, 16);
    const ctx = await createCkksContext({ relinearization: false });
    // A data owner whose "encryption" drops the last column's ciphertext after an honest plan.
    const short = {
      encryptSymmetric: async (vectors: readonly Float64Array[]) =>
        vectors.slice(0, -1).map((v) => ctx.encryptSymmetricSerialized(v, { compression: 'none' })),
      decrypt: async () => [],
    } as unknown as HeWorkerPool;
    const e = await failure(
      new BatchScoringModelOwner({ model, poolSize: 0 }),
      { columns, features: model.features, pool: short },
      ctx,
    );
    expect(e?.code).toBe('protocol_step');
    expect(e?.field).toBe('record-block.items');
    ctx.dispose();
  });

  it('the model owner refuses a seeded generator for its masks and noise (a guessable mask is no mask)', async () => {
    const { columns, model } = synthetic(100, 2, 17);
    const ctx = await createCkksContext({ relinearization: false });
    // The option's type asks for a CryptoRng; JavaScript callers (and casts) are refused at run time.
    const seeded = seededRng(1) as unknown as CryptoRng;
    const e = await failure(
      new BatchScoringModelOwner({ model, poolSize: 0, rng: seeded }),
      { columns, features: model.features },
      ctx,
    );
    expect(e?.code).toBe('insecure_rng');
    expect(e?.field).toBe('rng');
    ctx.dispose();
  });
});
