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
import {
  type CryptoRng,
  FedscoreError,
  normal,
  type ProgressCallback,
  requireCryptoRng,
} from '@fedscore/core';
import {
  allTasks,
  type CkksParams,
  type CkksPublicContext,
  type CkksVector,
  type DiagonalSource,
  emptyWork,
  evaluatePartial,
  foldBlocks,
  uniformPlan,
} from '@fedscore/he';
import type { BinSumCost, BinSumLayout } from './packing.ts';

/**
 * CKKS parameters of the binning protocol: N = 8192 (4096 slots), two 60-bit data primes and a 60-bit
 * special prime (log q = 180 <= 218: 128-bit secure per the HE standard), scale 2^40. No rescale: the
 * labels lifted to 2^56 (`LABEL_LIFT_BITS`) times diagonals at 2^24 give products at scale 2^80 in a
 * 120-bit modulus, leaving ~2^38 for the digit-packed counts; the double-precision decoding bounds the
 * digits to 30 bits and the label noise amplified by the digit weights is budgeted in packing.ts.
 */
export const BINNING_CKKS_PARAMS: CkksParams = {
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 60, 60],
  scaleBits: 40,
};

/** Flooding noise on returned sums, in count units: rounding still recovers counts (tolerance 0.4). */
export const DEFAULT_SUM_FLOODING_STDDEV = 1 / 32;

/**
 * Bits by which the host lifts the scale of each label batch before its baby-step rotations: an exact
 * product with the constant plaintext 2^16 (the constant term of the polynomial, no rounding), so the batch
 * holds the labels at scale 2^56; the diagonals are encoded at 2^(40 - 16) = 2^24 and the products keep
 * scale 2^80, as before.
 *
 * Why: a rotation's key switching adds an error of absolute size (independent of the scale) that is not
 * zero-mean under a fixed key. Measured at scale 2^40 (docs/protocols/woe-binning.md, "Noise"): slot 0 of a
 * rotated batch is off by 2^-21.8 .. 2^-19.6 of a count, the same for every ciphertext under one key
 * (rms 2^-20.4 over keys), slots 1, 2, ... less and less, against 2^-27 for the random part of the rotation
 * noise. That fits key switching that takes c1's residues mod q_j in [0, q_j) rather than centred: the
 * switched noise sum_j [c1]_j e_j / P then holds (q_j / 2P) (1 + X + ... + X^(N-1)) e_j, whose value at
 * the slot of root zeta^k is ~ e_j(zeta^k) / (1 - zeta^k): large at zeta^1 (slot 0), falling as 1/k
 * (predicted rms 2^-20.5 at slot 0). Row b of a batch lands on slot 0 of the rotation by b, so that error
 * times its cell's digit weight (up to 2^17.8 at 1,000 rows, cells of ~60 rows) put the slot 0.1-0.5 of a
 * count off: the intermittent `he_precision` failure. Lifted by 2^16 it is ~2^-36 of a count; what is left
 * is the label ciphertext's own encryption noise (scaled with the labels, so unchanged relative to them)
 * and the diagonals' encoding rounding at 2^24 (~2^-20 per slot, summed over the bad rows: below 2^-10
 * up to a million rows).
 */
export const LABEL_LIFT_BITS = 16;

/** One cell: a bin of a feature whose bad count the guest will learn. */
export interface SumCell {
  readonly feature: number;
  readonly bin: number;
}

export interface CkksSumOptions {
  /** Noise for flooding (must be cryptographic outside tests). */
  readonly rng: CryptoRng;
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
  // Per block, per feature with cells in it: bin -> output slot within the block (-1: no cell there)
  // and the cell's digit weight. A bin has at most one cell, so one table per (block, feature).
  const maxBin = new Int32Array(binIndex.length);
  for (const cell of cells) maxBin[cell.feature] = Math.max(maxBin[cell.feature]!, cell.bin);
  const blockTables: Map<number, { slot: Int32Array; weight: Float64Array }>[] = [];
  for (let beta = 0; beta < layout.blocks; beta++) blockTables.push(new Map());
  cells.forEach((cell, c) => {
    const p = layout.cellPosition[c]!;
    const tables = blockTables[Math.floor(p / m)]!;
    let t = tables.get(cell.feature);
    if (t === undefined) {
      const size = maxBin[cell.feature]! + 1;
      t = { slot: new Int32Array(size).fill(-1), weight: new Float64Array(size) };
      tables.set(cell.feature, t);
    }
    t.slot[cell.bin] = p % m;
    t.weight[cell.bin] = layout.cellWeight[c]!;
  });
  if (n1 * n2 !== m) {
    throw new FedscoreError('invalid_argument', 'baby times giant steps must be the block size', {
      field: 'layout',
    });
  }

  // The m diagonals of one block of one batch, diagonal-major: D[r * S + s] = d_r[s] (see below), and
  // which are nonzero. Built on the first diagonal the engine asks for (it asks batch by batch, block by
  // block, in diagonal order).
  const D = new Float64Array(m * S);
  const nonzero = new Uint8Array(m);
  let built = -1;
  const fill = (batch: number, beta: number): void => {
    // Scatter every (output t, row u) weight straight into its diagonal: with r = g n1 + b the diagonal
    // index, the entry A[t][u] belongs to r = (u - t) mod m at slot s = (u - b) mod S (so that
    // rot_{g n1}(rot_b(y) * d_r) lands y[u] on an output congruent to t). One pass over each feature's
    // bin indices: no dense A, no per-slot modulo, typed arrays only.
    D.fill(0);
    nonzero.fill(0);
    const rowOff = (from + batch) * S;
    const batchRows = Math.min(S, rows - rowOff);
    for (const [feature, table] of blockTables[beta]!) {
      const idx = binIndex[feature]!.subarray(rowOff, rowOff + batchRows);
      const slotOf = table.slot;
      const weightOf = table.weight;
      for (let u = 0; u < batchRows; u++) {
        const bin = idx[u]!;
        if (bin >= slotOf.length) continue;
        const t = slotOf[bin]!;
        if (t < 0) continue;
        const r = (u - t) & (m - 1);
        D[r * S + ((u - (r & (n1 - 1))) & (S - 1))]! += weightOf[bin]!;
        nonzero[r] = 1;
      }
    }
  };
  // Diagonals at 2^(scaleBits - LABEL_LIFT_BITS): times the lifted batch, the products' scale is 2^80.
  const diagonalScale = 2 ** (ctx.params.scaleBits - LABEL_LIFT_BITS);
  const source: DiagonalSource = (beta, r, level, batch) => {
    const key = batch * layout.blocks + beta;
    if (key !== built) {
      fill(batch, beta);
      built = key;
    }
    if (nonzero[r] === 0) return undefined;
    return { plaintext: ctx.encode(D.subarray(r * S, (r + 1) * S), level, diagonalScale), owned: true };
  };
  // The product of @fedscore/he's packed engine at width S: shared baby steps rotated directly (the keys
  // of `binSumRotations`), no rescale (one plaintext product deep), inner sums of all batches added
  // before the giant steps.
  const plan = uniformPlan(layout.blocks, m, n1, S);
  const work = emptyWork();
  const batches: CkksVector[] = [];
  const lift = ctx.encode(1, undefined, 2 ** LABEL_LIFT_BITS);
  try {
    // Lifted before any rotation (LABEL_LIFT_BITS): the key-switching error stays 2^16 below the labels.
    for (const l of labels) {
      const full = l.withLength(S);
      try {
        batches.push(full.mul(lift, { rescale: false }));
      } finally {
        full.dispose();
      }
    }
    work.products += labels.length;
    const partials = evaluatePartial(batches, plan, allTasks(plan), source, work, {
      rescale: false,
      babyRotations: 'direct',
      onBatch: (done, total) =>
        progress?.({ stage: 'binning: encrypted bin sums', done, total, unit: 'batches' }),
    });
    // A block no cell of which has a row: an encryption of zeros at the product scale.
    const zero = (): CkksVector => {
      const fresh = ctx.encrypt(new Float64Array(S));
      const one = ctx.encode(1);
      try {
        return fresh.mul(one, { rescale: false });
      } finally {
        fresh.dispose();
        one.dispose();
      }
    };
    const sums = foldBlocks(batches[0], plan, partials, work, { zero, fullLength: true });
    const cost: BinSumCost = {
      products: work.products,
      encodes: work.encodes,
      rotations: work.rotations,
      additions: work.additions,
      skippedDiagonals: work.skipped,
    };
    return { sums, cost };
  } finally {
    for (const v of batches) v.dispose();
    lift.dispose();
  }
}

/**
 * Re-randomize and flood the total sums before they leave the host: add a fresh encryption of
 * N(0, sd^2) noise in every slot, raised to the product's scale. Returns new vectors.
 */
export function floodBinSums(
  ctx: CkksPublicContext,
  sums: readonly CkksVector[],
  options: { readonly rng: CryptoRng; readonly floodingStdDev?: number },
): CkksVector[] {
  const rng = requireCryptoRng(options.rng, 'rng');
  const sd = options.floodingStdDev ?? DEFAULT_SUM_FLOODING_STDDEV;
  if (!(sd >= 0) || !Number.isFinite(sd) || sd > 0.1) {
    throw new FedscoreError('out_of_range', `floodingStdDev must be in [0, 0.1], got ${sd}`, {
      field: 'floodingStdDev',
    });
  }
  const S = ctx.slotCount;
  return sums.map((acc) => {
    const noise = new Float64Array(S);
    for (let s = 0; s < S; s++) noise[s] = normal(rng, 0, sd);
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
