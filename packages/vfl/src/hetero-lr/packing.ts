/**
 * The packed encrypted gradient y = X^T [[d]] for one mini-batch under CKKS: the rectangular diagonal
 * method of Halevi and Shoup ("Algorithms in HElib", CRYPTO 2014) with baby-step/giant-step, as used
 * for encrypted matrix-vector products by Juvekar et al. (GAZELLE, 2018).
 *
 * Layout. The batch vector d (B <= W values) is replicated with period W across all S slots (W a power
 * of two dividing S), so a slot rotation acts as a rotation within every W-block. M = X^T is p x B;
 * P = next power of two >= p (P <= W). Diagonal k (0 <= k < P) is
 *   diag_k[i] = M[i mod P][(i + k) mod W],  i in [0, W),
 * and z = sum_k diag_k (.) rot(d, k) has z[i] = sum_k M[i mod P][i+k] d[i+k]; summing the W/P slots
 * i, i+P, i+2P, ... (log2(W/P) rotate-and-adds) leaves y_j in every slot j + tP.
 *
 * Baby-step/giant-step with b = 2^ceil(log2(P)/2) baby steps and G = P / b giant steps:
 *   z = sum_g rot( sum_a rot(diag_{gb+a}, -gb) (.) rot(d, a), gb ),
 * the plaintext diagonals pre-rotated in the clear. Baby rotations are taken one step at a time from
 * the previous one (key for step 1), the giant sum by Horner's rule (key for step b), the fold with keys
 * P, 2P, ..., W/2: the key set is just the powers of two below W (log2 W keys, ~1.4 MB each at N=8192)
 * instead of one key per diagonal.
 *
 * Cost per batch: (b - 1) + (G - 1) + log2(W / P) rotations, P plaintext products (all-zero diagonals
 * skipped), G rescales, one level. For p = 300 features at W = 4096: P = 512, b = 32, G = 16:
 * 31 + 15 + 3 = 49 rotations instead of 300 x 12 = 3,600 for a rotate-and-sum per feature.
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksVector } from '@fedscore/he';

export interface PackedLayout {
  /** Replication period of batch vectors (power of two, divides the slot count). */
  readonly width: number;
  readonly slots: number;
  /** Largest batch size and column count the keys were sized for. */
  readonly batchSize: number;
  readonly columns: number;
  /** The period of a product with `columns` columns: next power of two. */
  gradientPeriod(columns: number): number;
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function packedLayout(batchSize: number, columns: number, slots: number): PackedLayout {
  const width = Math.max(nextPow2(batchSize), nextPow2(columns));
  if (width > slots) {
    throw new FedscoreError(
      'unsupported',
      `a batch of ${batchSize} rows with ${columns} columns needs ${width} slots; the CKKS parameters have ${slots}`,
      { field: batchSize > columns ? 'batchSize' : 'columns' },
    );
  }
  return { width, slots, batchSize, columns, gradientPeriod: nextPow2 };
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
  for (let t = 0; t < slots; t += period) for (let i = 0; i < v.length; i++) out[t + i] = v[i]!;
  return out;
}

/** Baby-step count for P diagonals. */
export function babySteps(P: number): number {
  return 2 ** Math.ceil(Math.log2(P) / 2);
}

/** Operation counts of one packed product (for the docs and benchmarks). */
export function packedCost(
  columns: number,
  width: number,
): { rotations: number; products: number; rescales: number } {
  const P = nextPow2(columns);
  const b = Math.min(babySteps(P), P);
  const G = P / b;
  return { rotations: b - 1 + (G - 1) + Math.log2(width / P), products: P, rescales: G };
}

/**
 * y = X^T d for the batch columns (p arrays of B <= W values) and the encrypted batch vector `d`
 * (period W). Returns a ciphertext of period P holding y_j at slots j + tP, one level below `d`.
 */
export function packedMatVec(
  d: CkksVector,
  columns: readonly Float64Array[],
  rows: number,
  layout: PackedLayout,
): { vector: CkksVector; period: number } {
  const W = layout.width;
  const S = layout.slots;
  const p = columns.length;
  if (p === 0 || p > W)
    throw new FedscoreError('out_of_range', `need 1..${W} columns, got ${p}`, { field: 'columns' });
  columns.forEach((c, j) => {
    if (c.length !== rows) {
      throw new FedscoreError('invalid_argument', `expected ${rows} values, got ${c.length}`, {
        field: `columns[${j}]`,
      });
    }
  });
  const P = nextPow2(p);
  const b = Math.min(babySteps(P), P);
  const G = P / b;

  // Baby steps: rot(d, a) for a < b, one step at a time.
  const babies: CkksVector[] = [d];
  const owned: CkksVector[] = [];
  try {
    for (let a = 1; a < b; a++) {
      const r = babies[a - 1]!.rotate(1);
      babies.push(r);
      owned.push(r);
    }
    // Giant steps, Horner: acc = inner_{G-1}; acc = rot(acc, b) + inner_g.
    let acc: CkksVector | undefined;
    for (let g = G - 1; g >= 0; g--) {
      let inner: CkksVector | undefined;
      for (let a = 0; a < b; a++) {
        const k = g * b + a;
        const diag = rotatedDiagonal(columns, rows, P, W, k, g * b);
        if (diag === undefined) continue;
        const prod = babies[a]!.mul(replicate(diag, W, S), { rescale: false });
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
        inner.dispose();
      }
      if (acc === undefined) acc = innerR;
      else {
        const rotated = acc.rotate(b);
        acc.dispose();
        if (innerR === undefined) acc = rotated;
        else {
          acc = rotated.add(innerR);
          rotated.dispose();
          innerR.dispose();
        }
      }
    }
    if (acc === undefined) {
      // Every diagonal is zero (all-zero columns): an encryption of zero one level down.
      const z = d.mul(0);
      acc = z;
    }
    // Fold: y_j = sum_t z[j + tP].
    for (let s = W / 2; s >= P; s /= 2) {
      const r = acc.rotate(s);
      const sum = acc.add(r);
      acc.dispose();
      r.dispose();
      acc = sum;
    }
    const vector = acc.withLength(p);
    acc.dispose();
    return { vector, period: P };
  } finally {
    for (const o of owned) o.dispose();
  }
}

/**
 * diag_k rotated right by `shift` (so that rotating the product left by `shift` restores it):
 * out[i] = diag_k[(i - shift) mod W] with diag_k[i] = M[i mod P][(i + k) mod W], M[j][c] = columns[j][c]
 * (zero for j >= p or c >= rows). Undefined when all zero.
 */
function rotatedDiagonal(
  columns: readonly Float64Array[],
  rows: number,
  P: number,
  W: number,
  k: number,
  shift: number,
): Float64Array | undefined {
  const out = new Float64Array(W);
  const p = columns.length;
  let any = false;
  for (let i = 0; i < W; i++) {
    const src = (i - shift + W) % W;
    const j = src % P;
    if (j >= p) continue;
    const c = (src + k) % W;
    if (c >= rows) continue;
    const v = columns[j]![c]!;
    if (v !== 0) {
      out[i] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}
