/**
 * The SEAL objects of one CKKS key set and the small helpers every part of the layer shares: freeing a
 * SEAL object, the compression mode of a serialization, the parameter description, and the check of
 * plaintext values before SEAL's encoder sees them.
 */
import { FedscoreError } from '@fedscore/core';
import type {
  CKKSEncoder,
  Decryptor,
  Encryptor,
  Evaluator,
  GaloisKeys,
  ParmsIdType,
  PublicKey,
  RelinKeys,
  SEALContext,
  SecretKey,
} from 'node-seal';
import type { Seal } from '../seal.ts';
import type { CkksParams, PlainValues, SerializeOptions } from '../types.ts';

export interface Disposable {
  dispose(): void;
}

/** The SEAL objects of one key set. Shared (by handle clones) between a secret context and its public view. */
export interface Keys {
  readonly seal: Seal;
  readonly context: SEALContext;
  readonly encoder: CKKSEncoder;
  readonly evaluator: Evaluator;
  readonly encryptor: Encryptor;
  readonly publicKey: PublicKey;
  readonly relinKeys: RelinKeys | undefined;
  readonly galoisKeys: GaloisKeys | undefined;
  /**
   * The Galois keys as SEAL's seeded serialization (`Serializable<GaloisKeys>`: the uniform half of every
   * key-switching ciphertext replaced by its PRNG seed, about half the bytes), kept by the context that
   * generated them and sent by `serialize()`; a loader expands them on load. At N = 16384 the 13
   * power-of-two keys a batch of 8192 rows needs are ~68 MB expanded, above the 64 MiB message limit,
   * and ~34 MB seeded. Undefined on loaded contexts (they re-serialize the expanded keys).
   */
  readonly galoisSeeded?: Uint8Array | undefined;
  readonly secretKey: SecretKey | undefined;
  readonly decryptor: Decryptor | undefined;
  /** parms id by level (index = chain index). */
  readonly parmsByLevel: ParmsIdType[];
  /** The last prime of the data modulus at each level (dropped by a rescale from that level). */
  readonly primeByLevel: number[];
}

export function comprMode(seal: Seal, options?: SerializeOptions) {
  const c = options?.compression ?? 'zstd';
  if (c === 'none') return seal.ComprModeType.none;
  if (c === 'zlib') return seal.ComprModeType.zlib;
  if (c === 'zstd') return seal.ComprModeType.zstd;
  throw new FedscoreError('invalid_argument', `unknown compression '${String(c)}'`, { field: 'compression' });
}

export function describeParams(p: CkksParams): string {
  return `CKKS N=${p.polyModulusDegree} q=[${p.coeffModulusBits.join(',')}] scale=2^${p.scaleBits}`;
}

/**
 * Free a SEAL object. Never throws: after a fault inside the WASM module (which validation exists to
 * prevent) freeing can fail too, and cleanup must not replace the error that caused it.
 */
export function release(o: { delete(): void; isDeleted?(): boolean }): void {
  try {
    if (o.isDeleted?.() !== true) o.delete();
  } catch {
    // the module is already broken; the original error is what the caller reports
  }
}

/**
 * The values as a Float64Array, each finite and within `bound` (`ckksEncodeBound` of the level and
 * scale they are encoded at): checked here, before SEAL sees them, because an out-of-range value makes
 * SEAL's encoder overflow its integer conversion and fault inside the WASM module.
 */
export function toFloat64(values: PlainValues, field: string, max: number, bound: number): Float64Array {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new FedscoreError('invalid_argument', 'expected an array of numbers', { field });
  }
  if (values.length > max) {
    throw new FedscoreError('out_of_range', `${values.length} values exceed the ${max} slots`, { field });
  }
  const out = values instanceof Float64Array ? values : Float64Array.from(values);
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (!Number.isFinite(v)) {
      throw new FedscoreError('invalid_argument', `value at index ${i} is not a finite number`, { field });
    }
    if (Math.abs(v) > bound) throw rangeError(field, i, bound);
  }
  return out;
}

export function rangeError(field: string, index: number, bound: number): FedscoreError {
  return new FedscoreError(
    'out_of_range',
    `value at index ${index} is outside ±${bound.toPrecision(3)}, the range these CKKS parameters encode exactly`,
    { field, details: { index, bound } },
  );
}
