/**
 * Attack: distinguish (hence learn) a masked gradient coordinate when masks are small (issue 11,
 * finding 4), and a guest that plans small masks for the hosts.
 *
 * The key holder decrypts v = g + r, r uniform on [-2^k, 2^k]. Two candidate values g, g' are told apart
 * with advantage equal to the statistical distance of their views, |g - g'| / 2^(k+1) (a textbook bound
 * for a uniform shift; the optimal test says g when v > 2^k - |g - g'| / 2 and g' when v < ..., guessing
 * in between). Over many releases of related values (e.g. a host's gradient sign across batches, which
 * follows the labels' correlation with its features) the advantages add up.
 * What it would recover: the sign of a host's gradient coordinate (here: a planted +-1) from each release.
 * Weakened configuration: k = 1, and k = 16 (the old default, with |g - g'| = 2^15 to make the
 * advantage measurable: 2^15 / 2^17 = 1/4); default: k = 40 -- advantage 2^-40 per coordinate, so the distinguisher is a
 * coin flip within sampling error. And the hosts' floor: a plan with fewer mask bits than a host's
 * `minMaskBits` (default 40) is refused before any value is masked.
 */
import { cryptoRng } from '@fedscore/core';
import {
  cipherProvider,
  DEFAULT_MASK_BITS,
  maskStatisticalDistance,
  trainHeteroLr,
  uniformMask,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const SAMPLES = 20_000;

/** Fraction of releases of a planted +-g whose sign the optimal threshold test gets right. */
function distinguisherAccuracy(k: number, g: number): number {
  const rng = cryptoRng();
  const r = 2 ** k;
  let right = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const secret = i % 2 === 0 ? g : -g;
    const v = secret + uniformMask(rng, 1, k)[0]!;
    // v > r - g can only come from +g, v < -(r - g) only from -g; in between both are equally likely.
    const guess = v > r - g ? g : v < -(r - g) ? -g : (rng.nextUint32() & 1) === 0 ? g : -g;
    if (guess === secret) right++;
  }
  return right / SAMPLES;
}

describe('attack: small masks let the key holder learn masked values', () => {
  it("weakened (k = 1, k = 16): the sign is recovered with the predicted advantage |g - g'| / 2^(k+1)", () => {
    // Sampling sd of an accuracy over 20,000 trials: <= 0.0036; tolerance 0.015 (> 4 sd).
    for (const [k, g] of [
      [1, 1],
      [16, 2 ** 14],
    ] as const) {
      const predicted = 0.5 + maskStatisticalDistance(2 * g, k) / 2;
      const acc = distinguisherAccuracy(k, g);
      expect(acc).toBeGreaterThan(0.55);
      expect(Math.abs(acc - predicted)).toBeLessThan(0.015);
    }
    expect(maskStatisticalDistance(2, 1)).toBe(0.5);
  });

  it('default (k = 40): a coin flip (distance 2^-40 per coordinate for |g| = 1)', () => {
    expect(DEFAULT_MASK_BITS).toBe(40);
    expect(maskStatisticalDistance(2, DEFAULT_MASK_BITS)).toBe(2 ** -40);
    const acc = distinguisherAccuracy(DEFAULT_MASK_BITS, 1);
    expect(Math.abs(acc - 0.5)).toBeLessThan(0.015);
  });

  it('a host refuses a plan whose mask bits are below its floor, naming the field', async () => {
    const data = syntheticSplit(200, 2, [2], 4);
    const run = (maskBits: number, minMaskBits?: number) =>
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        scheme: 'none',
        hyperparams: { batchSize: 100, maxEpochs: 1, maskBits },
        ...(minMaskBits !== undefined && { minMaskBits }),
      });
    const err = await run(16).catch((e: unknown) => e);
    // The host's own refusal (the guest and arbiter see the host's abort naming its code and field).
    expect(JSON.stringify(err)).toMatch(/privacy_floor/);
    expect(JSON.stringify(err)).toMatch(/mask_bits/);
    await expect(run(39, 40)).rejects.toBeDefined();
    await expect(run(40)).resolves.toMatchObject({ epochs: 1 });
  });

  it('CKKS keys state the masks they can carry: ckks-8192 18 bits, ckks-16384-release 40', async () => {
    for (const [preset, bits] of [
      ['ckks-8192', 18],
      ['ckks-16384-release', 40],
    ] as const) {
      const sk = await cipherProvider('ckks', { ckksPreset: preset }).create({ batchSize: 64, columns: 4 });
      try {
        expect(sk.maxMaskBits).toBe(bits);
      } finally {
        sk.dispose();
      }
    }
  });
});
