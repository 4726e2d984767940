/**
 * CKKS parameter presets and the 128-bit security check.
 *
 * The bound is the HomomorphicEncryption.org Security Standard (Albrecht et al., 2018), Table 1
 * (classical, ternary/uniform secret, error sigma = 3.2): the largest total coefficient-modulus size log2 q
 * for which the LWE estimator gives >= 128-bit security at ring dimension N. SEAL ships the same numbers
 * (util/hestdparms.h); node-seal's context creation with `tc128` re-checks them.
 */
import { FedscoreError } from '@fedscore/core';
import type { CkksParams, CkksPreset, CkksPresetName } from './types.ts';

/** Max log2 q for 128-bit classical security, by N (HE standard, Table 1). */
export const HE_STANDARD_128: Readonly<Record<number, number>> = {
  1024: 27,
  2048: 54,
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
};

export const CKKS_PRESETS: Readonly<Record<CkksPresetName, CkksPreset>> = {
  'ckks-8192': {
    name: 'ckks-8192',
    polyModulusDegree: 8192,
    coeffModulusBits: [60, 40, 40, 60],
    scaleBits: 40,
    levels: 2,
    securityBits: 128,
    description:
      'N=8192, log q=200 of 218: 4096 slots, 2 levels (a plaintext product and one more), ~20 bits ' +
      'of integer part above the 2^40 scale. Gradients, scoring, degree-3 sigmoid.',
  },
  'ckks-8192-deep': {
    name: 'ckks-8192-deep',
    polyModulusDegree: 8192,
    coeffModulusBits: [40, 30, 30, 30, 30, 40],
    scaleBits: 30,
    levels: 4,
    securityBits: 128,
    description:
      'N=8192, log q=200 of 218: 4096 slots, 4 levels at scale 2^30 (~1e-5 precision, ~10 integer ' +
      'bits). Degree-5/7 polynomials on small inputs.',
  },
  'ckks-16384': {
    name: 'ckks-16384',
    polyModulusDegree: 16384,
    coeffModulusBits: [60, 40, 40, 40, 40, 40, 40, 40, 60],
    scaleBits: 40,
    levels: 7,
    securityBits: 128,
    description:
      'N=16384, log q=400 of 438: 8192 slots, 7 levels at scale 2^40. Deep circuits (polynomial ' +
      'sigmoid of degree up to 15 plus products); ~3-4x the cost of N=8192 per operation.',
  },
  'ckks-16384-release': {
    name: 'ckks-16384-release',
    polyModulusDegree: 16384,
    coeffModulusBits: [60, 60, 55, 55, 60],
    scaleBits: 55,
    levels: 3,
    securityBits: 128,
    description:
      'N=16384, log q=290 of 438: 8192 slots, 2 levels at scale 2^55 released at level 1 (q0 q1 = 120 ' +
      'bits): ~64 bits of integer part for masks of 2^40 and ~2^-34 circuit error, so flooding sized for ' +
      '30-bit statistical security stays below 2^-10 (docs/he.md). Hetero-LR default.',
  },
};

/** Multiplicative levels of fresh ciphertexts: primes between the first (data) and the special prime. */
export function levelsOf(params: CkksParams): number {
  return params.coeffModulusBits.length - 2;
}

/** Resolve a preset name or explicit parameters, validating shape (not security). */
export function resolveParams(params: CkksPresetName | CkksParams | undefined): CkksParams {
  if (params === undefined) return CKKS_PRESETS['ckks-8192'];
  if (typeof params === 'string') {
    const p = CKKS_PRESETS[params as CkksPresetName];
    if (p === undefined) {
      throw new FedscoreError(
        'invalid_argument',
        `unknown CKKS preset '${params}'; choose one of ${Object.keys(CKKS_PRESETS).join(', ')}`,
        { field: 'params' },
      );
    }
    return p;
  }
  const n = params.polyModulusDegree;
  if (!Number.isInteger(n) || n < 1024 || n > 32768 || (n & (n - 1)) !== 0) {
    throw new FedscoreError('invalid_argument', `polyModulusDegree must be a power of two in [1024, 32768]`, {
      field: 'params.polyModulusDegree',
    });
  }
  const bits = params.coeffModulusBits;
  if (!Array.isArray(bits) || bits.length < 2 || bits.some((b) => !Number.isInteger(b) || b < 20 || b > 60)) {
    throw new FedscoreError(
      'invalid_argument',
      'coeffModulusBits must list at least 2 prime sizes, each an integer in [20, 60]',
      { field: 'params.coeffModulusBits' },
    );
  }
  if (!Number.isInteger(params.scaleBits) || params.scaleBits < 10 || params.scaleBits > 60) {
    throw new FedscoreError('invalid_argument', 'scaleBits must be an integer in [10, 60]', {
      field: 'params.scaleBits',
    });
  }
  if (params.scaleBits > (bits[0] ?? 0)) {
    throw new FedscoreError(
      'invalid_argument',
      'scaleBits must not exceed the first prime size (the last level holds value x scale)',
      {
        field: 'params.scaleBits',
      },
    );
  }
  return {
    polyModulusDegree: n,
    coeffModulusBits: [...bits],
    scaleBits: params.scaleBits,
  };
}

/**
 * Classical security of CKKS parameters per the HE standard: 128 when log q is within the 128-bit bound
 * for N, otherwise 0 ("below 128", which we do not try to quantify).
 */
export function ckksSecurityBits(params: CkksParams): number {
  const max = HE_STANDARD_128[params.polyModulusDegree];
  const logQ = params.coeffModulusBits.reduce((a, b) => a + b, 0);
  return max !== undefined && logQ <= max ? 128 : 0;
}

/** Refuse parameters below 128-bit security unless `insecure` is set. Returns the security bits. */
export function checkCkksSecurity(params: CkksParams, insecure: boolean): number {
  const bits = ckksSecurityBits(params);
  if (bits < 128 && !insecure) {
    const logQ = params.coeffModulusBits.reduce((a, b) => a + b, 0);
    const max = HE_STANDARD_128[params.polyModulusDegree];
    throw new FedscoreError(
      'he_insecure_params',
      `CKKS N=${params.polyModulusDegree} with log q=${logQ} exceeds the 128-bit bound ${max} ` +
        '(HomomorphicEncryption.org standard); pass { insecure: true } only for experiments',
      { field: 'params.coeffModulusBits', details: { logQ, max: max ?? 0 } },
    );
  }
  return bits;
}

/** Minimum Paillier modulus for the default (secure) setting: 2048 bits ~ 112-bit security (NIST). */
export const PAILLIER_MIN_SECURE_BITS = 2048;
