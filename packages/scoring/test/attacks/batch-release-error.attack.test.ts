/**
 * Attack: the model owner of batch scoring reads the data owner's CKKS decryption error off the released
 * scores (IND-CPA-D; B. Li, D. Micciancio, "On the security of homomorphic encryption on approximate
 * numbers", EUROCRYPT 2021). In model-owner mode the data owner decrypts what the model owner returns and
 * releases s + r + e'. The model owner built those ciphertexts and chose the model; it scores one block
 * of records that the data owner encrypted twice (the same portfolio in two jobs), with a weight at the
 * largest norm the protocol allows (BATCH_RELEASE_MAX_WEIGHT_NORM, which multiplies the data owner's
 * fresh encryption error), the same mask and intercept, re-randomized. The two results A and B hold the
 * same message; what tells them apart is their decryption errors, key-dependent (c0 + c1 s - Delta m):
 * the quantity Li-Micciancio's key recovery solves for.
 * What it would recover: (1) which of A and B a release came from (the IND-CPA-D game) and (2) the
 * difference of their decryption errors, slot by slot (correlation with the true difference, which
 * this test computes with the data owner's key).
 * Weakened configuration: the old release -- ckks-8192 and a fixed flooding sd 2^-20
 * (DEFAULT_FLOODING_STDDEV, not sized). Default: ckks-16384-release and the key's sized policy
 * (`batchReleasePolicy`: sd sqrt(12 t) 2^15 E, t = DEFAULT_BATCH_RELEASE_BUDGET, rounded to its grid):
 * the same adversary is a coin flip and its read of the error difference is uncorrelated with the truth,
 * both at ckks-8192 (where the weakened release loses) and at ckks-16384-release.
 */
import { cryptoRng, normal, seededRng, uniform } from '@fedscore/core';
import {
  type CkksPresetName,
  createCkksContext,
  DEFAULT_FLOODING_STDDEV,
  encodeLinearWeights,
  linearCombination,
} from '@fedscore/he';
import {
  BATCH_RELEASE_MAX_WEIGHT_NORM,
  type BatchReleasePolicy,
  BatchScoringDataOwner,
  DEFAULT_BATCH_MASK_BITS,
  releaseBatchScores,
} from '@fedscore/scoring';
import { describe, expect, it } from 'vitest';

const ROUNDS = 160;

async function game(preset: CkksPresetName, weakened: boolean) {
  const ctx = await createCkksContext({ params: preset, relinearization: false });
  try {
    const S = ctx.slotCount;
    const rng = seededRng(`batch-release-${preset}`);
    const columns = [0, 1].map(() => Float64Array.from({ length: S }, () => normal(rng)));
    const weights = [BATCH_RELEASE_MAX_WEIGHT_NORM, 0.5];
    // The model owner's add vector: intercept and its mask (its own flooding off: it knows it anyway).
    const add = Float64Array.from(
      { length: S },
      () => -1.5 + (2 * uniform(rng) - 1) * 2 ** DEFAULT_BATCH_MASK_BITS,
    );
    const pts = encodeLinearWeights(ctx, weights);
    // The data owner's two encryptions of the block, as it sends them (seeded symmetric).
    const result = () =>
      ctx.scope(() => {
        const cts = columns.map((c) =>
          ctx.deserializeVector(ctx.encryptSymmetricSerialized(c, { compression: 'none' })),
        );
        return linearCombination(ctx, cts, pts, { add, rerandomize: true });
      });
    const a = result();
    const b = result();
    for (const p of pts) p?.dispose();
    const policy: Pick<BatchReleasePolicy, 'noiseStdDev' | 'grid'> = weakened
      ? { noiseStdDev: DEFAULT_FLOODING_STDDEV, grid: 2 ** -60 }
      : new BatchScoringDataOwner({ context: ctx }).releasePolicy();
    // What the data owner releases for a ciphertext: decrypt, flood, round (the protocol's release step).
    const release = (v: typeof a) => releaseBatchScores(ctx.decrypt(v), policy);
    const ra = release(a);
    const rb = release(b);
    let right = 0;
    const coin = cryptoRng();
    for (let k = 0; k < ROUNDS; k++) {
      const bit = coin.nextUint32() & 1;
      const y = release(bit === 0 ? a : b);
      let da = 0;
      let db = 0;
      for (let i = 0; i < S; i++) {
        da += (y[i]! - ra[i]!) ** 2;
        db += (y[i]! - rb[i]!) ** 2;
      }
      if ((da < db ? 0 : 1) === bit) right++;
    }
    // The error difference as the adversary reads it (the message and mask cancel), against the truth.
    const truth = ctx.decrypt(a).map((v, i) => v - ctx.decrypt(b)[i]!);
    const read = ra.map((v, i) => v - rb[i]!);
    const corr = correlation(read, truth);
    a.dispose();
    b.dispose();
    return {
      accuracy: right / ROUNDS,
      corr,
      z: corr * Math.sqrt(S),
      truthRms: rms(truth),
      sd: policy.noiseStdDev,
    };
  } finally {
    ctx.dispose();
  }
}

function rms(v: Float64Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
}

function correlation(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  // No variance (at ckks-16384-release the two decryptions often decode to the same doubles: their error
  // difference, ~2^-36, is below the float64 step of s + r at 2^30): nothing to correlate with.
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

describe('attack: the model owner reads the data owner decryption error from released batch scores', () => {
  it('old fixed sd 2^-20 at ckks-8192: the game is won and the error difference is read; sized: a coin flip', async () => {
    const weak = await game('ckks-8192', true);
    // A real, key-dependent difference between the two results' decryptions, above the old flooding.
    expect(weak.truthRms).toBeGreaterThan(DEFAULT_FLOODING_STDDEV / 4);
    expect(weak.accuracy).toBeGreaterThan(0.85); // 0.5 + 8.75 sd of a coin flip over 160 rounds
    // The adversary's read correlates with the true error difference: z = r sqrt(n) far beyond chance.
    expect(weak.z).toBeGreaterThan(6);

    // Sized, on the same preset (sd ~0.9: ckks-8192 keeps no precision, but the same error is hidden) and
    // on the release preset the model-owner runs default to (sd 1.9e-5).
    for (const preset of ['ckks-8192', 'ckks-16384-release'] as const) {
      const strong = await game(preset, false);
      // Accuracy within sampling error of 1/2 (sd 0.040 over 160 rounds; bound 0.15), no correlation.
      expect(Math.abs(strong.accuracy - 0.5), preset).toBeLessThan(0.15);
      expect(Math.abs(strong.z), preset).toBeLessThan(4);
      // The noise dwarfs the error difference it hides. Not 2^15: the sd is sized from a bound E on
      // the maximum error, and the RMS of the difference measured here (fresh SEAL keys, worst-case
      // weight 1024) sat near 2^-10 of the sd at ckks-16384-release (1.87e-5 vs 1.89e-5 x 2^10 in one
      // CI run), so the margin checked is 2^9; the coin-flip game above is the assertion that matters.
      expect(strong.sd, preset).toBeGreaterThan(2 ** 9 * strong.truthRms);
    }
  }, 400_000);
});
