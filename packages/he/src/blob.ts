/**
 * The envelope of every serialized HE object: a fixed header, the payload, and a CRC-32 trailer.
 *
 *   offset  size  field
 *   0       4     magic "FSHE"
 *   4       1     format version (1)
 *   5       1     kind (BlobKind)
 *   6       1     scheme (0 ckks, 1 paillier, 2 none)
 *   7       1     flags (bit 0: insecure parameters)
 *   8       16    context fingerprint (parameters + key id)
 *   24      4     meta length M (uint32 LE)
 *   28      M     meta (kind-specific JSON, UTF-8: lengths, levels -- never values)
 *   28+M    4     payload length P (uint32 LE)
 *   32+M    P     payload (SEAL's own compressed serialization, or fixed-width bigints)
 *   32+M+P  4     CRC-32 (IEEE) of every byte before it
 *
 * A wrong magic, length or CRC is `he_corrupt`; a fingerprint other than the loading context's is
 * `he_context_mismatch`. Both are checked before any byte reaches SEAL.
 */
import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { bytesToHex, FedscoreError, hexToBytes, lengthPrefixed } from '@fedscore/core';
import type { HeSchemeName } from './types.ts';

// ckks.ts and additive.ts still import the hex helpers from here; their home is @fedscore/core.
export { bytesToHex, hexToBytes } from '@fedscore/core';

export const BLOB_KIND = {
  ciphertext: 1,
  publicContext: 2,
  secretContext: 3,
  additiveCiphertext: 4,
  /**
   * A public context (payload: its own blob) with the shape of the packed products its keys were made
   * for (meta: `layout` tag, `batchSize`, `columns`), so that loaders derive the same layout.
   */
  layoutContext: 5,
} as const;
export type BlobKind = (typeof BLOB_KIND)[keyof typeof BLOB_KIND];

const MAGIC = [0x46, 0x53, 0x48, 0x45]; // "FSHE"
const VERSION = 1;
const SCHEMES: readonly HeSchemeName[] = ['ckks', 'paillier', 'none'];
const HEADER = 28;

export interface Blob {
  readonly kind: BlobKind;
  readonly scheme: HeSchemeName;
  readonly insecure: boolean;
  /** 32 hex characters. */
  readonly fingerprint: string;
  readonly meta: Record<string, unknown>;
  readonly payload: Uint8Array;
}

/**
 * CRC-32 (IEEE 802.3, the zlib one) of `bytes[0, end)`: Node's native zlib implementation (a table-driven
 * JavaScript loop cost about 1 ms per scoring request on each node, ~6 % of its CPU: docs/scoring-api.md).
 */
export function crc32(bytes: Uint8Array, end = bytes.length): number {
  return zlibCrc32(end === bytes.length ? bytes : bytes.subarray(0, end));
}

export function encodeBlob(blob: Blob): Uint8Array {
  const meta = new TextEncoder().encode(JSON.stringify(blob.meta));
  const total = HEADER + meta.length + 4 + blob.payload.length + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = blob.kind;
  out[6] = SCHEMES.indexOf(blob.scheme);
  out[7] = blob.insecure ? 1 : 0;
  out.set(hexToBytes(blob.fingerprint, 'fingerprint'), 8);
  view.setUint32(24, meta.length, true);
  out.set(meta, HEADER);
  view.setUint32(HEADER + meta.length, blob.payload.length, true);
  out.set(blob.payload, HEADER + meta.length + 4);
  view.setUint32(total - 4, crc32(out, total - 4), true);
  return out;
}

function corrupt(message: string, field = 'bytes'): FedscoreError {
  return new FedscoreError('he_corrupt', message, { field });
}

/**
 * Parse and verify a blob of `kind` made under `fingerprint`. Checks integrity first (so that a corrupt
 * fingerprint reads as corruption), then kind, then fingerprint.
 */
export function decodeBlob(bytes: Uint8Array, kind: BlobKind, fingerprint?: string): Blob {
  if (!(bytes instanceof Uint8Array)) {
    throw new FedscoreError('invalid_argument', 'expected bytes', { field: 'bytes' });
  }
  if (bytes.length < HEADER + 8) throw corrupt(`HE blob truncated: ${bytes.length} bytes`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw corrupt('not an HE blob (bad magic)');
  if (bytes[4] !== VERSION) throw corrupt(`unsupported HE blob version ${bytes[4]}`, 'version');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const metaLen = view.getUint32(24, true);
  if (HEADER + metaLen + 8 > bytes.length) throw corrupt('HE blob truncated (meta)');
  const payloadLen = view.getUint32(HEADER + metaLen, true);
  const total = HEADER + metaLen + 4 + payloadLen + 4;
  if (total !== bytes.length) {
    throw corrupt(`HE blob length ${bytes.length} differs from the declared ${total} (truncated or padded)`);
  }
  if (view.getUint32(total - 4, true) !== crc32(bytes, total - 4)) throw corrupt('HE blob checksum mismatch');
  const k = bytes[5] as BlobKind;
  if (k !== kind) {
    throw new FedscoreError('invalid_argument', `HE blob holds kind ${k}, expected ${kind}`, {
      field: 'kind',
    });
  }
  const scheme = SCHEMES[bytes[6]!];
  if (scheme === undefined) throw corrupt(`unknown scheme ${bytes[6]}`, 'scheme');
  const fp = bytesToHex(bytes.subarray(8, 24));
  if (fingerprint !== undefined && fp !== fingerprint) {
    throw new FedscoreError(
      'he_context_mismatch',
      `HE blob was made under context ${fp.slice(0, 12)}..., this context is ${fingerprint.slice(0, 12)}...`,
      { field: 'fingerprint' },
    );
  }
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER, HEADER + metaLen)),
    );
  } catch (e) {
    throw new FedscoreError('he_corrupt', 'HE blob meta is not valid JSON', { field: 'meta', cause: e });
  }
  return {
    kind: k,
    scheme,
    insecure: (bytes[7]! & 1) === 1,
    fingerprint: fp,
    meta,
    payload: bytes.subarray(HEADER + metaLen + 4, HEADER + metaLen + 4 + payloadLen),
  };
}

/** Read a non-negative integer from blob meta, or fail as corrupt. */
export function metaInt(meta: Record<string, unknown>, key: string): number {
  const v = meta[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw corrupt(`HE blob meta '${key}' invalid`, key);
  return v;
}

/** 16-byte hex fingerprint of a description string and key id (SHA-256, truncated). */
export function fingerprintOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** Length-prefixed sections: [u32 LE length][bytes]... (ciphertext parts, context sections). */
export function packSections(parts: readonly Uint8Array[]): Uint8Array {
  return lengthPrefixed(parts);
}

/** How many whole sections `bytes` holds (`he_corrupt` when they do not tile it exactly). */
export function countSections(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  let n = 0;
  while (off < bytes.length) {
    if (off + 4 > bytes.length)
      throw new FedscoreError('he_corrupt', 'sections: truncated', { field: 'bytes' });
    off += 4 + view.getUint32(off, true);
    n++;
  }
  if (off !== bytes.length) throw new FedscoreError('he_corrupt', 'sections: truncated', { field: 'bytes' });
  return n;
}

/** The `count` sections of `packSections` output; truncation or trailing bytes are `he_corrupt`. */
export function unpackSections(bytes: Uint8Array, count: number, what: string): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > bytes.length)
      throw new FedscoreError('he_corrupt', `${what}: truncated`, { field: 'bytes' });
    const len = view.getUint32(off, true);
    if (off + 4 + len > bytes.length) {
      throw new FedscoreError('he_corrupt', `${what}: section ${i} truncated`, { field: 'bytes' });
    }
    out.push(bytes.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (off !== bytes.length) {
    throw new FedscoreError('he_corrupt', `${what}: trailing bytes after ${count} sections`, {
      field: 'bytes',
    });
  }
  return out;
}
