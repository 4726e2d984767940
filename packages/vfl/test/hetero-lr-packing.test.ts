/**
 * The blocked packed product X^T [[d]] of packing.ts under CKKS against X^T d computed in float64:
 * on the calling thread, on two worker threads (giant steps split, partial sums folded by the caller),
 * with the plaintext diagonals cached (the pool sends no columns for a cached key: proved by passing zero
 * columns once every worker has cached the key, which only a hit can turn into X^T d), and after a
 * wire round trip of the multi-ciphertext result. 37 columns at width 64 make three blocks (32 + 4 + 1
 * or similar). Tolerance 1e-5: CKKS error ~1e-8 plus release flooding sd 2^-20 (~1e-6) per value.
 * The block planner is checked on the shapes: 300 columns -> 256 + 64 (not 512 diagonals).
 */
import { normal, seededRng } from '@fedscore/core';
import { cipherProvider, packedCost } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const B = 50;
const p = 37;
const rng = seededRng(5);
const columns = Array.from({ length: p }, () => Float64Array.from({ length: B }, () => normal(rng)));
const d = Float64Array.from({ length: B }, () => normal(rng));
const expected = columns.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));

describe('packed product X^T [[d]] (CKKS, blocked Halevi-Shoup with BSGS)', () => {
  it('plans power-of-two blocks by cost', () => {
    const c300 = packedCost(300, 4096);
    expect(c300.products).toBe(320);
    expect(c300.ciphertexts).toBe(2);
    expect(c300.rotations).toBeLessThan(49); // one 512-diagonal block: 31 + 15 + 3
    expect(packedCost(14, 4096)).toEqual({ rotations: 14, products: 16, rescales: 4, ciphertexts: 1 });
  });

  it('on this thread and on two workers with cached diagonals equals X^T d within 1e-5', async () => {
    const provider = cipherProvider('ckks');
    const sk = await provider.create({ batchSize: 64, columns: p }, { workers: 0 });
    const pub = await provider.load(sk.serializePublic(), { workers: 2, diagonalCacheMiB: 64 });
    try {
      const check = (got: Float64Array) => {
        expect(got.length).toBe(p);
        got.forEach((v, j) => {
          expect(Math.abs(v - expected[j]!)).toBeLessThan(1e-5);
        });
      };
      const enc = pub.encrypt(d);
      // Calling thread.
      const local = sk.matVecT(sk.fromBatch(pub.toBatch(enc), B, 'd'), columns);
      check(sk.decryptForRelease(local));
      local.dispose();
      // Workers: the first call on each worker encodes and caches the diagonals; later calls with the same
      // key must use the cache. The last two calls pass zero columns: only a cache hit (diagonals of the
      // real columns, no columns sent) can still give X^T d, so a cache that never hits fails here.
      const zeros = columns.map((c) => new Float64Array(c.length));
      for (const cols of [columns, columns, zeros, zeros]) {
        const r = await pub.matVecTAsync(enc, cols, 'batch-0');
        const batch = pub.toBatch(r);
        r.dispose();
        expect(batch.items.length).toBeGreaterThan(1);
        const back = sk.fromBatch(batch, p, 'gradient', 'product');
        check(sk.decryptForRelease(back));
        back.dispose();
      }
      enc.dispose();
    } finally {
      pub.dispose();
      sk.dispose();
    }
  });
});
