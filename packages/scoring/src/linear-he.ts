/**
 * The model owner's encrypted evaluation of a linear score on column-packed ciphertexts (one feature of
 * up to N/2 records per ciphertext): sum_j w_j [[x_j]] with the weights as plaintexts, then the plaintext
 * `add` vector (intercept, flooding noise and, when the model owner is to learn the result, its mask), then
 * optionally a fresh public-key encryption of zero so the returned ciphertext's randomness is independent
 * of the inputs. The arithmetic is @fedscore/he's `linearCombination` (the same code its worker pool runs,
 * so main-thread and pool results agree); this file adds the protocol's checks: the data owner must send
 * one fresh ciphertext per model feature, each holding the block's records. No rotations, no
 * relinearization: the data owner's context needs a public key only. Cost per batch: F plaintext
 * products, F - 1 additions, one rescale.
 */
import { FedscoreError } from '@fedscore/core';
import { type CkksPlaintext, type CkksPublicContext, type CkksVector, linearCombination } from '@fedscore/he';

export function evaluateLinear(
  ctx: CkksPublicContext,
  features: readonly CkksVector[],
  weights: readonly (CkksPlaintext | undefined)[],
  add: Float64Array,
  rerandomize: boolean,
  level = ctx.levels,
  outputLevel?: number,
): CkksVector {
  if (features.length !== weights.length) {
    throw new FedscoreError(
      'protocol_step',
      `expected ${weights.length} feature ciphertexts, got ${features.length}`,
      {
        field: 'features',
      },
    );
  }
  const length = add.length;
  for (const [j, v] of features.entries()) {
    if (v.length !== length || v.level !== level) {
      throw new FedscoreError(
        'protocol_step',
        `feature ciphertext ${j} has ${v.length} values at level ${v.level}`,
        {
          field: `features[${j}]`,
        },
      );
    }
  }
  return linearCombination(ctx, features, weights, {
    add,
    rerandomize,
    ...(outputLevel !== undefined && { outputLevel }),
  });
}

/**
 * The same checks run by the HE worker pool (`linearCombinations` with `level: ctx.levels`) report
 * `invalid_argument` naming `jobs[i].ciphertexts[j]`; to this protocol a malformed feature ciphertext from
 * the data owner is a protocol error naming `features[j]`, as on the main thread.
 */
export function asProtocolError(e: unknown): unknown {
  if (!(e instanceof FedscoreError) || e.code !== 'invalid_argument') return e;
  const m = /^jobs\[\d+\]\.ciphertexts(\[\d+\])?$/.exec(e.field ?? '');
  if (!m) return e;
  return new FedscoreError('protocol_step', e.message.replace(/^field '[^']*': /, ''), {
    field: `features${m[1] ?? ''}`,
    cause: e,
  });
}
