/**
 * Hetero-LR under real encryption gives the weights of the plaintext run, and every ciphertext a party
 * receives is under a key it does not hold (the CKKS half of the "who learns what" table of
 * docs/protocols/hetero-lr.md; the plaintext-mode half is hetero-lr-privacy.test.ts). One CKKS run per
 * mode serves both checks (message capture on), with a validation split scored after the last epoch
 * so the encrypted validation messages are covered too.
 * - CKKS (default ckks-16384-release, masks of 2^40, flooding sized for 30-bit statistical security:
 *   sd = sqrt(12 t) 2^15 E = 9e-4 for this run's t = 73 planned decryptions and E = 2^-30):
 *   |w_ckks - w_none| <= 5e-3 after 8 steps of lr 0.3 (each step adds the flooding of the released
 *   gradient, ~0.3 x 9e-4 per coordinate, and ~2^-13 of float64 unmasking beside a 2^40 mask; a
 *   random walk of 8 such steps stays below 5e-3 with room). The second epoch reuses the cached
 *   plaintext diagonals of the first.
 * - Paillier (1024-bit, insecure: test speed only; 32 fraction bits): masks uniform modulo n and the
 *   release as residues (exact, perfect hiding): <= 1e-6 of the plaintext run; every residue the
 *   arbiter released is spread over [0, n) like a uniform draw (an unmasked gradient would sit within
 *   2^70 of 0 or of n).
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
  maskBits?: number,
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
      ...(maskBits !== undefined && { maskBits }),
    },
    ...(maskBits !== undefined && { minMaskBits: maskBits }),
    capture: scheme !== 'none',
  });
  return { w: [...res.guest.weights, res.guest.intercept, ...res.hosts.flatMap((h) => h.weights)], res };
}

describe('hetero-LR under CKKS', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: matches the plaintext run within the flooding (5e-3); ciphertexts only under keys the receiver lacks`, async () => {
      const ckks = await weights('ckks', mode, 600, 128, 2, 0.2);
      const none = await weights('none', mode, 600, 128, 2, 0.2);
      expect(ckks.res.keptEpoch).toBe(2);
      expect(none.res.keptEpoch).toBe(2);
      ckks.w.forEach((v, j) => {
        expect(Math.abs(v - none.w[j]!)).toBeLessThan(5e-3);
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
  it('arbiter and two-party: exact releases match the plaintext run within 1e-6; residues look uniform', async () => {
    const p = await weights('paillier', 'arbiter', 64, 64, 1, 0, 16);
    const none = await weights('none', 'arbiter', 64, 64, 1, 0, 16);
    p.w.forEach((v, j) => {
      expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-6);
    });
    // Default masks (2^40 bound for float releases) make no difference to Paillier: its release is exact.
    const p40 = await weights('paillier', 'arbiter', 64, 64, 1);
    p40.w.forEach((v, j) => {
      expect(Math.abs(v - none.w[j]!)).toBeLessThan(1e-6);
    });
    const residues = p40.res.captured.filter((m) => m.from === 'arbiter' && m.step === 'released-residues');
    expect(residues.length).toBeGreaterThan(0);
    const fractions: number[] = [];
    for (const m of residues) {
      for (const item of fedscore.common.BytesList.decode(m.payload).items) {
        // r / 2^1024 (n is a 1024-bit modulus: r / n is within a factor 2 of it).
        let r = 0n;
        for (const b of item) r = (r << 8n) | BigInt(b);
        fractions.push(Number(r >> 994n) / 2 ** 30);
      }
    }
    expect(fractions.length).toBeGreaterThanOrEqual(8); // one 64-row batch: 3 + 3 + 2 gradient coordinates
    for (const f of fractions) {
      expect(f).toBeGreaterThan(2 ** -20);
      expect(f).toBeLessThan(1);
    }
    // Two-party: each side masks under the other's key, both releases exact.
    const p2 = await weights('paillier', 'two-party', 64, 64, 1);
    const none2 = await weights('none', 'two-party', 64, 64, 1, 0, 16);
    p2.w.forEach((v, j) => {
      expect(Math.abs(v - none2.w[j]!)).toBeLessThan(1e-6);
    });
    expect(p.res.insecure).toBe(true); // 1024-bit modulus
  });
});
