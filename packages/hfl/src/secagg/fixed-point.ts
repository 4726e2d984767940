/**
 * Fixed-point encoding of float vectors into Z_(2^64) for secure aggregation.
 *
 * A value x becomes round(x · 2^scaleBits) as a two's-complement 64-bit word; sums wrap mod 2^64 and the
 * masks cancel in that ring. The sum of `clients` values decodes correctly while it stays inside the
 * signed range, |Σ x_k| · 2^scaleBits < 2^63. So every client's |x| must be at most
 *   maxAbs = 2^(63 − scaleBits) / clients
 * (default scaleBits = 24: 2^39 / clients ≈ 5.5·10^11 / clients), checked before masking with a typed
 * `out_of_range` error. Precision: each encoding rounds by at most 2^−(scaleBits+1), so the decoded sum of
 * n clients is within n · 2^−(scaleBits+1) of the exact float sum (n = 10: 3·10^−7 at the default).
 */
import { FedscoreError } from '@fedscore/core';

export const DEFAULT_SCALE_BITS = 24;
const TWO_63 = 2 ** 63;

/** The largest |x| a client may submit so that the sum of `clients` such values cannot overflow. */
export function maxAbsInput(scaleBits: number, clients: number): number {
  return TWO_63 / 2 ** scaleBits / clients;
}

export function checkScaleBits(scaleBits: number): void {
  if (!Number.isInteger(scaleBits) || scaleBits < 0 || scaleBits > 52) {
    throw new FedscoreError('invalid_argument', 'scaleBits must be an integer in [0, 52]', {
      field: 'scaleBits',
    });
  }
}

/** Encode `values` as 64-bit fixed-point words, refusing any |x| above `maxAbsInput(scaleBits, clients)`. */
export function encodeFixedPoint(values: Float64Array, scaleBits: number, clients: number): BigUint64Array {
  checkScaleBits(scaleBits);
  const limit = maxAbsInput(scaleBits, clients);
  const scale = 2 ** scaleBits;
  const out = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x) || Math.abs(x) > limit) {
      throw new FedscoreError(
        'out_of_range',
        `input value ${i} is not finite or above ${limit} in magnitude: the sum of ${clients} clients would overflow the 64-bit fixed-point ring at scale 2^${scaleBits}`,
        { field: 'input', details: { index: i, limit, clients, scaleBits } },
      );
    }
    out[i] = BigInt.asUintN(64, BigInt(Math.round(x * scale)));
  }
  return out;
}

/** Decode 64-bit words (a sum, in two's complement) back to floats. */
export function decodeFixedPoint(words: BigUint64Array, scaleBits: number): Float64Array {
  checkScaleBits(scaleBits);
  const scale = 2 ** scaleBits;
  const out = new Float64Array(words.length);
  for (let i = 0; i < words.length; i++) out[i] = Number(BigInt.asIntN(64, words[i]!)) / scale;
  return out;
}

/** `acc += v` (mod 2^64), in place. */
export function addInto(acc: BigUint64Array, v: BigUint64Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + v[i]!;
}

/** `acc -= v` (mod 2^64), in place. */
export function subtractInto(acc: BigUint64Array, v: BigUint64Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! - v[i]!;
}
