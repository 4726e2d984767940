/**
 * CKKS (Cheon, Kim, Kim, Song 2017, "Homomorphic encryption for arithmetic of approximate numbers") over
 * node-seal 7 / SEAL 4.1: key generation, secret and public contexts (encoding, encryption, decryption,
 * serialization), and the flooding rule for released decryptions. The encrypted vector is vector.ts, its
 * arithmetic evaluator.ts.
 *
 * Conventions of this layer:
 * - `level` = SEAL chain index: primes left to drop. A fresh ciphertext has `levels` (preset) levels.
 * - Products rescale automatically. A plaintext or scalar operand of a product is encoded at scale
 *   q_level (the prime the rescale drops), so the result keeps exactly the input's scale: chains of
 *   plaintext products never drift. Ciphertext x ciphertext products end at scale s^2/q; adding two
 *   operands whose scales differ by less than 1e-3 relative sets one to the other (a relative error of
 *   |s1 - s2| / s1, about 1e-6 with 40-bit primes), larger differences are an error.
 * - Levels are matched automatically (the higher operand is mod-switched down, on a copy).
 * - Multiplying by a plaintext whose encoding is the zero polynomial would make SEAL return a
 *   "transparent" ciphertext (no randomness: anyone can see it is zero), which SEAL rejects. We return a
 *   fresh public-key encryption of zero at the right level and scale instead (costs one encryption).
 * - Every SEAL object is owned by exactly one wrapper and freed by its `dispose()`; temporaries are freed
 *   in `finally`. `deleteLater()` is never used.
 */
import { cryptoRng, FedscoreError, normal, requireCryptoRng } from '@fedscore/core';
import type { GaloisKeys, ParmsIdType, Plaintext, SEALContext } from 'node-seal';
import {
  BLOB_KIND,
  bytesToHex,
  countSections,
  decodeBlob,
  encodeBlob,
  fingerprintOf,
  metaInt,
  packSections,
  unpackSections,
} from '../blob.ts';
import { hePolicy, warnWeak } from '../policy.ts';
import { checkCkksSecurity, ckksEncodeBound, ckksSecurityBits, levelsOf, resolveParams } from '../presets.ts';
import { loadSeal, type Seal, sealCall, wrapSealError } from '../seal.ts';
import type {
  CkksContextOptions,
  CkksParams,
  CkksPlaintext,
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  HeLoadOptions,
  PlainValues,
  ReleaseOptions,
  SerializeOptions,
  SymmetricEncryptOptions,
} from '../types.ts';
import { addSub, type EvalContext, mul, polyval, rescale, rotate, sumSlots } from './evaluator.ts';
import {
  comprMode,
  type Disposable,
  describeParams,
  type Keys,
  rangeError,
  release,
  toFloat64,
} from './handles.ts';
import { CkksPlaintextImpl, CkksVectorImpl } from './vector.ts';

/** Default standard deviation of flooding noise on released decryptions (docs/he.md). */
export const DEFAULT_FLOODING_STDDEV = 2 ** -20;

class CkksPublicContextImpl implements EvalContext {
  readonly scheme = 'ckks' as const;
  readonly keys: Keys;
  readonly params: CkksParams;
  readonly slotCount: number;
  readonly levels: number;
  readonly rotations: readonly number[];
  readonly hasRelinKeys: boolean;
  readonly insecure: boolean;
  readonly securityBits: number;
  readonly fingerprint: string;
  readonly description: string;
  readonly keyId: string;
  readonly defaultScale: number;
  /** Largest |value| a fresh encryption (top level, default scale) holds exactly. */
  readonly freshBound: number;
  readonly rotationSet: ReadonlySet<number>;
  readonly #scopes: Set<Disposable>[] = [];
  #disposed = false;

  constructor(
    keys: Keys,
    params: CkksParams,
    rotations: readonly number[],
    insecure: boolean,
    securityBits: number,
    keyId: string,
  ) {
    this.keys = keys;
    this.params = params;
    this.slotCount = params.polyModulusDegree / 2;
    this.levels = levelsOf(params);
    this.rotations = [...rotations];
    this.rotationSet = new Set(rotations);
    this.hasRelinKeys = keys.relinKeys !== undefined;
    this.insecure = insecure;
    this.securityBits = securityBits;
    this.keyId = keyId;
    this.fingerprint = fingerprintOf([describeParams(params), keyId]);
    this.description = `${describeParams(params)}${insecure ? ' INSECURE' : ''}`;
    this.defaultScale = 2 ** params.scaleBits;
    this.freshBound = ckksEncodeBound(params, this.levels, this.defaultScale);
  }

  // -- scopes -------------------------------------------------------------------------------------

  track(o: Disposable): void {
    this.#scopes[this.#scopes.length - 1]?.add(o);
  }

  untrack(o: Disposable): void {
    this.#scopes[this.#scopes.length - 1]?.delete(o);
  }

  scope<T>(fn: () => T): T {
    const mine = new Set<Disposable>();
    this.#scopes.push(mine);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.#scopes.pop();
      for (const o of mine) o.dispose();
      throw e;
    }
    this.#scopes.pop();
    const keep = new Set<unknown>();
    const visit = (v: unknown, depth: number): void => {
      if (v instanceof CkksVectorImpl || v instanceof CkksPlaintextImpl) keep.add(v);
      else if (depth < 2 && Array.isArray(v)) for (const x of v) visit(x, depth + 1);
      else if (depth < 2 && v !== null && typeof v === 'object')
        for (const x of Object.values(v)) visit(x, depth + 1);
    };
    visit(result, 0);
    for (const o of mine) {
      if (keep.has(o)) this.track(o);
      else o.dispose();
    }
    return result;
  }

  // -- encoding and encryption --------------------------------------------------------------------

  #checkLive(): void {
    if (this.#disposed)
      throw new FedscoreError('invalid_argument', 'HE context was disposed', { field: 'context' });
  }

  /** Encode at `level` with `scale`; constants fill the first `length` slots. */
  encodeRaw(values: PlainValues | number, level: number, scale: number, length: number): CkksPlaintextImpl {
    this.#checkLive();
    const k = this.keys;
    let data: Float64Array;
    if (typeof values === 'number') {
      if (!Number.isFinite(values))
        throw new FedscoreError('invalid_argument', 'scalar is not finite', { field: 'scalar' });
      const bound = ckksEncodeBound(this.params, level, scale);
      if (Math.abs(values) > bound) throw rangeError('scalar', 0, bound);
      data = new Float64Array(length).fill(values);
    } else {
      data = toFloat64(values, 'values', this.slotCount, ckksEncodeBound(this.params, level, scale));
    }
    const pt = new k.seal.Plaintext();
    try {
      sealCall('encode', () => {
        k.encoder.encode(data, scale, pt);
        if (level < this.levels) k.evaluator.plainModSwitchToInplace(pt, k.parmsByLevel[level]!);
      });
    } catch (e) {
      release(pt);
      throw e;
    }
    return new CkksPlaintextImpl(this, pt, typeof values === 'number' ? length : data.length, level, scale);
  }

  /**
   * Two real vectors as one complex one: slot t holds a_t + i sqrt(2) b_t (`imaginaryPart` reads b back).
   * Any linear map (plaintext products, rotations, sums) then acts on both at the cost of one, and a
   * decryption's real part is a's result. The factor i sqrt(2) is the plaintext polynomial
   * Q = X^(N/4) + X^(3N/4): SEAL numbers the slots by the powers of 3 (slot t is the root zeta^(3^t) of
   * X^N + 1), and Q(zeta^(3^t)) = sqrt(2) i for every t (zeta^(N/4) = e^(i pi/4) and 3^t = 1 or 3 mod 8),
   * while the monomial X^(N/2) alone would give i (-1)^t. Integer coefficients (two monomials): the product
   * is exact -- no scale change, no rescale, noise at most doubled. Both at the same level and scale.
   */
  packComplex(a: CkksVector, b: CkksVector): CkksVector {
    const va = this.#own(a, 'a');
    const vb = this.#own(b, 'b');
    if (va.level !== vb.level || Math.abs(va.scale - vb.scale) > 1e-9 * va.scale) {
      throw new FedscoreError('invalid_argument', 'packComplex needs a and b at the same level and scale', {
        field: 'b',
      });
    }
    const k = this.keys;
    const out = new k.seal.Ciphertext();
    try {
      sealCall('pack complex', () => {
        k.evaluator.multiplyPlain(vb.ct, this.#rootPlain(vb.level), out);
        k.evaluator.addInplace(out, va.ct);
      });
    } catch (e) {
      release(out);
      throw e;
    }
    return new CkksVectorImpl(this, out, Math.max(va.length, vb.length), va.level, va.scale);
  }

  /**
   * The imaginary part of a vector packed by `packComplex`, as a vector whose real part is b's result:
   * (-Q) z = 2 b - sqrt(2) i a, declared at twice the scale (exact, no level used).
   */
  imaginaryPart(z: CkksVector): CkksVector {
    const vz = this.#own(z, 'z');
    const k = this.keys;
    const out = new k.seal.Ciphertext();
    try {
      sealCall('imaginary part', () => {
        k.evaluator.multiplyPlain(vz.ct, this.#rootPlain(vz.level), out);
        k.evaluator.negateInplace(out);
        out.setScale(2 * vz.scale);
      });
    } catch (e) {
      release(out);
      throw e;
    }
    return new CkksVectorImpl(this, out, vz.length, vz.level, 2 * vz.scale);
  }

  #own(v: CkksVector, field: string): CkksVectorImpl {
    this.#checkLive();
    if (!(v instanceof CkksVectorImpl) || v.disposed || v.context.fingerprint !== this.fingerprint) {
      throw new FedscoreError('he_context_mismatch', 'not a live vector of this key set', { field });
    }
    return v;
  }

  readonly #rootPlains = new Map<number, Plaintext>();

  /**
   * Q = X^(N/4) + X^(3N/4) at `level`, scale 1, written in SEAL's NTT form: per data prime q, index j
   * holds Q(psi^e) with e = 2 rev(j) + 1 (rev: bit reversal, SEAL's NTT output order) and psi SEAL's
   * minimal primitive 2N-th root of unity mod q, i.e. w^e + w^(3e) with w = psi^(N/4) (a primitive 8th
   * root). Checked on construction: Q decodes to 0 in every slot (Re(sqrt(2) i)); `ckks.test.ts` checks
   * the packing through rotations against float64.
   */
  #rootPlain(level: number): Plaintext {
    const cached = this.#rootPlains.get(level);
    if (cached !== undefined) return cached;
    const k = this.keys;
    const N = this.params.polyModulusDegree;
    const logN = Math.round(Math.log2(N));
    const primes = dataPrimes(k, level);
    const zero = this.encodeRaw(new Float64Array(this.slotCount), level, 1, this.slotCount);
    let bytes: Uint8Array;
    try {
      bytes = sealCall('serialize plaintext', () =>
        Uint8Array.from(zero.pt.saveToArray(k.seal.ComprModeType.none) as Uint8Array),
      );
    } finally {
      zero.dispose();
    }
    const start = bytes.length - 8 * N * primes.length;
    if (start < 0) throw new FedscoreError('internal', 'unexpected plaintext serialization size');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const [p, q] of primes.entries()) {
      const w = modPow(minimalPrimitiveRoot(q, 2 * N), BigInt(N / 4), q);
      const wPow = [1n];
      for (let i = 1; i < 8; i++) wPow.push((wPow[i - 1]! * w) % q);
      for (let j = 0; j < N; j++) {
        let rev = 0;
        for (let bit = 0; bit < logN; bit++) rev |= ((j >> bit) & 1) << (logN - 1 - bit);
        const e = 2 * rev + 1;
        const at = start + 8 * (p * N + j);
        if (view.getBigUint64(at, true) !== 0n)
          throw new FedscoreError('internal', 'unexpected plaintext serialization layout');
        view.setBigUint64(at, (wPow[e % 8]! + wPow[(3 * e) % 8]!) % q, true);
      }
    }
    const pt = new k.seal.Plaintext();
    try {
      sealCall('load plaintext', () => pt.loadFromArray(k.context, bytes));
      const re = sealCall('decode', () => Float64Array.from(k.encoder.decodeFloat64(pt) as Float64Array));
      if (re.some((x) => !(Math.abs(x) < 1e-6)))
        throw new FedscoreError('internal', 'complex packing plaintext failed its self-check');
    } catch (e) {
      release(pt);
      throw e;
    }
    this.#rootPlains.set(level, pt);
    return pt;
  }

  encode(values: PlainValues | number, level?: number, scale?: number): CkksPlaintext {
    const l = level ?? this.levels;
    if (!Number.isInteger(l) || l < 0 || l > this.levels) {
      throw new FedscoreError('out_of_range', `level ${l} outside [0, ${this.levels}]`, { field: 'level' });
    }
    const sc = scale ?? this.defaultScale;
    if (!(Number.isFinite(sc) && sc >= 1)) {
      throw new FedscoreError('out_of_range', `scale must be a finite number >= 1, got ${sc}`, {
        field: 'scale',
      });
    }
    return this.encodeRaw(values, l, sc, this.slotCount);
  }

  encrypt(values: PlainValues): CkksVector {
    return this.encryptWith(values, false);
  }

  encryptWith(values: PlainValues, symmetric: boolean): CkksVector {
    this.#checkLive();
    const data = toFloat64(values, 'values', this.slotCount, this.freshBound);
    const k = this.keys;
    const pt = new k.seal.Plaintext();
    const ct = new k.seal.Ciphertext();
    try {
      sealCall('encrypt', () => {
        k.encoder.encode(data, this.defaultScale, pt);
        if (symmetric) k.encryptor.encryptSymmetric(pt, ct);
        else k.encryptor.encrypt(pt, ct);
      });
    } catch (e) {
      release(ct);
      throw e;
    } finally {
      release(pt);
    }
    return new CkksVectorImpl(this, ct, data.length, this.levels, this.defaultScale);
  }

  encryptBatch(values: PlainValues): CkksVector[] {
    const data = toFloat64(values, 'values', Number.MAX_SAFE_INTEGER, this.freshBound);
    const out: CkksVector[] = [];
    try {
      for (let off = 0; off < data.length; off += this.slotCount) {
        out.push(this.encrypt(data.subarray(off, Math.min(data.length, off + this.slotCount))));
      }
    } catch (e) {
      for (const v of out) v.dispose();
      throw e;
    }
    return out;
  }

  /** A fresh encryption of zero at `level` with `scale` (see the note on zero plaintexts above). */
  encryptZeroAt(level: number, scale: number, length: number): CkksVectorImpl {
    const k = this.keys;
    const ct = new k.seal.Ciphertext();
    try {
      sealCall('encrypt zero', () => {
        k.encryptor.encryptZero(ct);
        if (level < this.levels) k.evaluator.cipherModSwitchToInplace(ct, k.parmsByLevel[level]!);
        ct.setScale(scale);
      });
    } catch (e) {
      release(ct);
      throw e;
    }
    return new CkksVectorImpl(this, ct, length, level, scale);
  }
  // -- evaluation (evaluator.ts) ------------------------------------------------------------------

  addSub(
    a: CkksVectorImpl,
    other: CkksVector | CkksPlaintext | PlainValues | number,
    subtract: boolean,
  ): CkksVector {
    return addSub(this, a, other, subtract);
  }

  mul(
    a: CkksVectorImpl,
    other: CkksVector | CkksPlaintext | PlainValues | number,
    rescale: boolean,
  ): CkksVector {
    return mul(this, a, other, rescale);
  }

  rescale(a: CkksVectorImpl): CkksVector {
    return rescale(this, a);
  }

  rotate(a: CkksVectorImpl, steps: number): CkksVector {
    return rotate(this, a, steps);
  }

  sumSlots(a: CkksVectorImpl): CkksVector {
    return sumSlots(this, a);
  }

  polyval(x: CkksVectorImpl, coeffs: readonly number[]): CkksVector {
    return polyval(this, x, coeffs);
  }

  deserializeVector(bytes: Uint8Array): CkksVector {
    this.#checkLive();
    const blob = decodeBlob(bytes, BLOB_KIND.ciphertext, this.fingerprint);
    const length = metaInt(blob.meta, 'length');
    if (length > this.slotCount)
      throw new FedscoreError('he_corrupt', 'vector length exceeds slots', { field: 'length' });
    const k = this.keys;
    const ct = new k.seal.Ciphertext();
    let level: number;
    try {
      ct.loadFromArray(k.context, blob.payload);
      const cd = k.context.getContextData(ct.parmsId());
      try {
        level = cd.chainIndex();
      } finally {
        release(cd);
      }
      if (level > this.levels) throw new FedscoreError('he_corrupt', 'ciphertext level out of range');
    } catch (e) {
      release(ct);
      if (e instanceof FedscoreError) throw e;
      throw new FedscoreError('he_corrupt', `ciphertext does not load: ${wrapSealError('load', e).message}`, {
        field: 'bytes',
        cause: e,
      });
    }
    return new CkksVectorImpl(this, ct, length, level, ct.scale());
  }

  serializeParts(options: SerializeOptions | undefined, withSecret: boolean): Uint8Array {
    this.#checkLive();
    const k = this.keys;
    const mode = comprMode(k.seal, options);
    const parts: Uint8Array[] = [
      sealCall('serialize public key', () => k.publicKey.saveToArray(mode) as Uint8Array),
      k.relinKeys
        ? sealCall('serialize relin keys', () => k.relinKeys!.saveToArray(mode) as Uint8Array)
        : new Uint8Array(0),
      k.galoisKeys
        ? (k.galoisSeeded ??
          sealCall('serialize galois keys', () => k.galoisKeys!.saveToArray(mode) as Uint8Array))
        : new Uint8Array(0),
    ];
    if (withSecret) {
      if (k.secretKey === undefined) throw new FedscoreError('internal', 'no secret key in this context');
      parts.push(sealCall('serialize secret key', () => k.secretKey!.saveToArray(mode) as Uint8Array));
    }
    return encodeBlob({
      kind: withSecret ? BLOB_KIND.secretContext : BLOB_KIND.publicContext,
      scheme: 'ckks',
      insecure: this.insecure,
      fingerprint: this.fingerprint,
      meta: {
        params: this.params,
        rotations: this.rotations,
        keyId: this.keyId,
        relin: k.relinKeys !== undefined,
        galois: k.galoisKeys !== undefined,
      },
      payload: packSections(parts),
    });
  }

  serialize(options?: SerializeOptions): Uint8Array {
    return this.serializeParts(options, false);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const pt of this.#rootPlains.values()) release(pt);
    this.#rootPlains.clear();
    disposeKeys(this.keys);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

class CkksSecretContextImpl extends CkksPublicContextImpl implements CkksSecretContext {
  encryptSymmetric(values: PlainValues): CkksVector {
    return this.encryptWith(values, true);
  }

  encryptSymmetricSerialized(values: PlainValues, options?: SymmetricEncryptOptions): Uint8Array {
    const level = options?.level ?? this.levels;
    if (!Number.isInteger(level) || level < 0 || level > this.levels) {
      throw new FedscoreError('out_of_range', `level ${level} outside [0, ${this.levels}]`, {
        field: 'level',
      });
    }
    const bound =
      level === this.levels ? this.freshBound : ckksEncodeBound(this.params, level, this.defaultScale);
    const data = toFloat64(values, 'values', this.slotCount, bound);
    const k = this.keys;
    const pt = new k.seal.Plaintext();
    try {
      const payload = sealCall('encrypt symmetric', () => {
        k.encoder.encode(data, this.defaultScale, pt);
        // Dropping the plaintext's last primes before encrypting gives a seeded ciphertext at `level`:
        // fewer primes, proportionally fewer bytes (the seed stands for c1 at any level).
        if (level < this.levels) k.evaluator.plainModSwitchToInplace(pt, k.parmsByLevel[level]!);
        const sc = k.encryptor.encryptSymmetricSerializable(pt);
        try {
          return sc.saveToArray(comprMode(k.seal, options)) as Uint8Array;
        } finally {
          release(sc);
        }
      });
      return encodeBlob({
        kind: BLOB_KIND.ciphertext,
        scheme: 'ckks',
        insecure: this.insecure,
        fingerprint: this.fingerprint,
        meta: { length: data.length },
        payload,
      });
    } finally {
      release(pt);
    }
  }

  decrypt(vector: CkksVector): Float64Array {
    const v = vector as CkksVectorImpl;
    if (!(v instanceof CkksVectorImpl) || v.context.fingerprint !== this.fingerprint) {
      throw new FedscoreError('he_context_mismatch', 'vector belongs to another HE context', {
        field: 'vector',
      });
    }
    if (v.disposed) throw new FedscoreError('invalid_argument', 'vector was disposed', { field: 'vector' });
    const k = this.keys;
    const pt = new k.seal.Plaintext();
    try {
      const all = sealCall('decrypt', () => {
        k.decryptor!.decrypt(v.ct, pt);
        return k.encoder.decodeFloat64(pt) as Float64Array;
      });
      return all.slice(0, v.length);
    } finally {
      release(pt);
    }
  }

  decryptForRelease(vector: CkksVector, options?: ReleaseOptions): Float64Array {
    const sd = options?.noiseStdDev ?? DEFAULT_FLOODING_STDDEV;
    if (!(sd > 0) || !Number.isFinite(sd)) {
      throw new FedscoreError('out_of_range', 'noiseStdDev must be a positive finite number', {
        field: 'noiseStdDev',
      });
    }
    return floodNoise(this.decrypt(vector), sd, options);
  }

  toPublic(): CkksPublicContext {
    const k = this.keys;
    const clone = <T extends { clone(): T }>(o: T | undefined): T | undefined => o?.clone();
    const keys: Keys = {
      seal: k.seal,
      context: k.context.clone(),
      encoder: k.encoder.clone(),
      evaluator: k.evaluator.clone(),
      encryptor: new k.seal.Encryptor(k.context, k.publicKey),
      publicKey: k.publicKey.clone(),
      relinKeys: clone(k.relinKeys),
      galoisKeys: clone(k.galoisKeys),
      galoisSeeded: k.galoisSeeded,
      secretKey: undefined,
      decryptor: undefined,
      parmsByLevel: k.parmsByLevel.map((p) => p.clone()),
      primeByLevel: k.primeByLevel,
    };
    return new CkksPublicContextImpl(
      keys,
      this.params,
      this.rotations,
      this.insecure,
      this.securityBits,
      this.keyId,
    );
  }

  serializeSecret(options?: SerializeOptions): Uint8Array {
    return this.serializeParts(options, true);
  }
}

/** Statistical security (bits) of flooding unless a caller asks for more: OpenFHE's default, LMSS's minimum. */
export const MIN_FLOODING_SECURITY_BITS = 30;

/**
 * The flooding standard deviation that hides a decryption error of at most `errorBound` (value units,
 * per released value) over `decryptions` released decryptions under one key, at `statisticalSecurity`
 * bits: sd = sqrt(12 t) 2^(s/2) E. This is the rule of OpenFHE's NOISE_FLOODING_DECRYPT mode
 * (log2 sd = s/2 + log2 sqrt(12 t) + log2 E; t = numAdversarialQueries) after B. Li, D. Micciancio,
 * M. Schultz, J. Sorrell, "Securing approximate homomorphic encryption using differential privacy",
 * CRYPTO 2022 (bit security of key recovery against IND-CPA-D adversaries making t decryption queries),
 * following B. Li, D. Micciancio, EUROCRYPT 2021. `errorBound` must bound the circuit's error (measure
 * it: hetero-LR states its bound per preset with the test that checks it).
 */
export function floodingStdDev(
  errorBound: number,
  decryptions: number,
  statisticalSecurity = MIN_FLOODING_SECURITY_BITS,
): number {
  if (!(errorBound > 0) || !Number.isFinite(errorBound)) {
    throw new FedscoreError('out_of_range', 'errorBound must be a positive finite number', {
      field: 'errorBound',
    });
  }
  if (!Number.isInteger(decryptions) || decryptions < 1) {
    throw new FedscoreError('out_of_range', 'decryptions must be a positive integer', {
      field: 'decryptions',
    });
  }
  if (!Number.isInteger(statisticalSecurity) || statisticalSecurity < MIN_FLOODING_SECURITY_BITS) {
    throw new FedscoreError(
      'out_of_range',
      `statisticalSecurity must be an integer >= ${MIN_FLOODING_SECURITY_BITS}`,
      {
        field: 'statisticalSecurity',
      },
    );
  }
  return Math.sqrt(12 * decryptions) * 2 ** (statisticalSecurity / 2) * errorBound;
}

/**
 * The grid released values are rounded to after flooding: the power of two at or below sd / 16 (rounding
 * drops low-order bits that carry nothing but noise; the rounding error, <= sd / 32, is negligible).
 */
export function releaseGrid(sd: number): number {
  return 2 ** (Math.floor(Math.log2(sd)) - 4);
}

/** Round every value to a multiple of `grid` (a power of two), in place; returns `values`. */
export function roundToGrid(values: Float64Array, grid: number): Float64Array {
  for (let i = 0; i < values.length; i++) values[i] = Math.round(values[i]! / grid) * grid;
  return values;
}

/** Add N(0, sd^2) noise to every value (the decryption-for-release policy). */
export function floodNoise(values: Float64Array, sd: number, options?: ReleaseOptions): Float64Array {
  // Flooding noise is secret (it hides the decryption error): never from a seeded generator.
  const rng = options?.rng === undefined ? cryptoRng() : requireCryptoRng(options.rng, 'rng');
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! + normal(rng, 0, sd);
  return out;
}

function disposeKeys(k: Keys): void {
  for (const o of [
    k.decryptor,
    k.secretKey,
    k.galoisKeys,
    k.relinKeys,
    k.publicKey,
    k.encryptor,
    k.evaluator,
    k.encoder,
    ...k.parmsByLevel,
    k.context,
  ]) {
    if (o !== undefined) release(o);
  }
}

// ---------------------------------------------------------------------------------------------------
// Construction and loading.
// ---------------------------------------------------------------------------------------------------

interface Built {
  context: SEALContext;
  parmsByLevel: ParmsIdType[];
  primeByLevel: number[];
}

/**
 * SEAL contexts by parameters, per loaded SEAL module: building one (NTT tables, the modulus-switching
 * chain) takes seconds at N = 16384, and it holds public parameters only (no key), so every key set of
 * the same parameters in this process -- a guest's and a host's context, the next run's -- shares it.
 * Each caller gets its own handles (embind clones: `release` drops the handle, the context stays for the
 * next caller), at most one context per parameter set is kept.
 */
const sealContexts = new WeakMap<Seal, Map<string, Built>>();

function buildSealContext(seal: Seal, params: CkksParams, insecure: boolean): Built {
  let bySeal = sealContexts.get(seal);
  if (bySeal === undefined) {
    bySeal = new Map();
    sealContexts.set(seal, bySeal);
  }
  const key = `${describeParams(params)}|${insecure}`;
  let built = bySeal.get(key);
  if (built === undefined) {
    built = buildSealContextUncached(seal, params, insecure);
    bySeal.set(key, built);
  }
  const shared = built;
  return sealCall('share context', () => ({
    context: shared.context.clone(),
    parmsByLevel: shared.parmsByLevel.map((p) => p.clone()),
    primeByLevel: [...shared.primeByLevel],
  }));
}

function buildSealContextUncached(seal: Seal, params: CkksParams, insecure: boolean): Built {
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  let coeff: ReturnType<Seal['CoeffModulus']['Create']> | undefined;
  try {
    return sealCall('create context', () => {
      parms.setPolyModulusDegree(params.polyModulusDegree);
      coeff = seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
      parms.setCoeffModulus(coeff);
      const context = new seal.SEALContext(
        parms,
        true,
        insecure ? seal.SecLevelType.none : seal.SecLevelType.tc128,
      );
      if (!context.parametersSet()) {
        const why = context.toHuman();
        release(context);
        throw new FedscoreError(
          insecure ? 'he_error' : 'he_insecure_params',
          `SEAL rejected the parameters: ${why}`,
          { field: 'params' },
        );
      }
      const parmsByLevel: ParmsIdType[] = [];
      const primeByLevel: number[] = [];
      // Walk the modulus-switching chain from the first data level down to level 0 (a fixed count: the
      // handle past the last level points to null and must not be touched).
      let cd = context.firstContextData();
      for (let level = levelsOf(params); level >= 0; level--) {
        if (cd.chainIndex() !== level) {
          release(cd);
          throw new FedscoreError('internal', `unexpected chain index ${cd.chainIndex()} at level ${level}`);
        }
        parmsByLevel[level] = cd.parmsId();
        const ep = cd.parms();
        const mods = ep.coeffModulus();
        const last = mods.get(mods.size() - 1);
        primeByLevel[level] = Number(last?.value() ?? 0n);
        if (last !== undefined) release(last);
        release(mods);
        release(ep);
        const next = level > 0 ? cd.nextContextData() : undefined;
        release(cd);
        if (next === undefined) break;
        cd = next;
      }
      return { context, parmsByLevel, primeByLevel };
    });
  } finally {
    if (coeff !== undefined) release(coeff);
    release(parms);
  }
}

function normalizeRotations(rotations: readonly number[] | undefined, slotCount: number): number[] {
  const out = new Set<number>();
  for (const [i, r] of (rotations ?? []).entries()) {
    if (!Number.isInteger(r) || r === 0 || Math.abs(r) >= slotCount) {
      throw new FedscoreError(
        'invalid_argument',
        `rotation ${r} must be a non-zero integer with |r| < ${slotCount}`,
        {
          field: `rotations[${i}]`,
        },
      );
    }
    out.add(r);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Create a fresh CKKS key set (secret context). Parameters default to 'ckks-8192'; parameters below the
 * 128-bit HE-standard bound throw `he_insecure_params` unless `allowWeakParameters: true` (then always
 * warned about).
 */
export async function createCkksContext(options: CkksContextOptions = {}): Promise<CkksSecretContext> {
  const params = resolveParams(options.params);
  const insecure = ckksSecurityBits(params) < 128;
  const securityBits = checkCkksSecurity(params, hePolicy(options).allowWeakParameters);
  const rotations = normalizeRotations(options.rotations, params.polyModulusDegree / 2);
  const seal = await loadSeal();
  const built = buildSealContext(seal, params, insecure);
  const keyIdBytes = cryptoRng().fillBytes(new Uint8Array(16));
  const keys = sealCall('key generation', () => {
    const gen = new seal.KeyGenerator(built.context);
    try {
      const secretKey = gen.secretKey();
      const publicKey = gen.createPublicKey();
      const relinKeys = options.relinearization === false ? undefined : gen.createRelinKeys();
      // Seeded serialization (about half the bytes on the wire), expanded once for this context's own use.
      let galoisSeeded: Uint8Array | undefined;
      let galoisKeys: GaloisKeys | undefined;
      if (rotations.length > 0) {
        const serializable = gen.createGaloisKeysSerializableWithSteps(Int32Array.from(rotations));
        try {
          galoisSeeded = serializable.saveToArray(seal.ComprModeType.zstd) as Uint8Array;
        } finally {
          release(serializable);
        }
        galoisKeys = new seal.GaloisKeys();
        galoisKeys.loadFromArray(built.context, galoisSeeded);
      }
      const k: Keys = {
        seal,
        context: built.context,
        encoder: new seal.CKKSEncoder(built.context),
        evaluator: new seal.Evaluator(built.context),
        encryptor: new seal.Encryptor(built.context, publicKey, secretKey),
        publicKey,
        relinKeys,
        galoisKeys,
        galoisSeeded,
        secretKey,
        decryptor: new seal.Decryptor(built.context, secretKey),
        parmsByLevel: built.parmsByLevel,
        primeByLevel: built.primeByLevel,
      };
      return k;
    } finally {
      release(gen);
    }
  });
  const ctx = new CkksSecretContextImpl(
    keys,
    params,
    rotations,
    insecure,
    securityBits,
    bytesToHex(keyIdBytes),
  );
  if (insecure) {
    warnWeak(options.logger, 'HE context with INSECURE parameters', {
      scheme: 'ckks',
      description: ctx.description,
    });
  }
  return ctx;
}

async function loadContext(
  bytes: Uint8Array,
  secret: boolean,
  options: HeLoadOptions,
): Promise<CkksPublicContextImpl> {
  const blob = decodeBlob(bytes, secret ? BLOB_KIND.secretContext : BLOB_KIND.publicContext);
  if (blob.scheme !== 'ckks')
    throw new FedscoreError('invalid_argument', `not a CKKS context (${blob.scheme})`, { field: 'scheme' });
  if (options.expected?.scheme !== undefined && options.expected.scheme !== 'ckks') {
    throw new FedscoreError(
      'he_context_mismatch',
      `the plan uses ${options.expected.scheme}, the context is CKKS`,
      { field: 'scheme' },
    );
  }
  const meta = blob.meta as {
    params?: CkksParams;
    rotations?: number[];
    keyId?: string;
    relin?: boolean;
    galois?: boolean;
  };
  if (meta.params === undefined || typeof meta.keyId !== 'string' || !Array.isArray(meta.rotations)) {
    throw new FedscoreError('he_corrupt', 'HE context meta incomplete', { field: 'meta' });
  }
  const params = resolveParams(meta.params);
  if (fingerprintOf([describeParams(params), meta.keyId]) !== blob.fingerprint) {
    throw new FedscoreError('he_corrupt', 'HE context fingerprint does not match its parameters', {
      field: 'fingerprint',
    });
  }
  // The receiver judges the parameters themselves; the sender's flag is only checked for consistency.
  const policy = hePolicy(options);
  const insecure = ckksSecurityBits(params) < 128;
  const securityBits = checkCkksSecurity(params, policy.allowWeakParameters);
  if (blob.insecure !== insecure) {
    throw new FedscoreError('he_corrupt', "the blob's insecure flag contradicts its parameters", {
      field: 'flags.insecure',
    });
  }
  if (insecure) {
    warnWeak(policy.logger, 'loaded an HE context with INSECURE parameters', {
      scheme: 'ckks',
      degree: params.polyModulusDegree,
    });
  }
  const rotations = normalizeRotations(meta.rotations, params.polyModulusDegree / 2);
  // A public context never carries a secret key, a secret one always does: count the sections first,
  // so that a secret key in a "public" blob is refused by name rather than loaded or half-parsed.
  const sectionCount = countSections(blob.payload);
  if (!secret && sectionCount > 3) {
    throw new FedscoreError('he_corrupt', 'a public HE context blob carries a secret key section', {
      field: 'secretKey',
    });
  }
  if (secret && sectionCount < 4) {
    throw new FedscoreError('he_corrupt', 'a secret HE context blob carries no secret key', {
      field: 'secretKey',
    });
  }
  const sections = unpackSections(blob.payload, secret ? 4 : 3, 'HE context');
  const seal = await loadSeal();
  const built = buildSealContext(seal, params, insecure);
  const made: { delete(): void }[] = [];
  try {
    const load = <T extends { loadFromArray(c: SEALContext, b: Uint8Array): void; delete(): void }>(
      o: T,
      b: Uint8Array,
      what: string,
    ): T => {
      made.push(o);
      try {
        o.loadFromArray(built.context, b);
      } catch (e) {
        throw new FedscoreError('he_corrupt', `${what} does not load: ${wrapSealError('load', e).message}`, {
          field: what,
          cause: e,
        });
      }
      return o;
    };
    const publicKey = load(new seal.PublicKey(), sections[0]!, 'publicKey');
    const relinKeys = meta.relin ? load(new seal.RelinKeys(), sections[1]!, 'relinKeys') : undefined;
    const galoisKeys = meta.galois ? load(new seal.GaloisKeys(), sections[2]!, 'galoisKeys') : undefined;
    const secretKey = secret ? load(new seal.SecretKey(), sections[3]!, 'secretKey') : undefined;
    const keys: Keys = sealCall('load context', () => ({
      seal,
      context: built.context,
      encoder: new seal.CKKSEncoder(built.context),
      evaluator: new seal.Evaluator(built.context),
      encryptor: secretKey
        ? new seal.Encryptor(built.context, publicKey, secretKey)
        : new seal.Encryptor(built.context, publicKey),
      publicKey,
      relinKeys,
      galoisKeys,
      secretKey,
      decryptor: secretKey ? new seal.Decryptor(built.context, secretKey) : undefined,
      parmsByLevel: built.parmsByLevel,
      primeByLevel: built.primeByLevel,
    }));
    const Impl = secret ? CkksSecretContextImpl : CkksPublicContextImpl;
    return new Impl(keys, params, rotations, insecure, securityBits, meta.keyId);
  } catch (e) {
    for (const o of made) release(o);
    for (const p of built.parmsByLevel) release(p);
    release(built.context);
    throw e;
  }
}

/** Load a public context (encrypt and evaluate only). */
export async function loadCkksPublicContext(
  bytes: Uint8Array,
  options: HeLoadOptions = {},
): Promise<CkksPublicContext> {
  return loadContext(bytes, false, options);
}

/** Load a secret context (made by `serializeSecret()`). */
export async function loadCkksSecretContext(
  bytes: Uint8Array,
  options: HeLoadOptions = {},
): Promise<CkksSecretContext> {
  return (await loadContext(bytes, true, options)) as CkksSecretContextImpl;
}

/**
 * The SEAL objects behind a context, for the benchmark of the layer against raw node-seal calls
 * (benchmarks/src/he-layer.ts). Exported from `@fedscore/he/testing` only.
 */
export function rawHandles(ctx: CkksPublicContext): Keys {
  if (!(ctx instanceof CkksPublicContextImpl))
    throw new FedscoreError('invalid_argument', 'not a CKKS context');
  return ctx.keys;
}

/** The data primes q_0 ... q_level of the chain at `level`. */
function dataPrimes(k: Keys, level: number): bigint[] {
  const cd = k.context.getContextData(k.parmsByLevel[level]!);
  try {
    const ep = cd.parms();
    try {
      const mods = ep.coeffModulus();
      try {
        const out: bigint[] = [];
        for (let i = 0; i < mods.size(); i++) {
          const m = mods.get(i);
          if (m === undefined) continue;
          out.push(BigInt(m.value()));
          release(m);
        }
        return out;
      } finally {
        release(mods);
      }
    } finally {
      release(ep);
    }
  } finally {
    release(cd);
  }
}

function modPow(base: bigint, exp: bigint, q: bigint): bigint {
  let r = 1n;
  let b = base % q;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % q;
    b = (b * b) % q;
    e >>= 1n;
  }
  return r;
}

/** The smallest primitive `order`-th root of unity mod the prime q (order a power of two dividing q - 1), as SEAL picks it. */
function minimalPrimitiveRoot(q: bigint, order: number): bigint {
  const n = BigInt(order);
  let root = 0n;
  for (let c = 2n; c < q; c++) {
    const r = modPow(c, (q - 1n) / n, q);
    if (modPow(r, n / 2n, q) === q - 1n) {
      root = r;
      break;
    }
  }
  // The primitive roots are root^(odd): walk them by root^2 and keep the smallest.
  const step = (root * root) % q;
  let best = root;
  let cur = root;
  for (let i = 1; i < order / 2; i++) {
    cur = (cur * step) % q;
    if (cur < best) best = cur;
  }
  return best;
}
