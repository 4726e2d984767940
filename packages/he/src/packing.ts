/**
 * The one home of homomorphic linear algebra on packed CKKS vectors: the products protocols need, all
 * evaluated by one engine, the diagonal method of Halevi & Shoup ("Algorithms in HElib", CRYPTO 2014)
 * with baby-step/giant-step, as used for encrypted matrix-vector products by GAZELLE (Juvekar,
 * Vaikuntanathan & Chandrakasan 2018). Users: the hetero-LR gradient X^T [[d]] (`packedLayout`,
 * `packedMatVec`, the pool's `packedProduct`), the binning bin sums (@fedscore/vfl, `uniformPlan` with
 * its own digit-packed diagonals), and the additive CKKS backend's `dotColumns` (`diagonalDotColumns`).
 *
 * Column layout (`columnDot`): one feature column of `slotCount` records per plaintext. Per feature:
 * B plaintext products (B = batches), B - 1 additions, then one rotate-and-sum: ceil(log2(min(n, S)))
 * rotations. Total F * ceil(log2 min(n, S)) rotations, one length-1 ciphertext per feature.
 *
 * Packed product (`evaluatePartial` + `foldBlocks`). The batch vector d (B <= W values) is replicated
 * with period W across all S slots (W a power of two dividing S), so a slot rotation acts as a rotation
 * within every W-block. M is p x B. Its rows are cut into blocks of power-of-two sizes Q (Q <= W);
 * `planPackedProduct` picks the blocks (e.g. 300 rows -> 256 + 64 rather than 512) by an operation-cost
 * model. For a block with rows r0 .. r0+Q-1, diagonal k (0 <= k < Q) is
 *   diag_k[i] = M[r0 + (i mod Q)][(i + k) mod W],  i in [0, W),
 * and z = sum_k diag_k (.) rot(d, k) has z[i] = sum_k M[r0 + i mod Q][i+k] d[i+k]; summing the W/Q
 * slots i, i+Q, i+2Q, ... (log2(W/Q) rotate-and-adds, cyclic within W) leaves y_{r0+j} in every slot
 * j + tQ. Every slot of the result holds a complete output value (no partial sums are left anywhere),
 * so masking it with a Q-periodic mask hides every slot the key holder decrypts.
 *
 * Baby-step/giant-step, babies shared by all blocks: b baby steps rot(d, a), a < b; a block with Q
 * diagonals uses b_Q = min(b, Q) of them and G = Q / b_Q giant steps:
 *   z = sum_g rot( sum_a rot(diag_{g b_Q + a}, -g b_Q) (.) rot(d, a), g b_Q ),
 * the plaintext diagonals pre-rotated in the clear (by the `DiagonalSource`). Baby rotations are taken
 * one step at a time (key for step 1; or directly, `babyRotations: 'direct'`), the giant sum by
 * Horner's rule (key for step b_Q), the fold with keys Q, 2Q, ..., W/2; a worker that evaluates giant
 * steps g0..g1-1 only rotates its partial sum by g0 b_Q with one power-of-two rotation per set bit. So
 * the key set is the powers of two below W. Several batch vectors (M = [M_1 ... M_n], d = [d_1; ...;
 * d_n]) share the giant steps: their inner sums are added first.
 *
 * Cost per batch: (b - 1) + sum_blocks [(G - 1) + log2(W / Q)] rotations, sum_blocks Q plaintext
 * products (all-zero diagonals skipped), sum_blocks G rescales, one level; one output ciphertext per
 * block. The plaintext diagonals depend only on the batch's rows, so callers that keep batch membership
 * fixed across epochs encode them once (`DiagonalCache`, diagonals.ts).
 *
 * Diagonal layout (`diagonalDotColumns`): the same engine with one baby step and W = S over batches of
 * S records (no replication): W_k[m] = x_{(m - k) mod p}[m]. Rotations per block of p features:
 * (p - 1) + log2(S / p), independent of the number of batches. For F = 23 features at S = 4096: 38
 * rotations instead of 276 for the column layout; for F = 300 (p = 512): 514 instead of 3600.
 */
import { FedscoreError } from '@fedscore/core';
import type {
  CkksPlaintext,
  CkksPublicContext,
  CkksVector,
  GiantTask,
  PackedBlock,
  PackedCost,
  PackedLayout,
  PackedProductPlan,
  PackedWork,
} from './types.ts';

/** Split `values` into consecutive batches of `slotCount` (the last one shorter). */
export function splitBatches(values: ArrayLike<number>, slotCount: number): Float64Array[] {
  const data = values instanceof Float64Array ? values : Float64Array.from(values);
  const out: Float64Array[] = [];
  for (let off = 0; off < data.length; off += slotCount) {
    out.push(data.subarray(off, Math.min(data.length, off + slotCount)));
  }
  return out;
}

/** Rotations of the column layout. */
export function columnLayoutRotations(features: number, rows: number, slotCount: number): number {
  return features * Math.ceil(Math.log2(Math.max(1, Math.min(rows, slotCount))));
}

/** Block size p of the diagonal layout: the smallest power of two >= features, at most slotCount. */
export function diagonalBlockSize(features: number, slotCount: number): number {
  let p = 1;
  while (p < features && p < slotCount) p *= 2;
  return p;
}

/** Rotations of the diagonal layout. */
export function diagonalLayoutRotations(features: number, slotCount: number): number {
  const p = diagonalBlockSize(features, slotCount);
  return Math.ceil(features / p) * (p - 1 + Math.log2(slotCount / p));
}

function checkShapes(cts: readonly CkksVector[], columns: readonly ArrayLike<number>[], S: number): number {
  if (cts.length === 0)
    throw new FedscoreError('invalid_argument', 'no ciphertexts', { field: 'ciphertexts' });
  const n = cts.reduce((a, c) => a + c.length, 0);
  for (let b = 0; b < cts.length - 1; b++) {
    if (cts[b]!.length !== S) {
      throw new FedscoreError(
        'invalid_argument',
        `batch ${b} holds ${cts[b]!.length} values, expected ${S}`,
        {
          field: 'ciphertexts',
        },
      );
    }
  }
  for (const [j, col] of columns.entries()) {
    if (col.length !== n) {
      throw new FedscoreError('invalid_argument', `column ${j} has ${col.length} rows, expected ${n}`, {
        field: `columns[${j}]`,
      });
    }
  }
  return n;
}

/**
 * Column layout: `sum_i [[d_i]] * column[i]` over all batches, as a length-1 ciphertext.
 * `cts` are the batches of [[d]] (all but the last full).
 */
export function columnDot(
  ctx: CkksPublicContext,
  cts: readonly CkksVector[],
  column: ArrayLike<number>,
): CkksVector {
  const S = ctx.slotCount;
  checkShapes(cts, [column], S);
  const col = column instanceof Float64Array ? column : Float64Array.from(column);
  return ctx.scope(() => {
    let acc: CkksVector | undefined;
    for (const [b, ct] of cts.entries()) {
      const prod = ct.mul(col.subarray(b * S, b * S + ct.length));
      acc = acc === undefined ? prod : acc.add(prod);
    }
    return acc!.sum();
  });
}

/**
 * Diagonal layout: `out[j] = sum_i [[d_i]] * columns[j][i]` for every column, packed p results per
 * ciphertext: the packed product with one baby step (p giant steps, rotations by 1) at width S, each
 * batch of S records a batch vector whose products are summed before the rotations. Returns ceil(F / p)
 * ciphertexts; ciphertext c holds features c*p ... c*p + length - 1.
 */
export function diagonalDotColumns(
  ctx: CkksPublicContext,
  cts: readonly CkksVector[],
  columns: readonly ArrayLike<number>[],
): CkksVector[] {
  const S = ctx.slotCount;
  const F = columns.length;
  if (F === 0) throw new FedscoreError('invalid_argument', 'no columns', { field: 'columns' });
  checkShapes(cts, columns, S);
  const p = diagonalBlockSize(F, S);
  const cols = columns.map((c) => (c instanceof Float64Array ? c : Float64Array.from(c)));
  const plan = uniformPlan(Math.ceil(F / p), p, 1, S);
  // W_k[m] = x_{f0 + (m - k) mod p}[m] over batch b's records (zero past the last column or record).
  const source: DiagonalSource = (block, k, level, b) => {
    const w = new Float64Array(S);
    const len = cts[b]!.length;
    const off = b * S;
    const f0 = block * p;
    for (let m = 0; m < len; m++) {
      const col = cols[f0 + ((((m - k) % p) + p) % p)];
      if (col !== undefined) w[m] = col[off + m]!;
    }
    return { plaintext: ctx.encode(w, level), owned: true };
  };
  const batches: CkksVector[] = [];
  try {
    for (const ct of cts) batches.push(ct.withLength(S));
    const partials = evaluatePartial(batches, plan, allTasks(plan), source);
    const full = foldBlocks(batches[0]!, plan, partials, emptyWork(), { fullLength: true });
    const out = full.map((z, c) => z.withLength(Math.min(p, F - c * p)));
    for (const z of full) z.dispose();
    return out;
  } finally {
    for (const v of batches) v.dispose();
  }
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

/**
 * Supplies the encoded diagonal k of block `block` at `level` for batch vector `batch` (cached or fresh;
 * undefined = all zero, skipped).
 */
export type DiagonalSource = (
  block: number,
  k: number,
  level: number,
  batch: number,
) => { plaintext: CkksPlaintext; owned: boolean } | undefined;

/** Encodes the diagonals of the dense rows `columns` on demand (nothing kept). */
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

export function emptyWork(): PackedWork {
  return { rotations: 0, products: 0, rescales: 0, encodes: 0, additions: 0, skipped: 0 };
}

/** Add the counts of `b` to `a`. */
export function addWork(a: PackedWork, b: PackedWork): void {
  a.rotations += b.rotations;
  a.products += b.products;
  a.rescales += b.rescales;
  a.encodes += b.encodes;
  a.additions += b.additions;
  a.skipped += b.skipped;
}

/** How `evaluatePartial` runs (defaults: the hetero-LR gradient's). */
export interface PartialOptions {
  /**
   * Rescale each giant step's inner sum before its rotation (one level used). false keeps the products
   * at scale^2 (the binning sums, one plaintext product deep). Default true.
   */
  readonly rescale?: boolean;
  /**
   * Baby steps as a chain of rotations by 1 (`chain`: only the key for step 1) or each rotated directly
   * from the batch vector (`direct`: keys for 1 .. b - 1, less rotation noise per baby). Default `chain`.
   */
  readonly babyRotations?: 'chain' | 'direct';
  /** Called after each batch vector's products are done. */
  readonly onBatch?: (done: number, total: number) => void;
  /**
   * The baby steps of a single batch vector d made elsewhere (`babyRotations`): babies[a - 1] =
   * rot(d, a) for a = 1 .. b - 1, b the largest baby-step count of `tasks`' blocks. The caller keeps
   * them (not disposed here). The HE pool makes them once for a product split between its threads,
   * instead of once per thread.
   */
  readonly babies?: readonly CkksVector[];
}

/**
 * The baby steps rot(d, a) for a = from .. to - 1: rot(d, from) by one power-of-two rotation per set bit
 * of `from`, then a chain of rotations by 1 (the keys `packedRotationSteps` declares). Caller disposes.
 */
export function babyRotations(
  d: CkksVector,
  from: number,
  to: number,
  work: PackedWork = emptyWork(),
): CkksVector[] {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from) {
    throw new FedscoreError('out_of_range', `baby steps [${from}, ${to}) are not a range from 1`, {
      field: 'from',
    });
  }
  const out: CkksVector[] = [];
  try {
    if (to === from) return out;
    let first: CkksVector | undefined;
    for (let s = 1, rest = from; rest > 0; s *= 2) {
      if ((rest & s) === 0) continue;
      const r = (first ?? d).rotate(s);
      work.rotations++;
      first?.dispose();
      first = r;
      rest -= s;
    }
    out.push(first!);
    for (let a = from + 1; a < to; a++) {
      out.push(out[out.length - 1]!.rotate(1));
      work.rotations++;
    }
    return out;
  } catch (e) {
    for (const v of out) v.dispose();
    throw e;
  }
}

/**
 * The giant steps in `tasks` of the product of `plan` with the batch vectors `d` (one, or several
 * whose products are summed: sum_batch M_batch [[d_batch]]): per block, sum over its giant steps g of
 * rot(inner_g, g b), inner_g = sum_batch sum_a rot(d_batch, a) (.) diag_{g b + a} (not folded), or
 * undefined for a block without tasks or whose diagonals are all zero. The inner sums of every batch are
 * added before the giant rotations, so the giant steps and folds are paid once, not once per batch.
 * Caller disposes the results.
 */
export function evaluatePartial(
  d: CkksVector | readonly CkksVector[],
  plan: PackedProductPlan,
  tasks: readonly GiantTask[],
  diagonals: DiagonalSource,
  work: PackedWork = emptyWork(),
  options: PartialOptions = {},
): (CkksVector | undefined)[] {
  const batches = Array.isArray(d) ? (d as readonly CkksVector[]) : [d as CkksVector];
  const rescale = options.rescale ?? true;
  const need = Math.max(0, ...tasks.map((t) => plan.blocks[t.block]!.babySteps));
  const given = options.babies;
  if (given !== undefined && (batches.length !== 1 || given.length < need - 1)) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${Math.max(0, need - 1)} baby steps of one batch vector, got ${given.length}`,
      { field: 'babies' },
    );
  }
  const babiesOf = (x: CkksVector): CkksVector[] => {
    const babies: CkksVector[] = [x];
    try {
      for (let a = 1; a < need; a++) {
        babies.push(options.babyRotations === 'direct' ? x.rotate(a) : babies[a - 1]!.rotate(1));
        work.rotations++;
      }
      return babies;
    } catch (e) {
      for (const v of babies.slice(1)) v.dispose();
      throw e;
    }
  };
  /** `acc + sum_a babies[a] (.) diag_{g b + a}` of batch `batch` (acc consumed; undefined = nothing yet). */
  const addProducts = (
    acc: CkksVector | undefined,
    t: GiantTask,
    g: number,
    babies: readonly CkksVector[],
    batch: number,
  ): CkksVector | undefined => {
    const b = plan.blocks[t.block]!.babySteps;
    for (let a = 0; a < b; a++) {
      const diag = diagonals(t.block, g * b + a, babies[0]!.level, batch);
      if (diag === undefined) {
        work.skipped++;
        continue;
      }
      if (diag.owned) work.encodes++;
      let prod: CkksVector;
      try {
        prod = babies[a]!.mul(diag.plaintext, { rescale: false });
      } catch (e) {
        acc?.dispose();
        throw e;
      } finally {
        if (diag.owned) diag.plaintext.dispose();
      }
      work.products++;
      if (acc === undefined) acc = prod;
      else {
        const s = acc.add(prod);
        work.additions++;
        acc.dispose();
        prod.dispose();
        acc = s;
      }
    }
    return acc;
  };
  // One batch vector: each inner sum is made when Horner's rule needs it (one alive at a time). Several:
  // the inner sums of every batch are accumulated first, batch by batch (one batch's babies alive).
  const single = batches.length === 1;
  const inner: (CkksVector | undefined)[][] = tasks.map((t) => new Array(t.to - t.from).fill(undefined));
  const out: (CkksVector | undefined)[] = plan.blocks.map(() => undefined);
  let singleBabies: CkksVector[] = [];
  try {
    if (single) singleBabies = given === undefined ? babiesOf(batches[0]!) : [batches[0]!, ...given];
    else {
      batches.forEach((x, batch) => {
        const babies = babiesOf(x);
        try {
          tasks.forEach((t, ti) => {
            for (let g = t.from; g < t.to; g++) {
              const row = inner[ti]!;
              const prev = row[g - t.from];
              row[g - t.from] = undefined;
              row[g - t.from] = addProducts(prev, t, g, babies, batch);
            }
          });
        } finally {
          for (const v of babies.slice(1)) v.dispose();
        }
        options.onBatch?.(batch + 1, batches.length);
      });
    }
    tasks.forEach((t, ti) => {
      const b = plan.blocks[t.block]!.babySteps;
      let acc: CkksVector | undefined;
      // Horner over g = to-1 .. from: acc = rot(acc, b) + inner_g.
      for (let g = t.to - 1; g >= t.from; g--) {
        let innerR = single ? addProducts(undefined, t, g, singleBabies, 0) : inner[ti]![g - t.from];
        inner[ti]![g - t.from] = undefined;
        if (innerR !== undefined && rescale) {
          const r = innerR.rescale();
          work.rescales++;
          innerR.dispose();
          innerR = r;
        }
        if (acc === undefined) acc = innerR;
        else {
          const rotated = acc.rotate(b);
          work.rotations++;
          acc.dispose();
          if (innerR === undefined) acc = rotated;
          else {
            acc = rotated.add(innerR);
            work.additions++;
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
          work.additions++;
          prev.dispose();
          acc.dispose();
        }
      }
    });
    if (single) options.onBatch?.(1, 1);
    return out;
  } catch (e) {
    for (const v of out) v?.dispose();
    throw e;
  } finally {
    if (given === undefined) for (const v of singleBabies.slice(1)) v.dispose();
    for (const row of inner) for (const v of row) v?.dispose();
  }
}

/** How `foldBlocks` shapes its results (defaults: the hetero-LR gradient's). */
export interface FoldOptions {
  /** The result of a block whose diagonals were all zero. Default: `d.mul(0)` (one level below `d`). */
  readonly zero?: () => CkksVector;
  /** Keep every slot (length `slotCount`) instead of the block's Q values. Default false. */
  readonly fullLength?: boolean;
}

/**
 * Fold each block's (summed) partial: y_{r0+j} in every slot j + tQ. Disposes `partials`. `d` (the batch
 * vector) is only used for the zero of an empty block when `options.zero` is absent.
 */
export function foldBlocks(
  d: CkksVector | undefined,
  plan: PackedProductPlan,
  partials: (CkksVector | undefined)[],
  work: PackedWork = emptyWork(),
  options: FoldOptions = {},
): CkksVector[] {
  const out: CkksVector[] = [];
  try {
    plan.blocks.forEach((block, i) => {
      let acc = partials[i] ?? options.zero?.() ?? d?.mul(0);
      if (acc === undefined) {
        throw new FedscoreError('invalid_argument', 'an empty block needs `d` or `zero`', { field: 'd' });
      }
      partials[i] = undefined;
      for (let s = plan.width / 2; s >= block.diagonals; s /= 2) {
        const r = acc.rotate(s);
        work.rotations++;
        const sum = acc.add(r);
        work.additions++;
        acc.dispose();
        r.dispose();
        acc = sum;
      }
      if (options.fullLength === true) out.push(acc);
      else {
        const v = acc.withLength(block.diagonals);
        acc.dispose();
        out.push(v);
      }
    });
    return out;
  } catch (e) {
    for (const v of out) v.dispose();
    for (const p of partials) p?.dispose();
    throw e;
  }
}

/**
 * y = M [[d]] for the dense rows of M (`columns`: p arrays of B <= W values; the columns of X when
 * M = X^T) and the encrypted batch vector `d` (period W), on this thread, encoding every diagonal
 * afresh. Returns one ciphertext per block of `plan` (block i holds y_{r0+j} at slots j + tQ), one
 * level below `d`.
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

/**
 * The plan of a product whose rows are cut into `blocks` blocks of `blockSize` rows each, evaluated with
 * `babySteps` shared baby steps at rotation period `width` (a layout planned elsewhere, e.g. the binning
 * sums' digit-packed cells).
 */
export function uniformPlan(
  blocks: number,
  blockSize: number,
  babySteps: number,
  width: number,
): PackedProductPlan {
  const pow2 = (x: number) => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
  if (!pow2(blockSize) || !pow2(babySteps) || !pow2(width) || babySteps > blockSize || blockSize > width) {
    throw new FedscoreError('invalid_argument', 'block and baby-step sizes must be powers of two', {
      field: 'layout',
    });
  }
  const list: PackedBlock[] = Array.from({ length: blocks }, (_, i) => ({
    rowOffset: i * blockSize,
    rows: blockSize,
    diagonals: blockSize,
    babySteps,
    giantSteps: blockSize / babySteps,
  }));
  return {
    columns: blocks * blockSize,
    width,
    babySteps,
    blocks: list,
    cost: costOf(
      list.map((b) => ({ q: b.diagonals })),
      babySteps,
      width,
    ).cost,
  };
}
