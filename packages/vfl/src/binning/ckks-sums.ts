/**
 * The host's encrypted per-bin label sums under CKKS (layout and cost: `packing.ts`).
 *
 * Input: the guest's labels, one CKKS ciphertext per 4096-row batch, and the host's bin index of every
 * row for every feature (plaintext, never sent). Output: one ciphertext per block whose slot t holds the
 * digit-packed bad counts of the cells placed there, re-randomized and flooded before it leaves: the
 * host adds a fresh encryption of Gaussian noise (sd `floodingStdDev`, in count units) to every slot, so
 * the guest's decryption carries fresh randomness and the evaluation's own rounding noise -- which
 * depends on the host's bin layout -- is drowned; every slot of the returned ciphertexts holds a copy of
 * an output, nothing else (no partial sums: the fold leaves each slot equal to out[slot mod m]).
 */
import { FedscoreError, normal, type ProgressCallback, type Rng } from '@fedscore/core';
import type { CkksParams, CkksPublicContext, CkksVector } from '@fedscore/he';
import type { BinSumCost, BinSumLayout } from './packing.ts';

/**
 * CKKS parameters of the binning protocol: N = 8192 (4096 slots), two 60-bit data primes and a 60-bit
 * special prime (log q = 180 <= 218: 128-bit secure per the HE standard), scale 2^40. One plaintext
 * product deep with no rescale: the product has scale 2^80 in a 120-bit modulus, leaving ~2^38 for the
 * digit-packed counts; encryption noise amplified by the digit weights bounds the digits to ~30 bits.
 */
export const BINNING_CKKS_PARAMS: CkksParams = {
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 60, 60],
  scaleBits: 40,
};

/** Flooding noise on returned sums, in count units: rounding still recovers counts (tolerance 0.4). */
export const DEFAULT_SUM_FLOODING_STDDEV = 1 / 32;

/** One cell: a bin of a feature whose bad count the guest will learn. */
export interface SumCell {
  readonly feature: number;
  readonly bin: number;
}

export interface CkksSumOptions {
  /** Noise for flooding (must be cryptographic outside tests). */
  readonly rng: Rng;
  readonly floodingStdDev?: number;
  readonly progress?: ProgressCallback;
}

/**
 * Evaluate the per-cell label sums. `labels[k]` encrypts rows k*S ... k*S + S - 1; `binIndex[f][row]` is
 * the host's bin of `row` for feature f. Returns one ciphertext per block and the operation counts.
 */
export function evaluateBinSumsCkks(
  ctx: CkksPublicContext,
  labels: readonly CkksVector[],
  layout: BinSumLayout,
  cells: readonly SumCell[],
  binIndex: readonly Uint16Array[],
  options: CkksSumOptions,
): { sums: CkksVector[]; cost: BinSumCost } {
  const partial = partialBinSumsCkks(
    ctx,
    labels,
    layout,
    cells,
    binIndex,
    0,
    layout.batches,
    options.progress,
  );
  try {
    return { sums: floodBinSums(ctx, partial.sums, options), cost: partial.cost };
  } finally {
    for (const v of partial.sums) v.dispose();
  }
}

/**
 * The unflooded sums over batches [from, to) (`labels` holds the ciphertexts of those batches, in
 * order). Linear in the batches: partial results of disjoint ranges add up to the full sums, which is how
 * workers split the work. Never send a partial result: flood the total with `floodBinSums` first.
 */
export function partialBinSumsCkks(
  ctx: CkksPublicContext,
  labels: readonly CkksVector[],
  layout: BinSumLayout,
  cells: readonly SumCell[],
  binIndex: readonly Uint16Array[],
  from: number,
  to: number,
  progress?: ProgressCallback,
): { sums: CkksVector[]; cost: BinSumCost } {
  const S = ctx.slotCount;
  const { blockSize: m, baby: n1, giant: n2, rows } = layout;
  if (S !== layout.slotCount) {
    throw new FedscoreError(
      'he_context_mismatch',
      `layout is for ${layout.slotCount} slots, context has ${S}`,
      {
        field: 'slotCount',
      },
    );
  }
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= layout.batches)) {
    throw new FedscoreError('out_of_range', `batch range [${from}, ${to}) outside [0, ${layout.batches}]`, {
      field: 'batches',
    });
  }
  if (labels.length !== to - from) {
    throw new FedscoreError('invalid_argument', `expected ${to - from} label batches, got ${labels.length}`, {
      field: 'labels',
    });
  }
  if (cells.length !== layout.cellPosition.length) {
    throw new FedscoreError('invalid_argument', 'cells do not match the layout', { field: 'cells' });
  }
  for (const [f, idx] of binIndex.entries()) {
    if (idx.length !== rows) {
      throw new FedscoreError('invalid_argument', `feature ${f} has ${idx.length} rows, expected ${rows}`, {
        field: `binIndex[${f}]`,
      });
    }
  }
  const cost: BinSumCost = { products: 0, encodes: 0, rotations: 0, additions: 0, skippedDiagonals: 0 };

  // Per block: for each feature with cells in it, (slot, weight by bin) entries.
  const blockEntries: { feature: number; slot: number; weights: Float64Array }[][] = [];
  for (let beta = 0; beta < layout.blocks; beta++) blockEntries.push([]);
  const entryOf = new Map<string, { feature: number; slot: number; weights: Float64Array }>();
  cells.forEach((cell, c) => {
    const p = layout.cellPosition[c]!;
    const beta = Math.floor(p / m);
    const key = `${beta}:${cell.feature}:${p % m}`;
    let e = entryOf.get(key);
    if (e === undefined) {
      let maxBin = 0;
      for (const other of cells) if (other.feature === cell.feature) maxBin = Math.max(maxBin, other.bin);
      e = { feature: cell.feature, slot: p % m, weights: new Float64Array(maxBin + 1) };
      entryOf.set(key, e);
      blockEntries[beta]!.push(e);
    }
    e.weights[cell.bin] = layout.cellWeight[c]!;
  });

  const inner: (CkksVector | undefined)[][] = blockEntries.map(() => new Array<CkksVector | undefined>(n2));
  const A = new Float64Array(m * S);
  const diag = new Float64Array(S);
  const release = (v: CkksVector | undefined): void => v?.dispose();
  try {
    for (let k = from; k < to; k++) {
      const base = labels[k - from]!.withLength(S);
      const babies: CkksVector[] = [base];
      try {
        for (let b = 1; b < n1; b++) {
          babies.push(base.rotate(b));
          cost.rotations++;
        }
        const rowOff = k * S;
        const batchRows = Math.min(S, rows - rowOff);
        for (let beta = 0; beta < layout.blocks; beta++) {
          A.fill(0);
          for (const e of blockEntries[beta]!) {
            const idx = binIndex[e.feature]!;
            const w = e.weights;
            const rowBase = e.slot * S;
            for (let u = 0; u < batchRows; u++) {
              const wt = w[idx[rowOff + u]!];
              if (wt !== undefined && wt !== 0) A[rowBase + u]! += wt;
            }
          }
          for (let g = 0; g < n2; g++) {
            const shift = g * n1;
            for (let b = 0; b < n1; b++) {
              let nonzero = false;
              for (let s = 0; s < S; s++) {
                const t = (((s - shift) % m) + m) % m;
                const v = A[t * S + ((s + b) % S)]!;
                diag[s] = v;
                if (v !== 0) nonzero = true;
              }
              if (!nonzero) {
                cost.skippedDiagonals++;
                continue;
              }
              const pt = ctx.encode(diag);
              cost.encodes++;
              try {
                const prod = babies[b]!.mul(pt, { rescale: false });
                cost.products++;
                const prev = inner[beta]![g];
                if (prev === undefined) inner[beta]![g] = prod;
                else {
                  inner[beta]![g] = prev.add(prod);
                  cost.additions++;
                  prev.dispose();
                  prod.dispose();
                }
              } finally {
                pt.dispose();
              }
            }
          }
        }
      } finally {
        for (const v of babies) v.dispose();
      }
      progress?.({
        stage: 'binning: encrypted bin sums',
        done: k + 1 - from,
        total: to - from,
        unit: 'batches',
      });
    }

    const sums: CkksVector[] = [];
    for (let beta = 0; beta < layout.blocks; beta++) {
      let acc: CkksVector | undefined;
      for (let g = 0; g < n2; g++) {
        const v = inner[beta]![g];
        if (v === undefined) continue;
        const r = g === 0 ? v : v.rotate(g * n1);
        if (g !== 0) cost.rotations++;
        if (acc === undefined) acc = r === v ? v.withLength(S) : r;
        else {
          const next = acc.add(r);
          cost.additions++;
          acc.dispose();
          acc = next;
          if (r !== v) r.dispose();
        }
      }
      if (acc === undefined) {
        // No cell of this block has a row: an encryption of zeros at the product scale.
        acc = ctx.encrypt(new Float64Array(S)).mul(ctx.encode(1), { rescale: false });
      }
      for (let s = S / 2; s >= m; s /= 2) {
        const rot = acc.rotate(s);
        const next = acc.add(rot);
        cost.rotations++;
        cost.additions++;
        rot.dispose();
        acc.dispose();
        acc = next;
      }
      sums.push(acc);
    }
    return { sums, cost };
  } finally {
    for (const row of inner) for (const v of row) release(v);
  }
}

/**
 * Re-randomize and flood the total sums before they leave the host: add a fresh encryption of
 * N(0, sd^2) noise in every slot, raised to the product's scale. Returns new vectors.
 */
export function floodBinSums(
  ctx: CkksPublicContext,
  sums: readonly CkksVector[],
  options: { readonly rng: Rng; readonly floodingStdDev?: number },
): CkksVector[] {
  const sd = options.floodingStdDev ?? DEFAULT_SUM_FLOODING_STDDEV;
  if (!(sd >= 0) || !Number.isFinite(sd) || sd > 0.1) {
    throw new FedscoreError('out_of_range', `floodingStdDev must be in [0, 0.1], got ${sd}`, {
      field: 'floodingStdDev',
    });
  }
  const S = ctx.slotCount;
  return sums.map((acc) => {
    const noise = new Float64Array(S);
    for (let s = 0; s < S; s++) noise[s] = normal(options.rng, 0, sd);
    const fresh = ctx.encrypt(noise);
    const one = ctx.encode(1);
    const lifted = fresh.mul(one, { rescale: false });
    try {
      return acc.add(lifted);
    } finally {
      for (const v of [fresh, one, lifted]) v.dispose();
    }
  });
}
