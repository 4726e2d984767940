/**
 * `CkksVector.atLevel` (mod switch down: the same values on fewer primes) and the seeded Galois keys of a
 * key holder's public context. Checked against the plaintext values (CKKS error at scale 2^40: within
 * 1e-6) and against the expanded keys' size: SEAL's seeded form replaces the uniform half of every key
 * with a seed, so the public context is about half of what the loaded (expanded) context re-serializes,
 * and a rotation under the loaded keys is exact to the same 1e-6.
 */
import { normal, seededRng } from '@fedscore/core';
import { createCkksContext, loadCkksPublicContext } from '@fedscore/he';
import { describe, expect, it } from 'vitest';

describe('CKKS levels and seeded Galois keys', () => {
  it('atLevel keeps the values, lowers the level, and refuses a level above or outside the chain', async () => {
    const rng = seededRng(4);
    const v = Float64Array.from({ length: 64 }, () => normal(rng));
    const sk = await createCkksContext({ params: 'ckks-8192', rotations: [1, 2, 4] });
    try {
      const x = sk.encrypt(v);
      expect(x.level).toBe(sk.levels);
      const low = x.atLevel(sk.levels - 1);
      expect(low.level).toBe(sk.levels - 1);
      expect(low.scale).toBe(x.scale);
      const got = sk.decrypt(low);
      v.forEach((a, i) => {
        expect(Math.abs(got[i]! - a)).toBeLessThan(1e-6);
      });
      // Still usable: a product with a plaintext rescales to the level below.
      const prod = low.mul(Float64Array.from(v, () => 2));
      expect(prod.level).toBe(sk.levels - 2);
      const p = sk.decrypt(prod);
      v.forEach((a, i) => {
        expect(Math.abs(p[i]! - 2 * a)).toBeLessThan(1e-5);
      });
      for (const bad of [sk.levels + 1, -1, 0.5]) {
        expect(() => x.atLevel(bad)).toThrow(
          expect.objectContaining({ code: 'out_of_range', field: 'level' }),
        );
      }
      for (const c of [x, low, prod]) c.dispose();
    } finally {
      sk.dispose();
    }
  });

  it('sends the Galois keys seeded (about half the expanded bytes); loaded keys rotate exactly', async () => {
    const rng = seededRng(5);
    const v = Float64Array.from({ length: 4096 }, () => normal(rng));
    const sk = await createCkksContext({ params: 'ckks-8192', rotations: [1, 2, 4, 8, 16, 32, 64] });
    try {
      const bytes = sk.serialize({ compression: 'none' });
      const pub = await loadCkksPublicContext(bytes);
      try {
        const expanded = pub.serialize({ compression: 'none' });
        expect(bytes.length / expanded.length).toBeGreaterThan(0.45);
        expect(bytes.length / expanded.length).toBeLessThan(0.6);
        const r = pub.encrypt(v).rotate(64);
        const got = sk.decrypt(sk.deserializeVector(r.serialize()));
        for (let i = 0; i < 4096; i++) expect(Math.abs(got[i]! - v[(i + 64) % 4096]!)).toBeLessThan(1e-6);
        r.dispose();
      } finally {
        pub.dispose();
      }
    } finally {
      sk.dispose();
    }
  });
});
