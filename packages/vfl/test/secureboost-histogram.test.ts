/**
 * The host's CKKS histogram evaluator (secureboost/histogram.ts) against plaintext per-cell sums: several
 * batches (rows > slotCount), several blocks and a baby/giant split (a layout forced small), diagonals
 * scattered in chunks, nodes of
 * scattered rows, parent - sibling subtraction, the rescale at release, and the power-of-two steps.
 * Tolerance 1e-5 at ckks-8192 (circuit error ~2^-20 on sums of ~3,000 values in [-1, 1]: measured up to
 * 1.0e-6) and 1e-6 at ckks-16384-release (scale 2^55); a misplaced row would be off by ~0.1.
 */
import { seededRng, uniform } from '@fedscore/core';
import { createCkksContext, sumRotationSteps } from '@fedscore/he';
import {
  BinDiagonals,
  defaultProduct,
  GradientRotations,
  HISTOGRAM_ERROR_BOUND,
  HISTOGRAM_LOW_LEVEL_ERROR_BOUND,
  type HistogramLayout,
  histogramRotationSteps,
  LevelMaskedSums,
  MaskedRotations,
  maskedLayout,
  maskedProduct,
  planHistogram,
  releaseBlock,
  subtractSums,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { openBlocks } from './secureboost-task-fixtures.ts';

describe('SecureBoost CKKS histograms', () => {
  it('equal the plaintext per-cell sums of g and h over a node, over batches and blocks', async () => {
    const ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
    try {
      const S = ctx.slotCount;
      const rows = S + 1500;
      const rng = seededRng(7);
      const counts = [5, 13, 7, 9];
      const offsets = [0, 5, 18, 25];
      const cells = 34;
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
      const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
      const node = Int32Array.from([...Array(rows).keys()].filter((i) => i % 3 !== 1));
      const inNode = new Uint8Array(rows);
      for (const i of node) inNode[i] = 1;
      const layout: HistogramLayout = {
        slotCount: S,
        rows,
        batches: 2,
        cells,
        blockSize: 16,
        blocks: 3,
        baby: 4,
        giant: 4,
      };
      const encG = ctx.encryptBatch(g);
      const encH = ctx.encryptBatch(h);
      // Diagonals scattered 4 at a time: the chunked path large blocks take.
      const rot = new GradientRotations(ctx, layout, encG, encH, 4);
      try {
        const all = rot.node(Int32Array.from(Array(rows).keys()), { bins: [], index, counts }, offsets);
        const part = rot.node(node, { bins: [], index, counts }, offsets);
        const rest = subtractSums(all, part);
        for (const [sums, member] of [
          [part, (i: number) => inNode[i] === 1],
          [rest, (i: number) => inNode[i] === 0],
        ] as const) {
          const eg = new Float64Array(cells);
          const eh = new Float64Array(cells);
          for (let i = 0; i < rows; i++) {
            if (!member(i)) continue;
            counts.forEach((_, f) => {
              eg[offsets[f]! + index[f]![i]!]! += g[i]!;
              eh[offsets[f]! + index[f]![i]!]! += h[i]!;
            });
          }
          const { g: og, h: oh } = openBlocks(ctx, sums.z);
          expect(og.length).toBe(cells);
          for (let c = 0; c < cells; c++) {
            expect(Math.abs(og[c]! - eg[c]!)).toBeLessThan(1e-5);
            expect(Math.abs(oh[c]! - eh[c]!)).toBeLessThan(1e-5);
          }
        }
      } finally {
        rot.dispose();
        for (const v of [...encG, ...encH]) v.dispose();
      }
    } finally {
      ctx.dispose();
    }
  }, 300_000);

  it('from the run-cached diagonals with a node mask, equal the plaintext per-cell sums (both product levels)', async () => {
    const ctx = await createCkksContext({ params: 'ckks-16384-release', rotations: sumRotationSteps(8192) });
    try {
      const S = ctx.slotCount;
      const rows = S + 700;
      const rng = seededRng(11);
      const counts = [6, 11, 9];
      const offsets = [0, 6, 17];
      const cells = 26;
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
      const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
      const node = Int32Array.from([...Array(rows).keys()].filter((i) => i % 5 < 2));
      const layout: HistogramLayout = {
        slotCount: S,
        rows,
        batches: 2,
        cells,
        blockSize: 16,
        blocks: 2,
        baby: 4,
        giant: 4,
      };
      // 8,892 rows: diagonals at 2^45 put the products at level 1 (the default product: level 2, 2^55).
      const low = maskedProduct(ctx, rows);
      expect(low).toEqual({ level: 1, diagonalScale: 2 ** 45 });
      expect(defaultProduct(ctx)).toEqual({ level: 2, diagonalScale: 2 ** 55 });
      expect(maskedProduct(ctx, 40_000).level).toBe(2);
      for (const product of [low, defaultProduct(ctx)]) {
        expect(BinDiagonals.fits(ctx, layout, undefined, product)).toBe(true);
        const cache = new BinDiagonals(ctx, layout, { bins: [], index, counts }, offsets, 8, product);
        expect(cache.level).toBe(product.level);
        const encG = ctx.encryptBatch(g);
        const encH = ctx.encryptBatch(h);
        try {
          const masked = new MaskedRotations(ctx, cache, encG, encH);
          const sums = masked.node(node);
          // A node with no row: every block is the zero at the sums' scale (subtracts and releases as one).
          const empty = masked.node(new Int32Array(0));
          const diff = subtractSums(sums, empty);
          for (const b of empty.z) {
            const v = releaseBlock(ctx, b, new Float64Array(b.length), new Float64Array(b.length));
            for (const x of [...ctx.decrypt(v.g), ...ctx.decrypt(v.h)])
              expect(Math.abs(x)).toBeLessThan(1e-6);
            v.g.dispose();
            v.h.dispose();
            b.dispose();
          }
          for (const b of diff.z) b.dispose();
          masked.dispose();
          const eg = new Float64Array(cells);
          const eh = new Float64Array(cells);
          for (const i of node) {
            counts.forEach((_, f) => {
              eg[offsets[f]! + index[f]![i]!]! += g[i]!;
              eh[offsets[f]! + index[f]![i]!]! += h[i]!;
            });
          }
          const got = { g: [] as number[], h: [] as number[] };
          for (const b of sums.z) {
            const v = releaseBlock(ctx, b, new Float64Array(b.length), new Float64Array(b.length));
            got.g.push(...ctx.decrypt(v.g));
            got.h.push(...ctx.decrypt(v.h));
            v.g.dispose();
            v.h.dispose();
            b.dispose();
          }
          for (const [values, expected] of [
            [got.g, eg],
            [got.h, eh],
          ] as const) {
            expect(values.length).toBe(cells);
            for (let c = 0; c < cells; c++) expect(Math.abs(values[c]! - expected[c]!)).toBeLessThan(1e-6);
          }
        } finally {
          cache.dispose();
          for (const v of [...encG, ...encH]) v.dispose();
        }
      }
    } finally {
      ctx.dispose();
    }
  }, 300_000);

  it('at default_credit size (24,000 rows, 330 cells) each product level keeps its error below its flooding bound', async () => {
    // The bound the flooding is sized from must hold on each path: HISTOGRAM_LOW_LEVEL_ERROR_BOUND (2^-24)
    // for the diagonals at 2^44 (maskedProduct at 24,000 rows: measured 2^-25.5), HISTOGRAM_ERROR_BOUND
    // (2^-28) at the default level (measured 2^-31.7).
    const ctx = await createCkksContext({ params: 'ckks-16384-release', rotations: sumRotationSteps(8192) });
    try {
      const rows = 24_000;
      const rng = seededRng(17);
      const counts = Array.from({ length: 10 }, () => 33);
      const offsets = counts.map((_, f) => 33 * f);
      const cells = 330;
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
      const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
      const node = Int32Array.from([...Array(rows).keys()].filter((i) => i % 3 !== 0));
      const layout = maskedLayout(planHistogram(cells, rows, ctx.slotCount, 3));
      const product = maskedProduct(ctx, rows);
      expect(product).toEqual({ level: 1, diagonalScale: 2 ** 44 });
      for (const prod of [product, defaultProduct(ctx)]) {
        const cache = new BinDiagonals(ctx, layout, { bins: [], index, counts }, offsets, undefined, prod);
        const encG = ctx.encryptBatch(g);
        const encH = ctx.encryptBatch(h);
        try {
          const masked = new MaskedRotations(ctx, cache, encG, encH);
          const sums = masked.node(node);
          masked.dispose();
          const eg = new Float64Array(cells);
          const eh = new Float64Array(cells);
          for (const i of node) {
            counts.forEach((_, f) => {
              eg[offsets[f]! + index[f]![i]!]! += g[i]!;
              eh[offsets[f]! + index[f]![i]!]! += h[i]!;
            });
          }
          let worst = 0;
          let at = 0;
          for (const b of sums.z) {
            const v = releaseBlock(ctx, b, new Float64Array(b.length), new Float64Array(b.length));
            const dg = ctx.decrypt(v.g);
            const dh = ctx.decrypt(v.h);
            for (let c = 0; c < b.length; c++) {
              worst = Math.max(worst, Math.abs(dg[c]! - eg[at + c]!), Math.abs(dh[c]! - eh[at + c]!));
            }
            at += b.length;
            v.g.dispose();
            v.h.dispose();
            b.dispose();
          }
          expect(at).toBe(cells);
          // The lower level's own bound (its flooding is sized from it); the default level keeps 2^-28.
          expect(worst).toBeLessThan(
            (prod.level === 1 ? HISTOGRAM_LOW_LEVEL_ERROR_BOUND : HISTOGRAM_ERROR_BOUND)[
              'ckks-16384-release'
            ]!,
          );
        } finally {
          cache.dispose();
          for (const v of [...encG, ...encH]) v.dispose();
        }
      }
    } finally {
      ctx.dispose();
    }
  }, 300_000);

  it('per level, diagonals encoded once for several masked nodes, equal the plaintext per-cell sums', async () => {
    const ctx = await createCkksContext({ params: 'ckks-16384-release', rotations: sumRotationSteps(8192) });
    try {
      const S = ctx.slotCount;
      const rows = S + 500;
      const rng = seededRng(13);
      const counts = [5, 12, 9];
      const offsets = [0, 5, 17];
      const cells = 26;
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
      const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
      // Two nodes of one level; the second has no row in the first batch.
      const nodes = [
        Int32Array.from([...Array(rows).keys()].filter((i) => i % 7 < 3)),
        Int32Array.from([...Array(rows).keys()].filter((i) => i >= S && i % 7 === 5)),
      ];
      const layout: HistogramLayout = {
        slotCount: S,
        rows,
        batches: 2,
        cells,
        blockSize: 16,
        blocks: 2,
        baby: 4,
        giant: 4,
      };
      const encG = ctx.encryptBatch(g);
      const encH = ctx.encryptBatch(h);
      const level = new LevelMaskedSums(ctx, layout, encG, encH, 8);
      try {
        const all = level.nodes(nodes, { bins: [], index, counts }, offsets);
        for (const [n, sums] of all.entries()) {
          const eg = new Float64Array(cells);
          const eh = new Float64Array(cells);
          for (const i of nodes[n]!) {
            counts.forEach((_, f) => {
              eg[offsets[f]! + index[f]![i]!]! += g[i]!;
              eh[offsets[f]! + index[f]![i]!]! += h[i]!;
            });
          }
          const got = { g: [] as number[], h: [] as number[] };
          for (const b of sums.z) {
            const v = releaseBlock(ctx, b, new Float64Array(b.length), new Float64Array(b.length));
            got.g.push(...ctx.decrypt(v.g));
            got.h.push(...ctx.decrypt(v.h));
            v.g.dispose();
            v.h.dispose();
            b.dispose();
          }
          for (const [values, expected] of [
            [got.g, eg],
            [got.h, eh],
          ] as const) {
            expect(values.length).toBe(cells);
            for (let c = 0; c < cells; c++) expect(Math.abs(values[c]! - expected[c]!)).toBeLessThan(1e-6);
          }
        }
      } finally {
        level.dispose();
        for (const v of [...encG, ...encH]) v.dispose();
      }
    } finally {
      ctx.dispose();
    }
  }, 300_000);

  it('plans the fewest blocks that cover the cells, with power-of-two rotation steps only', () => {
    for (const [cells, rows, depth] of [
      [330, 24_000, 3],
      [9_900, 100_000, 3],
      [40, 600, 1],
    ] as const) {
      const l = planHistogram(cells, rows, 8192, depth);
      expect(l.blocks * l.blockSize).toBeGreaterThanOrEqual(cells);
      // As few blocks (released ciphertexts) as the slots allow.
      expect(l.blocks).toBe(Math.ceil(cells / 8192));
      expect(l.baby * l.giant).toBe(l.blockSize);
      expect(l.batches * l.baby).toBeLessThanOrEqual(512);
      for (const s of histogramRotationSteps(l)) expect(s & (s - 1)).toBe(0);
      // The run-cached layout keeps the blocks and the Galois keys, with its own baby step.
      const masked = maskedLayout(l);
      expect([masked.blockSize, masked.blocks, masked.baby * masked.giant]).toEqual([
        l.blockSize,
        l.blocks,
        l.blockSize,
      ]);
      expect(histogramRotationSteps(masked)).toEqual(histogramRotationSteps(l));
    }
  });
});
