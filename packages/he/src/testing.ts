/**
 * Test support, exported as `@fedscore/he/testing` (never imported by library code): the bytes of a CKKS
 * secret key, for the "carries no secret key" searches (`expectNoSecret` of `@fedscore/core/testing`), and
 * the raw SEAL objects behind contexts and vectors, for the benchmark against raw node-seal calls.
 */
import { FedscoreError } from '@fedscore/core';
import { BLOB_KIND, decodeBlob, unpackSections } from './blob.ts';
import type { CkksSecretContext } from './types.ts';

export type { Keys as CkksSealObjects } from './ckks/index.ts';
export { rawCiphertext, rawHandles, rawPlaintext } from './ckks/index.ts';

/** SEAL's serialization header (magic 0xA15E, header size, version, compression, size): 16 bytes. */
const SEAL_HEADER = 16;

/**
 * The secret key's coefficients as SEAL stores them, uncompressed: N x (number of primes) 64-bit words
 * (the key in NTT form, uniform modulo each prime). Taken from the context's own secret serialization
 * (section 4 of the secret blob) and stripped of SEAL's header and the plaintext's metadata (parms id,
 * coefficient count, scale), which a public key of the same parameters shares; what is left is the part no
 * public object may contain.
 */
export function ckksSecretKeyBytes(ctx: CkksSecretContext): Uint8Array {
  const blob = decodeBlob(ctx.serializeSecret({ compression: 'none' }), BLOB_KIND.secretContext);
  const sk = unpackSections(blob.payload, 4, 'secret context')[3]!;
  const words = ctx.params.polyModulusDegree * ctx.params.coeffModulusBits.length;
  const view = new DataView(sk.buffer, sk.byteOffset, sk.byteLength);
  if (
    sk.length < SEAL_HEADER + words * 8 ||
    view.getUint16(0, true) !== 0xa15e ||
    sk[5] !== 0 ||
    Number(view.getBigUint64(8, true)) !== sk.length
  ) {
    throw new FedscoreError('internal', 'unexpected layout of the serialized secret key', {
      field: 'secretKey',
    });
  }
  return sk.slice(sk.length - words * 8);
}
