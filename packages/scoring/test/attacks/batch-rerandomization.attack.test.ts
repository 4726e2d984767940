/**
 * Attack: the data owner links the model owner's replies in batch scoring to the ciphertexts it sent, by
 * their random part (circuit privacy; Ducas & Stehle 2016, "Sanitization of FHE ciphertexts", EUROCRYPT:
 * an evaluated ciphertext that is not re-randomized carries the circuit in its randomness).
 *
 * A CKKS ciphertext is (c0, c1) with c1 the random part. The model owner's reply to a block is
 * rescale(sum_j w_j [[x_j]]) + (intercept + flooding noise [+ mask]): the plaintext terms change c0 only,
 * so without re-randomization c1 = rescale(sum_j w_j a_j) is a deterministic function of the model's
 * weights and of the a_j the data owner chose. A data owner that sends the same ciphertexts in two blocks
 * gets two replies with the same c1 byte for byte (their difference is "transparent": c0 alone, readable
 * without the key): it recovers which reply came from which ciphertext it sent, and holds a value that
 * depends on the weights alone. Defence: the model owner adds a fresh public-key encryption of zero to
 * every reply (`rerandomize`, default on). Weakened (`rerandomize: false`) the two replies end in the same
 * c1 bytes; by default they share no more trailing bytes than two independent encryptions do.
 */
import { createInMemoryNetwork, normal, ProtocolSession, runParties, seededRng } from '@fedscore/core';
import { type CkksSecretContext, createCkksContext, type HeWorkerPool } from '@fedscore/he';
import {
  BATCH_SCORING_PROTOCOL,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  linearScores,
  SCORING_VERSION,
} from '@fedscore/scoring';
import { ciphertextBatchStep, envelopeCodec } from '@fedscore/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let ctx: CkksSecretContext;
beforeAll(async () => {
  ctx = await createCkksContext({ relinearization: false });
}, 60_000);
afterAll(() => ctx?.dispose());

/** @fedscore/he's blob ends in a CRC-32 of everything before it (packages/he/src/blob.ts). */
const CRC_TRAILER = 4;

/**
 * Bytes two serialized ciphertexts share at the end of their SEAL payload (before the blob's CRC). SEAL
 * writes the polynomials c0 then c1, so two uncompressed ciphertexts with the same random part c1 share at
 * least its N x (primes) x 8 bytes there.
 */
function commonSuffix(a: Uint8Array, b: Uint8Array): number {
  const x = a.subarray(0, a.length - CRC_TRAILER);
  const y = b.subarray(0, b.length - CRC_TRAILER);
  let n = 0;
  while (n < x.length && n < y.length && x[x.length - 1 - n] === y[y.length - 1 - n]) n++;
  return n;
}

/** The bytes of c1 at a reply's level: N coefficients per remaining prime, 8 bytes each. */
function c1Bytes(reply: Uint8Array): number {
  const level = ctx.scope(() => ctx.deserializeVector(reply).level);
  return ctx.params.polyModulusDegree * (level + 1) * 8;
}

/**
 * One batch run of two blocks in data-owner mode, where the (malicious) data owner sends block 1 as the
 * very ciphertexts of block 0 (its "pool" replays them). Returns the two replies' bytes and the scores.
 */
async function replayRun(rerandomize: boolean | undefined) {
  const S = ctx.slotCount;
  const rng = seededRng('rerandomization-attack');
  const half = Array.from({ length: 2 }, () => Float64Array.from({ length: S }, () => normal(rng)));
  const columns = half.map((c) => {
    const full = new Float64Array(2 * S);
    full.set(c, 0);
    full.set(c, S);
    return full;
  });
  const model = { features: ['x0', 'x1'], weights: [0.75, -1.25], intercept: 0.5 };
  let first: Uint8Array[] | undefined;
  const replaying = {
    encryptSymmetric: async (vectors: readonly Float64Array[]) => {
      first ??= vectors.map((v) => ctx.encryptSymmetricSerialized(v, { compression: 'none' }));
      return first;
    },
    decrypt: async (cts: readonly Uint8Array[]) =>
      cts.map((bytes) => ctx.scope(() => ctx.decrypt(ctx.deserializeVector(bytes)))),
  } as unknown as HeWorkerPool;
  const network = createInMemoryNetwork(['data-owner', 'model-owner'], envelopeCodec, { capture: true });
  const spec = { protocol: BATCH_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'replay' };
  const modelOwner = new BatchScoringModelOwner({
    model,
    poolSize: 0,
    ...(rerandomize !== undefined && { rerandomize }),
  });
  try {
    const { d: scores } = await runParties(network, {
      d: () =>
        new BatchScoringDataOwner({ context: ctx, pool: replaying }).score({
          session: new ProtocolSession(network.channel('data-owner'), spec),
          modelOwner: 'model-owner',
          columns,
          features: model.features,
          resultTo: 'data-owner',
        }),
      m: () => modelOwner.score(new ProtocolSession(network.channel('model-owner'), spec), 'data-owner'),
    });
    const replies = network
      .receivedBy('data-owner')
      .map((m) => ciphertextBatchStep('block-scores').decode(m.payload).items[0]!);
    return { replies, scores: scores!, reference: linearScores(model, columns) };
  } finally {
    await modelOwner.close();
  }
}

describe('attack: the data owner links batch-scoring replies to its own ciphertexts', () => {
  it('control: two fresh encryptions of one vector share no c1 bytes; a copy shares all of them', () => {
    const v = new Float64Array(ctx.slotCount).fill(1);
    const a = ctx.scope(() => ctx.encrypt(v).serialize({ compression: 'none' }));
    const b = ctx.scope(() => ctx.encrypt(v).serialize({ compression: 'none' }));
    expect(commonSuffix(a, b)).toBeLessThan(16);
    // The search finds a planted c1: a's c0 with b's c1 ends in b's c1 bytes.
    const planted = Uint8Array.from(a);
    const end = (u: Uint8Array) => u.length - CRC_TRAILER;
    planted.set(b.subarray(end(b) - c1Bytes(b), end(b)), end(a) - c1Bytes(a));
    expect(commonSuffix(planted, b)).toBeGreaterThanOrEqual(c1Bytes(b));
  });

  it('weakened (rerandomize: false): the replies to replayed ciphertexts share their random part (c1 of the difference is zero)', async () => {
    const { replies, scores, reference } = await replayRun(false);
    expect(replies).toHaveLength(2);
    // The run itself is correct: scores within 1e-4 of plaintext (CKKS error plus 2^-20 flooding).
    for (let i = 0; i < reference.length; i++)
      expect(Math.abs(scores[i]! - reference[i]!)).toBeLessThan(1e-4);
    // The replies differ (fresh flooding noise in c0) ...
    expect(Buffer.from(replies[0]!).equals(Buffer.from(replies[1]!))).toBe(false);
    // ... but they end in the same c1, byte for byte: the link is recovered.
    expect(commonSuffix(replies[0]!, replies[1]!)).toBeGreaterThanOrEqual(c1Bytes(replies[0]!));
  });

  it('default (re-randomized): the same replay gives replies whose difference looks like any ciphertext', async () => {
    const { replies, scores, reference } = await replayRun(undefined);
    for (let i = 0; i < reference.length; i++)
      expect(Math.abs(scores[i]! - reference[i]!)).toBeLessThan(1e-4);
    expect(commonSuffix(replies[0]!, replies[1]!)).toBeLessThan(16);
  });
});
