/**
 * Attack: read the CKKS decryption error off released decryptions (IND-CPA-D; B. Li, D. Micciancio,
 * "On the security of homomorphic encryption on approximate numbers", EUROCRYPT 2021). A CKKS
 * decryption returns m + e, where e = c0 + c1 s - Delta m (scaled) is a deterministic function of the
 * ciphertext and the SECRET KEY s; whoever learns m and m + e learns e, and Li-Micciancio recover s from
 * (c1, e) by linear algebra over the ring. Issue 11, finding 5: hetero-LR flooded releases with sd 2^-20,
 * below the error it had to hide (max 2^-19.5 at ckks-8192).
 * What it would recover: the error term e of each released decryption (the key-dependent quantity the
 * key-recovery step needs) -- shown here by identifying, from one release, WHICH of two ciphertexts of
 * the same message was decrypted (the IND-CPA-D game: it is decided by e alone), and by recovering e
 * exactly from a release.
 * Weakened configuration: flooding off (sd 2^-60, so the release is m + e up to float64 rounding).
 * Default: the key's release policy -- sd sqrt(12 t) 2^15 E for E the circuit's error bound (30-bit
 * statistical security, LMSS 2022 / OpenFHE), rounded to the policy's grid: the same adversary is a coin
 * flip.
 */
import { cryptoRng } from '@fedscore/core';
import { createCkksContext, roundToGrid } from '@fedscore/he';
import { cipherProvider } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const ROUNDS = 160;
const N = 16;

describe('attack: decryption error of released CKKS values (IND-CPA-D)', () => {
  it('flooding off: the error is recovered exactly and names the decrypted ciphertext; default: a coin flip', async () => {
    // The default release policy of a hetero-LR key (sized for its planned decryptions).
    const policy = (
      await cipherProvider('ckks').create({ batchSize: 64, columns: 4, releases: { products: 200 } })
    ).release!;
    const ctx = await createCkksContext({ params: 'ckks-16384-release', relinearization: false });
    try {
      const m = Float64Array.from({ length: N }, (_, i) => (i - 8) / 16);
      // Two ciphertexts of the same message; the adversary has seen one release of each (its queries).
      const a = ctx.encrypt(m);
      const b = ctx.encrypt(m);
      const flooded = (v: typeof a, sd: number, grid: number | undefined) => {
        const out = ctx.decryptForRelease(v, { noiseStdDev: sd });
        return grid === undefined ? out : roundToGrid(out, grid);
      };
      const play = (sd: number, grid?: number) => {
        const ra = flooded(a, sd, grid);
        const rb = flooded(b, sd, grid);
        // The error terms as the adversary reads them: release minus the known message.
        const ea = ra.map((v, i) => v - m[i]!);
        const eb = rb.map((v, i) => v - m[i]!);
        const rng = cryptoRng();
        let right = 0;
        for (let k = 0; k < ROUNDS; k++) {
          const bit = rng.nextUint32() & 1;
          const y = flooded(bit === 0 ? a : b, sd, grid);
          const dist = (e: Float64Array) => e.reduce((s, v, i) => s + (y[i]! - m[i]! - v) ** 2, 0);
          if ((dist(ea) < dist(eb) ? 0 : 1) === bit) right++;
        }
        return { accuracy: right / ROUNDS, ea, eb };
      };
      // Weakened: the release minus the message is the error, to float64 rounding, and it is the same on
      // every release of that ciphertext -- a fixed function of (ciphertext, secret key).
      const weak = play(2 ** -60);
      expect(weak.accuracy).toBe(1);
      const again = ctx.decryptForRelease(a, { noiseStdDev: 2 ** -60 }).map((v, i) => v - m[i]!);
      const drift = Math.max(...again.map((v, i) => Math.abs(v - weak.ea[i]!)));
      expect(drift).toBeLessThan(2 ** -45);
      expect(Math.max(...weak.ea.map(Math.abs))).toBeGreaterThan(2 ** -50); // a real, nonzero error
      // Default policy: accuracy within sampling error of 1/2 (sd 0.040 over 160 rounds; bound 0.15).
      const strong = play(policy.noiseStdDev, policy.grid);
      expect(Math.abs(strong.accuracy - 0.5)).toBeLessThan(0.15);
      // And what the adversary reads as "error" is the flooding, not e: |read| ~ sd >> |e|.
      const read = Math.sqrt(strong.ea.reduce((s, v) => s + v * v, 0) / N);
      expect(read).toBeGreaterThan(2 ** 10 * Math.max(...weak.ea.map(Math.abs)));
      a.dispose();
      b.dispose();
    } finally {
      ctx.dispose();
    }
  });
});
