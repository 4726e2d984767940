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
      '30-bit statistical security stays near 2^-9 for hundreds of releases (2^-8.75 at 480; docs/he.md). ' +
      'Hetero-LR default.',
  },
  // NOT SECURE: the release preset's modulus chain on a ring of N = 2048, where 290 bits of q are far above
  // the 54-bit bound (no security claimed: securityBits 0). It exists so that a smoke run of the
  // arbiter-mode hetero-LR job (benchmarks' `bench all --smoke`) exercises every code path of the default
  // preset -- the same primes, scale and levels, so the same mask capacity (2^40) and value range --
  // with keys ~8x smaller and faster to make. Like any parameters below 128 bits it is refused unless
  // every party opts in to weak parameters (`allowWeakParameters`; a node also needs its config's
  // `accept.weakParameters`), and every context made from it reports `insecure: true`.
  'ckks-2048-smoke-insecure': {
    name: 'ckks-2048-smoke-insecure',
    polyModulusDegree: 2048,
    coeffModulusBits: [60, 60, 55, 55, 60],
    scaleBits: 55,
    levels: 3,
    securityBits: 0,
    description:
      "NOT SECURE, smoke runs only: ckks-16384-release's moduli (60, 60, 55, 55, 60; scale 2^55) at N=2048, " +
      'log q=290 of the 54 bits 128-bit security allows: 1024 slots. Refused without allowWeakParameters; ' +
      'anything measured with it says nothing of a real run.',
  },
};

/** Multiplicative levels of fresh ciphertexts: primes between the first (data) and the special prime. */
export function levelsOf(params: CkksParams): number {
  return params.coeffModulusBits.length - 2;
}

/**
 * The largest |x| SEAL can encode at chain index `level` with `scale` and still hold exactly: the
 * encoded coefficients are about |x| * scale and must stay below half the modulus of that level,
 * Q_level = q_0 ... q_level >= 2^(sum of (bits_i - 1)) (a b-bit prime is at least 2^(b-1)). Beyond it
 * the value wraps around the modulus, and far beyond it (|x| * scale past 2^1024) SEAL's encoder
 * overflows its integer conversion and faults inside the WASM module: the encode path checks this
 * bound before SEAL sees a value.
 */
export function ckksEncodeBound(params: CkksParams, level: number, scale: number): number {
  let bits = 0;
  for (let i = 0; i <= level && i < params.coeffModulusBits.length - 1; i++)
    bits += params.coeffModulusBits[i]! - 1;
  return 2 ** (bits - 1) / scale;
}

/** The arithmetic a value goes through after it is encrypted, for `ckksValueBound`. */
export interface CkksCircuit {
  /** Products (plaintext or ciphertext, each followed by a rescale) on the value's path. Default 0. */
  readonly multiplications?: number;
  /** Bound on |the other factor| of each product (e.g. the largest |weight|). Default 1. */
  readonly factorBound?: number;
  /** Values summed into one result (e.g. features of a linear score, plus one for an offset). Default 1. */
  readonly terms?: number;
}

/**
 * The largest |x| a value may have on entering CKKS so that the circuit's result decodes exactly,
 * derived from the parameters (not a constant):
 * - the result ends at scale 2^scaleBits, and in the deepest case at the last level, where the modulus
 *   is the first prime q_0 alone: |y| 2^scaleBits < q_0 / 2, so |y| < 2^(bits_0 - 2 - scaleBits) (q_0 >=
 *   2^(bits_0 - 1)). This is why the first prime is chosen longer than the scale by the integer bits the
 *   results need (SEAL's examples/5_ckks_basics; Cheon, Kim, Kim & Song 2017, section 3): 'ckks-8192'
 *   (q_0 60 bits, scale 2^40) holds |y| < 2^18, 'ckks-8192-deep' (40, 2^30) |y| < 2^8. The special
 *   (last) prime must be at least as long as q_0 for key switching not to add more noise than the data
 *   level holds; it does not widen the range.
 * - the same bound keeps the encoder's own error small: SEAL encodes in IEEE doubles, with an error of
 *   about |x| 2^-41 at N = 8192 (measured: 338 at |x| = 1e15); below 2^18 that is under 2^-23, the size
 *   of fresh-encryption noise at scale 2^40.
 * - a circuit of k products by factors |f| <= F summed over T terms gives |y| <= |x| F^k T, so
 *   |x| <= bound / (F^k T).
 */
export function ckksValueBound(params: CkksParams, circuit: CkksCircuit = {}): number {
  const k = circuit.multiplications ?? 0;
  const factor = circuit.factorBound ?? 1;
  const terms = circuit.terms ?? 1;
  if (!Number.isInteger(k) || k < 0 || k > levelsOf(params)) {
    throw new FedscoreError('out_of_range', `multiplications must be in [0, ${levelsOf(params)}]`, {
      field: 'circuit.multiplications',
    });
  }
  if (!(factor > 0) || !Number.isFinite(factor) || !(terms >= 1) || !Number.isFinite(terms)) {
    throw new FedscoreError('invalid_argument', 'factorBound must be > 0 and terms >= 1, both finite', {
      field: 'circuit',
    });
  }
  const first = params.coeffModulusBits[0]!;
  return 2 ** (first - 2 - params.scaleBits) / (factor ** k * terms);
}

/**
 * Every value of `column` within `ckksValueBound`: an `out_of_range` error naming the column (`field`) and
 * the row (0-based, in `details.row`), never the value.
 */
export function checkCkksRange(column: ArrayLike<number>, bound: number, field: string): void {
  for (let i = 0; i < column.length; i++) {
    const v = column[i]!;
    if (!(Math.abs(v) <= bound)) {
      throw new FedscoreError(
        'out_of_range',
        Number.isNaN(v)
          ? 'missing value where CKKS needs a number (impute first)'
          : `value outside ±${bound.toPrecision(3)}, the range the CKKS parameters represent exactly; rescale the column (e.g. to thousands) or clip it`,
        { field, details: { row: i, bound } },
      );
    }
  }
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
