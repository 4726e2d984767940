/**
 * Shamir secret sharing (A. Shamir, "How to Share a Secret", CACM 1979) over the prime field
 * GF(p), p = 2^521 − 1 (a Mersenne prime). The field is larger than 2^256, so a whole 32-byte secret (an
 * X25519 secret key, a self-mask seed) is one field element: no splitting into chunks. A share is
 * (x, y) with x = the holder's 1-based index (public) and y = f(x), 66 bytes big-endian. Any `threshold`
 * shares give the secret by Lagrange interpolation at 0; fewer give no information (the random
 * coefficients are uniform in GF(p), drawn from the caller's cryptographic generator by rejection).
 *
 * Why our own rather than the audited `shamir-secret-sharing` package: that one shares byte-wise over
 * GF(2^8), which caps a scheme at 255 holders and adds a dependency for ~80 lines; here the field and
 * the share format are stated and tested. BigInt arithmetic is not constant-time; shares are computed
 * by the client on its own machine and combined by the server from values it is meant to learn.
 */
import { FedscoreError, type Rng, requireCryptoRng } from '@fedscore/core';

export const SHAMIR_PRIME = (1n << 521n) - 1n;
/** Bytes of a share's y (and of a field element): ceil(521 / 8). */
export const SHARE_BYTES = 66;
export const SECRET_BYTES = 32;

export interface Share {
  /** The holder's evaluation point, 1-based. */
  readonly x: number;
  /** f(x), big-endian, `SHARE_BYTES` long. */
  readonly y: Uint8Array;
}

function mod(a: bigint): bigint {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
}

function inverse(a: bigint): bigint {
  // extended Euclid
  let [oldR, r] = [mod(a), SHAMIR_PRIME];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new FedscoreError('internal', 'no inverse in GF(p)');
  return mod(oldS);
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function bigintToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = v;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  if (x !== 0n) throw new FedscoreError('internal', `value does not fit ${length} bytes`);
  return out;
}

function randomFieldElement(rng: Rng): bigint {
  const buf = new Uint8Array(SHARE_BYTES);
  for (;;) {
    rng.fillBytes(buf);
    buf[0]! &= 0x01; // 521 = 65·8 + 1 bits
    const v = bytesToBigint(buf);
    if (v < SHAMIR_PRIME) return v;
  }
}

/** Split a 32-byte `secret` into shares for holders `xs` (distinct, 1-based), any `threshold` of which recover it. */
export function shamirSplit(secret: Uint8Array, xs: readonly number[], threshold: number, rng: Rng): Share[] {
  requireCryptoRng(rng, 'rng');
  if (secret.length !== SECRET_BYTES) {
    throw new FedscoreError('invalid_argument', `a secret is ${SECRET_BYTES} bytes`, { field: 'secret' });
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new FedscoreError('invalid_argument', `threshold must be in [1, ${xs.length}]`, {
      field: 'threshold',
    });
  }
  if (new Set(xs).size !== xs.length || xs.some((x) => !Number.isInteger(x) || x < 1 || x > 0xffffffff)) {
    throw new FedscoreError('invalid_argument', 'share points must be distinct positive integers', {
      field: 'xs',
    });
  }
  const coeffs = [bytesToBigint(secret)];
  for (let i = 1; i < threshold; i++) coeffs.push(randomFieldElement(rng));
  return xs.map((x) => {
    const bx = BigInt(x);
    let y = 0n;
    for (let i = coeffs.length - 1; i >= 0; i--) y = mod(y * bx + coeffs[i]!);
    return { x, y: bigintToBytes(y, SHARE_BYTES) };
  });
}

/** Recover the 32-byte secret from at least `threshold` shares (all given shares are used). */
export function shamirCombine(shares: readonly Share[], threshold: number): Uint8Array {
  if (shares.length < threshold) {
    throw new FedscoreError('invalid_state', `${shares.length} shares, need ${threshold}`, {
      field: 'shares',
    });
  }
  if (new Set(shares.map((s) => s.x)).size !== shares.length) {
    throw new FedscoreError('invalid_argument', 'two shares at the same point', { field: 'shares' });
  }
  const pts = shares.map((s) => {
    if (s.y.length !== SHARE_BYTES) {
      throw new FedscoreError('invalid_argument', `a share is ${SHARE_BYTES} bytes`, { field: 'shares' });
    }
    return { x: BigInt(s.x), y: bytesToBigint(s.y) };
  });
  let secret = 0n;
  for (let i = 0; i < pts.length; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < pts.length; j++) {
      if (i === j) continue;
      num = mod(num * pts[j]!.x);
      den = mod(den * (pts[j]!.x - pts[i]!.x));
    }
    secret = mod(secret + pts[i]!.y * num * inverse(den));
  }
  if (secret >> 256n !== 0n) {
    throw new FedscoreError('wire_decode', 'shares do not interpolate to a 32-byte secret (corrupt share?)', {
      field: 'shares',
    });
  }
  return bigintToBytes(secret, SECRET_BYTES);
}
