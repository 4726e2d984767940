/**
 * Hetero-LR under real encryption gives the weights of the plaintext run, and every ciphertext a party
 * receives is under a key it does not hold (the CKKS half of the "who learns what" table of
 * docs/protocols/hetero-lr.md; the plaintext-mode half is hetero-lr-privacy.test.ts). One CKKS run per
 * mode serves both checks (message capture on), with a validation split scored after the last epoch
 * so the encrypted validation messages are covered too.
 * - CKKS (N=8192, scale 2^40, flooding noise 2^-20 on each release): |w_ckks - w_none| <= 1e-4 after
 *   8 steps (each step adds ~1e-6 of approximation and flooding noise). The second epoch reuses the
 *   cached plaintext diagonals of the first.
 * - Paillier (1024-bit, insecure: test speed only; 32 fraction bits): <= 1e-6.
 */
import { type HeteroLrMode, type HeteroLrScheme, trainHeteroLr } from '@fedscore/vfl';
import { ciphertextBatchStep, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const CIPHER_STEPS = new Set([
  'host-forward',
  'peer-forward',
  'class-weights',
  'residual',
  'masked-gradient',
  'validation-forward',
  'validation-masked',
]);
const batchStep = ciphertextBatchStep('any');
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function weights(
  scheme: HeteroLrScheme,
  mode: HeteroLrMode,
  n: number,
  batchSize: number,
  epochs: number,
  validationFraction = 0,
) {
  const data = syntheticSplit(n, 2, [3, 2], 13, 0.02);
  const res = await trainHeteroLr({
    guest: { features: data.guest, labels: data.labels },
    hosts: data.hosts.map((features) => ({ features })),
    mode,
    scheme,
    he: { insecure: scheme === 'paillier', paillierBits: 1024 },
    hyperparams: {
      batchSize,
      maxEpochs: epochs,
      classWeight: 'balanced',
      seed: 3,
      validationFraction,
      validationEvery: epochs,
      patience: 0,
    },
    capture: scheme === 'ckks',
  });
  return { w: [...res.guest.weights, res.guest.intercept, ...res.hosts.flatMap((h) => h.weights)], res };
}

describe('hetero-LR under CKKS', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: matches the plaintext run within 1e-4; ciphertexts only under keys the receiver lacks`, async () => {
      const ckks = await weights('ckks', mode, 600, 128, 2, 0.2);
      const none = await weights('none', mode, 600, 128, 2, 0.2);
      expect(ckks.res.keptEpoch).toBe(2);
      expect(none.res.keptEpoch).toBe(2);
      ckks.w.forEach((v, j) => {
        expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-4);
      });
      expect(ckks.res.insecure).toBe(false);
      expect(ckks.res.descriptor.training.scheme).toBe('ckks');

      // Which key each party announced (public-context sender -> fingerprint).
      const captured = ckks.res.captured;
      const keyOf = new Map<string, string>();
      for (const m of captured.filter((x) => x.step === 'public-context')) {
        keyOf.set(m.from, fedscore.heterolr.PublicContext.decode(m.payload).fingerprint);
      }
      const steps = new Set<string>();
      for (const m of captured.filter((x) => CIPHER_STEPS.has(x.step))) {
        steps.add(m.step);
        const batch = batchStep.decode(m.payload);
        expect(batch.scheme).toBe('ckks');
        const fp = hex(batch.paramsFingerprint);
        if (m.step === 'masked-gradient' || m.step === 'validation-masked') {
          // Masked values go to the holder of the key.
          expect(keyOf.get(m.to)).toBe(fp);
        } else {
          // Everything else is under a key the receiver does not hold.
          expect(keyOf.get(m.to)).not.toBe(fp);
          expect([...keyOf.values()]).toContain(fp);
        }
      }
      expect(steps.has('masked-gradient')).toBe(true);
      if (mode === 'arbiter') expect(steps.has('validation-masked')).toBe(true);
    });
  }
});

describe('hetero-LR under Paillier (FATE-style baseline)', () => {
  it('arbiter: matches the plaintext run within 1e-6', async () => {
    // One batch at the batch-size floor (64 rows): Paillier is slow, and smaller batches are refused.
    const p = await weights('paillier', 'arbiter', 64, 64, 1);
    const none = await weights('none', 'arbiter', 64, 64, 1);
    p.w.forEach((v, j) => {
      expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-6);
    });
    expect(p.res.insecure).toBe(true); // 1024-bit modulus
  });
});
