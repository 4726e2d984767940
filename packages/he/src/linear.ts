/**
 * Linear combinations of ciphertexts with plaintext weights: sum_j w_j [[x_j]] + a, the evaluation of a
 * linear score on column-packed records (one feature of up to `slotCount` records per ciphertext), as in
 * the encrypted logistic-regression inference of Kim, Song, Kim, Lee & Cheon (2018).
 *
 * The products are left unrescaled and summed, then the sum is rescaled once: F plaintext products, F - 1
 * additions, one rescale and no rotation or relinearization, so a public context with a public key only
 * suffices. A zero weight is skipped (no product). With `rerandomize`, a fresh public-key encryption of zero
 * is added last, so the result's randomness is independent of the inputs (what a party owes before
 * returning a ciphertext to the key holder). Evaluation is deterministic without `rerandomize`: the same
 * inputs give the same ciphertext bytes on any thread (the worker pool relies on it).
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksPlaintext, CkksPublicContext, CkksVector, LinearCombinationOptions } from './types.ts';

/**
 * Encode each weight once as a scalar plaintext for reuse over many batches (undefined for a zero
 * weight, which `linearCombination` skips), at `level` (default: the top; the inputs' level saves a
 * plaintext copy per product). Dispose the plaintexts when the model is no longer used.
 */
export function encodeLinearWeights(
  ctx: CkksPublicContext,
  weights: readonly number[],
  level?: number,
): (CkksPlaintext | undefined)[] {
  weights.forEach((w, j) => {
    if (typeof w !== 'number' || !Number.isFinite(w)) {
      throw new FedscoreError('invalid_argument', `weight ${j} is not a finite number`, {
        field: `weights[${j}]`,
      });
    }
  });
  const out: (CkksPlaintext | undefined)[] = [];
  try {
    for (const w of weights) out.push(w === 0 ? undefined : ctx.encode(w, level));
  } catch (e) {
    for (const p of out) p?.dispose();
    throw e;
  }
  return out;
}

/**
 * `sum_j weights[j] * vectors[j] + add`, rescaled once (one level used), optionally re-randomized. All
 * vectors must have the result's length (`add.length`, else the first vector's). With every weight zero
 * the result is a fresh public-key encryption of `add` at the top level. Inputs are left unchanged.
 */
export function linearCombination(
  ctx: CkksPublicContext,
  vectors: readonly CkksVector[],
  weights: readonly (CkksPlaintext | undefined)[],
  options: LinearCombinationOptions = {},
): CkksVector {
  if (vectors.length !== weights.length) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${weights.length} ciphertexts (one per weight), got ${vectors.length}`,
      { field: 'vectors' },
    );
  }
  const length = options.add?.length ?? vectors[0]?.length;
  if (length === undefined) {
    throw new FedscoreError('invalid_argument', 'no ciphertexts and no `add`: the result length is unknown', {
      field: 'vectors',
    });
  }
  for (const [j, v] of vectors.entries()) {
    if (v.length !== length || (options.level !== undefined && v.level !== options.level)) {
      const want = options.level === undefined ? '' : ` at level ${options.level}`;
      throw new FedscoreError(
        'invalid_argument',
        `ciphertext ${j} has ${v.length} values at level ${v.level}, expected ${length}${want}`,
        { field: `vectors[${j}]` },
      );
    }
  }
  return ctx.scope(() => {
    let acc: CkksVector | undefined;
    vectors.forEach((v, j) => {
      const w = weights[j];
      if (w === undefined) return;
      const p = v.mul(w, { rescale: false });
      acc = acc === undefined ? p : acc.add(p);
    });
    const add = options.add;
    let out: CkksVector;
    if (acc === undefined) out = ctx.encrypt(add ?? new Float64Array(length));
    else out = add === undefined ? acc.rescale() : acc.rescale().add(add);
    if (options.rerandomize === true) out = out.add(ctx.encrypt(new Float64Array(length)));
    if (options.outputLevel !== undefined && options.outputLevel !== out.level) {
      if (
        !(
          Number.isInteger(options.outputLevel) &&
          options.outputLevel >= 0 &&
          options.outputLevel < out.level
        )
      ) {
        throw new FedscoreError(
          'out_of_range',
          `outputLevel ${options.outputLevel} outside [0, ${out.level}] (the result's level)`,
          { field: 'outputLevel' },
        );
      }
      out = out.atLevel(options.outputLevel);
    }
    return out;
  });
}
