/**
 * The worker pool's key-holder operations and linear combinations against single-thread references:
 * - `linearCombination` (one thread) against the same sum in float64 (tolerance 1e-6: fresh CKKS noise
 *   at scale 2^40 is ~1e-9, a plaintext product and rescale ~4e-8 -- see docs/he.md);
 * - the pool's `linearCombinations` byte for byte against `linearCombination` (evaluation is
 *   deterministic; without re-randomization the bytes must be equal);
 * - the pool's combinations of inputs encrypted one level down, and of results cut to level 0
 *   (`outputLevel`): the right level, about half the bytes of level 1, within 1e-6 of float64;
 * - the pool's seeded symmetric encryption against `encryptSymmetricSerialized` (randomized, so: same
 *   byte size, and decryptions within 1e-6 of the input, as the single-thread ones);
 * - secret-only operations refused by a public pool, and field-named errors.
 */
import { FedscoreError, seededRng } from '@fedscore/core';
import { expectNoSecret } from '@fedscore/core/testing';
import {
  type CkksSecretContext,
  createCkksContext,
  createHeWorkerPool,
  encodeLinearWeights,
  type HeWorkerPool,
  linearCombination,
} from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOL = 1e-6;

let ctx: CkksSecretContext;
let secretPool: HeWorkerPool;
let publicPool: HeWorkerPool;

beforeAll(async () => {
  ctx = await createCkksContext({ relinearization: false });
  [secretPool, publicPool] = await Promise.all([
    createHeWorkerPool({ size: 2, context: ctx }),
    createHeWorkerPool({ size: 2, context: ctx.serialize() }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([secretPool?.close(), publicPool?.close()]);
  ctx?.dispose();
});

function randomColumns(seed: string, count: number, length: number): Float64Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: count }, () =>
    Float64Array.from({ length }, () => 4 * (rng.nextUint32() / 2 ** 32) - 2),
  );
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function decryptBytes(bytes: Uint8Array): Float64Array {
  return ctx.scope(() => ctx.decrypt(ctx.deserializeVector(bytes)));
}

/** The reference: sum_j w_j x_j + add in float64. */
function plainLinear(
  cols: readonly Float64Array[],
  weights: readonly number[],
  add: Float64Array,
): Float64Array {
  const out = Float64Array.from(add);
  cols.forEach((c, j) => {
    for (let i = 0; i < out.length; i++) out[i]! += weights[j]! * c[i]!;
  });
  return out;
}

function expectFedscoreError(fn: () => unknown, code: string, field: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FedscoreError);
  expect((caught as FedscoreError).code).toBe(code);
  expect((caught as FedscoreError).field).toBe(field);
}

async function expectRejection(p: Promise<unknown>, code: string, field: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FedscoreError);
  expect((e as FedscoreError).code).toBe(code);
  expect((e as FedscoreError).field).toBe(field);
}

describe('linearCombination (single thread)', () => {
  const weights = [0.75, 0, -1.5, 2e-3];

  it('equals sum_j w_j x_j + add in float64 (1e-6), skips zero weights, re-randomizes', () => {
    const cols = randomColumns('lin', weights.length, 1000);
    const add = Float64Array.from({ length: 1000 }, (_, i) => 0.1 - i * 1e-4);
    const want = plainLinear(cols, weights, add);
    const pts = encodeLinearWeights(ctx, weights);
    expect(pts[1]).toBeUndefined();
    try {
      ctx.scope(() => {
        const cts = cols.map((c) => ctx.encrypt(c));
        const r = linearCombination(ctx, cts, pts, { add, level: ctx.levels });
        expect(r.level).toBe(ctx.levels - 1);
        expect(maxAbsDiff(ctx.decrypt(r), want)).toBeLessThan(TOL);
        const rr = linearCombination(ctx, cts, pts, { add, rerandomize: true });
        expect(maxAbsDiff(ctx.decrypt(rr), want)).toBeLessThan(TOL);
        expect(Buffer.from(rr.serialize()).equals(Buffer.from(r.serialize()))).toBe(false);
        // Without `add`: the plain weighted sum.
        const bare = linearCombination(ctx, cts, pts);
        expect(
          maxAbsDiff(ctx.decrypt(bare), plainLinear(cols, weights, new Float64Array(1000))),
        ).toBeLessThan(TOL);
      });
    } finally {
      for (const p of pts) p?.dispose();
    }
  });

  it('all weights zero: a fresh encryption of `add`', () => {
    const add = Float64Array.from([1, 2, 3]);
    const pts = encodeLinearWeights(ctx, [0, 0]);
    ctx.scope(() => {
      const cts = [ctx.encrypt([1, 1, 1]), ctx.encrypt([2, 2, 2])];
      const r = linearCombination(ctx, cts, pts, { add });
      expect(maxAbsDiff(ctx.decrypt(r), add)).toBeLessThan(TOL);
    });
  });

  it('names the field that is wrong', () => {
    expectFedscoreError(() => encodeLinearWeights(ctx, [1, Number.NaN]), 'invalid_argument', 'weights[1]');
    const pts = encodeLinearWeights(ctx, [1, 2]);
    try {
      ctx.scope(() => {
        const a = ctx.encrypt([1, 2, 3]);
        const short = ctx.encrypt([1, 2]);
        const low = a.mul(2);
        expectFedscoreError(() => linearCombination(ctx, [a], pts), 'invalid_argument', 'vectors');
        expectFedscoreError(() => linearCombination(ctx, [a, short], pts), 'invalid_argument', 'vectors[1]');
        expectFedscoreError(
          () => linearCombination(ctx, [a, low], pts, { level: ctx.levels }),
          'invalid_argument',
          'vectors[1]',
        );
        expectFedscoreError(() => linearCombination(ctx, [], [], {}), 'invalid_argument', 'vectors');
      });
    } finally {
      for (const p of pts) p?.dispose();
    }
  });
});

describe('worker pool: secret context (the caller owns the key)', () => {
  it('reports which context it holds', () => {
    expect(secretPool.secret).toBe(true);
    expect(secretPool.size).toBe(2);
    expect(publicPool.secret).toBe(false);
  });

  it('encryptSymmetric: seeded ciphertexts like the single-thread ones (size; decryption within 1e-6)', async () => {
    const cols = randomColumns('sym', 5, ctx.slotCount);
    cols.push(cols[0]!.subarray(0, 17)); // a short last batch
    const pooled = await secretPool.encryptSymmetric(cols, { compression: 'none' });
    expect(pooled.length).toBe(cols.length);
    const single = cols.map((c) => ctx.encryptSymmetricSerialized(c, { compression: 'none' }));
    const publicSize = ctx.scope(() => ctx.encrypt(cols[0]!).serialize({ compression: 'none' }).length);
    for (let i = 0; i < cols.length; i++) {
      expect(pooled[i]!.length).toBe(single[i]!.length);
      const got = decryptBytes(pooled[i]!);
      expect(maxAbsDiff(got, cols[i]!)).toBeLessThan(TOL);
      expect(maxAbsDiff(got, decryptBytes(single[i]!))).toBeLessThan(TOL);
    }
    // The seeded form: about half a public-key ciphertext.
    expect(pooled[0]!.length).toBeLessThan(0.6 * publicSize);
    // And the pool decrypts its own ciphertexts (its workers got the key before the pool wiped its copy).
    const back = await secretPool.decrypt(pooled);
    for (let i = 0; i < cols.length; i++) expect(maxAbsDiff(back[i]!, cols[i]!)).toBeLessThan(TOL);
  });

  it('linearCombinations: byte-identical to linearCombination without re-randomization', async () => {
    const weights = [0.5, -0.25, 0, 1.125];
    const blocks = [ctx.slotCount, ctx.slotCount, 1234];
    const jobs = blocks.map((n, b) => {
      const cols = randomColumns(`job${b}`, weights.length, n);
      const add = Float64Array.from({ length: n }, (_, i) => (i % 7) * 0.01 - 0.3);
      return { cols, add, ciphertexts: cols.map((c) => ctx.encryptSymmetricSerialized(c)) };
    });
    const pts = encodeLinearWeights(ctx, weights);
    let single: Uint8Array[];
    try {
      single = jobs.map((j) =>
        ctx.scope(() =>
          linearCombination(
            ctx,
            j.ciphertexts.map((b) => ctx.deserializeVector(b)),
            pts,
            { add: j.add },
          ).serialize({ compression: 'none' }),
        ),
      );
    } finally {
      for (const p of pts) p?.dispose();
    }
    for (const pool of [secretPool, publicPool]) {
      const pooled = await pool.linearCombinations(jobs, weights, {
        level: ctx.levels,
        compression: 'none',
      });
      expect(pooled.length).toBe(jobs.length);
      for (let b = 0; b < jobs.length; b++)
        expect(Buffer.from(pooled[b]!).equals(Buffer.from(single[b]!))).toBe(true);
    }
    // Re-randomized: other bytes, the same values (1e-6 of the float64 reference).
    const rr = await publicPool.linearCombinations(jobs, weights, { rerandomize: true });
    for (let b = 0; b < jobs.length; b++) {
      expect(Buffer.from(rr[b]!).equals(Buffer.from(single[b]!))).toBe(false);
      const want = plainLinear(jobs[b]!.cols, weights, jobs[b]!.add);
      expect(maxAbsDiff(decryptBytes(rr[b]!), want)).toBeLessThan(TOL);
    }
    // Concurrent single-job calls (one per block, as a scoring model owner issues them) keep their order.
    const one = await Promise.all(
      jobs.map((j) => publicPool.linearCombinations([j], weights, { compression: 'none' })),
    );
    for (let b = 0; b < jobs.length; b++)
      expect(Buffer.from(one[b]![0]!).equals(Buffer.from(single[b]!))).toBe(true);
  });

  it('linearCombinations at a lower level: inputs at level 1, results cut to level 0 (outputLevel)', async () => {
    const weights = [0.5, -0.25, 1.125];
    const cols = randomColumns('low', weights.length, 1000);
    const add = Float64Array.from({ length: 1000 }, (_, i) => (i % 5) * 0.1);
    const want = plainLinear(cols, weights, add);
    const low = { add, ciphertexts: cols.map((c) => ctx.encryptSymmetricSerialized(c, { level: 1 })) };
    const top = { add, ciphertexts: cols.map((c) => ctx.encryptSymmetricSerialized(c)) };
    const [fromLow] = await publicPool.linearCombinations([low], weights, { level: 1, compression: 'none' });
    // From the top: the rescale leaves level 1; `outputLevel: 0` drops q1 (no division, same values).
    const [kept, cut] = await Promise.all([
      publicPool.linearCombinations([top], weights, { compression: 'none' }),
      publicPool.linearCombinations([top], weights, {
        compression: 'none',
        outputLevel: 0,
        rerandomize: true,
      }),
    ]);
    for (const [bytes, level] of [
      [fromLow!, 0],
      [kept[0]!, 1],
      [cut[0]!, 0],
    ] as const) {
      const v = ctx.deserializeVector(bytes);
      expect(v.level).toBe(level);
      v.dispose();
      expect(maxAbsDiff(decryptBytes(bytes), want)).toBeLessThan(TOL);
    }
    // A level-0 result holds one prime of the two: about half the bytes.
    expect(cut[0]!.length / kept[0]!.length).toBeCloseTo(1 / 2, 2);
    await expectRejection(
      publicPool.linearCombinations([low], weights, { level: 1, outputLevel: 1 }),
      'out_of_range',
      'outputLevel',
    );
  });

  it('names the job and ciphertext that are wrong', async () => {
    const good = [ctx.encryptSymmetricSerialized([1, 2, 3]), ctx.encryptSymmetricSerialized([4, 5, 6])];
    const short = ctx.encryptSymmetricSerialized([1, 2]);
    const low = ctx.scope(() => ctx.encrypt([1, 2, 3]).mul(2).serialize());
    await expectRejection(
      publicPool.linearCombinations([{ ciphertexts: good }, { ciphertexts: [good[0]!] }], [1, 2]),
      'invalid_argument',
      'jobs[1].ciphertexts',
    );
    await expectRejection(
      publicPool.linearCombinations([{ ciphertexts: good }], [1, Number.POSITIVE_INFINITY]),
      'invalid_argument',
      'weights[1]',
    );
    // Four jobs on two workers: the bad one is the second job of the second worker's chunk.
    const jobs = [good, good, good, [good[0]!, short]].map((c) => ({ ciphertexts: c }));
    await expectRejection(
      publicPool.linearCombinations(jobs, [1, 2]),
      'invalid_argument',
      'jobs[3].ciphertexts[1]',
    );
    await expectRejection(
      publicPool.linearCombinations([{ ciphertexts: [low, good[1]!] }], [1, 2], { level: ctx.levels }),
      'invalid_argument',
      'jobs[0].ciphertexts[0]',
    );
  });
});

describe('worker pool: public context', () => {
  it('refuses secret-key operations, naming the context', async () => {
    await expectRejection(publicPool.encryptSymmetric([Float64Array.of(1)]), 'unsupported', 'context');
    await expectRejection(
      publicPool.decrypt([ctx.encryptSymmetricSerialized([1])]),
      'unsupported',
      'context',
    );
  });

  it('a public context object holds no secret key', async () => {
    const pub = ctx.toPublic();
    // What the pool ships to its workers (the object's uncompressed serialization) and the default (zstd)
    // form hold no window of the secret key, raw or decompressed (with positive controls).
    const secretKey = ckksSecretKeyBytes(ctx);
    expectNoSecret(pub.serialize({ compression: 'none' }), secretKey, 'toPublic() serialized');
    expectNoSecret(pub.serialize(), secretKey, 'toPublic() serialized (zstd)');
    const pool = await createHeWorkerPool({ size: 1, context: pub });
    try {
      expect(pool.secret).toBe(false);
      await expectRejection(pool.decrypt([ctx.encryptSymmetricSerialized([1])]), 'unsupported', 'context');
      const [ct] = await pool.encrypt([Float64Array.of(3, 4)]);
      expect(maxAbsDiff(decryptBytes(ct!), [3, 4])).toBeLessThan(TOL);
    } finally {
      await pool.close();
      pub.dispose();
    }
  });

  it('rejects a context that is neither bytes nor a CKKS context', async () => {
    await expect(createHeWorkerPool({ context: {} as never })).rejects.toMatchObject({
      code: 'invalid_argument',
      field: 'context',
    });
  });
});
