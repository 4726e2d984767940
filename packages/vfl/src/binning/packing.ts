/**
 * Layout of the host's per-bin label sums under CKKS: which output slot and which digit each (feature,
 * bin) "cell" gets, and the rotations the evaluation needs. Both parties derive the same layout from the
 * host's per-bin row counts, so it never travels.
 *
 * The sums are one matrix-vector product: out[t] = sum_u A[t][u] y[u] over the rows u of every
 * 4096-row batch, where A[t][u] = the digit weight of the cell placed at output t if row u falls in it.
 * Two ideas keep it cheap:
 *
 * 1. Mixed-radix digits. Up to K cells share one output slot: cell i of a slot gets weight
 *    prod_{j<i} (count_j + 1), so the slot's value sum_i bad_i * weight_i decodes exactly (bad_i <= count_i)
 *    as long as it stays an exact integer after decryption. The digit budget (`maxDigitBits`, default 30
 *    for the parameters below) bounds prod (count_i + 1); every slot holds K ~ 2 cells of ~10k rows, which
 *    halves the plaintext products.
 * 2. The hybrid diagonal method with baby-step/giant-step (Halevi & Shoup 2014, "Algorithms in HElib";
 *    GAZELLE's hybrid packing, Juvekar et al. 2018): outputs go to blocks of m slots (m a power of two);
 *    for block beta, z = sum_r rot_r(y) * d_r with d_r[s] = A[s mod m][s + r] (r < m), and the outputs are
 *    z folded with period m. With r = g*n1 + b, rot_r(y) * d_r = rot_{g n1}(rot_b(y) * rot_{-g n1}(d_r)):
 *    the n1 - 1 baby rotations of each batch are shared by every block, and the inner sums of all batches
 *    are added before the n2 - 1 giant rotations. No rescale is needed: the labels' exact lift by 2^16
 *    (before the baby rotations, `LABEL_LIFT_BITS`) and one plaintext product at scale 2^24 give 2^80.
 *    The evaluation is @fedscore/he's packed product (he/src/packing.ts, shared with hetero-LR), fed the
 *    diagonals by `ckks-sums.ts`.
 *
 * Cost for B batches, P blocks of m slots: B*P*m plaintext products (all-zero diagonals skipped; + B lifts),
 * B*(n1 - 1) + P*(n2 - 1 + log2(S/m)) rotations. Measured for 100,000 rows x 300 generated features x 10
 * quantile bins (the generated population: ties and missing-value bins leave 2,353 cells, S = 4096): 1,239
 * output slots in 5 blocks of 256, 25 * 1,280 = 32,000 products and 525 rotations with two workers
 * (benchmarks/results/binning.md, docs/protocols/woe-binning.md), against 58,825 products and 28,236
 * rotations for one mask and one rotate-and-sum per cell.
 */
import { FedscoreError } from '@fedscore/core';

/** Exact integers the CKKS decryption (double-precision FFT) and our noise budget carry per slot. */
export const DEFAULT_MAX_DIGIT_BITS = 30;

/**
 * Noise budget of one output slot, log2: sum_i w_i sqrt(c_i + 1) <= 2^21 over its cells. A digit weight w
 * multiplies the noise of every label slot of its cell, so the slot's error has standard deviation
 * sigma sqrt(sum_i w_i^2 c_i) <= sigma 2^21, sigma bounding one label slot's noise in counts. With the
 * labels lifted before their rotations (ckks-sums.ts, `LABEL_LIFT_BITS`) sigma is the label ciphertext's
 * own encryption noise: measured 2^-32.3 (symmetric: what the guest sends), 2^-29.6 (public key); we take
 * 2^-28. With the 1/32 flooding a slot's error then has sd <= hypot(2^-7, 1/32) = 0.032 and leaves the 0.4
 * rounding tolerance with probability below 2^-100 (12 sd); a 2^-40 target would allow 2^23.5. The budget
 * stays 2^21 because both parties derive the layout from it (a change is a protocol change). Before the
 * lift, a rotation's key-switching error -- fixed per key, up to 2^-19.6 of a count on slot 0 of the
 * rotated batch -- times a weight of 2^17.8 put slots 0.1-0.5 off: the budget never modelled it
 * (docs/protocols/woe-binning.md, "Noise").
 */
export const NOISE_BUDGET_BITS = 21;

export interface BinSumLayout {
  readonly slotCount: number;
  readonly rows: number;
  readonly batches: number;
  /** m: outputs per block (power of two dividing slotCount). */
  readonly blockSize: number;
  readonly blocks: number;
  /** n1 (baby steps) and n2 = m / n1 (giant steps). */
  readonly baby: number;
  readonly giant: number;
  /** For each cell: its output position (block * blockSize + slot) and its digit weight. */
  readonly cellPosition: Int32Array;
  readonly cellWeight: Float64Array;
  /** For each output position: its cells in digit order (low digit first). */
  readonly positions: readonly (readonly number[])[];
}

function log2Int(x: number): number {
  return Math.round(Math.log2(x));
}

/**
 * Place cells (given their row counts) into digit slots and choose block and step sizes. Deterministic:
 * the guest and the host compute the same layout from the same counts.
 */
export function planBinSums(
  cellCounts: ArrayLike<number>,
  rows: number,
  slotCount: number,
  maxDigitBits = DEFAULT_MAX_DIGIT_BITS,
): BinSumLayout {
  if (!Number.isInteger(slotCount) || slotCount < 2 || (slotCount & (slotCount - 1)) !== 0) {
    throw new FedscoreError('invalid_argument', `slotCount must be a power of two, got ${slotCount}`, {
      field: 'slotCount',
    });
  }
  if (!Number.isInteger(maxDigitBits) || maxDigitBits < 1 || maxDigitBits > 48) {
    throw new FedscoreError(
      'out_of_range',
      `maxDigitBits must be an integer in [1, 48], got ${maxDigitBits}`,
      {
        field: 'maxDigitBits',
      },
    );
  }
  const C = cellCounts.length;
  const budget = 2 ** maxDigitBits;
  for (let c = 0; c < C; c++) {
    const k = cellCounts[c]!;
    if (!Number.isInteger(k) || k < 0 || k > rows) {
      throw new FedscoreError('out_of_range', `cell ${c} has count ${k}, outside [0, ${rows}]`, {
        field: `cellCounts[${c}]`,
      });
    }
    if (k + 1 > budget) {
      throw new FedscoreError(
        'out_of_range',
        `cell ${c} has ${k} rows, more than ${maxDigitBits} bits hold`,
        {
          field: 'maxDigitBits',
        },
      );
    }
  }
  // First fit, smallest cells first: a later (larger) cell gets the product of the smaller radices as its
  // weight, which costs less noise (w sqrt(c)) than the other way round.
  const order = [...Array(C).keys()].sort((a, b) => cellCounts[a]! - cellCounts[b]! || a - b);
  const positions: number[][] = [];
  const capacity: number[] = [];
  const noise: number[] = [];
  const noiseBudget = 2 ** NOISE_BUDGET_BITS;
  const cellPosition = new Int32Array(C);
  const cellWeight = new Float64Array(C);
  for (const c of order) {
    const radix = cellCounts[c]! + 1;
    const spread = Math.sqrt(radix);
    let p = 0;
    while (
      p < positions.length &&
      (capacity[p]! * radix > budget || noise[p]! + capacity[p]! * spread > noiseBudget)
    ) {
      p++;
    }
    if (p === positions.length) {
      positions.push([]);
      capacity.push(1);
      noise.push(0);
    }
    noise[p] = noise[p]! + capacity[p]! * spread;
    positions[p]!.push(c);
    cellPosition[c] = p;
    cellWeight[c] = capacity[p]!;
    capacity[p] = capacity[p]! * radix;
  }
  const P = Math.max(1, positions.length);
  const batches = Math.max(1, Math.ceil(rows / slotCount));
  // Choose m and n1 minimizing products + 6 x rotations (a rotation costs ~4-9 products on node-seal).
  let best: { m: number; blocks: number; n1: number; cost: number } | undefined;
  for (let m = 1; m <= slotCount; m *= 2) {
    const blocks = Math.ceil(P / m);
    for (let n1 = 1; n1 <= m; n1 *= 2) {
      const n2 = m / n1;
      const products = batches * blocks * m;
      const rotations = batches * (n1 - 1) + blocks * (n2 - 1 + log2Int(slotCount / m));
      const cost = products + 6 * rotations;
      if (best === undefined || cost < best.cost) best = { m, blocks, n1, cost };
    }
  }
  const { m, blocks, n1 } = best!;
  // Positions are renumbered block-major: position p -> block floor(p / m), slot p mod m.
  return {
    slotCount,
    rows,
    batches,
    blockSize: m,
    blocks,
    baby: n1,
    giant: m / n1,
    cellPosition,
    cellWeight,
    positions,
  };
}

/** The rotation steps (Galois keys) the evaluation of `layout` uses. */
export function binSumRotations(layout: BinSumLayout): number[] {
  const steps = new Set<number>();
  for (let b = 1; b < layout.baby; b++) steps.add(b);
  for (let g = 1; g < layout.giant; g++) steps.add(g * layout.baby);
  for (let s = layout.slotCount / 2; s >= layout.blockSize; s /= 2) if (s < layout.slotCount) steps.add(s);
  return [...steps].sort((a, b) => a - b);
}

/** Operation counts of one evaluation (filled in by the evaluator; stated in the protocol doc). */
export interface BinSumCost {
  products: number;
  encodes: number;
  rotations: number;
  additions: number;
  skippedDiagonals: number;
}

/**
 * Decode decrypted output slots (one array of >= blockSize values per block) into the bad count of
 * every cell. Each slot must be within `tolerance` of an integer and every digit within its cell's
 * count; anything else is a `he_precision` error (never a silently wrong count).
 */
export function decodeBinSums(
  layout: BinSumLayout,
  cellCounts: ArrayLike<number>,
  blocks: readonly ArrayLike<number>[],
  tolerance = 0.4,
): Float64Array {
  if (blocks.length !== layout.blocks) {
    throw new FedscoreError('wire_decode', `expected ${layout.blocks} blocks of sums, got ${blocks.length}`, {
      field: 'sums',
    });
  }
  const out = new Float64Array(cellCounts.length);
  const m = layout.blockSize;
  layout.positions.forEach((cells, p) => {
    const block = blocks[Math.floor(p / m)]!;
    const raw = block[p % m];
    if (raw === undefined) {
      throw new FedscoreError('wire_decode', `block ${Math.floor(p / m)} is too short`, { field: 'sums' });
    }
    let v = Math.round(raw);
    if (!(Math.abs(raw - v) <= tolerance) || v < 0) {
      throw new FedscoreError('he_precision', `slot ${p} decrypts to ${raw.toFixed(3)}, not a count`, {
        field: 'sums',
        details: { position: p },
      });
    }
    for (const c of cells) {
      const radix = cellCounts[c]! + 1;
      const digit = v % radix;
      out[c] = digit;
      v = (v - digit) / radix;
    }
    if (v !== 0) {
      throw new FedscoreError('he_precision', `slot ${p} overflows its digits`, {
        field: 'sums',
        details: { position: p },
      });
    }
  });
  return out;
}
