/**
 * The homomorphic operations hetero-LR needs, behind one small interface with three implementations:
 *
 * - `ckks`: node-seal CKKS through @fedscore/he's `CkksVector`, with the packed gradient of packing.ts
 *   (Halevi-Shoup diagonals with baby-step/giant-step: ~2 sqrt(P) + log2(W/P) rotations per batch).
 * - `paillier`: @fedscore/he's additive Paillier backend (one ciphertext per value), the FATE-style
 *   baseline.
 * - `none`: the same messages with plaintext payloads, for debugging; every context reports
 *   `insecure: true`, and so does every result trained with it.
 *
 * A key holder makes an `LrCipherSecret`; the others load an `LrCipherPublic` from its public bytes.
 * Encrypted vectors cross the wire as `CiphertextBatch`es; the receiver states the length it expects.
 */
import { type CryptoRng, FedscoreError, type Logger, requireCryptoRng } from '@fedscore/core';
import type {
  AdditiveCiphertext,
  AdditiveHePublic,
  AdditiveHeSecret,
  CkksPresetName,
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  HeWorkerPool,
  PackedLayout,
  PackedProductPlan,
} from '@fedscore/he';
import {
  allTasks,
  BLOB_KIND,
  blockValues,
  bytesToHex,
  CKKS_PRESETS,
  checkedPlan,
  createAdditiveHe,
  createCkksContext,
  createHeWorkerPool,
  DEFAULT_DIAGONAL_CACHE_MIB,
  DiagonalCache,
  decodeBlob,
  emptyWork,
  encodeBlob,
  evaluatePartial,
  floodingStdDev,
  foldBlocks,
  hexToBytes,
  loadAdditiveHePublic,
  loadCkksPublicContext,
  metaInt,
  packedLayout,
  packedProductOn,
  packedRotationSteps,
  releaseGrid,
  replicate,
  roundToGrid,
} from '@fedscore/he';
import type { CiphertextBatch } from '@fedscore/wire';
import type { HeteroLrScheme, PackedProductOffload } from './options.ts';

/** An encrypted vector (opaque). Dispose when done (frees WASM memory for CKKS). */
export interface EncVector {
  readonly length: number;
  dispose(): void;
}

/** The shape a key holder sizes its keys for: batch vectors of `batchSize`, products with up to `columns` columns. */
export interface CipherShape {
  readonly batchSize: number;
  readonly columns: number;
  /**
   * What this key will release (decryptForRelease), for sizing the CKKS flooding noise and counting
   * its budget: `products` product releases (<= `columns` values each) and `vectors` long vectors of up
   * to `vectorLength` values (validation sums). Default: 4096 products, no vectors. One release more
   * than planned is `FedscoreError('release_budget')`.
   */
  readonly releases?: {
    readonly products: number;
    readonly vectors?: number;
    readonly vectorLength?: number;
  };
}

/**
 * Bound on the absolute error of a released hetero-LR CKKS value (encryption, class-weight product,
 * packed product, mask addition, decryption), per preset, before flooding. Measured max over the
 * gradient circuit with class weights up to ~6 (packages/vfl/test/hetero-lr-release.test.ts checks the
 * bound with margin 2): ckks-8192 max 2^-19.5 (RMS 2^-22, issue 11), ckks-16384-release max 2^-32.7.
 */
export const RELEASE_ERROR_BOUND: Readonly<Record<CkksPresetName, number>> = {
  'ckks-8192': 2 ** -18.5,
  'ckks-8192-deep': 2 ** -8.5,
  'ckks-16384': 2 ** -18.5,
  'ckks-16384-release': 2 ** -30,
  // The release preset's chain and scale on a smaller ring: the encryption and rescaling errors grow
  // with sqrt(N), so its bound holds there too (smoke runs only; presets.ts).
  'ckks-2048-smoke-insecure': 2 ** -30,
};

/** Statistical security of the hetero-LR release flooding (bits; LMSS 2022 / OpenFHE). */
export const RELEASE_SECURITY_BITS = 30;

/** Default CKKS preset of hetero-LR: masks of 2^40 and 30-bit flooding fit (docs/protocols/hetero-lr.md). */
export const DEFAULT_HETERO_LR_PRESET: CkksPresetName = 'ckks-16384-release';

/** What the release of a CKKS key is sized for (`LrCipherSecret.release`). */
export interface ReleasePolicy {
  /** Flooding standard deviation per released value. */
  readonly noiseStdDev: number;
  /** Released values are multiples of this power of two. */
  readonly grid: number;
  /** Ciphertext decryptions the flooding is sized for (t in sqrt(12 t) 2^(s/2) E). */
  readonly decryptions: number;
  readonly statisticalSecurity: number;
  readonly errorBound: number;
}

export type VectorKind = 'vector' | 'product';

export interface LrCipherPublic {
  readonly scheme: HeteroLrScheme;
  readonly insecure: boolean;
  /**
   * The largest mask exponent k (masks uniform on +-2^k) whose masked values this key decrypts
   * correctly: CKKS, the integer part left at the release level; exact schemes 40 (the float64
   * release keeps ~2^-12 of the gradient beside a 2^40 mask).
   */
  readonly maxMaskBits: number;
  readonly fingerprint: string;
  readonly description: string;
  encrypt(values: Float64Array): EncVector;
  add(a: EncVector, b: EncVector): EncVector;
  addPlain(a: EncVector, values: Float64Array): EncVector;
  mulPlain(a: EncVector, values: Float64Array): EncVector;
  /** out[j] = sum_i a[i] * columns[j][i]: X^T [[a]] for the batch columns X, on this thread. */
  matVecT(a: EncVector, columns: readonly Float64Array[]): EncVector;
  /**
   * The same product, on the cipher's worker threads when it has any (CKKS), with the encoded
   * diagonals cached under `cacheKey` (the batch's identity: its columns must be the same every time
   * the key is used) within the cache budget.
   */
  matVecTAsync(a: EncVector, columns: readonly Float64Array[], cacheKey?: string): Promise<EncVector>;
  toBatch(a: EncVector): CiphertextBatch;
  /**
   * Load a received batch; `length` is what the protocol expects (a mismatch is `wire_decode`), `kind`
   * says whether it is an encrypted vector or the result of `matVecT` (their CKKS layouts differ).
   */
  fromBatch(batch: CiphertextBatch, length: number, field: string, kind?: VectorKind): EncVector;
  /** Public context bytes (no secret key). */
  serializePublic(): Uint8Array;
  dispose(): void;
  /**
   * Exact schemes (Paillier): add a mask uniform modulo n to `a` (perfect hiding: the key holder's
   * decryption is a uniform residue) and return the masked vector with the function that turns the
   * released residues back into values. Absent for CKKS and none (they mask with `uniformMask`).
   */
  exactMask?(
    a: EncVector,
    rng: CryptoRng,
  ): { masked: EncVector; unmask(residues: readonly Uint8Array[]): Float64Array };
}

export interface LrCipherSecret extends LrCipherPublic {
  /**
   * Decrypt a (masked) vector that goes to another party: CKKS adds flooding noise sized by `release`,
   * drawn from `noise` (a cryptographic generator, e.g. the release's key-derived stream
   * `MaskSource.forFlooding`; default the platform CSPRNG), rounds to its grid and counts the
   * decryption against the budget. Exact schemes add no noise and ignore `noise`.
   */
  decryptForRelease(a: EncVector, noise?: CryptoRng): Float64Array;
  /** CKKS: the flooding policy of this key. */
  readonly release?: ReleasePolicy;
  /** Exact schemes: the residues of a vector masked by `exactMask`, as bytes (the released message). */
  decryptResidues?(a: EncVector): Uint8Array[];
}

/** How a party evaluates its packed products (local choices, never sent). */
export interface CipherRuntime {
  /** Worker threads for the packed products (CKKS). 0 = on the calling thread. Default 0. */
  readonly workers?: number;
  /** Budget of the encoded-diagonal cache, MiB (CKKS). Default 1024. 0 = encode per use. */
  readonly diagonalCacheMiB?: number;
  /** Packed products on a task executor instead of the threads (options.ts `PackedProductOffload`). */
  readonly offload?: PackedProductOffload;
}

export interface LrCipherProvider {
  readonly scheme: HeteroLrScheme;
  create(shape: CipherShape, runtime?: CipherRuntime): Promise<LrCipherSecret>;
  load(publicBytes: Uint8Array, runtime?: CipherRuntime): Promise<LrCipherPublic>;
}

export interface CipherProviderOptions {
  /** CKKS parameters preset. Default `DEFAULT_HETERO_LR_PRESET` ('ckks-16384-release'). */
  readonly ckksPreset?: CkksPresetName;
  /**
   * Paillier modulus bits. Default 2048 (1024 needs `allowWeakParameters`). When set, a peer's key of
   * another size is refused on load (`he_context_mismatch`, field 'n').
   */
  readonly paillierBits?: number;
  /** Accept parameters below 128-bit security, own and loaded (tests, comparisons). Always warned. */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters`. */
  readonly insecure?: boolean;
  readonly logger?: Logger;
}

/** The provider for `scheme`. */
export function cipherProvider(
  scheme: HeteroLrScheme,
  options: CipherProviderOptions = {},
): LrCipherProvider {
  switch (scheme) {
    case 'none':
      return plainProvider;
    case 'ckks':
      return ckksProvider(options);
    case 'paillier':
      return {
        scheme: 'paillier',
        create: async () =>
          additiveCipher(
            await createAdditiveHe({
              scheme: 'paillier',
              ...(options.paillierBits !== undefined && { bits: options.paillierBits }),
              allowWeakParameters: weakOk(options),
              ...(options.logger !== undefined && { logger: options.logger }),
            }),
          ) as LrCipherSecret,
        // The key holder's key is checked against this party's plan: scheme and (if set) size.
        load: async (bytes) =>
          additiveCipher(
            await loadAdditiveHePublic(bytes, {
              allowWeakParameters: weakOk(options),
              expected: {
                scheme: 'paillier',
                ...(options.paillierBits !== undefined && { paillierBits: options.paillierBits }),
              },
              ...(options.logger !== undefined && { logger: options.logger }),
            }),
          ),
      };
  }
}

// --- helpers ----------------------------------------------------------------------------------------

function weakOk(options: CipherProviderOptions): boolean {
  return options.allowWeakParameters === true || options.insecure === true;
}

function checkIncoming(
  batch: CiphertextBatch,
  scheme: HeteroLrScheme,
  fingerprint: string,
  length: number,
  field: string,
): void {
  if (batch.scheme !== scheme) {
    throw new FedscoreError('wire_decode', `expected a ${scheme} batch, got ${batch.scheme}`, { field });
  }
  if (scheme !== 'none' && bytesToHex(batch.paramsFingerprint) !== fingerprint) {
    throw new FedscoreError('he_context_mismatch', 'ciphertexts made under another key', { field });
  }
  if (batch.valueCount !== length) {
    throw new FedscoreError('wire_decode', `expected ${length} values, got ${batch.valueCount}`, { field });
  }
}

function lengthsMatch(a: number, b: number, field: string): void {
  if (a !== b) throw new FedscoreError('invalid_argument', `length ${a} differs from ${b}`, { field });
}

// --- none: plaintext, flagged insecure --------------------------------------------------------------

class PlainVector implements EncVector {
  readonly values: Float64Array;
  constructor(values: Float64Array) {
    this.values = values;
  }
  get length(): number {
    return this.values.length;
  }
  dispose(): void {}
}

function plain(a: EncVector): Float64Array {
  if (!(a instanceof PlainVector))
    throw new FedscoreError('invalid_argument', 'not a plaintext vector', { field: 'a' });
  return a.values;
}

/** Mask exponent limit of the exact schemes: a float64 release of g + r, |r| <= 2^40, keeps g to ~2^-12. */
const EXACT_MAX_MASK_BITS = 40;

const plainCipher: LrCipherSecret = {
  scheme: 'none',
  insecure: true,
  maxMaskBits: EXACT_MAX_MASK_BITS,
  fingerprint: '',
  description: 'none (plaintext debug mode, INSECURE)',
  encrypt: (v) => new PlainVector(Float64Array.from(v)),
  add(a, b) {
    const x = plain(a);
    const y = plain(b);
    lengthsMatch(x.length, y.length, 'b');
    return new PlainVector(x.map((v, i) => v + y[i]!));
  },
  addPlain(a, v) {
    const x = plain(a);
    lengthsMatch(x.length, v.length, 'values');
    return new PlainVector(x.map((u, i) => u + v[i]!));
  },
  mulPlain(a, v) {
    const x = plain(a);
    lengthsMatch(x.length, v.length, 'values');
    return new PlainVector(x.map((u, i) => u * v[i]!));
  },
  matVecT(a, columns) {
    const x = plain(a);
    const out = new Float64Array(columns.length);
    columns.forEach((c, j) => {
      lengthsMatch(c.length, x.length, `columns[${j}]`);
      let s = 0;
      for (let i = 0; i < x.length; i++) s += c[i]! * x[i]!;
      out[j] = s;
    });
    return new PlainVector(out);
  },
  matVecTAsync(a, columns) {
    return Promise.resolve(plainCipher.matVecT(a, columns));
  },
  toBatch(a) {
    const x = plain(a);
    const bytes = new Uint8Array(x.length * 8);
    new DataView(bytes.buffer).setFloat64(0, 0, true);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < x.length; i++) view.setFloat64(8 * i, x[i]!, true);
    return {
      scheme: 'none',
      paramsFingerprint: new Uint8Array(0),
      items: x.length === 0 ? [] : [bytes],
      valueCount: x.length,
      slotsPerItem: Math.max(1, x.length),
    };
  },
  fromBatch(batch, length, field) {
    checkIncoming(batch, 'none', '', length, field);
    const item = batch.items[0];
    const out = new Float64Array(length);
    if (length > 0) {
      if (item === undefined || item.length !== 8 * length) {
        throw new FedscoreError('wire_decode', `expected ${8 * length} bytes of float64`, { field });
      }
      const view = new DataView(item.buffer, item.byteOffset, item.byteLength);
      for (let i = 0; i < length; i++) out[i] = view.getFloat64(8 * i, true);
    }
    return new PlainVector(out);
  },
  serializePublic: () => new Uint8Array(0),
  dispose() {},
  decryptForRelease: (a) => Float64Array.from(plain(a)),
};

const plainProvider: LrCipherProvider = {
  scheme: 'none',
  create: async () => plainCipher,
  load: async () => plainCipher,
};

// --- additive backends (Paillier) ------------------------------------------------------------------

class AdditiveVector implements EncVector {
  readonly ct: AdditiveCiphertext;
  constructor(ct: AdditiveCiphertext) {
    this.ct = ct;
  }
  get length(): number {
    return this.ct.length;
  }
  dispose(): void {
    this.ct.dispose();
  }
}

function additiveCt(a: EncVector): AdditiveCiphertext {
  if (!(a instanceof AdditiveVector))
    throw new FedscoreError('invalid_argument', 'not an additive ciphertext', { field: 'a' });
  return a.ct;
}

/** Wrap an additive backend (he's Paillier, or any `AdditiveHe`). */
export function additiveCipher(he: AdditiveHePublic | AdditiveHeSecret): LrCipherPublic | LrCipherSecret {
  const scheme = he.scheme;
  const fp = hexToBytes(he.fingerprint);
  const base: LrCipherPublic = {
    scheme,
    insecure: he.insecure,
    maxMaskBits: EXACT_MAX_MASK_BITS,
    fingerprint: he.fingerprint,
    description: he.description,
    encrypt: (v) => new AdditiveVector(he.encrypt(v)),
    add: (a, b) => new AdditiveVector(he.add(additiveCt(a), additiveCt(b))),
    addPlain: (a, v) => new AdditiveVector(he.addPlain(additiveCt(a), v)),
    mulPlain: (a, v) => new AdditiveVector(he.mulPlain(additiveCt(a), v)),
    matVecT: (a, columns) => new AdditiveVector(he.dotColumns(additiveCt(a), columns)),
    matVecTAsync: async (a, columns) => new AdditiveVector(he.dotColumns(additiveCt(a), columns)),
    toBatch(a) {
      const ct = additiveCt(a);
      return {
        scheme,
        paramsFingerprint: fp,
        items: [he.serializeCiphertext(ct)],
        valueCount: ct.length,
        slotsPerItem: Math.max(1, ct.length),
      };
    },
    fromBatch(batch, length, field) {
      checkIncoming(batch, scheme, he.fingerprint, length, field);
      if (batch.items.length !== 1) throw new FedscoreError('wire_decode', 'expected one item', { field });
      const ct = he.deserializeCiphertext(batch.items[0]!);
      if (ct.length !== length) {
        ct.dispose();
        throw new FedscoreError('wire_decode', `expected ${length} values, got ${ct.length}`, { field });
      }
      return new AdditiveVector(ct);
    },
    serializePublic: () => he.serializePublic(),
    dispose: () => he.dispose(),
    ...(he.exact !== undefined && {
      exactMask(a: EncVector, rng: CryptoRng) {
        const exact = he.exact!;
        const { masked, mask } = exact.addUniformMask(additiveCt(a), rng);
        return {
          masked: new AdditiveVector(masked),
          unmask: (residues: readonly Uint8Array[]) => exact.unmaskResidues(residues, mask),
        };
      },
    }),
  };
  if ('decryptForRelease' in he) {
    const secret = he;
    return {
      ...base,
      decryptForRelease: (a) => secret.decryptForRelease(additiveCt(a)),
      ...(secret.decryptResidues !== undefined && {
        decryptResidues: (a: EncVector) => secret.decryptResidues!(additiveCt(a)),
      }),
    } satisfies LrCipherSecret;
  }
  return base;
}

// --- CKKS with the packed layout -------------------------------------------------------------------

/**
 * A CKKS encrypted vector: a batch vector (one ciphertext replicated with period W, length <= W), a
 * product of `matVecT` (one ciphertext per block of `plan`, block i holding its rows with period Q_i),
 * or consecutive chunks of `slotCount` values (long vectors such as validation scores, which are only
 * added and decrypted).
 */
class CkksEncVector implements EncVector {
  readonly parts: CkksVector[];
  readonly length: number;
  readonly period: number | undefined;
  readonly plan: PackedProductPlan | undefined;
  constructor(parts: CkksVector[], length: number, period: number | undefined, plan?: PackedProductPlan) {
    this.parts = parts;
    this.length = length;
    this.period = period;
    this.plan = plan;
  }
  dispose(): void {
    for (const p of this.parts) p.dispose();
  }
}

function ckksVec(a: EncVector): CkksEncVector {
  if (!(a instanceof CkksEncVector))
    throw new FedscoreError('invalid_argument', 'not a CKKS vector', { field: 'a' });
  return a;
}

function ckksCipher(
  ctx: CkksPublicContext,
  layout: PackedLayout,
  runtime: CipherRuntime,
  secret?: { readonly ctx: CkksSecretContext; readonly release: ReleasePolicy },
): LrCipherPublic | LrCipherSecret {
  const S = ctx.slotCount;
  const fp = hexToBytes(ctx.fingerprint);
  const W = layout.width;
  const cacheBytes = Math.round((runtime.diagonalCacheMiB ?? DEFAULT_DIAGONAL_CACHE_MIB) * 2 ** 20);
  const workers = runtime.workers ?? 0;
  // Created on first use: a cipher that never multiplies (a key holder's own) starts no threads. The
  // pool loads the public context only (a key holder's secret key stays on this thread).
  let pool: Promise<HeWorkerPool> | undefined;
  let cache: DiagonalCache | undefined;
  let publicBytes: Uint8Array | undefined;

  /** Plain operand laid out like `a`. */
  const plainLike = (a: CkksEncVector, v: Float64Array, part: number): Float64Array => {
    if (a.plan !== undefined) return blockValues(v, a.plan, part, S);
    if (a.period !== undefined) return replicate(v, a.period, S);
    return v.subarray(part * S, Math.min(v.length, (part + 1) * S));
  };
  const binary = (
    a: CkksEncVector,
    v: Float64Array,
    op: (x: CkksVector, p: Float64Array) => CkksVector,
  ): CkksEncVector => {
    lengthsMatch(a.length, v.length, 'values');
    return new CkksEncVector(
      a.parts.map((x, i) => op(x, plainLike(a, v, i))),
      a.length,
      a.period,
      a.plan,
    );
  };
  const batchVector = (a: EncVector): CkksEncVector => {
    const x = ckksVec(a);
    if (x.period !== W || x.parts.length !== 1 || x.plan !== undefined) {
      throw new FedscoreError('invalid_argument', `matVecT needs a batch vector of period ${W}`, {
        field: 'a',
      });
    }
    return x;
  };
  // The product runs one level above the release level (`ckksMaxMaskBits`: levels - 2 of the chain), the
  // level a class-weighted residual arrives at. An unweighted residual (or a host's forward) arrives
  // fresh, one level higher: it is mod-switched down first, so every product runs on one prime fewer
  // (cheaper rotations, products and encodings; smaller cached diagonals) and releases at that level.
  const productLevel = Math.max(1, ctx.levels - 1);
  /** `fn` on the batch vector at the product level (a mod-switched copy, freed after, if it was above). */
  const atProductLevel = <T>(x: CkksEncVector, fn: (d: CkksVector) => T): T => {
    const d = x.parts[0]!;
    if (d.level <= productLevel) return fn(d);
    const low = d.atLevel(productLevel);
    let async = false;
    try {
      const out = fn(low);
      if (out instanceof Promise) {
        async = true;
        return out.finally(() => low.dispose()) as T;
      }
      return out;
    } finally {
      if (!async) low.dispose();
    }
  };
  const onThread = (x: CkksEncVector, columns: readonly Float64Array[], key: string | undefined) => {
    const plan = checkedPlan(columns, x.length, layout);
    let source: ReturnType<DiagonalCache['source']>;
    if (key === undefined) source = new DiagonalCache(ctx, 0).source('once', plan, columns, x.length);
    else {
      cache ??= new DiagonalCache(ctx, cacheBytes);
      source = cache.source(key, plan, columns, x.length);
    }
    return atProductLevel(x, (d) => {
      const partials = evaluatePartial(d, plan, allTasks(plan), source);
      return new CkksEncVector(foldBlocks(d, plan, partials), columns.length, undefined, plan);
    });
  };

  const base: LrCipherPublic = {
    scheme: 'ckks',
    insecure: ctx.insecure,
    maxMaskBits: ckksMaxMaskBits(ctx.params.coeffModulusBits, ctx.params.scaleBits),
    fingerprint: ctx.fingerprint,
    description: `${ctx.description}, packed width ${W}`,
    encrypt(v) {
      if (v.length <= W) return new CkksEncVector([ctx.encrypt(replicate(v, W, S))], v.length, W);
      const parts: CkksVector[] = [];
      for (let off = 0; off < v.length; off += S)
        parts.push(ctx.encrypt(v.subarray(off, Math.min(v.length, off + S))));
      return new CkksEncVector(parts, v.length, undefined);
    },
    add(a, b) {
      const x = ckksVec(a);
      const y = ckksVec(b);
      lengthsMatch(x.length, y.length, 'b');
      if (x.period !== y.period || x.plan !== y.plan || x.parts.length !== y.parts.length)
        throw new FedscoreError('invalid_argument', 'layouts differ', { field: 'b' });
      return new CkksEncVector(
        x.parts.map((p, i) => p.add(y.parts[i]!)),
        x.length,
        x.period,
        x.plan,
      );
    },
    addPlain: (a, v) => binary(ckksVec(a), v, (x, p) => x.add(p)),
    mulPlain: (a, v) => binary(ckksVec(a), v, (x, p) => x.mul(p)),
    matVecT(a, columns) {
      return onThread(batchVector(a), columns, undefined);
    },
    async matVecTAsync(a, columns, cacheKey) {
      const x = batchVector(a);
      const off = runtime.offload;
      if (off !== undefined && columns.length >= (off.minColumns ?? 1)) {
        const plan = checkedPlan(columns, x.length, layout);
        // The public part only (a key holder's context serializes without its secret key).
        publicBytes ??= ctx.serialize({ compression: 'none' });
        const bytes = publicBytes;
        const parts = await atProductLevel(x, (d) =>
          packedProductOn(off.executor, d, plan, columns, x.length, emptyWork(), {
            context: bytes,
            ...(off.split !== undefined && { split: off.split }),
            ...(off.taskIdPrefix !== undefined && { taskId: off.taskIdPrefix }),
          }),
        );
        return new CkksEncVector(parts, columns.length, undefined, plan);
      }
      if (workers === 0) return onThread(x, columns, cacheKey);
      const plan = checkedPlan(columns, x.length, layout);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
        throw new FedscoreError('out_of_range', `workers must be an integer in [1, 64], got ${workers}`, {
          field: 'workers',
        });
      }
      pool ??= createHeWorkerPool({
        context: ctx.serialize({ compression: 'none' }),
        size: workers,
        allowWeakParameters: ctx.insecure,
        diagonalCacheBytes: cacheBytes,
      });
      const p = await pool;
      const parts = await atProductLevel(x, (d) => p.packedProduct(d, plan, columns, x.length, cacheKey));
      return new CkksEncVector(parts, columns.length, undefined, plan);
    },
    toBatch(a) {
      const x = ckksVec(a);
      return {
        scheme: 'ckks',
        paramsFingerprint: fp,
        items: x.parts.map((p) => p.serialize()),
        valueCount: x.length,
        slotsPerItem:
          x.plan !== undefined
            ? itemWidth(x.length, x.parts.length)
            : x.period === undefined
              ? S
              : Math.max(1, x.length),
        scale: x.parts[0]?.scale ?? 2 ** 40,
        compression: 'zstd',
        level: x.parts[0]?.level ?? 0,
      };
    },
    fromBatch(batch, length, field, kind = 'vector') {
      checkIncoming(batch, 'ckks', ctx.fingerprint, length, field);
      // Vectors of up to W values travel as one ciphertext of period W, longer ones as chunks of S;
      // products of matVecT as one ciphertext per block of their plan.
      const plan = kind === 'product' ? layout.productPlan(length) : undefined;
      const period = plan !== undefined ? undefined : length <= W ? W : undefined;
      const expectedParts =
        plan !== undefined ? plan.blocks.length : period === undefined ? Math.ceil(length / S) : 1;
      if (batch.items.length !== expectedParts) {
        throw new FedscoreError('wire_decode', `expected ${expectedParts} ciphertexts`, { field });
      }
      const parts: CkksVector[] = [];
      try {
        for (const b of batch.items) parts.push(ctx.deserializeVector(b));
      } catch (e) {
        for (const p of parts) p.dispose();
        throw e;
      }
      return new CkksEncVector(parts, length, period, plan);
    },
    serializePublic: () => ctx.serialize(),
    dispose: () => {
      void pool?.then(
        (p) => p.close(),
        () => {},
      );
      cache?.dispose();
      ctx.dispose();
    },
  };
  if (secret !== undefined) {
    const policy = secret.release;
    let released = 0;
    // One ciphertext, only its first `length` slots (the values asked for: a block's rows, never the
    // replicas or padding in the other slots), flooded, rounded to the grid, counted.
    const releaseOne = (v: CkksVector, rng: CryptoRng | undefined): Float64Array => {
      if (released + 1 > policy.decryptions) {
        throw new FedscoreError(
          'release_budget',
          `this key's flooding is sized for ${policy.decryptions} released decryptions; make a fresh key`,
          { field: 'releases' },
        );
      }
      released++;
      return roundToGrid(
        secret.ctx.decryptForRelease(v, {
          noiseStdDev: policy.noiseStdDev,
          ...(rng !== undefined && { rng }),
        }),
        policy.grid,
      );
    };
    return {
      ...base,
      release: policy,
      decryptForRelease(a, noise) {
        // Flooding noise hides the key's decryption error: cryptographic only, checked before decrypting.
        const rng = noise === undefined ? undefined : requireCryptoRng(noise, 'noise');
        const x = ckksVec(a);
        const out = new Float64Array(x.length);
        if (x.plan !== undefined) {
          x.plan.blocks.forEach((block, i) => {
            const part = x.parts[i]!.withLength(block.rows);
            try {
              out.set(releaseOne(part, rng), block.rowOffset);
            } finally {
              part.dispose();
            }
          });
        } else if (x.period !== undefined) {
          const part = x.parts[0]!.withLength(x.length);
          try {
            out.set(releaseOne(part, rng));
          } finally {
            part.dispose();
          }
        } else {
          x.parts.forEach((p, i) => {
            out.set(releaseOne(p, rng), i * S);
          });
        }
        return out;
      },
    } satisfies LrCipherSecret;
  }
  return base;
}

/**
 * The wire's `slots_per_item` for `items` ciphertexts holding `values` values: any s with
 * ceil(values / s) = items (a product's blocks differ in size; the receiver derives the real layout
 * from the value count).
 */
function itemWidth(values: number, items: number): number {
  if (items <= 1) return Math.max(1, values);
  for (let s = Math.ceil(values / items); s <= Math.floor((values - 1) / (items - 1)); s++) {
    if (Math.ceil(values / s) === items) return s;
  }
  throw new FedscoreError('internal', `no item width fits ${values} values in ${items} ciphertexts`, {
    field: 'slotsPerItem',
  });
}

/** 3: the shape travels in an HE blob's meta (blob.ts) instead of a JSON header of our own (v2). */
const CKKS_LAYOUT_TAG = 'fedscore.hetero-lr.ckks-layout/3';

function ckksProvider(options: CipherProviderOptions): LrCipherProvider {
  // Not defaulted to a no-op: without a logger the HE package warns through process.emitWarning.
  const logger = options.logger === undefined ? {} : { logger: options.logger };
  return {
    scheme: 'ckks',
    async create(shape, runtime = {}) {
      const preset = options.ckksPreset ?? DEFAULT_HETERO_LR_PRESET;
      const slots = presetSlots(preset);
      const layout = packedLayout(shape.batchSize, shape.columns, slots);
      const release = releasePolicy(preset, shape, slots);
      const ctx = await createCkksContext({
        params: preset,
        rotations: packedRotationSteps(layout),
        relinearization: false,
        allowWeakParameters: weakOk(options),
        ...logger,
      });
      const cipher = ckksCipher(ctx, layout, runtime, { ctx, release }) as LrCipherSecret;
      return { ...cipher, serializePublic: () => prefixLayout(shape, ctx) };
    },
    async load(bytes, runtime = {}) {
      const { shape, rest, fingerprint } = readLayout(bytes);
      const ctx = await loadCkksPublicContext(rest, {
        allowWeakParameters: weakOk(options),
        expected: { scheme: 'ckks' },
        ...logger,
      });
      if (ctx.fingerprint !== fingerprint) {
        ctx.dispose();
        throw new FedscoreError('he_context_mismatch', 'the layout header names another context', {
          field: 'context',
        });
      }
      const layout = packedLayout(shape.batchSize, shape.columns, ctx.slotCount);
      return ckksCipher(ctx, layout, runtime);
    },
  };
}

/** Slots of a preset's ciphertexts: N / 2 (presets.ts). */
function presetSlots(preset: CkksPresetName): number {
  return CKKS_PRESETS[preset].polyModulusDegree / 2;
}

/**
 * Mask bits a CKKS key can carry: the release happens after the circuit's (at most) two rescales, at
 * chain level levels - 2, whose modulus must hold (|g| + 2^k) * 2^scale with a bit to spare; capped at
 * 40 (float64 unmasking: see EXACT_MAX_MASK_BITS). ckks-8192: 60 - 40 - 2 = 18; ckks-16384-release:
 * 60 + 60 - 55 - 2 -> 40.
 */
export function ckksMaxMaskBits(coeffModulusBits: readonly number[], scaleBits: number): number {
  const levels = coeffModulusBits.length - 2;
  const atRelease = coeffModulusBits.slice(0, Math.max(1, levels - 1)).reduce((a, b) => a + b, 0);
  return Math.max(0, Math.min(EXACT_MAX_MASK_BITS, atRelease - scaleBits - 2));
}

/** The flooding of a key: t decryptions = products x (blocks bound) + vectors x parts, s = 30 bits. */
function releasePolicy(preset: CkksPresetName, shape: CipherShape, slots: number): ReleasePolicy {
  const r = shape.releases ?? { products: 4096 };
  // A product of p columns is cut into at most floor(log2 p) + 1 power-of-two blocks (packing.ts).
  const blocks = Math.floor(Math.log2(Math.max(1, shape.columns))) + 1;
  const parts = Math.ceil(Math.max(1, r.vectorLength ?? 1) / slots);
  const decryptions = Math.max(1, r.products * blocks + (r.vectors ?? 0) * parts);
  const errorBound = RELEASE_ERROR_BOUND[preset];
  const noiseStdDev = floodingStdDev(errorBound, decryptions, RELEASE_SECURITY_BITS);
  return {
    noiseStdDev,
    grid: releaseGrid(noiseStdDev),
    decryptions,
    statisticalSecurity: RELEASE_SECURITY_BITS,
    errorBound,
  };
}

/**
 * The key holder's public bytes carry the shape so that loaders derive the same layout: an HE blob
 * (`BLOB_KIND.layoutContext`, blob.ts: magic, CRC, fingerprint) whose meta holds the layout tag and shape
 * and whose payload is the public context. The fingerprint is checked against the context's own.
 */
function prefixLayout(shape: CipherShape, ctx: CkksPublicContext): Uint8Array {
  return encodeBlob({
    kind: BLOB_KIND.layoutContext,
    scheme: 'ckks',
    insecure: ctx.insecure,
    fingerprint: ctx.fingerprint,
    meta: { layout: CKKS_LAYOUT_TAG, batchSize: shape.batchSize, columns: shape.columns },
    payload: ctx.serialize(),
  });
}

function readLayout(bytes: Uint8Array): { shape: CipherShape; rest: Uint8Array; fingerprint: string } {
  const blob = decodeBlob(bytes, BLOB_KIND.layoutContext);
  if (blob.meta.layout !== CKKS_LAYOUT_TAG || blob.scheme !== 'ckks') {
    throw new FedscoreError('he_corrupt', 'CKKS public context: bad layout header', { field: 'context' });
  }
  return {
    shape: { batchSize: metaInt(blob.meta, 'batchSize'), columns: metaInt(blob.meta, 'columns') },
    rest: blob.payload,
    fingerprint: blob.fingerprint,
  };
}
