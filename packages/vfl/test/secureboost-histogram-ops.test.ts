/**
 * `histogramTreeOps` (secureboost/histogram.ts), the operation count the cost model multiplies by
 * measured times (benchmarks/src/cost-model.ts), against the operations the histogram code really does:
 * a full tree of depth 2 or 3 evaluated as the host does it (direct nodes, siblings derived by
 * subtraction) through a context and ciphertexts that count every encode, packComplex, plaintext
 * product, mask product, level drop, rotation, add and subtraction. Each of the three paths the host can
 * take (run-cached diagonals, per-level encodes, per-node encodes) is driven; the nodes are dense (every
 * diagonal has a row), where the counts are exact rather than upper bounds.
 *
 * The context is 'ckks-2048-smoke-insecure' (through the explicit `allowWeakParameters` opt-in): the
 * moduli, scale and levels of the host's 'ckks-16384-release' at N = 2048, so the same product level and
 * level drops, with 1024 slots. Nothing here depends on security, only on the counts, which
 * `histogramTreeOps` derives from `ctx.slotCount` and `ctx.levels`. At 1024 slots the 2048 rows take two
 * batches, so the loops over batches are counted too (4096 rows at 8192 slots took one), at a fraction
 * of the release preset's time per operation. The per-level case has 20 features of 25 bins (500 cells,
 * one block of 512): a block left mostly empty, as 1100 cells in two blocks of 1024 would be, has empty
 * diagonals, whose encodes and products the code skips, and the counts would be upper bounds only.
 */
import { seededRng, uniform } from '@fedscore/core';
import {
  type CkksPublicContext,
  type CkksSecretContext,
  type CkksVector,
  createCkksContext,
  sumRotationSteps,
} from '@fedscore/he';
import {
  BinDiagonals,
  GradientRotations,
  histogramTreeOps,
  LevelMaskedSums,
  MaskedRotations,
  maskedLayout,
  type NodeSums,
  planHistogram,
  subtractSums,
} from '@fedscore/vfl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Counts {
  encodes: number;
  packs: number;
  products: number;
  maskProducts: number;
  lowerings: number;
  rotations: number;
  adds: number;
  subtractions: number;
}
const zero = (): Counts => ({
  encodes: 0,
  packs: 0,
  products: 0,
  maskProducts: 0,
  lowerings: 0,
  rotations: 0,
  adds: 0,
  subtractions: 0,
});

const RAW = Symbol('raw');
const unwrap = (x: unknown): unknown =>
  typeof x === 'object' && x !== null && RAW in x ? (x as { [RAW]: unknown })[RAW] : x;
const isVector = (x: unknown): x is CkksVector => typeof x === 'object' && x !== null && 'rotate' in x;

/** A vector whose operations (and those of every vector derived from it) are counted into `n`. */
function countedVector(v: CkksVector, n: Counts): CkksVector {
  return new Proxy(v, {
    get(target, prop) {
      if (prop === RAW) return target;
      const val = Reflect.get(target, prop, target) as unknown;
      if (typeof val !== 'function') return val;
      return (...args: unknown[]) => {
        const a = args[0];
        if (prop === 'rotate') n.rotations++;
        if (prop === 'add') n.adds++;
        if (prop === 'sub') n.subtractions++;
        if (prop === 'mul') {
          if (a === 1) n.lowerings++;
          else if (a instanceof Float64Array) n.maskProducts++;
          else n.products++;
        }
        const out = (val as (...x: unknown[]) => unknown).apply(target, args.map(unwrap));
        return isVector(out) ? countedVector(out, n) : out;
      };
    },
    has: (target, prop) => prop === RAW || Reflect.has(target, prop),
  });
}

/** A context whose encodes and packComplex are counted; vectors it returns are counted too. */
function countedContext(ctx: CkksPublicContext, n: Counts): CkksPublicContext {
  return new Proxy(ctx, {
    get(target, prop) {
      const val = Reflect.get(target, prop, target) as unknown;
      if (typeof val !== 'function') return val;
      return (...args: unknown[]) => {
        if (prop === 'encode') n.encodes++;
        if (prop === 'packComplex') n.packs++;
        const out = (val as (...x: unknown[]) => unknown).apply(target, args.map(unwrap));
        return isVector(out) ? countedVector(out, n) : out;
      };
    },
  });
}

const ROWS = 2048;
const rng = seededRng('histogram-ops');
/** Bins per feature, the cell offsets, and each row's bin per feature (uniform: every diagonal is hit). */
function binnedOf(features: number, bins: number) {
  const counts = new Array<number>(features).fill(bins);
  return {
    cells: features * bins,
    offsets: counts.map((_, f) => f * bins),
    binned: {
      bins: [],
      counts,
      index: counts.map((c) => Uint16Array.from({ length: ROWS }, () => Math.floor(uniform(rng) * c))),
    },
  };
}
type Shape = ReturnType<typeof binnedOf>;
const rowsWhere = (f: (i: number) => boolean) => Int32Array.from([...Array(ROWS).keys()].filter(f));
/** The direct nodes of each level (1, 1, 2) and the derived ones as [parent, direct sibling] keys. */
const DIRECT: Record<string, Int32Array> = {
  root: rowsWhere(() => true),
  a: rowsWhere((i) => i % 2 === 0),
  a1: rowsWhere((i) => i % 4 === 0),
  b1: rowsWhere((i) => i % 4 === 1),
};
const LEVELS: { direct: string[]; derived: [string, string, string][] }[] = [
  { direct: ['root'], derived: [] },
  { direct: ['a'], derived: [['b', 'root', 'a']] },
  {
    direct: ['a1', 'b1'],
    derived: [
      ['a2', 'a', 'a1'],
      ['b2', 'b', 'b1'],
    ],
  },
];

let ctx: CkksSecretContext;

beforeAll(async () => {
  ctx = await createCkksContext({
    params: 'ckks-2048-smoke-insecure',
    allowWeakParameters: true,
    rotations: sumRotationSteps(1024),
    relinearization: false,
  });
  // The shapes below were chosen for these slots and levels (two batches, one dense block).
  expect([ctx.slotCount, ctx.levels]).toEqual([1024, 3]);
});
afterAll(() => ctx.dispose());

/** One full tree of `depth` as the host evaluates it on `path`; returns the counts of the tree (and of the run's cache). */
function runTree(
  path: 'run-cached' | 'per-level' | 'per-node',
  depth: number,
  shape: Shape,
  floor = false,
): { tree: Counts; run: Counts } {
  const { cells: CELLS, offsets: OFFSETS, binned } = shape;
  const run = zero();
  const tree = zero();
  const planned = planHistogram(CELLS, ROWS, ctx.slotCount, depth);
  const g = ctx.encryptBatch(Float64Array.from({ length: ROWS }, () => 2 * uniform(rng) - 1));
  const h = ctx.encryptBatch(Float64Array.from({ length: ROWS }, () => uniform(rng) / 4));
  const gc = g.map((v) => countedVector(v, tree));
  const hc = h.map((v) => countedVector(v, tree));
  const cctx = countedContext(ctx, tree);
  const held: NodeSums[] = [];
  let cache: BinDiagonals | undefined;
  try {
    if (path === 'run-cached') {
      cache = new BinDiagonals(countedContext(ctx, run), maskedLayout(planned), binned, OFFSETS);
    }
    const evaluator =
      path === 'run-cached'
        ? new MaskedRotations(cctx, cache!, gc, hc)
        : path === 'per-level'
          ? new LevelMaskedSums(cctx, maskedLayout(planned), gc, hc)
          : new GradientRotations(cctx, planned, gc, hc);
    // Under the per-bin floor (host.ts #histograms) every direct node below the root has a bin index of
    // its own (`mergedBins`): the per-level path sums each index in a call of its own, and the
    // run-cached path sends those nodes to the per-tree rotations (built at the first such node).
    let merged: GradientRotations | undefined;
    const ownIndex = (k: string) =>
      floor && k !== 'root' ? { ...binned, index: [...binned.index] } : binned;
    try {
      const sums = new Map<string, NodeSums>();
      for (const level of LEVELS.slice(0, depth)) {
        const members = level.direct.map((k) => DIRECT[k]!);
        const out =
          evaluator instanceof LevelMaskedSums
            ? floor
              ? level.direct.flatMap((k) => evaluator.nodes([DIRECT[k]!], ownIndex(k), OFFSETS))
              : evaluator.nodes(members, binned, OFFSETS)
            : level.direct.map((k) => {
                const m = DIRECT[k]!;
                if (evaluator instanceof MaskedRotations && floor && k !== 'root') {
                  merged ??= new GradientRotations(cctx, planned, gc, hc);
                  return merged.node(m, ownIndex(k), OFFSETS);
                }
                return evaluator instanceof MaskedRotations
                  ? evaluator.node(m)
                  : evaluator.node(m, ownIndex(k), OFFSETS);
              });
        for (const [i, k] of level.direct.entries()) sums.set(k, out[i]!);
        held.push(...out);
        for (const [k, parent, sibling] of level.derived) {
          const s = subtractSums(sums.get(parent)!, sums.get(sibling)!);
          sums.set(k, s);
          held.push(s);
        }
      }
    } finally {
      evaluator.dispose();
      merged?.dispose();
    }
  } finally {
    for (const s of held) for (const v of s.z) v.dispose();
    cache?.dispose();
    for (const v of [...g, ...h]) v.dispose();
  }
  return { tree, run };
}

describe('histogramTreeOps counts what the histogram code does', () => {
  it.each([
    ['run-cached', 3, undefined, 4, 9],
    ['per-level', 3, 0, 20, 25],
    ['per-node', 2, 0, 4, 9],
  ] as const)(
    '%s, depth %i: every operation of a full tree',
    (path, depth, maxBytes, features, bins) => {
      const shape = binnedOf(features, bins);
      const ops = histogramTreeOps(ctx, shape.cells, ROWS, depth, maxBytes);
      expect(ops.path).toBe(path);
      expect([ops.layout.batches, ops.layout.blocks]).toEqual([2, 1]);
      const { tree, run } = runTree(path, depth, shape);
      const p = ops.perTree;
      expect(tree).toEqual({
        encodes: p.encodes,
        packs: p.packs,
        products: p.products,
        maskProducts: p.maskProducts,
        lowerings: p.lowerings,
        rotations: p.rotations,
        adds: p.adds,
        subtractions: p.subtractions,
      });
      expect(run.encodes).toBe(ops.perRunEncodes);
      expect(ops.releasedNodes).toBe(2 ** depth - 1);
      expect(p.releasedBlocks).toBe(ops.releasedNodes * ops.layout.blocks);
    },
    300_000,
  );

  // The host's default: the per-bin floor on, every direct node below the root with merged bins.
  it.each([
    ['run-cached', 3, undefined, 4, 9],
    ['per-level', 3, 0, 20, 25],
  ] as const)(
    '%s, depth %i, per-bin floor: one encode set per direct node',
    (path, depth, maxBytes, features, bins) => {
      const shape = binnedOf(features, bins);
      const ops = histogramTreeOps(ctx, shape.cells, ROWS, depth, maxBytes, true);
      expect(ops.path).toBe(path);
      expect([ops.layout.batches, ops.layout.blocks]).toEqual([2, 1]);
      const { batches: B, blocks: P, blockSize: m } = ops.layout;
      // Hand count: 4 direct nodes (1 + 1 + 2), the root on the shared index, 3 on their own.
      expect(ops.directNodes).toBe(4);
      expect(ops.perTree.products).toBe(4 * B * P * m);
      expect(ops.perTree.encodes).toBe((path === 'per-level' ? 4 : 3) * B * P * m);
      expect(ops.perRunEncodes).toBe(path === 'run-cached' ? B * P * m : 0);
      if (path === 'per-level') {
        // Against the floor-off count: one more encode set (level 2's two nodes apart), nothing else.
        const off = histogramTreeOps(ctx, shape.cells, ROWS, depth, maxBytes).perTree;
        expect(ops.perTree).toEqual({ ...off, encodes: off.encodes + B * P * m });
      }
      const { tree, run } = runTree(path, depth, shape, true);
      const p = ops.perTree;
      expect(tree).toEqual({
        encodes: p.encodes,
        packs: p.packs,
        products: p.products,
        maskProducts: p.maskProducts,
        lowerings: p.lowerings,
        rotations: p.rotations,
        adds: p.adds,
        subtractions: p.subtractions,
      });
      expect(run.encodes).toBe(ops.perRunEncodes);
    },
    600_000,
  );
});
