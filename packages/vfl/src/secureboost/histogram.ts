/**
 * The host's encrypted per-bin gradient/hessian sums under CKKS, with the rotations of [[g]] and [[h]]
 * computed once per tree and shared by every node, feature and level.
 *
 * For a node, the histogram is one matrix-vector product: out[c] = sum_u A[c][u] g[u] with A[c][u] = 1
 * when row u is in the node and falls in cell c (a (feature, bin) of this host). We evaluate it with the
 * Halevi-Shoup diagonal method and baby-step/giant-step (Halevi & Shoup 2014, "Algorithms in HElib";
 * hybrid packing of GAZELLE, Juvekar et al. 2018), the same arithmetic as the WOE binning sums
 * (binning/ckks-sums.ts, whose diagonal scatter this follows): cells go to blocks of m output slots; for
 * block beta, with r = j n1 + b (b < n1 the baby step, j < n2 = m / n1 the giant step),
 *   z = sum_j rot_{j n1}( sum_k sum_b rot_b([[g_k]]) * d_{k,r} ),
 * d_{k,r}[(u - b) mod S] = A[(u - r) mod m][k S + u], and out[t] is z folded with period m. What changes
 * against binning and he's `dotColumns` (which rotate the products, p - 1 rotations per call):
 *
 * - the baby rotations rot_b([[g_k]]), rot_b([[h_k]]) depend only on the tree's gradients, so they are
 *   computed once per tree (`GradientRotations`) and reused by every node of every level;
 * - g and h travel as one complex vector z = g + i sqrt(2) h (he's `packComplex`: an exact product with
 *   the integer plaintext X^(N/4) + X^(3N/4), no level): the diagonals are real, so one product and one
 *   rotation serve both, and the released real part is sum g, the imaginary part (`imaginaryPart`) sum h;
 * - products are not rescaled one by one: the sums stay at scale s^2 and are rescaled once, at release;
 * - the gradients are first brought down to the lowest level whose modulus still holds s^2 times the
 *   largest sum with margin, so every product and rotation works on fewer primes;
 * - every rotation is by a power of two (babies built one from another, giant steps and the fold as
 *   radix-2 trees), so the Galois keys are those of `histogramRotationSteps`.
 *
 * Per node: B P m plaintext products and B P m encodes (B batches of S rows, P blocks; all-zero
 * diagonals skipped), P (n2 - 1 + log2(S / m)) rotations; per tree B (n1 - 1) rotations (half of what
 * g and h apart cost).
 *
 * When they fit in memory, `BinDiagonals` encodes the diagonals of the whole (fixed) bin matrix once per
 * run and `MaskedRotations` multiplies [[z]] by the node's row mask first: no encode per node, B products
 * and B (n1 - 1) rotations more per node.
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksPlaintext, CkksPublicContext, CkksVector } from '@fedscore/he';
import type { BinnedFeatures } from './model.ts';

/**
 * A histogram computation cut into steps: a generator that yields after every CKKS operation (an
 * encode and product, a rotation, a mask product) and returns its result. A whole node at 100,000 rows
 * x 300 features x 32 bins is ~213,000 encodes and products and ~500 rotations -- minutes of one
 * thread -- and a node process that runs it in one call answers no gRPC call (not even Health) until
 * it ends. `runSteps` runs the steps at once (the same operations in the same order as before: the
 * bytes do not change); `runStepsYielding` gives the event loop a turn whenever `sliceMs` of steps have
 * run, so the process stays reachable while it computes. The steps of one object must not interleave
 * (they share its scratch buffers): run one at a time.
 */
export type HistogramSteps<T> = Generator<void, T, void>;

/**
 * The event-loop slice of `runStepsYielding`: steps run for at least this long before a turn. One step
 * is one CKKS operation (tens of ms at N = 16384, a few hundred under load), so a turn comes within a
 * slice plus one step; a turn costs one `setImmediate` (microseconds), nothing against 50 ms of work.
 */
export const HISTOGRAM_SLICE_MS = 50;

/** Run `steps` through in one synchronous call. */
export function runSteps<T>(steps: HistogramSteps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Run `steps`, giving the event loop a turn after every `sliceMs` of them (the same result as `runSteps`). */
export async function runStepsYielding<T>(
  steps: HistogramSteps<T>,
  sliceMs: number = HISTOGRAM_SLICE_MS,
): Promise<T> {
  let done = false;
  try {
    let start = performance.now();
    for (;;) {
      const r = steps.next();
      if (r.done === true) {
        done = true;
        return r.value;
      }
      if (performance.now() - start >= sliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        start = performance.now();
      }
    }
  } finally {
    // Abandoned (cannot happen today: nothing above throws between steps): its `finally` blocks free its vectors.
    if (!done) steps.return(undefined as T);
  }
}

/** Block and step sizes of the histogram product, derived by both parties from public shapes. */
export interface HistogramLayout {
  readonly slotCount: number;
  readonly rows: number;
  readonly batches: number;
  readonly cells: number;
  /** m: output slots per block (a power of two dividing slotCount). */
  readonly blockSize: number;
  readonly blocks: number;
  /** n1 and n2 = m / n1. */
  readonly baby: number;
  readonly giant: number;
}

/** Relative costs on node-seal (measured at N = 16384: encode ~1.5 products, rotation ~10 products). */
const ENCODE_COST = 1.5;
const ROTATION_COST = 10;
/** Diagonals scattered at once: DIAGONAL_CHUNK x S doubles (1024 x 8192 x 8 B = 64 MiB). */
const DIAGONAL_CHUNK = 1024;
/** Cached baby rotations (of the packed z, every batch) at most this many ciphertexts (~0.8 MB each at N=16384). */
const MAX_CACHED_ROTATIONS = 512;

function log2Int(x: number): number {
  return Math.round(Math.log2(x));
}

/**
 * Choose m and n1 minimizing the per-tree cost (products, encodes, rotations) of a tree of `depth`,
 * whose levels compute at most 2^(level - 1) histograms directly (the siblings are derived), among the
 * layouts with the fewest blocks, ceil(cells / S): each block is a ciphertext the guest decrypts, so
 * fewer blocks mean fewer bytes and a smaller flooding budget (smaller blocks would pad less, but each
 * extra block raises the flooding noise of every release by sqrt(t)).
 */
export function planHistogram(
  cells: number,
  rows: number,
  slotCount: number,
  depth: number,
): HistogramLayout {
  if (!Number.isInteger(slotCount) || slotCount < 2 || (slotCount & (slotCount - 1)) !== 0) {
    throw new FedscoreError('invalid_argument', `slotCount must be a power of two, got ${slotCount}`, {
      field: 'slotCount',
    });
  }
  if (!Number.isInteger(cells) || cells < 1) {
    throw new FedscoreError('invalid_argument', `cells must be a positive integer, got ${cells}`, {
      field: 'cells',
    });
  }
  const batches = Math.max(1, Math.ceil(rows / slotCount));
  let nodes = 0;
  for (let level = 0; level < depth; level++) nodes += level === 0 ? 1 : 2 ** (level - 1);
  nodes = Math.max(1, nodes);
  const fewest = Math.ceil(cells / slotCount);
  let best: { m: number; n1: number; cost: number } | undefined;
  for (let m = 1; m <= slotCount; m *= 2) {
    const blocks = Math.ceil(cells / m);
    if (blocks > fewest) continue;
    for (let n1 = 1; n1 <= m; n1 *= 2) {
      if (batches * n1 > MAX_CACHED_ROTATIONS && n1 > 1) continue;
      const n2 = m / n1;
      // g and h packed as one complex vector: one product and one rotation serve both.
      const perNode =
        batches * blocks * m * (1 + ENCODE_COST) + blocks * (n2 - 1 + log2Int(slotCount / m)) * ROTATION_COST;
      const cost = nodes * perNode + batches * (n1 - 1) * ROTATION_COST;
      if (best === undefined || cost < best.cost) best = { m, n1, cost };
    }
  }
  const { m, n1 } = best!;
  return {
    slotCount,
    rows,
    batches,
    cells,
    blockSize: m,
    blocks: Math.ceil(cells / m),
    baby: n1,
    giant: m / n1,
  };
}

/**
 * The layout for the run-cached diagonals (`BinDiagonals`, `MaskedRotations`): the same blocks, with the
 * baby step n1 minimizing the rotations per node, B (n1 - 1) babies + P (n2 - 1) giant steps (the babies
 * are per node there, not per tree). The Galois keys are the same: `histogramRotationSteps` is every power
 * of two below the slot count for any n1, so the guest need not know which the host uses.
 */
export function maskedLayout(layout: HistogramLayout): HistogramLayout {
  let best = layout.baby;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let n1 = 1; n1 <= layout.blockSize; n1 *= 2) {
    const cost = layout.batches * (n1 - 1) + layout.blocks * (layout.blockSize / n1 - 1);
    if (cost < bestCost) {
      best = n1;
      bestCost = cost;
    }
  }
  return { ...layout, baby: best, giant: layout.blockSize / best };
}

/** How the host evaluates its histograms (host.ts chooses by `histogramPath`). */
export type HistogramPath = 'run-cached' | 'per-level' | 'per-node';

/**
 * The evaluation a host uses for `layout` (from `planHistogram`) and trees of `depth`: the run-cached
 * diagonals (`BinDiagonals` + `MaskedRotations`) when they fit `maxDiagonalCacheBytes` and a level is
 * left for the node mask; else the per-level encodes (`LevelMaskedSums`) when `worthIt`; else the
 * per-node encodes over the tree's cached rotations (`GradientRotations`). The gradients are fresh
 * encryptions (top level), so the mask always has its level when the context leaves one.
 */
export function histogramPath(
  ctx: CkksPublicContext,
  layout: HistogramLayout,
  depth: number,
  maxDiagonalCacheBytes: number = MAX_DIAGONAL_CACHE_BYTES,
  product: MaskedProduct = defaultProduct(ctx),
): HistogramPath {
  if (BinDiagonals.fits(ctx, layout, maxDiagonalCacheBytes, product)) return 'run-cached';
  return LevelMaskedSums.worthIt(ctx, layout, maskedLayout(layout), depth) ? 'per-level' : 'per-node';
}

/** CKKS operations of one tree's histograms on one host, by kind (upper bounds: see `histogramTreeOps`). */
export interface HistogramOps {
  /** Diagonal encodes at the product level. */
  readonly encodes: number;
  /** Ciphertext x encoded diagonal at the product level (no rescale). */
  readonly products: number;
  /** Key switches at the product level (baby steps, giant steps, folds). */
  readonly rotations: number;
  /** Ciphertext + ciphertext at the product level (accumulating products, giant steps, folds). */
  readonly adds: number;
  /** Node row masks: one ciphertext x plain values + rescale at the top level, per batch per node. */
  readonly maskProducts: number;
  /** Level drops by a product with 1 (exact scale), per ciphertext per level dropped. */
  readonly lowerings: number;
  /** `packComplex` of g and h (one per batch). */
  readonly packs: number;
  /** Derived histograms: parent - sibling, one subtraction per block. */
  readonly subtractions: number;
  /** Blocks released (`releaseBlock`: flooding encryptions, lift, add, rescale, imaginary part). */
  readonly releasedBlocks: number;
}

/** One tree's histogram work on a host, counted from the layout and path the host's code chooses. */
export interface HistogramTreeOps {
  /** The evaluation the host chooses (`histogramPath`). */
  readonly path: HistogramPath;
  /** The layout the chosen evaluation runs (`maskedLayout` of the plan on the masked paths). */
  readonly layout: HistogramLayout;
  /** The level the products and rotations work at (`productLevel`). */
  readonly productLevel: number;
  /** Nodes summed directly: 1 at the root, 2^(l-1) at level l >= 1 (their siblings are derived). */
  readonly directNodes: number;
  /** Nodes released: every node of a full tree, 2^depth - 1. */
  readonly releasedNodes: number;
  /** Per tree (the steady state: a run-cached host encodes its diagonals at the first tree only). */
  readonly perTree: HistogramOps;
  /** Diagonal encodes once per run (`BinDiagonals`, at the first tree). */
  readonly perRunEncodes: number;
}

/**
 * The CKKS operations of one full tree of `depth` (every node split, the most work a tree does) on a
 * host with `cells` cells over `rows` rows, for the path `histogramPath` chooses, read off
 * `GradientRotations.node`, `MaskedRotations.node`, `LevelMaskedSums.nodes`, `giantAndFold`,
 * `subtractSums` and `releaseBlock`. Products, encodes and their adds count every diagonal of every
 * (batch, block): all-zero diagonals are skipped by the code, so these are upper bounds, reached when
 * each node has rows in every diagonal (thousands of rows per node and dozens of features).
 *
 * `binFloor`: the host's per-bin floor (its default; host.ts `#histograms`) gives every direct node below
 * the root a bin index of its own (`mergedBins`: its groups are shared with its sibling only, never with
 * its cousins) whenever the floor merges any of its bins -- at 32 bins, a node of a few thousand rows
 * over dozens of features always has such a bin. The host then sums each distinct index apart: on the
 * per-level path one `LevelMaskedSums.nodes` call (one encode set) per direct node, so a level encodes
 * once per direct node, not once (depth 3: 4 sets, not 3); on the run-cached path the merged nodes go
 * the per-tree way (`GradientRotations` at the plan's layout: its encodes, babies, packs and level drops).
 * Counted as if the root's bins never merge (quantile bins hold rows / bins rows each, above the floor
 * at any row count the encrypted path is used at). Without it (the floor off, `unsafeNoBinFloor`), the
 * level's nodes share one index.
 */
export function histogramTreeOps(
  ctx: CkksPublicContext,
  cells: number,
  rows: number,
  depth: number,
  maxDiagonalCacheBytes: number = MAX_DIAGONAL_CACHE_BYTES,
  binFloor = false,
): HistogramTreeOps {
  const planned = planHistogram(cells, rows, ctx.slotCount, depth);
  const path = histogramPath(ctx, planned, depth, maxDiagonalCacheBytes);
  const layout = path === 'per-node' ? planned : maskedLayout(planned);
  const { batches: B, blocks: P, blockSize: m, baby: n1, giant: n2 } = layout;
  const level = productLevel(ctx);
  let direct = 0;
  for (let l = 0; l < depth; l++) direct += l === 0 ? 1 : 2 ** (l - 1);
  const released = 2 ** depth - 1;
  const diagonals = B * P * m;
  // giantAndFold per block: n2 - 1 giant rotations (radix-2 tree) and log2(S / m) folds, an add each.
  const foldRotations = P * (n2 - 1 + log2Int(ctx.slotCount / m));
  // Fresh gradients are at the top level (ctx.levels); the masked paths' mask product takes one level.
  const top = ctx.levels;
  const masked = path !== 'per-node';
  // Direct nodes below the root with bins of their own under the per-bin floor.
  const merged = binFloor ? direct - 1 : 0;
  if (merged > 0 && path === 'run-cached') {
    // The root on the cached diagonals (`MaskedRotations`); the merged nodes on `GradientRotations` at
    // the plan's layout (built once per tree: lowered, packed, its babies rotated), encoding per node.
    const n2p = planned.giant;
    const foldPlanned = P * (n2p - 1 + log2Int(ctx.slotCount / m));
    const perTree: HistogramOps = {
      encodes: merged * diagonals,
      products: direct * diagonals,
      rotations: foldRotations + B * (n1 - 1) + merged * foldPlanned + B * (planned.baby - 1),
      adds: diagonals - P * n2 + foldRotations + merged * (diagonals - P * n2p + foldPlanned),
      maskProducts: B,
      lowerings: B * Math.max(0, top - 1 - level) + 2 * B * Math.max(0, top - level),
      packs: 2 * B,
      subtractions: (released - direct) * P,
      releasedBlocks: released * P,
    };
    return {
      path,
      layout,
      productLevel: level,
      directNodes: direct,
      releasedNodes: released,
      perTree,
      perRunEncodes: diagonals,
    };
  }
  const perTree: HistogramOps = {
    // Per level: one encode set per distinct bin index (with the floor, one per direct node).
    encodes:
      path === 'per-node' || merged > 0 ? direct * diagonals : path === 'per-level' ? depth * diagonals : 0,
    products: direct * diagonals,
    rotations: direct * foldRotations + (masked ? direct * B * (n1 - 1) : B * (n1 - 1)),
    // Accumulating: every product but the first of each of the P n2 giant-step sums; then one add per
    // giant-step and fold rotation.
    adds: direct * (diagonals - P * n2 + foldRotations),
    maskProducts: masked ? direct * B : 0,
    lowerings: masked ? direct * B * Math.max(0, top - 1 - level) : 2 * B * Math.max(0, top - level),
    packs: B,
    subtractions: (released - direct) * P,
    releasedBlocks: released * P,
  };
  return {
    path,
    layout,
    productLevel: level,
    directNodes: direct,
    releasedNodes: released,
    perTree,
    perRunEncodes: path === 'run-cached' ? diagonals : 0,
  };
}

/**
 * Whether a host's histograms run faster as per-node tasks (secureboost/offload.ts, `GradientRotations`
 * per range of `batchesPerTask` batches) on `workers` threads than in-process on one thread by the path
 * `histogramPath` chooses, counted in product units (`ENCODE_COST`, `ROTATION_COST`) per full tree:
 *
 * - threads: every direct node encodes and multiplies every diagonal of the batches it has rows in, and
 *   each (task, node) pays its own giant steps and fold, each range its baby rotations once per tree;
 *   the ranges spread over min(workers, ranges) threads;
 * - in-process: `histogramTreeOps`' products, encodes, rotations and mask products (a mask product is a
 *   ciphertext-plaintext product with a rescale at the top level, counted as one rotation).
 *
 * The threads' count is multiplied by the measured `THREAD_PENALTY`. False with fewer than 2 workers.
 * At default_credit's shape (24,000 rows, 10 host features x 32 bins, depth 3, N = 16384) the counts
 * are 9,285 (2 threads) against 9,464 (run-cached), so with the penalty the in-process path stays: the
 * threads win where no run-cached diagonals fit (per-level or per-node in-process) and the ranges are
 * many (docs/protocols/secureboost.md, Measured).
 */
export function threadedHistogramsWin(
  ctx: CkksPublicContext,
  cells: number,
  rows: number,
  depth: number,
  workers: number,
  maxDiagonalCacheBytes: number = MAX_DIAGONAL_CACHE_BYTES,
  batchesPerTask = 1,
): boolean {
  if (!(workers >= 2)) return false;
  const local = histogramTreeOps(ctx, cells, rows, depth, maxDiagonalCacheBytes);
  const l = local.perTree;
  const localCost = l.products + ENCODE_COST * l.encodes + ROTATION_COST * (l.rotations + l.maskProducts);
  const layout = planHistogram(cells, rows, ctx.slotCount, depth);
  const { batches: B, blocks: P, blockSize: m, baby: n1, giant: n2 } = layout;
  const ranges = Math.ceil(B / Math.max(1, batchesPerTask));
  const fold = P * (n2 - 1 + log2Int(ctx.slotCount / m));
  // Task-node evaluations per tree: a direct node has rows in every range at most.
  const taskNodes = local.directNodes * ranges;
  const threaded =
    local.directNodes * B * P * m * (1 + ENCODE_COST) + ROTATION_COST * (taskNodes * fold + B * (n1 - 1));
  return (threaded / Math.min(workers, ranges)) * THREAD_PENALTY < localCost;
}

/**
 * Measured penalty of the threads in `threadedHistogramsWin`: how much longer the per-node tasks on 2
 * threads took than their count predicts, relative to the in-process run-cached path. default_credit
 * (24,000 rows x 10 host features, 32 bins, depth 3, ckks-16384-release), 5 CKKS trees each (in-process,
 * 2 threads, in-process), two bench runs on 2 shared cores: at load 4-5.6
 * (benchmarks/results/secureboost-threads-quiet.md) 7.2 and 5.8 s per tree in-process, 7.8 on the
 * threads (1.09-1.36x, mean 1.21x); at load 12-17 (secureboost-threads.md) 16.8 and 16.4 against 30.0
 * (1.8x). The count gives 0.98x, so 1.25 (the quieter run): a second thread is not a second core on this
 * shared machine, and an encode costs more than `ENCODE_COST` products when both threads scatter
 * diagonals.
 */
const THREAD_PENALTY = 1.25;

/** The rotation steps (Galois keys) the evaluation of `layout` uses: powers of two only. */
export function histogramRotationSteps(layout: HistogramLayout): number[] {
  const steps = new Set<number>();
  for (let s = 1; s < layout.baby; s *= 2) steps.add(s);
  for (let s = layout.baby; s < layout.blockSize; s *= 2) steps.add(s);
  for (let s = layout.blockSize; s < layout.slotCount; s *= 2) steps.add(s);
  return [...steps].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------

/** The lowest level whose modulus holds products at scale s^2 with `marginBits` above them. */
export function productLevel(ctx: CkksPublicContext, marginBits = 40): number {
  const data = ctx.params.coeffModulusBits.slice(0, -1);
  const need = 2 * ctx.params.scaleBits + marginBits;
  let level = ctx.levels;
  while (level > 1 && data.slice(0, level).reduce((a, b) => a + b, 0) >= need) level--;
  return level;
}

/** Bits kept free above the largest sum at the product level (flooding noise, rounding). */
const PRODUCT_MARGIN_BITS = 4;
/**
 * Smallest diagonal scale of `maskedProduct`. Measured (secureboost-histogram test, 24,000 rows, 330
 * cells): max error 2^-25.5 at 2^44 against 2^-31.7 at level 2 and 2^55 -- above `HISTOGRAM_ERROR_BOUND`
 * (2^-28), hence the path's own `HISTOGRAM_LOW_LEVEL_ERROR_BOUND` (2^-24). A simple model (encoding
 * error ~sqrt(N / 12) / scale per slot, summed over the B S slots of every batch) predicts ~2^-32: the
 * measured error is larger, for reasons not pinned down (a mask at 2^52 with diagonals at 2^47 measured
 * 2^-25.0, so it is not the diagonals' scale alone). Smaller scales fall back to `productLevel`.
 */
const MIN_DIAGONAL_SCALE_BITS = 44;

/** Where the run-cached path multiplies: the diagonals' level and the scale they are encoded at. */
export interface MaskedProduct {
  readonly level: number;
  readonly diagonalScale: number;
}

/**
 * The level and diagonal scale of the run-cached product (`BinDiagonals`, `MaskedRotations`). The
 * products' scale is the masked gradients' (~2^scaleBits) times the diagonals', so diagonals encoded at
 * a smaller scale let the products, baby and giant rotations run one level lower than `productLevel`
 * (fewer primes: at N = 16384, level 1 vs 2, a rotation costs ~5.4 ms instead of ~10, a product ~0.6
 * ms instead of ~0.9). The gradients keep the full scale through their (baby) rotations, whose
 * key-switching noise would otherwise dominate (a mask at 2^44 instead measured 2^-20.9). The level is
 * the lowest whose modulus holds 2^scaleBits times the diagonal scale times the largest sum
 * (|g + i sqrt(2) h| <= 1.06 per row: 2 rows' worth of bits) with `PRODUCT_MARGIN_BITS` to spare, at a
 * diagonal scale of at least 2^44, and whose next level down still holds the released (rescaled) sums;
 * otherwise `productLevel` at the default scale (as before).
 */
export function maskedProduct(ctx: CkksPublicContext, rows: number): MaskedProduct {
  const data = ctx.params.coeffModulusBits.slice(0, -1);
  const s = ctx.params.scaleBits;
  const fallback = productLevel(ctx);
  const valueBits = Math.ceil(Math.log2(Math.max(2, rows))) + 1;
  const bits = (level: number) => data.slice(0, level + 1).reduce((a, b) => a + b, 0);
  for (let level = 1; level < fallback; level++) {
    const diagonalBits = Math.min(s, bits(level) - 1 - s - valueBits - PRODUCT_MARGIN_BITS);
    if (diagonalBits < MIN_DIAGONAL_SCALE_BITS) continue;
    const released = diagonalBits + s - data[level]!;
    if (released + valueBits + PRODUCT_MARGIN_BITS > bits(level - 1) - 1) continue;
    return { level, diagonalScale: 2 ** diagonalBits };
  }
  return defaultProduct(ctx);
}

/** The run-cached product at `productLevel` and the default scale (`maskedProduct`'s fallback). */
export function defaultProduct(ctx: CkksPublicContext): MaskedProduct {
  return { level: productLevel(ctx), diagonalScale: 2 ** ctx.params.scaleBits };
}

/**
 * One node's histogram: per block, the unrescaled packed sums (scale s^2): real part sum g, imaginary
 * part sqrt(2) sum h (he's `packComplex`). Dispose when done; `releaseBlock` splits them.
 */
export interface NodeSums {
  readonly z: CkksVector[];
}

export function disposeSums(s: NodeSums): void {
  for (const v of s.z) v.dispose();
}

/** Parent minus sibling, block by block (the other child's histogram). */
export function subtractSums(parent: NodeSums, sibling: NodeSums): NodeSums {
  const z: CkksVector[] = [];
  try {
    for (const [i, v] of parent.z.entries()) z.push(v.sub(sibling.z[i]!));
  } catch (e) {
    disposeSums({ z });
    throw e;
  }
  return { z };
}

/** [[g]] and [[h]] of one batch lowered to `level` (products with 1 at the dropped primes: exact scale s), packed. */
function lowerAndPack(ctx: CkksPublicContext, g: CkksVector, h: CkksVector, level: number): CkksVector {
  const lower = (ct: CkksVector): CkksVector => {
    let v = ct.withLength(ctx.slotCount);
    while (v.level > level) {
      const next = v.mul(1);
      v.dispose();
      v = next;
    }
    return v;
  };
  const lg = lower(g);
  try {
    const lh = lower(h);
    try {
      return ctx.packComplex(lg, lh);
    } finally {
      lh.dispose();
    }
  } finally {
    lg.dispose();
  }
}

/**
 * Per batch, [[g]] and [[h]] lowered to the level `GradientRotations` works at (`productLevel`, or the
 * gradients' own if lower) and packed as z = g + i sqrt(2) h: what a host sends its queue workers once
 * per tree (`GradientRotations.packed` rebuilds the rotations from them). `g`, `h` are borrowed.
 */
export function packGradients(
  ctx: CkksPublicContext,
  g: readonly CkksVector[],
  h: readonly CkksVector[],
): CkksVector[] {
  if (g.length === 0 || g.length !== h.length) {
    throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts do not match the layout', {
      field: 'gradients',
    });
  }
  const level = Math.min(productLevel(ctx), g[0]!.level);
  const out: CkksVector[] = [];
  try {
    for (const [k, v] of g.entries()) out.push(lowerAndPack(ctx, v, h[k]!, level));
  } catch (e) {
    for (const v of out) v.dispose();
    throw e;
  }
  return out;
}

/**
 * The bin index a node's histogram is summed over under the per-bin floor: each row's bin moved to the
 * last bin of its group (`ends`: per cell, its group's last cell). `binned` itself when nothing merges;
 * a feature without a merged group keeps its index array.
 */
export function mergedBins<B extends Pick<BinnedFeatures, 'index' | 'counts'>>(
  binned: B,
  offsets: readonly number[],
  ends: Int32Array,
): B {
  let changed = false;
  const index = binned.index.map((idx, f) => {
    const off = offsets[f]!;
    let same = true;
    for (let b = 0; b < binned.counts[f]! && same; b++) same = ends[off + b] === off + b;
    if (same) return idx;
    changed = true;
    const out = new Uint16Array(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = ends[off + idx[i]!]! - off;
    return out;
  });
  return changed ? { ...binned, index } : binned;
}

/**
 * The tree's gradient and hessian ciphertexts at the product level, packed as z = g + i sqrt(2) h, with
 * the baby rotations of z, built once per tree; `node` evaluates one node's histogram from them.
 */
export class GradientRotations {
  /**
   * From gradients already lowered and packed (`packGradients`; borrowed): a queue worker's rotations
   * for the batches of its task (`layout` then covers those batches only: secureboost/offload.ts).
   */
  static packed(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    z: readonly CkksVector[],
    diagonalChunk = DIAGONAL_CHUNK,
  ): GradientRotations {
    return new GradientRotations(ctx, layout, z, 'packed', diagonalChunk);
  }

  /** As the constructor (`g`, `h` borrowed), in steps: one per baby rotation (`runStepsYielding`). */
  static *build(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    g: readonly CkksVector[],
    h: readonly CkksVector[],
    diagonalChunk = DIAGONAL_CHUNK,
  ): HistogramSteps<GradientRotations> {
    GradientRotations.#deferBabies = true;
    let r: GradientRotations;
    try {
      r = new GradientRotations(ctx, layout, g, h, diagonalChunk);
    } finally {
      GradientRotations.#deferBabies = false;
    }
    let built = false;
    try {
      yield* r.#babySteps(g, h);
      built = true;
      return r;
    } finally {
      if (!built) r.dispose();
    }
  }

  /** Set by `build` around its constructor call: the babies are then its steps. */
  static #deferBabies = false;

  readonly #ctx: CkksPublicContext;
  readonly #layout: HistogramLayout;
  readonly #level: number;
  /** [batch][b] = rot_b(z_batch): b = 0 is the lowered, packed ciphertext itself. */
  readonly #z: CkksVector[][] = [];
  readonly #D: Float64Array;
  readonly #nonzero: Uint8Array;
  readonly #chunk: number;

  /**
   * `g`, `h` are borrowed (or `g` is the packed z and `h` is `'packed'`: `GradientRotations.packed`).
   * `diagonalChunk`: diagonals scattered at once (a power of two; default 1024, bounds memory).
   */
  constructor(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    g: readonly CkksVector[],
    h: readonly CkksVector[] | 'packed',
    diagonalChunk = DIAGONAL_CHUNK,
  ) {
    this.#ctx = ctx;
    this.#layout = layout;
    const S = ctx.slotCount;
    if (
      S !== layout.slotCount ||
      g.length !== layout.batches ||
      (h !== 'packed' && h.length !== layout.batches)
    ) {
      throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts do not match the layout', {
        field: 'gradients',
      });
    }
    if (
      !(Number.isInteger(diagonalChunk) && diagonalChunk >= 1 && (diagonalChunk & (diagonalChunk - 1)) === 0)
    ) {
      throw new FedscoreError('invalid_argument', 'diagonalChunk must be a power of two', {
        field: 'diagonalChunk',
      });
    }
    this.#level = Math.min(productLevel(ctx), g[0]!.level);
    this.#chunk = Math.min(layout.blockSize, diagonalChunk);
    this.#D = new Float64Array(this.#chunk * S);
    this.#nonzero = new Uint8Array(this.#chunk);
    if (GradientRotations.#deferBabies) return;
    try {
      runSteps(this.#babySteps(g, h));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Per batch, the lowered, packed z and its baby rotations (into `#z`; freed by `dispose`). */
  *#babySteps(g: readonly CkksVector[], h: readonly CkksVector[] | 'packed'): HistogramSteps<void> {
    const ctx = this.#ctx;
    const S = ctx.slotCount;
    for (const [k, ct] of g.entries()) {
      const babies: CkksVector[] = [
        h === 'packed' ? ct.withLength(S) : lowerAndPack(ctx, ct, h[k]!, this.#level),
      ];
      this.#z.push(babies);
      yield;
      for (let b = 1; b < this.#layout.baby; b++) {
        const low = b & -b;
        babies.push(babies[b - low]!.rotate(low));
        yield;
      }
    }
  }

  /**
   * The histogram of the rows `rowsOfNode` (ascending row indices): per block of cells, sum g and sum h
   * over the node's rows falling in each cell. Unrescaled (scale s^2): release with `releaseSums`.
   */
  node(
    rowsOfNode: Int32Array,
    binned: BinnedFeatures | Pick<BinnedFeatures, 'index'>,
    offsets: readonly number[],
  ): NodeSums {
    return runSteps(this.nodeSteps(rowsOfNode, binned, offsets));
  }

  /** `node` in steps: one per encode and product, one per rotation of the giant steps and fold. */
  *nodeSteps(
    rowsOfNode: Int32Array,
    binned: BinnedFeatures | Pick<BinnedFeatures, 'index'>,
    offsets: readonly number[],
  ): HistogramSteps<NodeSums> {
    const ctx = this.#ctx;
    const { blockSize: m, baby: n1, giant: n2, blocks, batches, cells } = this.#layout;
    const S = ctx.slotCount;
    const D = this.#D;
    const nonzero = this.#nonzero;
    const F = offsets.length;
    const inner = giantSums(blocks, n2);
    try {
      let from = 0;
      for (let k = 0; k < batches; k++) {
        const rowOff = k * S;
        let to = from;
        while (to < rowsOfNode.length && rowsOfNode[to]! < rowOff + S) to++;
        if (to === from) continue;
        const chunk = this.#chunk;
        for (let beta = 0; beta < blocks; beta++) {
          const lo = beta * m;
          const hi = Math.min(cells, lo + m);
          // Diagonals r0 ... r0 + chunk - 1 of the block at a time (bounded memory for large blocks).
          for (let r0 = 0; r0 < m; r0 += chunk) {
            D.fill(0);
            nonzero.fill(0);
            for (let f = 0; f < F; f++) {
              const first = offsets[f]!;
              const last = f + 1 < F ? offsets[f + 1]! : cells;
              if (last <= lo || first >= hi) continue;
              const idx = binned.index[f]!;
              for (let q = from; q < to; q++) {
                const row = rowsOfNode[q]!;
                const c = first + idx[row]!;
                if (c < lo || c >= hi) continue;
                const u = row - rowOff;
                const r = (u - (c - lo)) & (m - 1);
                if (r < r0 || r >= r0 + chunk) continue;
                D[(r - r0) * S + ((u - (r & (n1 - 1))) & (S - 1))]! += 1;
                nonzero[r - r0] = 1;
              }
            }
            for (let i = 0; i < chunk; i++) {
              if (nonzero[i] === 0) continue;
              const r = r0 + i;
              const j = r >> log2Int(n1);
              const b = r & (n1 - 1);
              const pt: CkksPlaintext = ctx.encode(D.subarray(i * S, (i + 1) * S), this.#level);
              try {
                accumulate(inner[beta]!, j, this.#z[k]![b]!.mul(pt, { rescale: false }));
              } finally {
                pt.dispose();
              }
              yield;
            }
          }
        }
        from = to;
      }
      return yield* foldBlocks(ctx, this.#layout, this.#level, inner);
    } finally {
      for (const row of inner) for (const v of row) v?.dispose();
    }
  }

  dispose(): void {
    for (const babies of this.#z) for (const v of babies) v.dispose();
    this.#z.length = 0;
  }
}

/** Bytes of the encoded diagonals `BinDiagonals` may hold (plaintexts of the whole bin matrix). */
export const MAX_DIAGONAL_CACHE_BYTES = 768 * 2 ** 20;

/**
 * The 0/1 bin-matrix diagonals r0 .. r0 + chunk - 1 of block [lo, hi) for one batch of rows, into `D`
 * (chunk rows of S slots, baby-step rotated) with `nonzero[i]` = 1 where diagonal r0 + i has a one. Used
 * by the run cache (`BinDiagonals`) and the per-level path (`LevelMaskedSums`).
 */
function fillDiagonalChunk(
  D: Float64Array,
  nonzero: Uint8Array,
  binned: BinnedFeatures,
  offsets: readonly number[],
  g: {
    readonly cells: number;
    readonly lo: number;
    readonly hi: number;
    readonly rowOff: number;
    readonly batchRows: number;
    readonly m: number;
    readonly n1: number;
    readonly S: number;
    readonly r0: number;
    readonly chunk: number;
  },
): void {
  const { cells, lo, hi, rowOff, batchRows, m, n1, S, r0, chunk } = g;
  const F = offsets.length;
  D.fill(0);
  nonzero.fill(0);
  for (let f = 0; f < F; f++) {
    const first = offsets[f]!;
    const last = f + 1 < F ? offsets[f + 1]! : cells;
    if (last <= lo || first >= hi) continue;
    const idx = binned.index[f]!;
    for (let u = 0; u < batchRows; u++) {
      const c = first + idx[rowOff + u]!;
      if (c < lo || c >= hi) continue;
      const r = (u - (c - lo)) & (m - 1);
      if (r < r0 || r >= r0 + chunk) continue;
      D[(r - r0) * S + ((u - (r & (n1 - 1))) & (S - 1))]! += 1;
      nonzero[r - r0] = 1;
    }
  }
}

/**
 * The encoded diagonals of the host's whole bin matrix (every row, every cell), at the product level:
 * fixed for the run, so encoded once and shared by every node of every tree (`MaskedRotations`). Only
 * when they fit `maxBytes` and a level is left for the node mask (`BinDiagonals.fits`).
 */
export class BinDiagonals {
  readonly layout: HistogramLayout;
  readonly level: number;
  /** Scale the diagonals are encoded at (`maskedProduct`). */
  readonly diagonalScale: number;
  /** [batch][block][r] (undefined: all-zero diagonal). */
  readonly #pts: (CkksPlaintext | undefined)[][][] = [];

  /** `product`: where to multiply (default `defaultProduct`: the product level at the default scale). */
  static fits(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    maxBytes = MAX_DIAGONAL_CACHE_BYTES,
    product?: MaskedProduct,
  ): boolean {
    const { level } = product ?? defaultProduct(ctx);
    if (level >= ctx.levels) return false;
    const bytes = layout.batches * layout.blocks * layout.blockSize * 2 * layout.slotCount * (level + 1) * 8;
    return bytes <= maxBytes;
  }

  /** As the constructor, in steps: one per encoded diagonal (`runStepsYielding`). */
  static *build(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    binned: BinnedFeatures,
    offsets: readonly number[],
    diagonalChunk = DIAGONAL_CHUNK,
    product: MaskedProduct = defaultProduct(ctx),
  ): HistogramSteps<BinDiagonals> {
    BinDiagonals.#deferEncodes = true;
    let d: BinDiagonals;
    try {
      d = new BinDiagonals(ctx, layout, binned, offsets, diagonalChunk, product);
    } finally {
      BinDiagonals.#deferEncodes = false;
    }
    let built = false;
    try {
      yield* d.#encodeSteps(ctx, binned, offsets, diagonalChunk);
      built = true;
      return d;
    } finally {
      if (!built) d.dispose();
    }
  }

  /** Set by `build` around its constructor call: the encodes are then its steps. */
  static #deferEncodes = false;

  constructor(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    binned: BinnedFeatures,
    offsets: readonly number[],
    diagonalChunk = DIAGONAL_CHUNK,
    product: MaskedProduct = defaultProduct(ctx),
  ) {
    this.layout = layout;
    this.level = product.level;
    this.diagonalScale = product.diagonalScale;
    if (BinDiagonals.#deferEncodes) return;
    try {
      runSteps(this.#encodeSteps(ctx, binned, offsets, diagonalChunk));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  *#encodeSteps(
    ctx: CkksPublicContext,
    binned: BinnedFeatures,
    offsets: readonly number[],
    diagonalChunk: number,
  ): HistogramSteps<void> {
    const { blockSize: m, baby: n1, blocks, batches, cells, rows } = this.layout;
    const S = ctx.slotCount;
    const chunk = Math.min(m, diagonalChunk);
    const D = new Float64Array(chunk * S);
    const nonzero = new Uint8Array(chunk);
    for (let k = 0; k < batches; k++) {
      const rowOff = k * S;
      const batchRows = Math.min(S, rows - rowOff);
      const perBlock: (CkksPlaintext | undefined)[][] = [];
      this.#pts.push(perBlock);
      for (let beta = 0; beta < blocks; beta++) {
        const lo = beta * m;
        const hi = Math.min(cells, lo + m);
        const diagonals = new Array<CkksPlaintext | undefined>(m);
        perBlock.push(diagonals);
        for (let r0 = 0; r0 < m; r0 += chunk) {
          fillDiagonalChunk(D, nonzero, binned, offsets, {
            cells,
            lo,
            hi,
            rowOff,
            batchRows,
            m,
            n1,
            S,
            r0,
            chunk,
          });
          for (let i = 0; i < chunk; i++) {
            if (nonzero[i] !== 1) continue;
            diagonals[r0 + i] = ctx.encode(D.subarray(i * S, (i + 1) * S), this.level, this.diagonalScale);
            yield;
          }
        }
      }
    }
  }

  diagonal(batch: number, block: number, r: number): CkksPlaintext | undefined {
    return this.#pts[batch]![block]![r];
  }

  dispose(): void {
    for (const perBlock of this.#pts) for (const d of perBlock) for (const p of d) p?.dispose();
    this.#pts.length = 0;
  }
}

/**
 * A node's histogram from the cached diagonals: [[g]] and [[h]] are multiplied by the node's 0/1 row
 * mask (one product per batch, rescaled: the mask takes the level the cache left), then rotated by the
 * baby steps (2 B (n1 - 1) rotations per node instead of per tree) and multiplied by the cached
 * diagonals: no encoding per node. Same sums as `GradientRotations.node`.
 */
export class MaskedRotations {
  readonly #ctx: CkksPublicContext;
  readonly #cache: BinDiagonals;
  /** Per batch, z = g + i sqrt(2) h (packed at the top level: exact, no level used). */
  readonly #z: CkksVector[] = [];

  /** `g`, `h` are borrowed (the tree's gradient ciphertexts, fresh: at the top level). */
  constructor(
    ctx: CkksPublicContext,
    cache: BinDiagonals,
    g: readonly CkksVector[],
    h: readonly CkksVector[],
  ) {
    const layout = cache.layout;
    if (ctx.slotCount !== layout.slotCount || g.length !== layout.batches || h.length !== layout.batches) {
      throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts do not match the layout', {
        field: 'gradients',
      });
    }
    if (g.some((v) => v.level <= cache.level) || h.some((v) => v.level <= cache.level)) {
      throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts have no level for the node mask', {
        field: 'gradients',
      });
    }
    this.#ctx = ctx;
    this.#cache = cache;
    try {
      for (const [k, v] of g.entries()) this.#z.push(ctx.packComplex(v, h[k]!));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  node(rowsOfNode: Int32Array): NodeSums {
    return runSteps(this.nodeSteps(rowsOfNode));
  }

  /** `node` in steps: one per product, one per rotation (baby, giant, fold). */
  *nodeSteps(rowsOfNode: Int32Array): HistogramSteps<NodeSums> {
    const ctx = this.#ctx;
    const cache = this.#cache;
    const layout = cache.layout;
    const { blockSize: m, baby: n1, giant: n2, blocks, batches, rows } = layout;
    const S = ctx.slotCount;
    const inner = giantSums(blocks, n2);
    const shift = log2Int(n1);
    /** The sums' scale (a masked baby's times the diagonals'), for an empty block's zero. */
    let sumScale: number | undefined;
    try {
      let from = 0;
      for (let k = 0; k < batches; k++) {
        const rowOff = k * S;
        let to = from;
        while (to < rowsOfNode.length && rowsOfNode[to]! < rowOff + S) to++;
        if (to === from) continue;
        const mask = new Float64Array(Math.min(S, rows - rowOff));
        for (let q = from; q < to; q++) mask[rowsOfNode[q]! - rowOff] = 1;
        from = to;
        const babies = yield* maskedBabies(ctx, this.#z[k]!, mask, cache.level, n1);
        sumScale ??= babies[0]!.scale * cache.diagonalScale;
        try {
          for (let beta = 0; beta < blocks; beta++) {
            for (let r = 0; r < m; r++) {
              const pt = cache.diagonal(k, beta, r);
              if (pt === undefined) continue;
              accumulate(inner[beta]!, r >> shift, babies[r & (n1 - 1)]!.mul(pt, { rescale: false }));
              yield;
            }
          }
        } finally {
          for (const v of babies) v.dispose();
        }
      }
      if (sumScale === undefined) {
        // No row of the node in any batch: the scale its sums would have had (one all-zero mask).
        const probe = runSteps(maskedBabies(ctx, this.#z[0]!, new Float64Array(1), cache.level, 1));
        sumScale = probe[0]!.scale * cache.diagonalScale;
        for (const v of probe) v.dispose();
      }
      return yield* foldBlocks(ctx, layout, cache.level, inner, sumScale);
    } finally {
      for (const row of inner) for (const v of row) v?.dispose();
    }
  }

  /** The packed gradients (the diagonals belong to the run). */
  dispose(): void {
    for (const v of this.#z) v.dispose();
    this.#z.length = 0;
  }
}

/** rot_b(y * mask) for b < n1, at `level` (the mask product rescales: exact scale); a step per rotation. */
function* maskedBabies(
  ctx: CkksPublicContext,
  y: CkksVector,
  mask: Float64Array,
  level: number,
  n1: number,
): HistogramSteps<CkksVector[]> {
  let v = y.mul(mask);
  const babies: CkksVector[] = [];
  let made = false;
  try {
    while (v.level > level) {
      const next = v.mul(1);
      v.dispose();
      v = next;
    }
    const full = v.withLength(ctx.slotCount);
    v.dispose();
    babies.push(full);
    yield;
    for (let b = 1; b < n1; b++) {
      const low = b & -b;
      babies.push(babies[b - low]!.rotate(low));
      yield;
    }
    made = true;
  } finally {
    // Failed or abandoned between steps: nothing is handed out.
    if (!made) {
      if (babies.length === 0) v.dispose();
      for (const x of babies) x.dispose();
    }
  }
  return babies;
}

/**
 * The directly summed nodes of one tree level together, for hosts whose bin-matrix diagonals do not fit
 * `BinDiagonals`: [[z]] is multiplied by each node's row mask (as `MaskedRotations`), and each diagonal of
 * the whole (fixed) bin matrix is encoded once per level and multiplied with every node's masked
 * rotations. Per tree: one encode set per level instead of one per directly summed node (depth 3: 3
 * instead of 4), for B mask products and B (n1 - 1) baby rotations per node. Same sums as
 * `GradientRotations.node`; `worthIt` compares the two by the planner's relative costs. The saving
 * needs the level's nodes to share one bin index: under the host's per-bin floor each direct node below
 * the root has its own (`mergedBins`), one `nodes` call each, so the encodes are per node again
 * (`histogramTreeOps`' `binFloor`; `worthIt` does not count that).
 */
export class LevelMaskedSums {
  readonly #ctx: CkksPublicContext;
  readonly #layout: HistogramLayout;
  readonly #level: number;
  readonly #chunk: number;
  /** Per batch, z = g + i sqrt(2) h (packed at the top level). */
  readonly #z: CkksVector[] = [];

  /** Whether the per-level encodes beat `GradientRotations` for a tree of `depth` (>= 3 to save). */
  static worthIt(ctx: CkksPublicContext, perTree: HistogramLayout, masked: HistogramLayout, depth: number) {
    if (productLevel(ctx) >= ctx.levels) return false;
    let nodes = 0;
    for (let level = 0; level < depth; level++) nodes += level === 0 ? 1 : 2 ** (level - 1);
    const giants = (l: HistogramLayout) => l.blocks * (l.giant - 1 + log2Int(l.slotCount / l.blockSize));
    const { batches: B, blocks: P, blockSize: m } = perTree;
    const tree =
      nodes * B * P * m * (1 + ENCODE_COST) +
      (nodes * giants(perTree) + B * (perTree.baby - 1)) * ROTATION_COST;
    const level =
      nodes * (B * P * m + B) +
      depth * B * P * m * ENCODE_COST +
      nodes * (giants(masked) + B * (masked.baby - 1)) * ROTATION_COST;
    return level < tree;
  }

  /** `g`, `h` are borrowed (the tree's gradient ciphertexts, fresh: at the top level). */
  constructor(
    ctx: CkksPublicContext,
    layout: HistogramLayout,
    g: readonly CkksVector[],
    h: readonly CkksVector[],
    diagonalChunk = DIAGONAL_CHUNK,
  ) {
    if (ctx.slotCount !== layout.slotCount || g.length !== layout.batches || h.length !== layout.batches) {
      throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts do not match the layout', {
        field: 'gradients',
      });
    }
    this.#level = productLevel(ctx);
    if (g.some((v) => v.level <= this.#level) || h.some((v) => v.level <= this.#level)) {
      throw new FedscoreError('he_context_mismatch', 'gradient ciphertexts have no level for the node mask', {
        field: 'gradients',
      });
    }
    if (
      !(Number.isInteger(diagonalChunk) && diagonalChunk >= 1 && (diagonalChunk & (diagonalChunk - 1)) === 0)
    ) {
      throw new FedscoreError('invalid_argument', 'diagonalChunk must be a power of two', {
        field: 'diagonalChunk',
      });
    }
    this.#ctx = ctx;
    this.#layout = layout;
    this.#chunk = Math.min(layout.blockSize, diagonalChunk);
    try {
      for (const [k, v] of g.entries()) this.#z.push(ctx.packComplex(v, h[k]!));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** The histograms of the nodes `rowsOfNodes` (each ascending row indices), in that order. */
  nodes(rowsOfNodes: readonly Int32Array[], binned: BinnedFeatures, offsets: readonly number[]): NodeSums[] {
    return runSteps(this.nodesSteps(rowsOfNodes, binned, offsets));
  }

  /** `nodes` in steps: one per node's product with an encoded diagonal, one per rotation. */
  *nodesSteps(
    rowsOfNodes: readonly Int32Array[],
    binned: BinnedFeatures,
    offsets: readonly number[],
  ): HistogramSteps<NodeSums[]> {
    const ctx = this.#ctx;
    const layout = this.#layout;
    const { blockSize: m, baby: n1, giant: n2, blocks, batches, cells, rows } = layout;
    const S = ctx.slotCount;
    const chunk = this.#chunk;
    const shift = log2Int(n1);
    const D = new Float64Array(chunk * S);
    const nonzero = new Uint8Array(chunk);
    const inner = rowsOfNodes.map(() => giantSums(blocks, n2));
    const from = rowsOfNodes.map(() => 0);
    try {
      for (let k = 0; k < batches; k++) {
        const rowOff = k * S;
        const batchRows = Math.min(S, rows - rowOff);
        const babies: (CkksVector[] | undefined)[] = [];
        try {
          for (const [i, members] of rowsOfNodes.entries()) {
            let to = from[i]!;
            while (to < members.length && members[to]! < rowOff + S) to++;
            if (to === from[i]) {
              babies.push(undefined);
              continue;
            }
            const mask = new Float64Array(batchRows);
            for (let q = from[i]!; q < to; q++) mask[members[q]! - rowOff] = 1;
            from[i] = to;
            babies.push(yield* maskedBabies(ctx, this.#z[k]!, mask, this.#level, n1));
          }
          if (babies.every((b) => b === undefined)) continue;
          for (let beta = 0; beta < blocks; beta++) {
            const lo = beta * m;
            const hi = Math.min(cells, lo + m);
            for (let r0 = 0; r0 < m; r0 += chunk) {
              fillDiagonalChunk(D, nonzero, binned, offsets, {
                cells,
                lo,
                hi,
                rowOff,
                batchRows,
                m,
                n1,
                S,
                r0,
                chunk,
              });
              for (let d = 0; d < chunk; d++) {
                if (nonzero[d] === 0) continue;
                const r = r0 + d;
                const pt: CkksPlaintext = ctx.encode(D.subarray(d * S, (d + 1) * S), this.#level);
                try {
                  for (const [i, b] of babies.entries()) {
                    if (b === undefined) continue;
                    accumulate(inner[i]![beta]!, r >> shift, b[r & (n1 - 1)]!.mul(pt, { rescale: false }));
                    yield;
                  }
                } finally {
                  pt.dispose();
                }
              }
            }
          }
        } finally {
          for (const b of babies) for (const v of b ?? []) v.dispose();
        }
      }
      const out: NodeSums[] = [];
      let done = false;
      try {
        for (const sums of inner) out.push(yield* foldBlocks(ctx, layout, this.#level, sums));
        done = true;
      } finally {
        if (!done) for (const o of out) disposeSums(o);
      }
      return out;
    } finally {
      for (const sums of inner) for (const row of sums) for (const v of row) v?.dispose();
    }
  }

  dispose(): void {
    for (const v of this.#z) v.dispose();
    this.#z.length = 0;
  }
}

/** Per block, the giant steps and fold of its partial sums (`giantAndFold`), cut to the block's cells. */
function* foldBlocks(
  ctx: CkksPublicContext,
  layout: HistogramLayout,
  sumLevel: number,
  inner: (CkksVector | undefined)[][],
  sumScale?: number,
): HistogramSteps<NodeSums> {
  const out: NodeSums = { z: [] };
  let done = false;
  try {
    for (let beta = 0; beta < layout.blocks; beta++) {
      const length = Math.min(layout.blockSize, layout.cells - beta * layout.blockSize);
      out.z.push(yield* giantAndFold(ctx, layout, sumLevel, inner[beta]!, length, sumScale));
    }
    done = true;
  } finally {
    if (!done) disposeSums(out);
  }
  return out;
}

/**
 * sum_j rot_{j n1}(inner[j]) as a radix-2 tree, then the fold with period m. Consumes nothing. An empty
 * block is an encryption of zeros at `sumScale` (top level) if given, else at the default scale squared
 * lowered to `sumLevel`.
 */
function* giantAndFold(
  ctx: CkksPublicContext,
  layout: HistogramLayout,
  sumLevel: number,
  inner: (CkksVector | undefined)[],
  length: number,
  sumScale?: number,
): HistogramSteps<CkksVector> {
  const { blockSize: m, baby: n1 } = layout;
  const S = ctx.slotCount;
  const owned: CkksVector[] = [];
  try {
    let level: (CkksVector | undefined)[] = inner;
    let step = n1 * (inner.length / 2);
    while (level.length > 1) {
      const half = level.length / 2;
      const next: (CkksVector | undefined)[] = [];
      for (let j = 0; j < half; j++) {
        const a = level[j];
        const b = level[j + half];
        if (b === undefined) next.push(a);
        else {
          const rot = b.rotate(step);
          owned.push(rot);
          yield;
          if (a === undefined) next.push(rot);
          else {
            const sum = a.add(rot);
            owned.push(sum);
            next.push(sum);
          }
        }
      }
      level = next;
      step /= 2;
    }
    let z = level[0];
    if (z === undefined) {
      // No row of the node in any cell of this block: an encryption of zeros at the product scale.
      const zero = ctx.encrypt(new Float64Array(S));
      owned.push(zero);
      const one = ctx.encode(1, undefined, sumScale === undefined ? undefined : sumScale / zero.scale);
      try {
        z = zero.mul(one, { rescale: false });
      } finally {
        one.dispose();
      }
      owned.push(z);
      while (sumScale === undefined && z.level > sumLevel) {
        const lower = z.mul(1);
        owned.push(lower);
        z = lower;
      }
    }
    for (let s = m; s < S; s *= 2) {
      const rot = z.rotate(s);
      owned.push(rot);
      z = z.add(rot);
      owned.push(z);
      yield;
    }
    const result = z.withLength(length);
    return result;
  } finally {
    for (const v of owned) v.dispose();
  }
}

/**
 * Rescale one block of packed sums and add a fresh encryption of the flooding noise `noiseG` + i sqrt(2)
 * `noiseH` (zeros without), lifted to the sums' scale before the rescale so the two add exactly: both
 * parts of every slot are flooded. Returns the released sums of g (the real part) and of h (he's
 * `imaginaryPart`), new vectors at scale ~s and ~2s.
 */
export function releaseBlock(
  ctx: CkksPublicContext,
  sums: CkksVector,
  noiseG: Float64Array,
  noiseH: Float64Array,
): { g: CkksVector; h: CkksVector } {
  const freshG = ctx.encrypt(noiseG);
  const freshH = ctx.encrypt(noiseH);
  // Lifted by exactly the factor that brings a fresh encryption to the sums' scale (which depends on the
  // path: `maskedProduct`'s mask scale, or the default scale squared).
  const one = ctx.encode(1, undefined, sums.scale / freshG.scale);
  const owned: CkksVector[] = [freshG, freshH];
  try {
    const fresh = ctx.packComplex(freshG, freshH);
    owned.push(fresh);
    const lifted = fresh.mul(one, { rescale: false });
    owned.push(lifted);
    const total = sums.add(lifted);
    owned.push(total);
    const low = total.rescale();
    owned.push(low);
    const g = low.withLength(sums.length);
    try {
      const im = ctx.imaginaryPart(low);
      owned.push(im);
      return { g, h: im.withLength(sums.length) };
    } catch (e) {
      g.dispose();
      throw e;
    }
  } finally {
    one.dispose();
    for (const v of owned) v.dispose();
  }
}

/** Per block, the n2 giant-step partial sums of a packed product (filled by `accumulate`). */
function giantSums(blocks: number, n2: number): (CkksVector | undefined)[][] {
  return Array.from({ length: blocks }, () => new Array<CkksVector | undefined>(n2));
}

/** Add `prod` into `inner[j]` (taking ownership of `prod`; the old sum is disposed). */
function accumulate(inner: (CkksVector | undefined)[], j: number, prod: CkksVector): void {
  const prev = inner[j];
  if (prev === undefined) inner[j] = prod;
  else {
    inner[j] = prev.add(prod);
    prev.dispose();
    prod.dispose();
  }
}
