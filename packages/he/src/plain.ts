/**
 * The `none` backend of the additive interface (additive.ts): plaintext, for debugging protocols. Flagged
 * `insecure` everywhere; never for real data. Creating one always warns, and loading one needs the
 * receiver's explicit `allowPlaintextScheme` (policy.ts).
 */
import { cryptoRng, FedscoreError, type Logger } from '@fedscore/core';
import { checkScalar, mismatch, toF64 } from './additive-input.ts';
import { BLOB_KIND, type Blob, bytesToHex, decodeBlob, encodeBlob, fingerprintOf, metaInt } from './blob.ts';
import { hePolicy, warnWeak } from './policy.ts';
import type { AdditiveCiphertext, AdditiveHePublic, AdditiveHeSecret, HeLoadOptions } from './types.ts';

class PlainCiphertext implements AdditiveCiphertext {
  readonly scheme = 'none' as const;
  readonly values: Float64Array;
  readonly owner: string;
  constructor(values: Float64Array, owner: string) {
    this.values = values;
    this.owner = owner;
  }
  get length(): number {
    return this.values.length;
  }
  dispose(): void {}
}

export class PlainAdditive implements AdditiveHeSecret {
  readonly scheme = 'none' as const;
  readonly slotCount = Number.MAX_SAFE_INTEGER;
  readonly insecure = true;
  readonly securityBits = 0;
  readonly fingerprint: string;
  readonly description = 'NONE (plaintext debugging backend, no encryption) INSECURE';
  readonly #secret: boolean;
  constructor(fingerprint: string, secret: boolean) {
    this.fingerprint = fingerprint;
    this.#secret = secret;
  }
  #own(a: AdditiveCiphertext, field = 'ciphertext'): PlainCiphertext {
    if (!(a instanceof PlainCiphertext) || a.owner !== this.fingerprint) throw mismatch(field);
    return a;
  }
  #wrap(v: Float64Array): PlainCiphertext {
    return new PlainCiphertext(v, this.fingerprint);
  }
  encrypt(values: ArrayLike<number>): AdditiveCiphertext {
    return this.#wrap(Float64Array.from(toF64(values, 'values')));
  }
  add(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    const x = this.#own(a, 'a');
    const y = this.#own(b, 'b');
    return this.#wrap(Float64Array.from(x.values, (v, i) => v + y.values[i]!));
  }
  sub(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    const x = this.#own(a, 'a');
    const y = this.#own(b, 'b');
    return this.#wrap(Float64Array.from(x.values, (v, i) => v - y.values[i]!));
  }
  addPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return this.#wrap(Float64Array.from(x.values, (e, i) => e + v[i]!));
  }
  mulScalar(a: AdditiveCiphertext, scalar: number): AdditiveCiphertext {
    const s = checkScalar(scalar);
    return this.#wrap(Float64Array.from(this.#own(a).values, (e) => e * s));
  }
  mulPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return this.#wrap(Float64Array.from(x.values, (e, i) => e * v[i]!));
  }
  sum(a: AdditiveCiphertext): AdditiveCiphertext {
    return this.#wrap(Float64Array.of(this.#own(a).values.reduce((s, e) => s + e, 0)));
  }
  dot(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return this.#wrap(Float64Array.of(x.values.reduce((s, e, i) => s + e * v[i]!, 0)));
  }
  dotColumns(a: AdditiveCiphertext, columns: readonly ArrayLike<number>[]): AdditiveCiphertext {
    const x = this.#own(a);
    return this.#wrap(
      Float64Array.from(columns, (c, j) => {
        const v = toF64(c, `columns[${j}]`, x.length);
        return x.values.reduce((s, e, i) => s + e * v[i]!, 0);
      }),
    );
  }
  serializeCiphertext(a: AdditiveCiphertext): Uint8Array {
    const x = this.#own(a);
    return encodeBlob({
      kind: BLOB_KIND.additiveCiphertext,
      scheme: 'none',
      insecure: true,
      fingerprint: this.fingerprint,
      meta: { length: x.length },
      payload: new Uint8Array(Float64Array.from(x.values).buffer),
    });
  }
  deserializeCiphertext(bytes: Uint8Array): AdditiveCiphertext {
    const blob = decodeBlob(bytes, BLOB_KIND.additiveCiphertext, this.fingerprint);
    const n = metaInt(blob.meta, 'length');
    if (blob.payload.length !== n * 8)
      throw new FedscoreError('he_corrupt', 'plain ciphertext size', { field: 'bytes' });
    return this.#wrap(new Float64Array(blob.payload.slice().buffer));
  }
  serializePublic(): Uint8Array {
    return encodeBlob({
      kind: BLOB_KIND.publicContext,
      scheme: 'none',
      insecure: true,
      fingerprint: this.fingerprint,
      meta: {},
      payload: new Uint8Array(0),
    });
  }
  #check(): void {
    if (!this.#secret)
      throw new FedscoreError('unsupported', 'public context cannot decrypt', { field: 'context' });
  }
  decrypt(a: AdditiveCiphertext): Float64Array {
    this.#check();
    return Float64Array.from(this.#own(a).values);
  }
  decryptForRelease(a: AdditiveCiphertext): Float64Array {
    return this.decrypt(a);
  }
  toPublic(): AdditiveHePublic {
    return new PlainAdditive(this.fingerprint, false);
  }
  serializeSecret(): Uint8Array {
    this.#check();
    return encodeBlob({
      kind: BLOB_KIND.secretContext,
      scheme: 'none',
      insecure: true,
      fingerprint: this.fingerprint,
      meta: {},
      payload: new Uint8Array(0),
    });
  }
  dispose(): void {}
}

/** A new `none` backend (warns: values are not encrypted). */
export function createPlain(logger: Logger | undefined): PlainAdditive {
  warnWeak(logger, 'HE backend none: values are NOT encrypted (debugging only)', {
    scheme: 'none',
  });
  const id = bytesToHex(cryptoRng().fillBytes(new Uint8Array(16)));
  return new PlainAdditive(fingerprintOf(['none', id]), true);
}

/** A `none` context from its decoded blob: only on the receiver's explicit opt-in. */
export function loadPlain(blob: Blob, secret: boolean, options: HeLoadOptions): PlainAdditive {
  // 'none': plaintext. Only on the receiver's explicit opt-in, whatever the sender's flag says.
  const policy = hePolicy(options);
  if (!policy.allowPlaintextScheme) {
    throw new FedscoreError(
      'he_insecure_params',
      "the context is scheme 'none' (no encryption); pass allowPlaintextScheme only for debugging",
      { field: 'scheme' },
    );
  }
  if (Object.keys(blob.meta).length > 0 || blob.payload.length > 0 || !blob.insecure) {
    throw new FedscoreError('he_corrupt', "a 'none' context carries nothing", { field: 'meta' });
  }
  warnWeak(policy.logger, "loaded HE scheme 'none': values are NOT encrypted (debugging only)", {
    scheme: 'none',
  });
  return new PlainAdditive(blob.fingerprint, secret);
}
