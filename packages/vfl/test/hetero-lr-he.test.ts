/**
 * Hetero-LR under real encryption gives the weights of the plaintext run:
 * - CKKS (N=8192, scale 2^40, flooding noise 2^-20 on each release): |w_ckks - w_none| <= 1e-4 after
 *   a few dozen steps (each step adds ~1e-6 of approximation and flooding noise).
 * - Paillier (1024-bit, insecure: test speed only; 32 fraction bits): <= 1e-6.
 */
import { type HeteroLrMode, type HeteroLrScheme, trainHeteroLr } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

async function weights(
  scheme: HeteroLrScheme,
  mode: HeteroLrMode,
  n: number,
  batchSize: number,
  epochs: number,
) {
  const data = syntheticSplit(n, 2, [3, 2], 13, 0.02);
  const res = await trainHeteroLr({
    guest: { features: data.guest, labels: data.labels },
    hosts: data.hosts.map((features) => ({ features })),
    mode,
    scheme,
    he: { insecure: scheme === 'paillier', paillierBits: 1024 },
    hyperparams: { batchSize, maxEpochs: epochs, classWeight: 'balanced', seed: 3 },
  });
  return { w: [...res.guest.weights, res.guest.intercept, ...res.hosts.flatMap((h) => h.weights)], res };
}

describe('hetero-LR under CKKS', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: matches the plaintext run within 1e-4`, async () => {
      const ckks = await weights('ckks', mode, 600, 128, 2);
      const none = await weights('none', mode, 600, 128, 2);
      ckks.w.forEach((v, j) => {
        expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-4);
      });
      expect(ckks.res.insecure).toBe(false);
      expect(ckks.res.descriptor.training.scheme).toBe('ckks');
    });
  }
});

describe('hetero-LR under Paillier (FATE-style baseline)', () => {
  it('arbiter: matches the plaintext run within 1e-6', async () => {
    const p = await weights('paillier', 'arbiter', 40, 20, 1);
    const none = await weights('none', 'arbiter', 40, 20, 1);
    p.w.forEach((v, j) => {
      expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-6);
    });
    expect(p.res.insecure).toBe(true); // 1024-bit modulus
  });
});
