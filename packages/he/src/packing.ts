/**
 * Packing layouts for the products protocols need: the hetero-LR gradient g_j = sum_i d_i x_ij (X^T d)
 * with d encrypted (one ciphertext per `slotCount` records) and X in the clear.
 *
 * Column layout (`columnDot`): one feature column of `slotCount` records per plaintext. Per feature:
 * B plaintext products (B = batches), B - 1 additions, then one rotate-and-sum: ceil(log2(min(n, S)))
 * rotations. Total F * ceil(log2 min(n, S)) rotations, one length-1 ciphertext per feature.
 *
 * Diagonal layout (`diagonalDotColumns`): the Halevi-Shoup diagonal method (Halevi & Shoup 2014,
 * "Algorithms in HElib") applied with the rotations on the output side, as in the hybrid method of
 * GAZELLE (Juvekar, Vaikuntanathan & Chandrakasan 2018). For a block of p features (p a power of two):
 *   W_k[m] = x_{(m - k) mod p}[m],   M_k = sum_b [[d_b]] * W_{b,k},   Z = sum_k rot(M_k, k),
 * then slot r of Z summed over slots m = r (mod p) is g_r: fold by rotations p, 2p, ..., S/2. The sum
 * over k is done as a radix-2 tree (rot by p/2, p/4, ..., 1), so every rotation is by a power of two and
 * the Galois keys of `sumRotationSteps(S)` suffice. Rotations per block: (p - 1) + log2(S / p),
 * independent of the number of batches; p * B plaintext products; one ciphertext holds p results.
 * For F = 23 features at S = 4096: 38 rotations instead of 276; for F = 300 (p = 512): 514 instead of 3600.
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksPublicContext, CkksVector } from './types.ts';

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
 * ciphertext. Returns ceil(F / p) ciphertexts; ciphertext c holds features c*p ... c*p + length - 1.
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
  const out: CkksVector[] = [];
  try {
    for (let f0 = 0; f0 < F; f0 += p) {
      out.push(
        ctx.scope(() => {
          const items: CkksVector[] = [];
          const w = new Float64Array(S);
          for (let k = 0; k < p; k++) {
            let mk: CkksVector | undefined;
            for (const [b, ct] of cts.entries()) {
              const off = b * S;
              w.fill(0);
              for (let m = 0; m < ct.length; m++) {
                const col = cols[f0 + ((((m - k) % p) + p) % p)];
                if (col !== undefined) w[m] = col[off + m]!;
              }
              const prod = ct.mul(w.subarray(0, ct.length));
              mk = mk === undefined ? prod : mk.add(prod);
            }
            items.push(mk!.withLength(S));
          }
          let level = items;
          while (level.length > 1) {
            const h = level.length / 2;
            const next: CkksVector[] = [];
            for (let k = 0; k < h; k++) next.push(level[k]!.add(level[k + h]!.rotate(h)));
            level = next;
          }
          let z = level[0]!;
          for (let step = p; step < S; step *= 2) z = z.add(z.rotate(step));
          return z.withLength(Math.min(p, F - f0));
        }),
      );
    }
  } catch (e) {
    for (const v of out) v.dispose();
    throw e;
  }
  return out;
}
