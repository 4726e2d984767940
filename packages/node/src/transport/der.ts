/**
 * A minimal DER writer (ITU-T X.690) for the few ASN.1 types an X.509 v3 certificate needs (RFC 5280):
 * SEQUENCE, SET, INTEGER, BOOLEAN, OBJECT IDENTIFIER, BIT/OCTET STRING, UTF8String, IA5String,
 * UTCTime/GeneralizedTime and context-specific tags. Writing only, definite lengths only; parsing is left
 * to Node's `X509Certificate`, which checks what this produces.
 */
import { concatBytes } from '@fedscore/core';

/** One encoded TLV. */
export type Der = Uint8Array;

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, content: Uint8Array): Der {
  const len = length(content.length);
  const out = new Uint8Array(1 + len.length + content.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export const sequence = (...items: Der[]): Der => tlv(0x30, concatBytes(items));
export const set = (...items: Der[]): Der => tlv(0x31, concatBytes(items));
export const boolean = (v: boolean): Der => tlv(0x01, Uint8Array.of(v ? 0xff : 0));
export const octetString = (b: Uint8Array): Der => tlv(0x04, b);
export const utf8String = (s: string): Der => tlv(0x0c, new TextEncoder().encode(s));
export const ia5String = (s: string): Der => tlv(0x16, new TextEncoder().encode(s));
/** BIT STRING with no unused bits (keys, signatures, whole-byte flags). */
export const bitString = (b: Uint8Array, unusedBits = 0): Der =>
  tlv(0x03, concatBytes([Uint8Array.of(unusedBits), b]));
/** Context-specific constructed [n] (EXPLICIT wrapper). */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** Context-specific primitive [n] (IMPLICIT tagging of a primitive). */
export const implicitPrimitive = (n: number, content: Uint8Array): Der => tlv(0x80 | n, content);

/** INTEGER from unsigned big-endian magnitude bytes (a leading zero is added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(0x02, (m[0]! & 0x80) !== 0 ? concatBytes([Uint8Array.of(0), m]) : m);
}

export const smallInteger = (n: number): Der => unsignedInteger(Uint8Array.of(n));

export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v & 0x7f);
      if (v < 128) break;
    }
    for (let k = 0; k < groups.length - 1; k++) groups[k]! |= 0x80;
    out.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime after. */
export function time(d: Date): Der {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

/** One TLV read back from DER: its tag, and where its content and the whole element lie. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Read the TLV at `offset` (definite lengths only); throws RangeError on truncated input. */
export function readElement(bytes: Uint8Array, offset: number): DerElement {
  if (offset + 2 > bytes.length) throw new RangeError('truncated DER');
  const tag = bytes[offset]!;
  let len = bytes[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > bytes.length) throw new RangeError('bad DER length');
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + bytes[pos++]!;
  }
  if (pos + len > bytes.length) throw new RangeError('truncated DER');
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

/** The direct children of a constructed element. */
export function children(bytes: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const e = readElement(bytes, pos);
    out.push(e);
    pos = e.end;
  }
  return out;
}
