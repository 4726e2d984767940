/**
 * The RDP accountant for the sampled Gaussian mechanism against published values: TensorFlow Privacy's
 * tests of its RDP accountant (tensorflow/privacy, tensorflow_privacy/privacy/analysis/
 * rdp_accountant_test.py: test_compute_rdp_no_sampling, test_compute_rdp_scalar,
 * test_compute_rdp_sequence at its integer orders, test_get_privacy_spent_check_target_delta), and the
 * closed form of the Gaussian mechanism without sampling, RDP(α) = α / (2σ²) (Mironov 2017, Prop. 7).
 */
import { cryptoRng, seededRng } from '@fedscore/core';
import {
  clipUpdate,
  computeRdp,
  DEFAULT_RDP_ORDERS,
  distributedNoise,
  effectiveNoiseMultiplier,
  noiseMultiplierForEpsilon,
  RdpAccountant,
  rdpToEpsilon,
  sampledGaussianRdp,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';

describe('RDP of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019)', () => {
  it('q = 1 is the Gaussian closed form α/(2σ²)', () => {
    expect(computeRdp(1, 10, 1, [20])[0]).toBeCloseTo(0.1, 12); // TF Privacy: compute_rdp(1, 10, 1, 20) == 0.1
    for (const [sigma, alpha] of [
      [1, 2],
      [0.7, 9],
      [3, 64],
    ] as const) {
      expect(sampledGaussianRdp(1, sigma, alpha)).toBeCloseTo(alpha / (2 * sigma * sigma), 12);
    }
    expect(sampledGaussianRdp(0, 1, 5)).toBe(0);
  });

  it('matches TensorFlow Privacy compute_rdp at integer orders (to 1e-5)', () => {
    // compute_rdp(0.1, 2, 10, 5) = 0.07737
    expect(Math.abs(computeRdp(0.1, 2, 10, [5])[0]! - 0.07737)).toBeLessThan(1e-5);
    // compute_rdp(0.01, 2.5, 50, [.., 5, 50, 100, ..]) = [.., 0.00218075, 0.023846, 167.416307, ..]
    const got = computeRdp(0.01, 2.5, 50, [5, 50, 100]);
    const want = [0.00218075, 0.023846, 167.416307];
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5);
  });

  it('converts to (ε, δ) as TensorFlow Privacy get_privacy_spent: ε = 1.258575 at order 20', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2); // range(2, 33)
    const spent = rdpToEpsilon(orders, computeRdp(0.01, 4, 10000, orders), 1e-5);
    expect(Math.abs(spent.epsilon - 1.258575)).toBeLessThan(1e-5);
    expect(spent.order).toBe(20);
    // the running accountant composes the same way
    const acc = new RdpAccountant(orders);
    acc.step(0.01, 4, 4000);
    acc.step(0.01, 4, 6000);
    expect(acc.rounds).toBe(10000);
    expect(Math.abs(acc.spent(1e-5).epsilon - 1.258575)).toBeLessThan(1e-5);
  });

  it('finds the noise multiplier for a target ε (and spends no more than it)', () => {
    const sigma = noiseMultiplierForEpsilon(2, 0.5, 30, 1e-5);
    const at = (s: number) => rdpToEpsilon(DEFAULT_RDP_ORDERS, computeRdp(0.5, s, 30), 1e-5).epsilon;
    expect(at(sigma)).toBeLessThanOrEqual(2);
    expect(at(sigma * 0.99)).toBeGreaterThan(2);
  });

  it('refuses non-integer orders and bad δ (typed)', () => {
    expect(() => sampledGaussianRdp(0.1, 1, 2.5)).toThrow(expect.objectContaining({ field: 'orders' }));
    expect(() => rdpToEpsilon([2], [1], 0)).toThrow(expect.objectContaining({ field: 'delta' }));
  });
});

describe('clipping and distributed Gaussian noise', () => {
  it('clips to norm C and leaves short updates alone', () => {
    const { clipped, norm } = clipUpdate(Float64Array.of(3, 4), 1);
    expect(norm).toBe(5);
    expect(clipped[0]).toBeCloseTo(0.6, 15);
    expect(clipped[1]).toBeCloseTo(0.8, 15);
    expect(Array.from(clipUpdate(Float64Array.of(0.3, 0.4), 1).clipped)).toEqual([0.3, 0.4]);
  });

  it('m clients each adding N(0, σ²C²/m) give a sum with variance σ²C² (empirical, ±5%)', () => {
    const m = 4;
    const sigma = 1.3;
    const C = 0.5;
    const len = 20000;
    const sum = new Float64Array(len);
    const rng = cryptoRng();
    for (let c = 0; c < m; c++) {
      const noisy = distributedNoise(new Float64Array(len), sigma, C, m, rng);
      for (let i = 0; i < len; i++) sum[i]! += noisy[i]!;
    }
    let v = 0;
    for (const x of sum) v += x * x;
    v /= len;
    // sd of the sample variance ≈ σ²C²·sqrt(2/len) = 1% here
    expect(Math.abs(v / (sigma * sigma * C * C) - 1)).toBeLessThan(0.05);
    expect(() => distributedNoise(new Float64Array(2), 1, 1, 2, seededRng(1))).toThrow(/cryptographic/);
    // An impostor (a seeded generator claiming the flag) is refused too: core's registry, not the flag.
    const inner = seededRng(2);
    const impostor = {
      cryptographic: true,
      nextUint32: () => inner.nextUint32(),
      fillBytes: (out: Uint8Array) => inner.fillBytes(out),
    };
    expect(() => distributedNoise(new Float64Array(2), 1, 1, 2, impostor)).toThrow(
      expect.objectContaining({ code: 'insecure_rng', field: 'rng' }),
    );
    expect(effectiveNoiseMultiplier(2, 3, 4)).toBeCloseTo(2 * Math.sqrt(0.75), 12);
  });
});
