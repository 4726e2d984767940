/**
 * Flooding for release (issue 19): the standard deviation sizing of Li-Micciancio-Schultz-Sorrell
 * (CRYPTO 2022; OpenFHE's NOISE_FLOODING_DECRYPT rule), the release grid, and the noise itself, each
 * checked against an independent reference: the rule written in its log2 form
 * (log2 sd = s/2 + log2 sqrt(12 t) + log2 E), the grid written as "the largest power of two <= sd/16",
 * and the empirical standard deviation of many draws (tolerance: 5 % at 20,000 draws, where the
 * standard error of a sample sd is ~0.5 %).
 */

import { cryptoRng, FedscoreError, seededRng } from '@fedscore/core';
import {
  type CkksSecretContext,
  createCkksContext,
  floodingStdDev,
  floodNoise,
  releaseGrid,
  roundToGrid,
} from '@fedscore/he';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const refused = (code: string, field: string) => expect.objectContaining({ code, field });

function sampleSd(values: Float64Array, centre: ArrayLike<number>): { mean: number; sd: number } {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! - centre[i]!;
  const mean = s / values.length;
  let q = 0;
  for (let i = 0; i < values.length; i++) q += (values[i]! - centre[i]! - mean) ** 2;
  return { mean, sd: Math.sqrt(q / (values.length - 1)) };
}

describe('floodingStdDev', () => {
  it('follows log2 sd = s/2 + log2 sqrt(12 t) + log2 E', () => {
    for (const [e, t, s] of [
      [1, 1, 30],
      [2 ** -30, 64, 30],
      [3e-7, 1000, 40],
      [0.5, 7, 31],
    ] as const) {
      const expected = s / 2 + 0.5 * Math.log2(12 * t) + Math.log2(e);
      expect(Math.log2(floodingStdDev(e, t, s))).toBeCloseTo(expected, 10);
    }
    // The default statistical security is 30 bits.
    expect(floodingStdDev(1, 1)).toBeCloseTo(Math.sqrt(12) * 2 ** 15, 6);
    expect(floodingStdDev(1e-6, 3)).toBe(floodingStdDev(1e-6, 3, 30));
  });

  it('grows with the number of decryptions and the security asked for', () => {
    expect(floodingStdDev(1e-6, 4)).toBeCloseTo(2 * floodingStdDev(1e-6, 1), 12);
    expect(floodingStdDev(1e-6, 1, 32)).toBeCloseTo(2 * floodingStdDev(1e-6, 1, 30), 12);
  });

  it('refuses a bound, a count or a security level it cannot size for, naming the field', () => {
    for (const e of [0, -1e-6, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => floodingStdDev(e, 1)).toThrow(refused('out_of_range', 'errorBound'));
    }
    for (const t of [0, -1, 1.5, Number.NaN]) {
      expect(() => floodingStdDev(1e-6, t)).toThrow(refused('out_of_range', 'decryptions'));
    }
    for (const s of [29, 0, 30.5, Number.NaN]) {
      expect(() => floodingStdDev(1e-6, 1, s)).toThrow(refused('out_of_range', 'statisticalSecurity'));
    }
    expect(() => floodingStdDev(1e-6, 1)).not.toThrow();
    expect(() => floodingStdDev(Number.MIN_VALUE, 1, 30)).not.toThrow();
    expect(() => floodingStdDev(1e-6, 1, 20)).toThrow(FedscoreError);
  });
});

describe('releaseGrid and roundToGrid', () => {
  it('is the largest power of two at or below sd / 16', () => {
    for (const sd of [1, 1.99, 2, 3e-3, 2 ** -20, 1234.5, 2 ** 10 - 1e-9]) {
      const g = releaseGrid(sd);
      expect(Number.isInteger(Math.log2(g))).toBe(true);
      expect(g).toBeLessThanOrEqual(sd / 16);
      expect(2 * g).toBeGreaterThan(sd / 16);
    }
    expect(releaseGrid(1)).toBe(2 ** -4);
    expect(releaseGrid(1.99)).toBe(2 ** -4);
    expect(releaseGrid(2)).toBe(2 ** -3);
  });

  it('rounds every value to the nearest multiple of the grid, in place', () => {
    const v = Float64Array.from([0.3, -0.3, 0.74, 1.26, 0, 5, -0.7]);
    const out = roundToGrid(v, 0.5);
    expect(out).toBe(v);
    expect([...v]).toEqual([0.5, -0.5, 0.5, 1.5, 0, 5, -0.5]);
    const w = Float64Array.from([0.123456789, 7.000001]);
    roundToGrid(w, 2 ** -10);
    for (const x of w) expect(Number.isInteger(x * 2 ** 10)).toBe(true);
    expect(Math.abs(w[0]! - 0.123456789)).toBeLessThanOrEqual(2 ** -11);
    expect(Math.abs(w[1]! - 7.000001)).toBeLessThanOrEqual(2 ** -11);
  });
});

describe('floodNoise', () => {
  const n = 20_000;
  const base = Float64Array.from({ length: n }, (_, i) => (i % 17) - 8);

  it('adds zero-mean Gaussian noise of the stated sd to every value, into a new array', () => {
    for (const sd of [1e-3, 2.5]) {
      const copy = Float64Array.from(base);
      const out = floodNoise(copy, sd, { rng: cryptoRng() });
      expect(out).not.toBe(copy);
      expect(out.length).toBe(n);
      expect([...copy]).toEqual([...base]);
      const { mean, sd: got } = sampleSd(out, base);
      expect(got).toBeGreaterThan(0.95 * sd);
      expect(got).toBeLessThan(1.05 * sd);
      expect(Math.abs(mean)).toBeLessThan((5 * sd) / Math.sqrt(n));
      // Every value gets its own draw: no value is released exactly.
      let exact = 0;
      for (let i = 0; i < n; i++) if (out[i] === base[i]) exact++;
      expect(exact).toBe(0);
    }
  });

  it('draws from the cryptographic generator by default, and refuses a seeded one', () => {
    const a = floodNoise(base, 1, undefined);
    const b = floodNoise(base, 1, {});
    const s = sampleSd(a, base).sd;
    expect(s).toBeGreaterThan(0.95);
    expect(s).toBeLessThan(1.05);
    expect([...a]).not.toEqual([...b]);
    expect(() => floodNoise(base, 1, { rng: seededRng(1) as never })).toThrow(refused('insecure_rng', 'rng'));
  });
});

describe('decryptForRelease', () => {
  let ctx: CkksSecretContext;
  beforeAll(async () => {
    ctx = await createCkksContext({ params: 'ckks-8192' });
  });
  afterAll(() => ctx?.dispose());

  it('floods with DEFAULT_FLOODING_STDDEV (2^-20) unless told otherwise', () => {
    ctx.scope(() => {
      const x = Float64Array.from({ length: 4096 }, (_, i) => (i % 5) - 2);
      const got = sampleSd(ctx.decryptForRelease(ctx.encrypt(x)), x).sd;
      // CKKS's own decryption error at scale 2^40 is ~1e-9, three orders below the flooding.
      expect(got).toBeGreaterThan(0.93 * 2 ** -20);
      expect(got).toBeLessThan(1.07 * 2 ** -20);
      const big = sampleSd(ctx.decryptForRelease(ctx.encrypt(x), { noiseStdDev: 0.01 }), x).sd;
      expect(big).toBeGreaterThan(0.93 * 0.01);
      expect(big).toBeLessThan(1.07 * 0.01);
    });
  });

  it('refuses a flooding sd that hides nothing, and a seeded generator', () => {
    ctx.scope(() => {
      const a = ctx.encrypt(Float64Array.from([1, 2, 3]));
      for (const noiseStdDev of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => ctx.decryptForRelease(a, { noiseStdDev })).toThrow(
          refused('out_of_range', 'noiseStdDev'),
        );
      }
      expect(() => ctx.decryptForRelease(a, { noiseStdDev: 1e-3, rng: seededRng(2) as never })).toThrow(
        refused('insecure_rng', 'rng'),
      );
    });
  });
});
