/**
 * Public interfaces of the HE layer. Protocol packages (vfl, binning, scoring) code against these types
 * only; node-seal never appears in them. Stable: additions only.
 *
 * Two levels:
 * - `AdditiveHe*`: the scheme-agnostic backend that FATE-style protocols need (encrypt a vector, add,
 *   multiply by plaintext scalars/vectors, sums and dot products, decrypt). Implemented by CKKS
 *   (node-seal), Paillier (paillier-bigint, signed fixed point) and `none` (plaintext, for debugging).
 * - `CkksVector` and the CKKS contexts: the full approximate-arithmetic API (ciphertext products,
 *   rotations, polynomials) for protocols that need more than additive homomorphism.
 *
 * Secret and public contexts are distinct types; only the secret one can decrypt. Every object that holds
 * WASM memory has `dispose()` (and `[Symbol.dispose]`); nothing is freed by the garbage collector.
 */
import type { CryptoRng, Logger } from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';

/** The additive-HE schemes behind `AdditiveHe`. `none` is plaintext and flagged insecure everywhere. */
export type HeSchemeName = 'ckks' | 'paillier' | 'none';

/** Names of the built-in CKKS parameter presets (see `CKKS_PRESETS`). */
export type CkksPresetName =
  | 'ckks-8192'
  | 'ckks-8192-deep'
  | 'ckks-16384'
  | 'ckks-16384-release'
  | 'ckks-2048-smoke-insecure';

/** CKKS encryption parameters. */
export interface CkksParams {
  /** Ring dimension N (power of two). Slots = N / 2. */
  readonly polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes, special (key-switching) prime last. */
  readonly coeffModulusBits: readonly number[];
  /** log2 of the encoding scale (the default scale is 2^scaleBits). */
  readonly scaleBits: number;
}

/** A named preset: parameters plus what they are good for. */
export interface CkksPreset extends CkksParams {
  readonly name: CkksPresetName;
  /** Multiplicative levels available to fresh ciphertexts (rescales before the last prime). */
  readonly levels: number;
  /** Claimed classical security (HomomorphicEncryption.org table, ternary secret). */
  readonly securityBits: number;
  readonly description: string;
}

/** Options common to every context constructor. */
export interface HeContextOptions {
  /**
   * Accept parameters below 128-bit security (or a Paillier modulus below 2048 bits). Every object made
   * from such a context reports `insecure: true`, and a warning is always given (policy.ts). Never in
   * production.
   */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters` (it never allowed the plaintext scheme here). */
  readonly insecure?: boolean;
  /** Where warnings go (default: `process.emitWarning`). */
  readonly logger?: Logger;
}

/**
 * What a loader of another party's context bytes accepts (policy.ts). The blob's own `insecure` flag
 * and scheme are checked against these, never believed.
 */
export interface HeLoadOptions {
  /** Accept CKKS parameters beyond the 128-bit bound, a Paillier modulus below 2048 bits. Default false. */
  readonly allowWeakParameters?: boolean;
  /** Accept scheme 'none' (no encryption at all). Default false. */
  readonly allowPlaintextScheme?: boolean;
  /** What this party's plan says the context must be: a difference is `he_context_mismatch`. */
  readonly expected?: HeExpectedContext;
  /** Where the warning goes when weak parameters or the plaintext scheme are accepted. */
  readonly logger?: Logger;
  /** @deprecated The old name of `allowWeakParameters` (it does not allow the plaintext scheme). */
  readonly insecure?: boolean;
}

/** The parameters a loader's plan fixes (issue 11, finding 8: check them on load). */
export interface HeExpectedContext {
  readonly scheme?: HeSchemeName;
  /** The Paillier modulus size of the plan: the key's n must have exactly this many bits. */
  readonly paillierBits?: number;
}

export interface CkksContextOptions extends HeContextOptions {
  /** A preset name or explicit parameters (checked against the 128-bit table). Default 'ckks-8192'. */
  readonly params?: CkksPresetName | CkksParams;
  /**
   * Rotation steps the computation will use. Galois keys are generated for these steps only (the full set
   * is ~33 MB at N=8192). Use `sumRotationSteps`, `diagonalRotationSteps` to compute them.
   */
  readonly rotations?: readonly number[];
  /** Generate relinearization keys (needed for ciphertext x ciphertext products). Default true. */
  readonly relinearization?: boolean;
}

/** Which values to encrypt with: the public key, or the secret key (seeded, half the size). */
export type EncryptionMode = 'public' | 'symmetric';

export interface SerializeOptions {
  /** Compression of the SEAL payload. Default 'zstd'. */
  readonly compression?: 'none' | 'zstd' | 'zlib';
}

/** Options of symmetric (seeded) encryption to bytes. */
export interface SymmetricEncryptOptions extends SerializeOptions {
  /**
   * Encrypt at this level (default: the top, `levels`). A circuit that needs k rescales and a result
   * level r needs inputs at r + k only: each prime dropped is 1 / (levels + 1) of the bytes and of the
   * work on them. The level's modulus must hold the result (`ckksEncodeBound`).
   */
  readonly level?: number;
}

/** Decryption-for-release policy (see docs/he.md, "decryption noise"). */
export interface ReleaseOptions {
  /**
   * Standard deviation of the Gaussian flooding noise added to each released value, in value units.
   * Default: `DEFAULT_FLOODING_STDDEV` (2^-20). Larger is safer and less precise.
   */
  readonly noiseStdDev?: number;
  /** RNG for the flooding noise: cryptographic only (`insecure_rng` otherwise). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
}

/** What every context reports about itself (safe to log). */
export interface HeContextInfo {
  readonly scheme: HeSchemeName;
  /** True when parameters are below 128-bit security or the scheme is `none`. */
  readonly insecure: boolean;
  /** Claimed classical security level in bits (0 for `none`). */
  readonly securityBits: number;
  /** Hex fingerprint of the parameters (and key id): blobs carry it; loading checks it. */
  readonly fingerprint: string;
  /** Human-readable parameters, e.g. 'CKKS N=8192 q=[60,40,40,60] scale=2^40'. */
  readonly description: string;
}

// ---------------------------------------------------------------------------------------------------
// Additive HE: the scheme-agnostic backend.
// ---------------------------------------------------------------------------------------------------

/** An encrypted vector of `length` numbers under some additive backend. Opaque; dispose when done. */
export interface AdditiveCiphertext {
  readonly scheme: HeSchemeName;
  readonly length: number;
  /** Free any WASM memory it holds (no-op for Paillier and none). Idempotent. */
  dispose(): void;
}

/**
 * A mask uniform modulo the plaintext modulus, added to an exact (integer) encoding: the masked value
 * (m + R) mod n is uniform whatever m is, so whoever decrypts it learns nothing (perfect hiding). Held
 * by the party that masked; never sent.
 */
export interface ExactMask {
  readonly length: number;
}

/** Exact masked release (Paillier): mask mod n, release residues as bytes, unmask to values. */
export interface ExactMasking {
  /** `a` plus a fresh mask uniform modulo n per value, drawn from `rng` (cryptographic only). */
  addUniformMask(a: AdditiveCiphertext, rng: CryptoRng): { masked: AdditiveCiphertext; mask: ExactMask };
  /** The values of residues (bytes of `decryptResidues`) minus `mask`, decoded (signed fixed point). */
  unmaskResidues(residues: readonly Uint8Array[], mask: ExactMask): Float64Array;
}

/** Operations available to anyone holding the public context. */
export interface AdditiveHePublic extends HeContextInfo {
  /** Present for exact schemes with integer plaintexts (Paillier): see `ExactMasking`. */
  readonly exact?: ExactMasking;
  /** Largest vector length `encrypt` accepts (CKKS: any; batched into ciphertexts of `slotCount`). */
  readonly slotCount: number;
  encrypt(values: ArrayLike<number>): AdditiveCiphertext;
  add(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext;
  sub(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext;
  addPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext;
  /** Multiply every element by the same scalar. */
  mulScalar(a: AdditiveCiphertext, scalar: number): AdditiveCiphertext;
  /** Elementwise product with a plaintext vector of the same length. */
  mulPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext;
  /** Sum of all elements (a length-1 ciphertext). */
  sum(a: AdditiveCiphertext): AdditiveCiphertext;
  /** Dot product with a plaintext vector of the same length (a length-1 ciphertext). */
  dot(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext;
  /**
   * `out[j] = sum_i a[i] * columns[j][i]` for every column: the hetero-LR gradient X^T [[d]]. Returns a
   * length-`columns.length` ciphertext. Backends pick the cheapest layout (CKKS: see `packing.ts`).
   */
  dotColumns(a: AdditiveCiphertext, columns: readonly ArrayLike<number>[]): AdditiveCiphertext;
  /** Ciphertext bytes (carrying this context's fingerprint) for a wire message. */
  serializeCiphertext(a: AdditiveCiphertext, options?: SerializeOptions): Uint8Array;
  /** Load a ciphertext made under this context; mismatch or corruption is a typed error. */
  deserializeCiphertext(bytes: Uint8Array): AdditiveCiphertext;
  /** The public context as bytes (no secret key). */
  serializePublic(options?: SerializeOptions): Uint8Array;
  /** Free everything this context holds. */
  dispose(): void;
}

/** The key holder's side. */
export interface AdditiveHeSecret extends AdditiveHePublic {
  /**
   * Exact schemes (Paillier): the plaintext residues mod n of `a` as fixed-width big-endian bytes, for a
   * value masked by `exact.addUniformMask` (uniform: reveals nothing). Never for unmasked values.
   */
  decryptResidues?(a: AdditiveCiphertext): Uint8Array[];
  /** Decrypt for the key holder's own use (no noise). Never send the result to another party. */
  decrypt(a: AdditiveCiphertext): Float64Array;
  /**
   * Decrypt a value that will be sent to another party: CKKS adds flooding noise (IND-CPA-D defence),
   * exact schemes return the exact value.
   */
  decryptForRelease(a: AdditiveCiphertext, options?: ReleaseOptions): Float64Array;
  /** A public context over the same keys (shares no mutable state with this one). */
  toPublic(): AdditiveHePublic;
  /** Secret key included: only when asked for by name. */
  serializeSecret(options?: SerializeOptions): Uint8Array;
}

export interface PaillierOptions extends HeContextOptions {
  /** Modulus size in bits. Default 2048; below 2048 requires `allowWeakParameters`. */
  readonly bits?: number;
  /** Fixed-point fraction bits of the signed encoding. Default 32. */
  readonly fractionBits?: number;
}

// ---------------------------------------------------------------------------------------------------
// CKKS: the full vector API.
// ---------------------------------------------------------------------------------------------------

/** Plaintext values accepted wherever a plaintext operand is allowed. */
export type PlainValues = ArrayLike<number>;

/** A CKKS plaintext encoded once and reused (e.g. a feature column), at a given level and scale. */
export interface CkksPlaintext {
  readonly length: number;
  readonly level: number;
  readonly scale: number;
  /** True when the encoding is the zero polynomial (products with it are handled specially). */
  readonly isZero: boolean;
  dispose(): void;
  [Symbol.dispose](): void;
}

/**
 * One CKKS ciphertext holding up to `slotCount` values. Operations return new vectors (inputs unchanged);
 * dispose what you no longer need, or run the computation inside `context.scope()`.
 */
export interface CkksVector {
  /** Logical length: slots beyond it are zero on encryption (and may hold garbage after rotations). */
  readonly length: number;
  /** Remaining multiplicative levels (0 = no more rescales). */
  readonly level: number;
  readonly scale: number;
  readonly context: CkksPublicContext;
  add(other: CkksVector | CkksPlaintext | PlainValues | number): CkksVector;
  sub(other: CkksVector | CkksPlaintext | PlainValues | number): CkksVector;
  /**
   * Product with a ciphertext (relinearized), a plaintext vector or a scalar; rescaled automatically
   * unless `{ rescale: false }`. A zero plaintext or scalar yields a fresh encryption of zero.
   */
  mul(other: CkksVector | CkksPlaintext | PlainValues | number, options?: { rescale?: boolean }): CkksVector;
  square(): CkksVector;
  neg(): CkksVector;
  /** Drop one prime (after `mul(..., { rescale: false })`). */
  rescale(): CkksVector;
  /** Left-rotate slots by `steps` (negative = right). The step must have been declared. */
  rotate(steps: number): CkksVector;
  /** Sum of the first `length` slots, in slot 0 (length 1). Needs `sumRotationSteps`. */
  sum(): CkksVector;
  /** Dot product with a plaintext vector (length 1). */
  dot(values: CkksPlaintext | PlainValues): CkksVector;
  /** `sum_k coeffs[k] x^k`, elementwise. Depth: see `polynomialDepth`. */
  polyval(coeffs: readonly number[]): CkksVector;
  /** A copy with another logical length (no computation). */
  withLength(length: number): CkksVector;
  /**
   * A copy mod-switched down to `level` (<= this level; same scale and values, no rescale): a circuit
   * that needs fewer levels than a fresh ciphertext has then runs on fewer primes (cheaper rotations,
   * products and encodings, smaller plaintexts and bytes).
   */
  atLevel(level: number): CkksVector;
  serialize(options?: SerializeOptions): Uint8Array;
  dispose(): void;
  [Symbol.dispose](): void;
  readonly disposed: boolean;
}

/** The public side of a CKKS key set: encrypt and evaluate, never decrypt. */
export interface CkksPublicContext extends HeContextInfo {
  readonly scheme: 'ckks';
  readonly params: CkksParams;
  readonly slotCount: number;
  /** Levels of a fresh ciphertext. */
  readonly levels: number;
  /** The rotation steps with Galois keys. */
  readonly rotations: readonly number[];
  readonly hasRelinKeys: boolean;
  /** Encrypt up to `slotCount` values (public-key encryption). */
  encrypt(values: PlainValues): CkksVector;
  /** Encrypt a vector of any length as ceil(length / slotCount) ciphertexts. */
  encryptBatch(values: PlainValues): CkksVector[];
  /**
   * Encode a plaintext for reuse, at `level` (default: top) and `scale` (default: the default scale,
   * 2^scaleBits). A smaller scale leaves room in a low level's modulus for a product's scale (the
   * encoding error grows as 1 / scale).
   */
  encode(values: PlainValues | number, level?: number, scale?: number): CkksPlaintext;
  /**
   * Pack two real vectors (same level and scale) as one complex vector a + i sqrt(2) b, exactly (no level,
   * no scale change): a linear map (plaintext products, rotations, sums) then costs one evaluation for
   * both. A decryption's real part is a's result; `imaginaryPart` gives b's.
   */
  packComplex(a: CkksVector, b: CkksVector): CkksVector;
  /** A vector whose real part is the b of a `packComplex`ed vector (after any linear map), exactly. */
  imaginaryPart(z: CkksVector): CkksVector;
  /** Load a ciphertext made under this key set. */
  deserializeVector(bytes: Uint8Array): CkksVector;
  /**
   * Run `fn`, then dispose every vector and plaintext created inside it except those reachable from the
   * return value (a vector, plaintext, or array/object of them, one level deep).
   */
  scope<T>(fn: () => T): T;
  /** Public context bytes: parameters, public, relinearization and the declared Galois keys. */
  serialize(options?: SerializeOptions): Uint8Array;
  dispose(): void;
  [Symbol.dispose](): void;
}

export interface CkksSecretContext extends CkksPublicContext {
  /** Encrypt with the secret key (cheaper than public-key encryption; same size in memory). */
  encryptSymmetric(values: PlainValues): CkksVector;
  /**
   * Encrypt with the secret key straight to bytes in SEAL's seeded form (half the size of a public-key
   * ciphertext): what a key holder sends. Loads with `deserializeVector` like any ciphertext.
   */
  encryptSymmetricSerialized(values: PlainValues, options?: SymmetricEncryptOptions): Uint8Array;
  /** Decrypt for own use (no noise). First `vector.length` values. */
  decrypt(vector: CkksVector): Float64Array;
  /** Decrypt for another party: flooding noise added (see docs/he.md). */
  decryptForRelease(vector: CkksVector, options?: ReleaseOptions): Float64Array;
  /** An independent public context over the same keys (its own WASM objects). */
  toPublic(): CkksPublicContext;
  /** Secret key included: only when asked for by name. */
  serializeSecret(options?: SerializeOptions): Uint8Array;
}

// ---------------------------------------------------------------------------------------------------
// Packed matrix-vector products (packing.ts).
// ---------------------------------------------------------------------------------------------------

export interface PackedLayout {
  /** Replication period of batch vectors (power of two, divides the slot count). */
  readonly width: number;
  readonly slots: number;
  /** Largest batch size and column count the keys were sized for. */
  readonly batchSize: number;
  readonly columns: number;
  /** The block plan of a product with `columns` columns. */
  productPlan(columns: number): PackedProductPlan;
}

/** One block of rows of X^T: its result is one ciphertext of period `diagonals`. */
export interface PackedBlock {
  /** First output row (feature) of the block. */
  readonly rowOffset: number;
  /** Real rows in the block (<= diagonals; the rest are zero rows). */
  readonly rows: number;
  /** Q: power of two, the number of diagonals and the period of the block's result. */
  readonly diagonals: number;
  /** Baby steps this block uses (min(shared baby steps, Q)). */
  readonly babySteps: number;
  /** Q / babySteps. */
  readonly giantSteps: number;
}

/** How one product X^T [[d]] with `columns` rows of X^T is evaluated at width W. */
export interface PackedProductPlan {
  readonly columns: number;
  readonly width: number;
  /** Baby steps computed once and shared by all blocks. */
  readonly babySteps: number;
  readonly blocks: readonly PackedBlock[];
  readonly cost: PackedCost;
}

export interface PackedCost {
  readonly rotations: number;
  /** Plaintext products (upper bound: all-zero diagonals are skipped). */
  readonly products: number;
  readonly rescales: number;
  /** Output ciphertexts (one per block). */
  readonly ciphertexts: number;
}

/** A range of giant steps of one block: the unit of work split across threads. */
export interface GiantTask {
  readonly block: number;
  /** Giant steps g0 <= g < g1. */
  readonly from: number;
  readonly to: number;
}

/** Counts of the work a (partial) packed product did (for profiles and the protocol docs). */
export interface PackedWork {
  rotations: number;
  products: number;
  rescales: number;
  encodes: number;
  additions: number;
  /** All-zero diagonals skipped (no product). */
  skipped: number;
}

// ---------------------------------------------------------------------------------------------------
// Worker pool.
// ---------------------------------------------------------------------------------------------------

export interface HeWorkerPoolOptions {
  /** Number of worker threads (default: available parallelism, at most 2 on this project's machines). */
  readonly size?: number;
  /**
   * The context every worker loads once: public or secret context bytes, or a context object (serialized
   * here; a `CkksSecretContext` with its secret key). A secret context gives the pool `decrypt` and
   * `encryptSymmetric`; pass one only when this process owns the key: the secret key is copied to the
   * pool's worker threads, which are threads of this same process (it never leaves the process, is
   * never written anywhere and never crosses a Channel). A party evaluating on another party's key
   * passes that party's public context.
   */
  readonly context: Uint8Array | CkksPublicContext;
  /** Accept weak parameters (bytes only; a context object carries its own flag). Tests only. */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters`. */
  readonly insecure?: boolean;
  readonly logger?: Logger;
  /**
   * Budget of the encoded diagonals `packedProduct` keeps per cache key, bytes for the whole pool (split
   * evenly between the workers). Default 0: encode per use.
   */
  readonly diagonalCacheBytes?: number;
  /**
   * Task kinds served besides the pool's own operations, for evaluations that live in higher packages
   * (the SecureBoost host's histogram tasks, @fedscore/vfl): the URL of a module (`siblingModuleUrl`)
   * whose `taskKinds` export maps a task's `op` to a handler factory taking the worker's loaded context
   * (the same shape as `@fedscore/queue`'s `HeTaskKind`, so one handler serves a queue worker and these
   * threads). Each worker imports it once at start-up; `HeWorkerPool.executor` runs such tasks.
   */
  readonly taskKinds?: URL;
}

/** A module named by `HeWorkerPoolOptions.taskKinds`: per `op`, a handler factory over the loaded context. */
export type HeThreadTaskKinds = Readonly<
  Record<string, (ctx: CkksPublicContext) => (task: never) => unknown>
>;

/** Inputs and options of a linear combination (`linearCombination`, `HeWorkerPool.linearCombinations`). */
export interface LinearCombinationOptions {
  /** Plaintext values added to the sum (its length sets the result length). Default: none. */
  readonly add?: PlainValues;
  /** Add a fresh public-key encryption of zero last (independent randomness). Default false. */
  readonly rerandomize?: boolean;
  /** Require every input at this level (e.g. `ctx.levels` for fresh ciphertexts). Default: any level. */
  readonly level?: number;
  /**
   * Drop the result's primes down to this level before it is returned (default: keep the level the
   * rescale leaves): the bytes shrink in proportion, the value and its error stay (no division, unlike a
   * rescale). Its modulus must hold the result (`ckksEncodeBound`); a level above the result's is refused.
   */
  readonly outputLevel?: number;
}

/** One linear combination for the pool: serialized ciphertexts (one per weight) and what to add. */
export interface HeLinearJob {
  readonly ciphertexts: readonly Uint8Array[];
  /** Plaintext values added to the sum; its length sets the result length. */
  readonly add?: Float64Array;
}

/**
 * One node-seal instance per worker, keys loaded once; inputs and outputs travel as serialized bytes.
 * Concurrent calls share the workers: each call is cut into one contiguous chunk per worker and the
 * chunks of successive calls start at successive workers, so single-item calls alternate between them.
 */
export interface HeWorkerPool {
  readonly size: number;
  /**
   * The pool's threads as a `TaskExecutor` of the `taskKinds` module's tasks (each task names its kind
   * by `op`; a task's `context` field, if any, is dropped: the workers hold the pool's context). A task
   * goes to whichever worker is idle. Rejects with `unsupported` (field `taskKinds`) without that module.
   */
  executor<In extends { readonly op: string }, Out>(): TaskExecutor<In, Out>;
  /** True when the pool was given a secret context (`decrypt` and `encryptSymmetric` available). */
  readonly secret: boolean;
  /** Encrypt each vector (<= slotCount values) with the public key; returns serialized ciphertexts. */
  encrypt(vectors: readonly Float64Array[], options?: SerializeOptions): Promise<Uint8Array[]>;
  /**
   * Encrypt each vector (<= slotCount values) with the secret key in SEAL's seeded form
   * (`CkksSecretContext.encryptSymmetricSerialized`: half the bytes, about a third of the cost of
   * public-key encryption). Secret pools only: a public pool rejects with `unsupported` naming `context`.
   */
  encryptSymmetric(
    vectors: readonly Float64Array[],
    options?: SymmetricEncryptOptions,
  ): Promise<Uint8Array[]>;
  /**
   * For each column j: `sum_b ct[b] * columns[j][b]` (batch b of the column), summed over slots:
   * the per-feature gradient `sum_i d_i x_ij`. Returns one serialized length-1 ciphertext per column.
   */
  columnDots(
    ciphertexts: readonly Uint8Array[],
    columns: readonly (readonly Float64Array[])[],
    options?: SerializeOptions,
  ): Promise<Uint8Array[]>;
  /**
   * For each job: `sum_j weights[j] * [[ciphertexts[j]]] + add` (`linearCombination`), one serialized
   * ciphertext per job. Each worker encodes the weights once and keeps them for the next call with the
   * same weights. Without `rerandomize` the bytes equal a single-thread `linearCombination`'s.
   */
  linearCombinations(
    jobs: readonly HeLinearJob[],
    weights: readonly number[],
    options?: Omit<LinearCombinationOptions, 'add'> & SerializeOptions,
  ): Promise<Uint8Array[]>;
  /**
   * The packed product M [[d]] of `plan` (packing.ts; M's dense rows `columns` of `rows` values, d a
   * batch vector of period `plan.width`) on the workers: giant steps split between them when the product
   * is large enough, partial sums added and folded on this thread (`packedMatVec`'s result layout, one
   * ciphertext per block). With `cacheKey` (the columns' identity: the same columns every time) each
   * worker keeps the encoded diagonals within its share of `diagonalCacheBytes` and is sent no columns
   * once it holds them all.
   */
  packedProduct(
    d: CkksVector,
    plan: PackedProductPlan,
    columns: readonly Float64Array[],
    rows: number,
    cacheKey?: string,
  ): Promise<CkksVector[]>;
  /** Counts of the work the packed products on this pool did. */
  readonly work: PackedWork;
  /** Decrypt serialized ciphertexts (the pool must have been given a secret context). */
  decrypt(ciphertexts: readonly Uint8Array[]): Promise<Float64Array[]>;
  close(): Promise<void>;
}
