/**
 * The packed encrypted gradient y = X^T [[d]] for one mini-batch under CKKS: the rectangular diagonal
 * method of Halevi and Shoup ("Algorithms in HElib", CRYPTO 2014) with baby-step/giant-step, as used
 * for encrypted matrix-vector products by Juvekar et al. (GAZELLE, 2018), applied per block of rows.
 *
 * Layout. The batch vector d (B <= W values) is replicated with period W across all S slots (W a power
 * of two dividing S), so a slot rotation acts as a rotation within every W-block. M = X^T is p x B.
 * Its rows are cut into blocks of power-of-two sizes Q (Q <= W); `planPackedProduct` picks the blocks
 * (e.g. 300 rows -> 256 + 64 rather than 512) by an operation-cost model. For a block with rows
 * r0 .. r0+Q-1, diagonal k (0 <= k < Q) is
 *   diag_k[i] = M[r0 + (i mod Q)][(i + k) mod W],  i in [0, W),
 * and z = sum_k diag_k (.) rot(d, k) has z[i] = sum_k M[r0 + i mod Q][i+k] d[i+k]; summing the W/Q
 * slots i, i+Q, i+2Q, ... (log2(W/Q) rotate-and-adds, cyclic within W) leaves y_{r0+j} in every slot
 * j + tQ. Every slot of the result holds a complete output value (no partial sums are left anywhere),
 * so masking it with a Q-periodic mask hides every slot the key holder decrypts.
 *
 * Baby-step/giant-step, babies shared by all blocks: b baby steps rot(d, a), a < b; a block with Q
 * diagonals uses b_Q = min(b, Q) of them and G = Q / b_Q giant steps:
 *   z = sum_g rot( sum_a rot(diag_{g b_Q + a}, -g b_Q) (.) rot(d, a), g b_Q ),
 * the plaintext diagonals pre-rotated in the clear. Baby rotations are taken one step at a time (key
 * for step 1), the giant sum by Horner's rule (key for step b_Q), the fold with keys Q, 2Q, ..., W/2;
 * a worker that evaluates giant steps g0..g1-1 only rotates its partial sum by g0 b_Q with one
 * power-of-two rotation per set bit. So the key set is the powers of two below W.
 *
 * Cost per batch: (b - 1) + sum_blocks [(G - 1) + log2(W / Q)] rotations, sum_blocks Q plaintext
 * products (all-zero diagonals skipped), sum_blocks G rescales, one level; one output ciphertext per
 * block. The plaintext diagonals depend only on the batch's rows, so callers that keep batch membership
 * fixed across epochs encode them once (`DiagonalCache`).
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksPlaintext, CkksPublicContext, CkksVector } from '@fedscore/he';

export interface PackedLayout {
  /** Replication period of batch vectors (power of two, divides the slot count). */
  readonly width: number;
  readonly slots: number;
  /** Largest batch size and column count the keys were sized for. */
  readonly batchSize: number;
  readonly columns: number;
  /** The block plan of a product with `columns` columns. */
  productPlan(columns: number): PackedProductPlan;
  /** @deprecated single-block period (next power of two); products now use `productPlan`. */
  gradientPeriod(columns: number): number;
}

/** One block of rows of X^T: its result is one ciphertext of period `diagonals`. */
export interface PackedBlock {
  /** First output row (feature) of the block. */
  readonly rowOffset: number;
  /** Real rows in the block (<= diagonals; the rest are zero rows). */
  readonly rows: number;
  /** Q: power of two, the number of diagonals and the period of the block's result. */
  readonly diagonals: number;
  /** Baby steps this block uses (min(shared baby steps, Q)). */
  readonly babySteps: number;
  /** Q / babySteps. */
  readonly giantSteps: number;
}

/** How one product X^T [[d]] with `columns` rows of X^T is evaluated at width W. */
export interface PackedProductPlan {
  readonly columns: number;
  readonly width: number;
  /** Baby steps computed once and shared by all blocks. */
  readonly babySteps: number;
  readonly blocks: readonly PackedBlock[];
  readonly cost: PackedCost;
}

export interface PackedCost {
  readonly rotations: number;
  /** Plaintext products (upper bound: all-zero diagonals are skipped). */
  readonly products: number;
  readonly rescales: number;
  /** Output ciphertexts (one per block). */
  readonly ciphertexts: number;
}

/**
 * Relative costs used to choose the blocks (node-seal at N=8192, ../shared/ANCHORS.md): rotation 4.0 ms,
 * plaintext product 0.43 ms (diagonal cached) + encoding 0.69 ms amortized over a few epochs, rescale
 * 0.96 ms, one more output ciphertext (serialize, mask, decrypt) ~2.5 ms. Fixed constants: every party
 * must derive the same plan from (columns, width).
 */
const COST_MS = { rotation: 4.0, product: 0.6, rescale: 0.96, ciphertext: 2.5 } as const;

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/** Baby-step count for Q diagonals when a block is evaluated on its own. */
export function babySteps(P: number): number {
  return 2 ** Math.ceil(Math.log2(P) / 2);
}

function blocksOf(
  sizes: readonly number[],
  columns: number,
): { rowOffset: number; rows: number; q: number }[] {
  const out: { rowOffset: number; rows: number; q: number }[] = [];
  let off = 0;
  for (const q of sizes) {
    const rows = Math.min(q, columns - off);
    if (rows <= 0) break;
    out.push({ rowOffset: off, rows, q });
    off += q;
  }
  return out;
}

function costOf(
  blocks: readonly { q: number }[],
  babies: number,
  width: number,
): { cost: PackedCost; ms: number } {
  let rotations = babies - 1;
  let products = 0;
  let rescales = 0;
  for (const { q } of blocks) {
    const b = Math.min(babies, q);
    const g = q / b;
    rotations += g - 1 + log2(width / q);
    products += q;
    rescales += g;
  }
  const cost = { rotations, products, rescales, ciphertexts: blocks.length };
  const ms =
    rotations * COST_MS.rotation +
    products * COST_MS.product +
    rescales * COST_MS.rescale +
    blocks.length * COST_MS.ciphertext;
  return { cost, ms };
}

/**
 * Choose the row blocks and baby steps of a product with `columns` rows at width `width`: among the
 * round-ups of `columns` to a multiple of 2^m (m = 0 .. log2 W), split into power-of-two blocks (its
 * binary digits, each <= W), and every power-of-two baby-step count, the cheapest by `COST_MS`.
 */
export function planPackedProduct(columns: number, width: number): PackedProductPlan {
  if (!Number.isInteger(columns) || columns < 1) {
    throw new FedscoreError('out_of_range', `need at least 1 column, got ${columns}`, { field: 'columns' });
  }
  if (!Number.isInteger(width) || width < 1 || nextPow2(width) !== width) {
    throw new FedscoreError('invalid_argument', `width must be a power of two, got ${width}`, {
      field: 'width',
    });
  }
  let best: { sizes: number[]; babies: number; ms: number; cost: PackedCost } | undefined;
  for (let m = 0; 2 ** m <= width; m++) {
    const unit = 2 ** m;
    const padded = Math.ceil(columns / unit) * unit;
    const sizes: number[] = [];
    let rest = padded;
    while (rest >= width) {
      sizes.push(width);
      rest -= width;
    }
    for (let q = width / 2; q >= 1; q /= 2) {
      if (rest >= q) {
        sizes.push(q);
        rest -= q;
      }
    }
    const blocks = blocksOf(sizes, columns).map((b) => ({ q: b.q }));
    const maxQ = Math.max(...blocks.map((b) => b.q));
    for (let babies = 1; babies <= maxQ; babies *= 2) {
      const { cost, ms } = costOf(blocks, babies, width);
      if (best === undefined || ms < best.ms - 1e-9) best = { sizes, babies, ms, cost };
    }
  }
  const chosen = best!;
  const blocks = blocksOf(chosen.sizes, columns).map(({ rowOffset, rows, q }) => {
    const b = Math.min(chosen.babies, q);
    return { rowOffset, rows, diagonals: q, babySteps: b, giantSteps: q / b };
  });
  return { columns, width, babySteps: chosen.babies, blocks, cost: chosen.cost };
}

export function packedLayout(batchSize: number, columns: number, slots: number): PackedLayout {
  const width = nextPow2(batchSize);
  if (width > slots) {
    throw new FedscoreError(
      'unsupported',
      `a batch of ${batchSize} rows needs ${width} slots; the CKKS parameters have ${slots}`,
      { field: 'batchSize' },
    );
  }
  const plans = new Map<number, PackedProductPlan>();
  return {
    width,
    slots,
    batchSize,
    columns,
    productPlan(p: number): PackedProductPlan {
      let plan = plans.get(p);
      if (plan === undefined) {
        plan = planPackedProduct(p, width);
        plans.set(p, plan);
      }
      return plan;
    },
    gradientPeriod: nextPow2,
  };
}

/** Rotation steps the keys need: the powers of two below the width. */
export function packedRotationSteps(layout: PackedLayout): number[] {
  const steps: number[] = [];
  for (let s = 1; s < layout.width; s *= 2) steps.push(s);
  return steps;
}

/** `v` (length <= period) zero-padded to `period` and repeated to fill `slots`. */
export function replicate(v: ArrayLike<number>, period: number, slots: number): Float64Array {
  const out = new Float64Array(slots);
  const n = Math.min(v.length, period);
  for (let t = 0; t < slots; t += period) for (let i = 0; i < n; i++) out[t + i] = v[i]!;
  return out;
}

/** Operation counts of one packed product (for the docs and benchmarks). */
export function packedCost(columns: number, width: number): PackedCost {
  return planPackedProduct(columns, width).cost;
}

/**
 * Diagonal k of `block`, pre-rotated right by its giant offset (so that rotating the product left by
 * it restores it), W-periodic over `slots`: out[i] = diag_k[(i - shift) mod W] with
 * diag_k[i] = M[r0 + i mod Q][(i + k) mod W], M[j][c] = columns[j][c] (zero beyond the batch).
 * Undefined when all zero.
 */
export function blockDiagonal(
  columns: readonly Float64Array[],
  rows: number,
  block: PackedBlock,
  width: number,
  k: number,
  slots: number,
): Float64Array | undefined {
  const W = width;
  const Q = block.diagonals;
  const shift = Math.floor(k / block.babySteps) * block.babySteps;
  const one = new Float64Array(W);
  let any = false;
  for (let i = 0; i < W; i++) {
    const src = (i - shift + W) & (W - 1);
    const j = src & (Q - 1);
    if (j >= block.rows) continue;
    const c = (src + k) & (W - 1);
    if (c >= rows) continue;
    const v = columns[block.rowOffset + j]![c]!;
    if (v !== 0) {
      one[i] = v;
      any = true;
    }
  }
  if (!any) return undefined;
  if (slots === W) return one;
  return replicate(one, W, slots);
}

/** A range of giant steps of one block: the unit of work split across threads. */
export interface GiantTask {
  readonly block: number;
  /** Giant steps g0 <= g < g1. */
  readonly from: number;
  readonly to: number;
}

/** Every giant step of every block, in one task per block. */
export function allTasks(plan: PackedProductPlan): GiantTask[] {
  return plan.blocks.map((b, i) => ({ block: i, from: 0, to: b.giantSteps }));
}

/**
 * Split the giant steps of `plan` into `parts` contiguous task lists of about equal product counts
 * (a block may be cut between two parts).
 */
export function splitTasks(plan: PackedProductPlan, parts: number): GiantTask[][] {
  const out: GiantTask[][] = Array.from({ length: parts }, () => []);
  const total = plan.blocks.reduce((a, b) => a + b.diagonals, 0);
  const share = total / parts;
  let part = 0;
  let load = 0;
  plan.blocks.forEach((b, i) => {
    let g = 0;
    while (g < b.giantSteps) {
      const room = Math.max(1, Math.round((share - load) / b.babySteps));
      const end = part === parts - 1 ? b.giantSteps : Math.min(b.giantSteps, g + room);
      out[part]!.push({ block: i, from: g, to: end });
      load += (end - g) * b.babySteps;
      g = end;
      if (load >= share - 1e-9 && part < parts - 1) {
        part++;
        load = 0;
      }
    }
  });
  return out.filter((t) => t.length > 0);
}

/** Supplies the encoded diagonal k of block `block` at `level` (cached or fresh; undefined = zero). */
export type DiagonalSource = (
  block: number,
  k: number,
  level: number,
) => { plaintext: CkksPlaintext; owned: boolean } | undefined;

/** Encodes diagonals on demand from the batch columns (nothing kept). */
export function freshDiagonals(
  ctx: CkksPublicContext,
  plan: PackedProductPlan,
  columns: readonly Float64Array[],
  rows: number,
): DiagonalSource {
  return (block, k, level) => {
    const v = blockDiagonal(columns, rows, plan.blocks[block]!, plan.width, k, ctx.slotCount);
    return v === undefined ? undefined : { plaintext: ctx.encode(v, level), owned: true };
  };
}

/** Counts of the work a partial evaluation did (for profiles). */
export interface PackedWork {
  rotations: number;
  products: number;
  rescales: number;
  encodes: number;
}

export function emptyWork(): PackedWork {
  return { rotations: 0, products: 0, rescales: 0, encodes: 0 };
}

/**
 * The giant steps in `tasks`: per block, sum over its giant steps g of rot(inner_g, g b) (not folded),
 * or undefined for a block without tasks or whose diagonals are all zero. Caller disposes the results.
 */
export function evaluatePartial(
  d: CkksVector,
  plan: PackedProductPlan,
  tasks: readonly GiantTask[],
  diagonals: DiagonalSource,
  work: PackedWork = emptyWork(),
): (CkksVector | undefined)[] {
  const need = Math.max(0, ...tasks.map((t) => plan.blocks[t.block]!.babySteps));
  const babies: CkksVector[] = [d];
  const owned: CkksVector[] = [];
  const out: (CkksVector | undefined)[] = plan.blocks.map(() => undefined);
  try {
    for (let a = 1; a < need; a++) {
      const r = babies[a - 1]!.rotate(1);
      work.rotations++;
      babies.push(r);
      owned.push(r);
    }
    for (const t of tasks) {
      const block = plan.blocks[t.block]!;
      const b = block.babySteps;
      let acc: CkksVector | undefined;
      // Horner over g = to-1 .. from: acc = rot(acc, b) + inner_g.
      for (let g = t.to - 1; g >= t.from; g--) {
        let inner: CkksVector | undefined;
        for (let a = 0; a < b; a++) {
          const diag = diagonals(t.block, g * b + a, d.level);
          if (diag === undefined) continue;
          if (diag.owned) work.encodes++;
          let prod: CkksVector;
          try {
            prod = babies[a]!.mul(diag.plaintext, { rescale: false });
          } finally {
            if (diag.owned) diag.plaintext.dispose();
          }
          work.products++;
          if (inner === undefined) inner = prod;
          else {
            const s = inner.add(prod);
            inner.dispose();
            prod.dispose();
            inner = s;
          }
        }
        let innerR: CkksVector | undefined;
        if (inner !== undefined) {
          innerR = inner.rescale();
          work.rescales++;
          inner.dispose();
        }
        if (acc === undefined) acc = innerR;
        else {
          const rotated = acc.rotate(b);
          work.rotations++;
          acc.dispose();
          if (innerR === undefined) acc = rotated;
          else {
            acc = rotated.add(innerR);
            rotated.dispose();
            innerR.dispose();
          }
        }
      }
      // Put the partial sum in place: rotate by from * b, one power-of-two rotation per set bit.
      let shift = t.from * b;
      for (let s = 1; acc !== undefined && shift > 0; s *= 2) {
        if ((shift & s) === 0) continue;
        const r = acc.rotate(s);
        work.rotations++;
        acc.dispose();
        acc = r;
        shift -= s;
      }
      if (acc !== undefined) {
        const prev = out[t.block];
        if (prev === undefined) out[t.block] = acc;
        else {
          out[t.block] = prev.add(acc);
          prev.dispose();
          acc.dispose();
        }
      }
    }
    return out;
  } catch (e) {
    for (const v of out) v?.dispose();
    throw e;
  } finally {
    for (const o of owned) o.dispose();
  }
}

/**
 * Fold each block's (summed) partial: y_{r0+j} in every slot j + tQ. A block whose diagonals were all
 * zero becomes an encryption of zero one level below `d` (`d.mul(0)`). Disposes `partials`.
 */
export function foldBlocks(
  d: CkksVector,
  plan: PackedProductPlan,
  partials: (CkksVector | undefined)[],
  work: PackedWork = emptyWork(),
): CkksVector[] {
  const out: CkksVector[] = [];
  try {
    plan.blocks.forEach((block, i) => {
      let acc = partials[i] ?? d.mul(0);
      partials[i] = undefined;
      for (let s = plan.width / 2; s >= block.diagonals; s /= 2) {
        const r = acc.rotate(s);
        work.rotations++;
        const sum = acc.add(r);
        acc.dispose();
        r.dispose();
        acc = sum;
      }
      const v = acc.withLength(block.diagonals);
      acc.dispose();
      out.push(v);
    });
    return out;
  } catch (e) {
    for (const v of out) v.dispose();
    for (const p of partials) p?.dispose();
    throw e;
  }
}

/**
 * y = X^T d for the batch columns (p arrays of B <= W values) and the encrypted batch vector `d`
 * (period W), on this thread, encoding every diagonal afresh. Returns one ciphertext per block of
 * `plan` (block i holds y_{r0+j} at slots j + tQ), one level below `d`.
 */
export function packedMatVec(
  d: CkksVector,
  columns: readonly Float64Array[],
  rows: number,
  layout: PackedLayout,
): { vectors: CkksVector[]; plan: PackedProductPlan } {
  const plan = checkedPlan(columns, rows, layout);
  const partials = evaluatePartial(d, plan, allTasks(plan), freshDiagonals(d.context, plan, columns, rows));
  return { vectors: foldBlocks(d, plan, partials), plan };
}

/** Validate the batch columns against the layout and return the product plan. */
export function checkedPlan(
  columns: readonly Float64Array[],
  rows: number,
  layout: PackedLayout,
): PackedProductPlan {
  const p = columns.length;
  if (p === 0) throw new FedscoreError('out_of_range', 'need at least 1 column', { field: 'columns' });
  if (rows > layout.width) {
    throw new FedscoreError('out_of_range', `a batch of ${rows} rows exceeds the width ${layout.width}`, {
      field: 'rows',
    });
  }
  columns.forEach((c, j) => {
    if (c.length !== rows) {
      throw new FedscoreError('invalid_argument', `expected ${rows} values, got ${c.length}`, {
        field: `columns[${j}]`,
      });
    }
  });
  return layout.productPlan(p);
}

/** The mask (or any plaintext) of a product laid out like block `i` of `plan`: period Q, replicated. */
export function blockValues(
  values: Float64Array,
  plan: PackedProductPlan,
  i: number,
  slots: number,
): Float64Array {
  const block = plan.blocks[i]!;
  return replicate(values.subarray(block.rowOffset, block.rowOffset + block.rows), block.diagonals, slots);
}
