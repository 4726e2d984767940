/**
 * The small histogram shape shared by the SecureBoost task tests (secureboost-offload, secureboost-threads):
 * ckks-8192 (4096 slots), 4096 + 500 rows of three features with 7, 12 and 5 bins (24 cells), gradients
 * and hessians drawn from a seeded generator, a layout forced small (two batches, two blocks of 16, baby
 * 4 / giant 4), and the check both tests make: a node's sums, opened at the release level, equal the
 * in-process `GradientRotations` sums within 1e-6 and the plaintext per-cell sums within 1e-5 (the
 * histogram test's tolerance at this preset).
 */
import { seededRng, uniform } from '@fedscore/core';
import type { CkksSecretContext, CkksVector } from '@fedscore/he';
import { type HistogramLayout, releaseBlock } from '@fedscore/vfl';
import { expect } from 'vitest';

export interface SmallHistogramShape {
  readonly rows: number;
  readonly counts: readonly number[];
  readonly offsets: readonly number[];
  readonly cells: number;
  readonly index: Uint16Array[];
  readonly binned: { bins: never[]; index: Uint16Array[]; counts: number[] };
  readonly g: Float64Array;
  readonly h: Float64Array;
  readonly layout: HistogramLayout;
  /** Cells 9..12 merged into one group (a per-bin-floor node's `ends`). */
  readonly ends: Int32Array;
}

export function smallHistogramShape(slotCount: number, seed: number): SmallHistogramShape {
  const rows = slotCount + 500;
  const rng = seededRng(seed);
  const counts = [7, 12, 5];
  const offsets = [0, 7, 19];
  const cells = 24;
  const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
  const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
  const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
  const layout: HistogramLayout = {
    slotCount,
    rows,
    batches: 2,
    cells,
    blockSize: 16,
    blocks: 2,
    baby: 4,
    giant: 4,
  };
  const ends = Int32Array.from({ length: cells }, (_, c) => (c >= 9 && c <= 12 ? 12 : c));
  return { rows, counts, offsets, cells, index, binned: { bins: [], index, counts }, g, h, layout, ends };
}

/** Open a node's blocks at the release level (no flooding): per-cell sums of g and of h. */
export function openBlocks(
  ctx: CkksSecretContext,
  blocks: readonly CkksVector[],
): { g: number[]; h: number[] } {
  const og: number[] = [];
  const oh: number[] = [];
  for (const blk of blocks) {
    const v = releaseBlock(ctx, blk, new Float64Array(blk.length), new Float64Array(blk.length));
    og.push(...ctx.decrypt(v.g));
    oh.push(...ctx.decrypt(v.h));
    v.g.dispose();
    v.h.dispose();
  }
  return { g: og, h: oh };
}

/**
 * A node's sums evaluated elsewhere (`theirs`) against the in-process ones (`mine`, within 1e-6) and the
 * plaintext per-cell sums of its `members` (within 1e-5), with `ends` for a node with merged bins.
 */
export function expectNodeSums(
  ctx: CkksSecretContext,
  shape: SmallHistogramShape,
  theirs: readonly CkksVector[],
  mine: readonly CkksVector[],
  members: Int32Array,
  ends?: Int32Array,
): void {
  const { cells, counts, offsets, index, g, h } = shape;
  const eg = new Float64Array(cells);
  const eh = new Float64Array(cells);
  for (const i of members) {
    counts.forEach((_, f) => {
      const c = offsets[f]! + index[f]![i]!;
      const cell = ends === undefined ? c : ends[c]!;
      eg[cell]! += g[i]!;
      eh[cell]! += h[i]!;
    });
  }
  const a = openBlocks(ctx, mine);
  const b = openBlocks(ctx, theirs);
  expect(b.g.length).toBe(cells);
  for (let c = 0; c < cells; c++) {
    expect(Math.abs(b.g[c]! - a.g[c]!)).toBeLessThan(1e-6);
    expect(Math.abs(b.h[c]! - a.h[c]!)).toBeLessThan(1e-6);
    expect(Math.abs(b.g[c]! - eg[c]!)).toBeLessThan(1e-5);
    expect(Math.abs(b.h[c]! - eh[c]!)).toBeLessThan(1e-5);
  }
}
