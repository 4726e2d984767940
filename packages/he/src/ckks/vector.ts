/**
 * The encrypted vector and the encoded plaintext of the CKKS layer: each owns one SEAL object, freed by its
 * `dispose()`, and is tracked by its context's scopes. A vector's arithmetic is its context's evaluator
 * (evaluator.ts), reached through the context it belongs to (`VectorContext`), so this file depends on
 * neither the context nor the evaluator.
 */
import { FedscoreError } from '@fedscore/core';
import type { Ciphertext, Plaintext } from 'node-seal';
import { BLOB_KIND, encodeBlob } from '../blob.ts';
import { sealCall } from '../seal.ts';
import type {
  CkksPlaintext,
  CkksPublicContext,
  CkksVector,
  PlainValues,
  SerializeOptions,
} from '../types.ts';
import { comprMode, type Disposable, type Keys, release } from './handles.ts';

/** What a vector needs of its context (implemented by the context classes of keys.ts). */
export interface VectorContext extends CkksPublicContext {
  readonly keys: Keys;
  track(o: Disposable): void;
  untrack(o: Disposable): void;
  addSub(
    a: CkksVectorImpl,
    other: CkksVector | CkksPlaintext | PlainValues | number,
    subtract: boolean,
  ): CkksVector;
  mul(
    a: CkksVectorImpl,
    other: CkksVector | CkksPlaintext | PlainValues | number,
    rescale: boolean,
  ): CkksVector;
  rescale(a: CkksVectorImpl): CkksVector;
  rotate(a: CkksVectorImpl, steps: number): CkksVector;
  sumSlots(a: CkksVectorImpl): CkksVector;
  polyval(x: CkksVectorImpl, coeffs: readonly number[]): CkksVector;
}

export class CkksPlaintextImpl implements CkksPlaintext {
  readonly pt: Plaintext;
  readonly length: number;
  readonly level: number;
  readonly scale: number;
  readonly isZero: boolean;
  #ctx: VectorContext;
  #disposed = false;

  constructor(ctx: VectorContext, pt: Plaintext, length: number, level: number, scale: number) {
    this.#ctx = ctx;
    this.pt = pt;
    this.length = length;
    this.level = level;
    this.scale = scale;
    this.isZero = pt.isZero();
    ctx.track(this);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    release(this.pt);
    this.#ctx.untrack(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export class CkksVectorImpl implements CkksVector {
  readonly ct: Ciphertext;
  readonly length: number;
  readonly level: number;
  readonly scale: number;
  readonly #ctx: VectorContext;
  #disposed = false;

  constructor(ctx: VectorContext, ct: Ciphertext, length: number, level: number, scale: number) {
    this.#ctx = ctx;
    this.ct = ct;
    this.length = length;
    this.level = level;
    this.scale = scale;
    ctx.track(this);
  }

  get context(): CkksPublicContext {
    return this.#ctx;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    release(this.ct);
    this.#ctx.untrack(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): void {
    if (this.#disposed)
      throw new FedscoreError('invalid_argument', 'vector was disposed', { field: 'vector' });
  }

  add(other: CkksVector | CkksPlaintext | PlainValues | number): CkksVector {
    this.#live();
    return this.#ctx.addSub(this, other, false);
  }

  sub(other: CkksVector | CkksPlaintext | PlainValues | number): CkksVector {
    this.#live();
    return this.#ctx.addSub(this, other, true);
  }

  mul(other: CkksVector | CkksPlaintext | PlainValues | number, options?: { rescale?: boolean }): CkksVector {
    this.#live();
    return this.#ctx.mul(this, other, options?.rescale ?? true);
  }

  square(): CkksVector {
    return this.mul(this);
  }

  neg(): CkksVector {
    this.#live();
    const k = this.#ctx.keys;
    const out = new k.seal.Ciphertext();
    try {
      sealCall('negate', () => k.evaluator.negate(this.ct, out));
    } catch (e) {
      release(out);
      throw e;
    }
    return new CkksVectorImpl(this.#ctx, out, this.length, this.level, this.scale);
  }

  rescale(): CkksVector {
    this.#live();
    return this.#ctx.rescale(this);
  }

  rotate(steps: number): CkksVector {
    this.#live();
    return this.#ctx.rotate(this, steps);
  }

  sum(): CkksVector {
    this.#live();
    return this.#ctx.sumSlots(this);
  }

  dot(values: CkksPlaintext | PlainValues): CkksVector {
    this.#live();
    const prod = this.mul(values);
    try {
      return prod.sum();
    } finally {
      prod.dispose();
    }
  }

  polyval(coeffs: readonly number[]): CkksVector {
    this.#live();
    return this.#ctx.polyval(this, coeffs);
  }

  withLength(length: number): CkksVector {
    this.#live();
    if (!Number.isInteger(length) || length < 0 || length > this.#ctx.slotCount) {
      throw new FedscoreError('out_of_range', `length ${length} outside [0, ${this.#ctx.slotCount}]`, {
        field: 'length',
      });
    }
    return new CkksVectorImpl(this.#ctx, this.ct.copy(), length, this.level, this.scale);
  }

  atLevel(level: number): CkksVector {
    this.#live();
    if (!Number.isInteger(level) || level < 0 || level > this.level) {
      throw new FedscoreError('out_of_range', `level ${level} outside [0, ${this.level}]`, {
        field: 'level',
      });
    }
    if (level === this.level) return this.withLength(this.length);
    const k = this.#ctx.keys;
    const out = new k.seal.Ciphertext();
    try {
      sealCall('mod switch', () => k.evaluator.cipherModSwitchTo(this.ct, k.parmsByLevel[level]!, out));
    } catch (e) {
      out.delete();
      throw e;
    }
    return new CkksVectorImpl(this.#ctx, out, this.length, level, this.scale);
  }

  serialize(options?: SerializeOptions): Uint8Array {
    this.#live();
    const k = this.#ctx.keys;
    const payload = sealCall('serialize ciphertext', () => this.ct.saveToArray(comprMode(k.seal, options)));
    return encodeBlob({
      kind: BLOB_KIND.ciphertext,
      scheme: 'ckks',
      insecure: this.#ctx.insecure,
      fingerprint: this.#ctx.fingerprint,
      meta: { length: this.length },
      payload: payload as Uint8Array,
    });
  }
}

/**
 * The SEAL objects behind a vector and a plaintext, for the benchmark of the layer against raw node-seal
 * calls (benchmarks/src/he-layer.ts). Exported from `@fedscore/he/testing` only.
 */
export function rawCiphertext(v: CkksVector): Ciphertext {
  if (!(v instanceof CkksVectorImpl)) throw new FedscoreError('invalid_argument', 'not a CKKS vector');
  return v.ct;
}

export function rawPlaintext(p: CkksPlaintext): Plaintext {
  if (!(p instanceof CkksPlaintextImpl)) throw new FedscoreError('invalid_argument', 'not a CKKS plaintext');
  return p.pt;
}
