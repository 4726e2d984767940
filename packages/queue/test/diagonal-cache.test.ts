/**
 * A queue worker's cache of encoded packed-product diagonals (issue 18: a queue task re-encoded its
 * batch's diagonals every epoch, the node's threads keep them). Through the public exports -- the
 * `packedProduct` kind the HE worker serves (`HE_TASK_KINDS`) with the per-context `DiagonalCache`
 * (`evict: 'lru'`) the worker gives it -- against the handler without a cache:
 *
 * - a miss (first sight of a column block) and a hit (the same block, another d: the next epoch) return
 *   the uncached handler's bytes, and the hit encodes nothing;
 * - a block evicted to make room (a budget of one product) is encoded again on its next task (a miss),
 *   with the same bytes;
 * - a block differing from a cached one by a single value (so its digest differs) is a miss and gives
 *   that block's product, not the cached one's: the uncached bytes, within 1e-5 of M' d in float64;
 * - the same block with d one level lower is a miss too (the level is in the key), same bytes as uncached.
 * - the worker's budget is checked (a negative or non-finite one is `out_of_range`) before connecting.
 *
 * Tolerance 1e-5: ckks-8192 at scale 2^40, sums of <= 100 products of standard normals (docs/he.md).
 */
import { normal, seededRng } from '@fedscore/core';
import {
  allTasks,
  type CkksPublicContext,
  type CkksSecretContext,
  createCkksContext,
  DiagonalCache,
  loadCkksPublicContext,
  type PackedLayout,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductHandler,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { HE_TASK_KINDS, runHeTaskWorker } from '@fedscore/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROWS = 50;
const P = 40;
const TOL = 1e-5;

let secret: CkksSecretContext;
let ctx: CkksPublicContext;
let layout: PackedLayout;

type Handler = (req: PackedProductRequest) => PackedPartsResult;

function columnsOf(seed: number): Float64Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: P }, () => Float64Array.from({ length: ROWS }, () => normal(rng)));
}

function request(columns: readonly Float64Array[], d: Float64Array, level?: number): PackedProductRequest {
  const plan = layout.productPlan(P);
  const fresh = secret.encrypt(replicate(d, layout.width, secret.slotCount));
  const enc = level === undefined ? fresh : fresh.atLevel(level);
  try {
    return {
      op: 'packedProduct',
      d: enc.serialize({ compression: 'none' }),
      columns: P,
      width: layout.width,
      rows: ROWS,
      tasks: allTasks(plan),
      fold: true,
      batch: columns,
    };
  } finally {
    if (enc !== fresh) enc.dispose();
    fresh.dispose();
  }
}

function expectSameParts(a: PackedPartsResult, b: PackedPartsResult): void {
  expect(a.parts.length).toBe(b.parts.length);
  a.parts.forEach((part, i) => {
    const other = b.parts[i]!;
    expect(part === null).toBe(other === null);
    if (part !== null && other !== null) expect(Buffer.from(part).equals(Buffer.from(other))).toBe(true);
  });
}

function sameBytes(a: PackedPartsResult, b: PackedPartsResult): boolean {
  return a.parts.every((p, i) => {
    const q = b.parts[i]!;
    return p !== null && q !== null && Buffer.from(p).equals(Buffer.from(q));
  });
}

/** The product's values (decrypted) and M d in float64. */
function check(result: PackedPartsResult, columns: readonly Float64Array[], d: Float64Array): number {
  const plan = layout.productPlan(P);
  const got = new Float64Array(P);
  plan.blocks.forEach((block, i) => {
    const v = secret.deserializeVector(result.parts[i]!);
    got.set(secret.decrypt(v).subarray(0, block.rows), block.rowOffset);
    v.dispose();
  });
  let m = 0;
  columns.forEach((c, j) => {
    const want = c.reduce((s, x, i) => s + x * d[i]!, 0);
    m = Math.max(m, Math.abs(got[j]! - want));
  });
  return m;
}

describe('queue worker diagonal cache (packedProduct kind)', () => {
  beforeAll(async () => {
    layout = packedLayout(64, 100, 4096);
    secret = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
    ctx = await loadCkksPublicContext(secret.serialize({ compression: 'none' }));
  }, 120_000);

  afterAll(() => {
    ctx?.dispose();
    secret?.dispose();
  });

  it('a miss and a hit give the uncached bytes; a hit encodes nothing', () => {
    const plain = packedProductHandler(ctx) as Handler;
    const diagonals = new DiagonalCache(ctx, 2 ** 30, { evict: 'lru' });
    try {
      const cached = HE_TASK_KINDS.packedProduct!(ctx, { diagonals }) as Handler;
      const cols = columnsOf(1);
      const rng = seededRng(2);
      const d1 = Float64Array.from({ length: ROWS }, () => normal(rng));
      const d2 = Float64Array.from({ length: ROWS }, () => normal(rng));
      const r1 = request(cols, d1);
      const miss = cached(r1);
      expectSameParts(miss, plain(r1));
      const first = diagonals.stats;
      expect(first.hits).toBe(0);
      expect(first.encodes).toBeGreaterThan(0);
      expect(diagonals.size).toBe(1);
      expect(diagonals.bytes).toBeGreaterThan(0);
      // The next epoch: the same columns (a new array with the same values, as a worker decodes them
      // again after its blob cache dropped them), another d.
      const r2 = request(
        cols.map((c) => Float64Array.from(c)),
        d2,
      );
      const hit = cached(r2);
      expectSameParts(hit, plain(r2));
      expect(diagonals.stats.encodes).toBe(first.encodes);
      expect(diagonals.stats.hits).toBe(first.encodes);
      expect(diagonals.size).toBe(1);
      expect(check(hit, cols, d2)).toBeLessThan(TOL);
    } finally {
      diagonals.dispose();
    }
  }, 60_000);

  it('a block evicted to make room is a miss on its next task, with the same bytes', () => {
    const plain = packedProductHandler(ctx) as Handler;
    const a = columnsOf(10);
    const b = columnsOf(11);
    const d = Float64Array.from({ length: ROWS }, (_, i) => Math.sin(i + 1));
    // The bytes of one product's diagonals (random normal columns: no all-zero diagonal, so A and B
    // hold the same number), learnt from a large cache.
    const probe = new DiagonalCache(ctx, 2 ** 30, { evict: 'lru' });
    HE_TASK_KINDS.packedProduct!(ctx, { diagonals: probe })(request(a, d) as never);
    const one = probe.bytes;
    const perProduct = probe.stats.encodes;
    probe.dispose();

    const diagonals = new DiagonalCache(ctx, one, { evict: 'lru' });
    try {
      const cached = HE_TASK_KINDS.packedProduct!(ctx, { diagonals }) as Handler;
      const ra = request(a, d);
      const rb = request(b, d);
      const uncachedA = plain(ra);
      expectSameParts(cached(ra), uncachedA); // miss: A held
      expectSameParts(cached(ra), uncachedA); // hit
      expect(diagonals.stats).toEqual({ hits: perProduct, encodes: perProduct, evictions: 0 });
      expectSameParts(cached(rb), plain(rb)); // miss: A evicted, B held
      expect(diagonals.stats.evictions).toBe(1);
      expect(diagonals.size).toBe(1);
      expect(diagonals.bytes).toBeLessThanOrEqual(one);
      expectSameParts(cached(ra), uncachedA); // A again: a miss after eviction
      expect(diagonals.stats).toEqual({ hits: perProduct, encodes: 3 * perProduct, evictions: 2 });
      expect(check(uncachedA, a, d)).toBeLessThan(TOL);
    } finally {
      diagonals.dispose();
    }
  }, 60_000);

  it('a block differing by one value (another digest) or d at another level is a miss, never a stale hit', () => {
    const plain = packedProductHandler(ctx) as Handler;
    const diagonals = new DiagonalCache(ctx, 2 ** 30, { evict: 'lru' });
    try {
      const cached = HE_TASK_KINDS.packedProduct!(ctx, { diagonals }) as Handler;
      const cols = columnsOf(20);
      const d = Float64Array.from({ length: ROWS }, (_, i) => Math.cos(i));
      const base = cached(request(cols, d));
      const encodes = diagonals.stats.encodes;
      // One value of one column changed: the column block's digest differs.
      const changed = cols.map((c) => Float64Array.from(c));
      changed[7]![13] = changed[7]![13]! + 0.5;
      const r = request(changed, d);
      const got = cached(r);
      expect(diagonals.stats.encodes).toBeGreaterThan(encodes);
      expect(diagonals.size).toBe(2);
      expectSameParts(got, plain(r));
      expect(sameBytes(got, base)).toBe(false);
      expect(check(got, changed, d)).toBeLessThan(TOL);
      // Row 7 of M' d moved by 0.5 * d[13]: the old block's product is off there by that much.
      expect(check(base, changed, d)).toBeGreaterThan(0.4 * Math.abs(d[13]!));
      // The original block with d one level lower: encoded again at that level (a third entry).
      const before = diagonals.stats.encodes;
      const low = request(cols, d, secret.levels - 1);
      const lowResult = cached(low);
      expect(diagonals.stats.encodes).toBeGreaterThan(before);
      expect(diagonals.size).toBe(3);
      expectSameParts(lowResult, plain(low));
      expect(check(lowResult, cols, d)).toBeLessThan(TOL);
    } finally {
      diagonals.dispose();
    }
  }, 60_000);

  it("refuses a bad worker budget, naming the field, before connecting; 'evict' is checked", async () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(
        runHeTaskWorker({
          connectionString: 'postgres://127.0.0.1:1/none',
          queue: 'q',
          diagonalCacheBytes: bad,
        }),
      ).rejects.toMatchObject({ code: 'out_of_range', field: 'diagonalCacheBytes' });
    }
    expect(() => new DiagonalCache(ctx, 1, { evict: 'fifo' as never })).toThrow(
      expect.objectContaining({ field: 'evict' }),
    );
  });
});
