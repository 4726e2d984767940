/** Input checks shared by the additive backends (additive.ts, paillier.ts, plain.ts). */
import { FedscoreError } from '@fedscore/core';

export function toF64(values: ArrayLike<number>, field: string, length?: number): Float64Array {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new FedscoreError('invalid_argument', 'expected an array of numbers', { field });
  }
  if (length !== undefined && values.length !== length) {
    throw new FedscoreError('invalid_argument', `expected ${length} values, got ${values.length}`, { field });
  }
  const out = values instanceof Float64Array ? values : Float64Array.from(values);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new FedscoreError('invalid_argument', `value at index ${i} is not finite`, { field });
    }
  }
  return out;
}

export function mismatch(field: string): FedscoreError {
  return new FedscoreError('he_context_mismatch', 'ciphertext belongs to another backend or context', {
    field,
  });
}

export function checkScalar(s: number): number {
  if (typeof s !== 'number' || !Number.isFinite(s)) {
    throw new FedscoreError('invalid_argument', 'scalar must be a finite number', { field: 'scalar' });
  }
  return s;
}
