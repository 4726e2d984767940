/**
 * The one packed matrix-vector product (packing.ts: Halevi & Shoup 2014 diagonals with baby-step/
 * giant-step) against y = M d computed in float64, on this thread (`packedMatVec`) and on the HE pool's
 * workers (`packedProduct`): a small product whole on one worker (which folds it), a large one split into
 * giant-step ranges over two workers that share one set of baby steps (this thread adds and folds),
 * and with cached diagonals (once every
 * worker holds a key it is sent no columns: proved by passing zero columns, which only a cache hit can
 * turn into M d). Tolerance 1e-5: ckks-8192 at scale 2^40 leaves ~1e-7 on sums of 50 products of
 * standard normals (docs/he.md).
 */
import { normal, seededRng } from '@fedscore/core';
import {
  type CkksSecretContext,
  type CkksVector,
  createCkksContext,
  createHeWorkerPool,
  type HeWorkerPool,
  type PackedLayout,
  type PackedProductPlan,
  packedCost,
  packedLayout,
  packedMatVec,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOL = 1e-5;
const B = 50;
const SLOTS = 4096; // ckks-8192, the default preset

let ctx: CkksSecretContext;
let pool: HeWorkerPool;
let layout: PackedLayout;

beforeAll(async () => {
  layout = packedLayout(64, 100, SLOTS);
  ctx = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
  pool = await createHeWorkerPool({
    size: 2,
    context: ctx.serialize({ compression: 'none' }),
    diagonalCacheBytes: 64 * 2 ** 20,
  });
}, 60_000);
afterAll(async () => {
  await pool?.close();
  ctx?.dispose();
});

function problem(p: number, seed: number) {
  const rng = seededRng(seed);
  const columns = Array.from({ length: p }, () => Float64Array.from({ length: B }, () => normal(rng)));
  const d = Float64Array.from({ length: B }, () => normal(rng));
  const expected = columns.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));
  return { columns, d, expected };
}

/** Decrypt the blocks of a product into the p outputs (block i holds its rows at slots 0 .. rows - 1). */
function outputs(vectors: readonly CkksVector[], plan: PackedProductPlan): Float64Array {
  const out = new Float64Array(plan.columns);
  plan.blocks.forEach((block, i) => {
    expect(vectors[i]!.length).toBe(block.diagonals);
    out.set(ctx.decrypt(vectors[i]!).subarray(0, block.rows), block.rowOffset);
  });
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('packed product M [[d]] (Halevi-Shoup diagonals, BSGS)', () => {
  it('on this thread equals M d; the plan cuts 37 rows into power-of-two blocks', () => {
    const { columns, d, expected } = problem(37, 1);
    const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
    const { vectors, plan } = packedMatVec(enc, columns, B, layout);
    try {
      expect(plan.blocks.map((b) => b.diagonals).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(37);
      expect(vectors.length).toBe(plan.blocks.length);
      expect(maxAbsDiff(outputs(vectors, plan), expected)).toBeLessThan(TOL);
    } finally {
      for (const v of [enc, ...vectors]) v.dispose();
    }
  });

  it('on the pool: whole on one worker, split over two, and from the workers caches', async () => {
    for (const [p, seed] of [
      [5, 2],
      [100, 3],
    ] as const) {
      const { columns, d, expected } = problem(p, seed);
      const plan = layout.productPlan(p);
      // 5 rows: fewer than 48 plaintext products, one worker folds; 100 rows: split between the two.
      expect(plan.cost.products >= 48).toBe(p === 100);
      const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
      const zeros = columns.map((c) => new Float64Array(c.length));
      const key = `batch-${p}`;
      try {
        // Two calls with the columns (a small product visits each worker in turn), then zero columns:
        // only diagonals cached under `key` can still give M d.
        for (const cols of [columns, columns, zeros, zeros]) {
          const before = pool.work.rotations;
          const vectors = await pool.packedProduct(enc, plan, cols, B, key);
          // Split over two workers, the b - 1 baby steps are made once (a slice by each worker), not
          // once per worker: fewer rotations than the single-thread plan plus a second set of babies.
          if (p === 100) {
            expect(pool.work.rotations - before).toBeLessThan(plan.cost.rotations + plan.babySteps - 1);
          }
          try {
            expect(maxAbsDiff(outputs(vectors, plan), expected)).toBeLessThan(TOL);
          } finally {
            for (const v of vectors) v.dispose();
          }
        }
        // Without a key nothing is cached: zero columns give zero.
        const vectors = await pool.packedProduct(enc, plan, zeros, B);
        try {
          expect(maxAbsDiff(outputs(vectors, plan), new Float64Array(p))).toBeLessThan(TOL);
        } finally {
          for (const v of vectors) v.dispose();
        }
      } finally {
        enc.dispose();
      }
    }
    expect(pool.work.products).toBeGreaterThan(0);
    expect(pool.work.rotations).toBeGreaterThan(0);
  }, 120_000);

  it('plans 300 rows as 256 + 64 at width 4096 (fewer products than one 512-diagonal block)', () => {
    const c = packedCost(300, 4096);
    expect(c.products).toBe(320);
    expect(c.ciphertexts).toBe(2);
  });
});
