/**
 * The additive-HE backends behind one interface (`AdditiveHeSecret` / `AdditiveHePublic`):
 *
 * - `ckks`: CKKS vectors (approximate; errors ~1e-7 relative at scale 2^40), batched over as many
 *   ciphertexts as the length needs; `dotColumns` uses the diagonal layout of packing.ts.
 * - `paillier`: Paillier (1999) with signed fixed-point encoding, exact (paillier.ts).
 * - `none`: plaintext, for debugging protocols; never for real data (plain.ts).
 *
 * This file holds the CKKS backend, and creating and loading any backend.
 */
import { FedscoreError } from '@fedscore/core';
import { checkScalar, mismatch, toF64 } from './additive-input.ts';
import { BLOB_KIND, decodeBlob, encodeBlob, metaInt, packSections, unpackSections } from './blob.ts';
import {
  createCkksContext,
  loadCkksPublicContext,
  loadCkksSecretContext,
  sumRotationSteps,
} from './ckks/index.ts';
import { diagonalDotColumns } from './packing.ts';
import { createPaillier, loadPaillier } from './paillier.ts';
import { createPlain, loadPlain } from './plain.ts';
import type {
  AdditiveCiphertext,
  AdditiveHePublic,
  AdditiveHeSecret,
  CkksContextOptions,
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  HeLoadOptions,
  HeSchemeName,
  PaillierOptions,
  ReleaseOptions,
  SerializeOptions,
} from './types.ts';

// ---------------------------------------------------------------------------------------------------
// CKKS
// ---------------------------------------------------------------------------------------------------

class CkksAdditiveCiphertext implements AdditiveCiphertext {
  readonly scheme = 'ckks' as const;
  readonly parts: CkksVector[];
  readonly length: number;
  readonly owner: string;
  constructor(parts: CkksVector[], owner: string) {
    this.parts = parts;
    this.length = parts.reduce((a, p) => a + p.length, 0);
    this.owner = owner;
  }
  dispose(): void {
    for (const p of this.parts) p.dispose();
  }
}

class CkksAdditive implements AdditiveHeSecret {
  readonly scheme = 'ckks' as const;
  readonly ctx: CkksPublicContext;
  readonly #secret: CkksSecretContext | undefined;

  constructor(ctx: CkksPublicContext, secret: CkksSecretContext | undefined) {
    this.ctx = ctx;
    this.#secret = secret;
  }

  get insecure(): boolean {
    return this.ctx.insecure;
  }
  get securityBits(): number {
    return this.ctx.securityBits;
  }
  get fingerprint(): string {
    return this.ctx.fingerprint;
  }
  get description(): string {
    return this.ctx.description;
  }
  get slotCount(): number {
    return this.ctx.slotCount;
  }

  #own(a: AdditiveCiphertext, field = 'ciphertext'): CkksAdditiveCiphertext {
    if (!(a instanceof CkksAdditiveCiphertext) || a.owner !== this.fingerprint) throw mismatch(field);
    return a;
  }

  #wrap(parts: CkksVector[]): CkksAdditiveCiphertext {
    return new CkksAdditiveCiphertext(parts, this.fingerprint);
  }

  /** Apply `f` to each part with the matching slice of `values`. */
  #mapPlain(
    a: CkksAdditiveCiphertext,
    values: Float64Array,
    f: (p: CkksVector, v: Float64Array) => CkksVector,
  ) {
    const out: CkksVector[] = [];
    let off = 0;
    try {
      for (const p of a.parts) {
        out.push(f(p, values.subarray(off, off + p.length)));
        off += p.length;
      }
    } catch (e) {
      for (const v of out) v.dispose();
      throw e;
    }
    return this.#wrap(out);
  }

  #zip(a: AdditiveCiphertext, b: AdditiveCiphertext, f: (x: CkksVector, y: CkksVector) => CkksVector) {
    const x = this.#own(a, 'a');
    const y = this.#own(b, 'b');
    if (x.parts.length !== y.parts.length || x.parts.some((p, i) => p.length !== y.parts[i]!.length)) {
      throw new FedscoreError('invalid_argument', `ciphertext lengths differ (${x.length} vs ${y.length})`, {
        field: 'b',
      });
    }
    const out: CkksVector[] = [];
    try {
      for (let i = 0; i < x.parts.length; i++) out.push(f(x.parts[i]!, y.parts[i]!));
    } catch (e) {
      for (const v of out) v.dispose();
      throw e;
    }
    return this.#wrap(out);
  }

  encrypt(values: ArrayLike<number>): AdditiveCiphertext {
    return this.#wrap(this.ctx.encryptBatch(toF64(values, 'values')));
  }
  add(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    return this.#zip(a, b, (x, y) => x.add(y));
  }
  sub(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    return this.#zip(a, b, (x, y) => x.sub(y));
  }
  addPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    return this.#mapPlain(x, toF64(values, 'values', x.length), (p, v) => p.add(v));
  }
  mulScalar(a: AdditiveCiphertext, scalar: number): AdditiveCiphertext {
    const x = this.#own(a);
    const s = checkScalar(scalar);
    return this.#wrap(x.parts.map((p) => p.mul(s)));
  }
  mulPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    return this.#mapPlain(x, toF64(values, 'values', x.length), (p, v) => p.mul(v));
  }
  #sumParts(parts: readonly CkksVector[]): CkksAdditiveCiphertext {
    return this.#wrap([
      this.ctx.scope(() => {
        let acc = parts[0]!;
        for (let i = 1; i < parts.length; i++) acc = acc.add(parts[i]!);
        return acc.sum();
      }),
    ]);
  }
  sum(a: AdditiveCiphertext): AdditiveCiphertext {
    const x = this.#own(a);
    if (x.parts.length === 0) return this.encrypt([0]);
    return this.#sumParts(x.parts);
  }
  dot(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    const prods = this.#mapPlain(x, v, (p, w) => p.mul(w));
    try {
      return this.#sumParts(prods.parts);
    } finally {
      prods.dispose();
    }
  }
  dotColumns(a: AdditiveCiphertext, columns: readonly ArrayLike<number>[]): AdditiveCiphertext {
    const x = this.#own(a);
    const cols = columns.map((c, j) => toF64(c, `columns[${j}]`, x.length));
    return this.#wrap(diagonalDotColumns(this.ctx, x.parts, cols));
  }
  serializeCiphertext(a: AdditiveCiphertext, options?: SerializeOptions): Uint8Array {
    const x = this.#own(a);
    return encodeBlob({
      kind: BLOB_KIND.additiveCiphertext,
      scheme: 'ckks',
      insecure: this.insecure,
      fingerprint: this.fingerprint,
      meta: { parts: x.parts.length },
      payload: packSections(x.parts.map((p) => p.serialize(options))),
    });
  }
  deserializeCiphertext(bytes: Uint8Array): AdditiveCiphertext {
    const blob = decodeBlob(bytes, BLOB_KIND.additiveCiphertext, this.fingerprint);
    const parts = unpackSections(blob.payload, metaInt(blob.meta, 'parts'), 'ciphertext parts');
    const out: CkksVector[] = [];
    try {
      for (const p of parts) out.push(this.ctx.deserializeVector(p));
    } catch (e) {
      for (const v of out) v.dispose();
      throw e;
    }
    return this.#wrap(out);
  }
  serializePublic(options?: SerializeOptions): Uint8Array {
    return this.ctx.serialize(options);
  }
  #secretCtx(): CkksSecretContext {
    if (this.#secret === undefined) {
      throw new FedscoreError('unsupported', 'this is a public context: it cannot decrypt', {
        field: 'context',
      });
    }
    return this.#secret;
  }
  decrypt(a: AdditiveCiphertext): Float64Array {
    const x = this.#own(a);
    const sk = this.#secretCtx();
    const out = new Float64Array(x.length);
    let off = 0;
    for (const p of x.parts) {
      out.set(sk.decrypt(p), off);
      off += p.length;
    }
    return out;
  }
  decryptForRelease(a: AdditiveCiphertext, options?: ReleaseOptions): Float64Array {
    const x = this.#own(a);
    const sk = this.#secretCtx();
    const out = new Float64Array(x.length);
    let off = 0;
    for (const p of x.parts) {
      out.set(sk.decryptForRelease(p, options), off);
      off += p.length;
    }
    return out;
  }
  toPublic(): AdditiveHePublic {
    return new CkksAdditive(this.#secretCtx().toPublic(), undefined);
  }
  serializeSecret(options?: SerializeOptions): Uint8Array {
    return this.#secretCtx().serializeSecret(options);
  }
  dispose(): void {
    this.ctx.dispose();
  }
}

export type AdditiveHeOptions =
  | ({ readonly scheme: 'ckks' } & CkksContextOptions)
  | ({ readonly scheme: 'paillier' } & PaillierOptions)
  | { readonly scheme: 'none'; readonly logger?: import('@fedscore/core').Logger };

/**
 * Create a key set for an additive backend. CKKS gets the power-of-two Galois keys that `sum`, `dot` and
 * `dotColumns` use (unless `rotations` is given). Paillier defaults to 2048 bits; below needs
 * `allowWeakParameters`. Weak parameters and `none` always warn (policy.ts).
 */
export async function createAdditiveHe(options: AdditiveHeOptions): Promise<AdditiveHeSecret> {
  const scheme: HeSchemeName = options.scheme;
  if (scheme === 'ckks') {
    const o = options as CkksContextOptions;
    const slots =
      (typeof o.params === 'object' ? o.params.polyModulusDegree : o.params === 'ckks-16384' ? 16384 : 8192) /
      2;
    const ctx = await createCkksContext({ ...o, rotations: o.rotations ?? sumRotationSteps(slots) });
    return new CkksAdditive(ctx, ctx);
  }
  if (scheme === 'paillier') return createPaillier(options as PaillierOptions);
  if (scheme === 'none') return createPlain(options.logger);
  throw new FedscoreError('invalid_argument', `unknown HE scheme '${String(scheme)}'`, { field: 'scheme' });
}

async function loadAdditive(bytes: Uint8Array, secret: boolean, options: HeLoadOptions) {
  const blob = decodeBlob(bytes, secret ? BLOB_KIND.secretContext : BLOB_KIND.publicContext);
  const want = options.expected?.scheme;
  if (want !== undefined && blob.scheme !== want) {
    throw new FedscoreError('he_context_mismatch', `the plan uses ${want}, the context is ${blob.scheme}`, {
      field: 'scheme',
    });
  }
  if (blob.scheme === 'ckks') {
    if (secret) {
      const ctx = await loadCkksSecretContext(bytes, options);
      return new CkksAdditive(ctx, ctx);
    }
    return new CkksAdditive(await loadCkksPublicContext(bytes, options), undefined);
  }
  if (blob.scheme === 'paillier') return loadPaillier(bytes, secret, options);
  return loadPlain(blob, secret, options);
}

/**
 * Load a public additive context (any scheme) from `serializePublic()` bytes: another party's key.
 * Weak parameters need `allowWeakParameters`, scheme 'none' needs `allowPlaintextScheme`, and
 * `expected` (the plan's scheme and Paillier size) is checked; the sender's flags are not trusted.
 */
export async function loadAdditiveHePublic(
  bytes: Uint8Array,
  options: HeLoadOptions = {},
): Promise<AdditiveHePublic> {
  return loadAdditive(bytes, false, options);
}

/** Load a secret additive context from `serializeSecret()` bytes (same checks as the public loader). */
export async function loadAdditiveHeSecret(
  bytes: Uint8Array,
  options: HeLoadOptions = {},
): Promise<AdditiveHeSecret> {
  return loadAdditive(bytes, true, options);
}
/**
 * The CKKS context behind an additive CKKS backend (undefined for Paillier and `none`): for protocols
 * that evaluate their own packed circuits on the additive backend's ciphertexts (SecureBoost's
 * histograms). Borrowed: the backend owns it.
 */
export function ckksContextOf(he: AdditiveHePublic): CkksPublicContext | undefined {
  return he instanceof CkksAdditive ? he.ctx : undefined;
}

/** The CKKS vectors of an additive CKKS ciphertext (borrowed: do not dispose), or undefined. */
export function ckksPartsOf(a: AdditiveCiphertext): readonly CkksVector[] | undefined {
  return a instanceof CkksAdditiveCiphertext ? a.parts : undefined;
}

/** An additive ciphertext of the CKKS backend `he` holding `parts` (the result owns them). */
export function wrapCkksParts(he: AdditiveHePublic, parts: CkksVector[]): AdditiveCiphertext {
  if (!(he instanceof CkksAdditive)) {
    throw new FedscoreError('unsupported', 'not a CKKS additive backend', { field: 'he' });
  }
  return new CkksAdditiveCiphertext(parts, he.fingerprint);
}
