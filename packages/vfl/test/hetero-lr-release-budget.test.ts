/**
 * The CKKS release budget and flooding policy of a hetero-LR key (cipher.ts `releasePolicy`,
 * `decryptForRelease`; docs/he.md "decryption noise"), on the fast secure preset `ckks-8192` (4096 slots):
 * - the key's planned decryptions t = products x (floor(log2 columns) + 1) + vectors x ceil(length /
 *   slots), at least 1, 4096 products when the shape plans none; the flooding sd sqrt(12 t) 2^15 E (s = 30
 *   bits, E the preset's circuit error bound; Li, Micciancio, Schultz, Sorrell 2022; OpenFHE
 *   NOISE_FLOODING_DECRYPT) and the grid (the largest power of two <= sd / 16), all recomputed here;
 * - every released ciphertext counts one decryption -- each block of a product, a batch vector of up to
 *   W values, each chunk of S slots of a longer vector -- and the release after the t-th is refused
 *   (`release_budget`) before anything is decrypted;
 * - only the asked values leave, each within 6 sd of the true value, on the grid, with the noise of the
 *   stated sd (sample sd within 6 % of it over 5000 values: 1 / sqrt(2n) = 1 % relative error); a keyed
 *   flooding stream gives the same bytes twice and other bytes under another binding; a seeded generator
 *   is refused before anything is decrypted or counted; the public key a peer loads has no release at all.
 * The same properties at `ckks-16384-release` are in hetero-lr-release.test.ts (slower: this file is the
 * one the vfl-cipher mutation scope runs).
 */
import { type CryptoRng, normal, seededRng } from '@fedscore/core';
import {
  type CipherShape,
  cipherProvider,
  maskSource,
  RELEASE_ERROR_BOUND,
  RELEASE_SECURITY_BITS,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const provider = cipherProvider('ckks', { ckksPreset: 'ckks-8192' });
const SLOTS = 4096;
const E = RELEASE_ERROR_BOUND['ckks-8192'];
const rng = seededRng(19);

/** The policy restated: t, sd and grid of a shape. */
function expected(shape: CipherShape) {
  const r = shape.releases ?? { products: 4096 };
  const blocks = Math.floor(Math.log2(shape.columns)) + 1;
  const parts = Math.ceil((r.vectorLength ?? 1) / SLOTS);
  const t = Math.max(1, r.products * blocks + (r.vectors ?? 0) * parts);
  const sd = Math.sqrt(12 * t) * 2 ** (RELEASE_SECURITY_BITS / 2) * E;
  return { t, sd, grid: 2 ** Math.floor(Math.log2(sd / 16)) };
}

describe('hetero-LR CKKS release budget (ckks-8192)', () => {
  it('sizes t, the flooding sd and the grid from the planned products and vectors', async () => {
    const shapes: [CipherShape, number][] = [
      // 3 products of 6 columns (3 blocks each) + 2 vectors of 5000 values (2 chunks each): 9 + 4.
      [{ batchSize: 64, columns: 6, releases: { products: 3, vectors: 2, vectorLength: 5000 } }, 13],
      // 2 products of 8 columns (4 blocks) + 1 vector of unstated length (one chunk): 8 + 1.
      [{ batchSize: 64, columns: 8, releases: { products: 2, vectors: 1 } }, 9],
      // Nothing planned: at least one decryption.
      [{ batchSize: 64, columns: 2, releases: { products: 0 } }, 1],
      // No plan given: 4096 products of one block.
      [{ batchSize: 64, columns: 1 }, 4096],
    ];
    for (const [shape, t] of shapes) {
      const sk = await provider.create(shape);
      try {
        const want = expected(shape);
        expect(want.t).toBe(t);
        expect(sk.release, JSON.stringify(shape)).toEqual({
          decryptions: t,
          noiseStdDev: expect.closeTo(want.sd, 12),
          grid: want.grid,
          statisticalSecurity: RELEASE_SECURITY_BITS,
          errorBound: E,
        });
      } finally {
        sk.dispose();
      }
    }
  });

  it('counts every released ciphertext, releases only the asked values on the grid with the stated noise, refuses the release after the budget', async () => {
    // 100 columns over batches of 64 rows (width 64): a product takes at least two blocks.
    const shape = { batchSize: 64, columns: 100, releases: { products: 3, vectors: 2, vectorLength: 5000 } };
    const { t, sd, grid } = expected(shape);
    const sk = await provider.create(shape);
    try {
      // The public key a peer loads releases nothing: no policy, no decryption.
      const pub = await provider.load(sk.serializePublic());
      try {
        const seen = pub as { release?: unknown; decryptForRelease?: unknown };
        expect(seen.release).toBeUndefined();
        expect(seen.decryptForRelease).toBeUndefined();
      } finally {
        pub.dispose();
      }
      const onGrid = (out: Float64Array) => out.every((v) => Number.isInteger(v / grid));
      // A seeded generator: refused before anything is decrypted or counted.
      const short = sk.encrypt(Float64Array.from({ length: 64 }, () => normal(rng)));
      expect(() => sk.decryptForRelease(short, seededRng(1) as unknown as CryptoRng)).toThrow(
        expect.objectContaining({ code: 'insecure_rng', field: 'noise' }),
      );
      let used = 0;
      // A product X^T d of 100 columns: one release per block, the 100 values in their places.
      const cols = Array.from({ length: 100 }, () => Float64Array.from({ length: 64 }, () => normal(rng)));
      // Values far above the noise (sd ~1.5 here), so that a value in another's place shows.
      const d = Float64Array.from({ length: 64 }, () => 100 * normal(rng));
      const g = sk.matVecT(sk.encrypt(d), cols);
      const blocks = (g as unknown as { parts: unknown[] }).parts.length;
      expect(blocks).toBeGreaterThan(1);
      const product = sk.decryptForRelease(g);
      g.dispose();
      used += blocks;
      expect(product).toHaveLength(100);
      cols.forEach((col, j) => {
        const want = col.reduce((s, v, i) => s + v * d[i]!, 0);
        expect(Math.abs(product[j]! - want), `column ${j}`).toBeLessThan(6 * sd);
      });
      expect(onGrid(product)).toBe(true);
      // A batch vector (64 values, one ciphertext): one release, its 64 values only.
      const v64 = sk.decryptForRelease(short);
      used += 1;
      expect(v64).toHaveLength(64);
      expect(onGrid(v64)).toBe(true);
      // A vector of 5000 values: two chunks of 4096 slots, two releases, every value in its place.
      const long = Float64Array.from({ length: 5000 }, () => 1000 + 100 * normal(rng));
      const ct = sk.encrypt(long);
      const released = sk.decryptForRelease(ct);
      used += 2;
      expect(released).toHaveLength(5000);
      expect(onGrid(released)).toBe(true);
      const e = released.map((x, i) => x - long[i]!);
      for (const x of e) expect(Math.abs(x)).toBeLessThan(6 * sd);
      const mean = e.reduce((s, x) => s + x, 0) / e.length;
      const sample = Math.sqrt(e.reduce((s, x) => s + (x - mean) ** 2, 0) / (e.length - 1));
      expect(Math.abs(sample / sd - 1)).toBeLessThan(0.06);
      // Keyed flooding: the same stream, the same bytes; another binding, other bytes.
      const binding = { job: 'job-1', party: 'arbiter', planDigest: 'p'.repeat(64), dataDigest: '' };
      const src = await maskSource(
        Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 3) & 0xff),
        undefined,
        binding,
      );
      const a = sk.decryptForRelease(short, src.forFlooding(0, 0, 'gradient/host-1'));
      const b = sk.decryptForRelease(short, src.forFlooding(0, 0, 'gradient/host-1'));
      const c = sk.decryptForRelease(short, src.forFlooding(0, 1, 'gradient/host-1'));
      used += 3;
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
      expect(Buffer.from(c.buffer).equals(Buffer.from(a.buffer))).toBe(false);
      expect(used).toBeLessThan(t);
      // Spend the rest of the budget, one ciphertext at a time; the next release is refused.
      while (used < t) {
        sk.decryptForRelease(short);
        used++;
      }
      expect(() => sk.decryptForRelease(short)).toThrow(
        expect.objectContaining({
          code: 'release_budget',
          field: 'releases',
          message: expect.stringContaining(`sized for ${t} released decryptions`),
        }),
      );
      short.dispose();
      ct.dispose();
    } finally {
      sk.dispose();
    }
  });
});
