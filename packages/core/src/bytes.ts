/**
 * Byte helpers shared by the codecs (HE blob sections, key-derivation contexts, DER, tests): joins, hex
 * (RFC 4648 section 8, base16) and protobuf uint64 values read as JS numbers. One home: packages import
 * these from `@fedscore/core` instead of keeping their own copy.
 */

import { FedscoreError } from './errors.ts';

/** `parts` end to end in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Each part behind its 4-byte little-endian length: injective on lists of parts. */
export function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let off = 0;
  for (const p of parts) {
    view.setUint32(off, p.length, true);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

const HEX_DIGITS = '0123456789abcdef';

/** Lower-case base16 (RFC 4648 section 8) of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
  return s;
}

/**
 * The bytes of a base16 string (either case). An odd length or a character other than a hex digit is an
 * `invalid_argument` naming `field`, never a silently zeroed byte.
 */
export function hexToBytes(hex: string, field = 'hex'): Uint8Array {
  if (hex.length % 2 !== 0) {
    throw new FedscoreError('invalid_argument', `hex of odd length ${hex.length}`, { field });
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigit(hex.charCodeAt(2 * i));
    const lo = hexDigit(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) {
      throw new FedscoreError('invalid_argument', `not a hex digit at offset ${hi < 0 ? 2 * i : 2 * i + 1}`, {
        field,
      });
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** A protobuf uint64 as protobufjs decodes it: a number, or a Long (two unsigned 32-bit halves). */
export type Uint64Value = number | { readonly low: number; readonly high: number };

/**
 * A decoded uint64 as a JS number, refusing values above 2^53 - 1 (`wire_decode` naming `field`) rather
 * than rounding them: a count or a sequence number rounded to a neighbour would be a different message.
 */
export function safeUint64(value: Uint64Value, field: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new FedscoreError('wire_decode', 'not a uint64 below 2^53', { field });
    }
    return value;
  }
  const hi = value.high >>> 0;
  if (hi > 0x1fffff) {
    throw new FedscoreError('wire_decode', 'value exceeds 2^53 - 1', { field });
  }
  return hi * 2 ** 32 + (value.low >>> 0);
}
