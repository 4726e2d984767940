/**
 * The model owner's encrypted evaluation of a linear score on column-packed ciphertexts (one feature of
 * up to N/2 records per ciphertext): sum_j w_j [[x_j]] with the weights as plaintexts (products left
 * unrescaled, one rescale of the sum), then the plaintext `add` vector (intercept, flooding noise and,
 * when the model owner is to learn the result, its mask), then optionally a fresh public-key encryption of
 * zero so the returned ciphertext's randomness is independent of the inputs. No rotations, no
 * relinearization: the data owner's context needs a public key only. Cost per batch: F plaintext products,
 * F - 1 additions, one rescale.
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksPlaintext, CkksPublicContext, CkksVector } from '@fedscore/he';

/** Weight plaintexts encoded once per model and context (undefined for a zero weight). */
export function encodeWeights(
  ctx: CkksPublicContext,
  weights: readonly number[],
): (CkksPlaintext | undefined)[] {
  return weights.map((w) => (w === 0 ? undefined : ctx.encode(w)));
}

export function evaluateLinear(
  ctx: CkksPublicContext,
  features: readonly CkksVector[],
  weights: readonly (CkksPlaintext | undefined)[],
  add: Float64Array,
  rerandomize: boolean,
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
    if (v.length !== length || v.level !== ctx.levels) {
      throw new FedscoreError(
        'protocol_step',
        `feature ciphertext ${j} has ${v.length} values at level ${v.level}`,
        {
          field: `features[${j}]`,
        },
      );
    }
  }
  return ctx.scope(() => {
    let acc: CkksVector | undefined;
    features.forEach((v, j) => {
      const w = weights[j];
      if (w === undefined) return;
      const p = v.mul(w, { rescale: false });
      acc = acc === undefined ? p : acc.add(p);
    });
    let out = acc === undefined ? ctx.encrypt(add) : acc.rescale().add(add);
    if (rerandomize) out = out.add(ctx.encrypt(new Float64Array(length)));
    return out;
  });
}
