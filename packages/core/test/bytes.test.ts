import { bytesToHex, concatBytes, hexToBytes, isFedscoreError, safeUint64 } from '@fedscore/core';
import { describe, expect, it } from 'vitest';

// RFC 4648 section 10, the base16 test vectors (upper case there; we write lower case, read both).
const RFC4648_BASE16: readonly [string, string][] = [
  ['', ''],
  ['f', '66'],
  ['fo', '666F'],
  ['foo', '666F6F'],
  ['foob', '666F6F62'],
  ['fooba', '666F6F6261'],
  ['foobar', '666F6F626172'],
];

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('hex (RFC 4648 base16)', () => {
  it.each(RFC4648_BASE16)('%j <-> %s', (text, hex) => {
    expect(bytesToHex(ascii(text))).toBe(hex.toLowerCase());
    expect(hexToBytes(hex)).toEqual(ascii(text));
    expect(hexToBytes(hex.toLowerCase())).toEqual(ascii(text));
  });

  it('round-trips every byte value, agreeing with Node Buffer', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(bytesToHex(all)).toBe(Buffer.from(all).toString('hex'));
    expect(hexToBytes(Buffer.from(all).toString('hex').toUpperCase())).toEqual(all);
  });

  it('reads a subarray view by its own bytes, not its buffer', () => {
    const whole = concatBytes([ascii('xx'), ascii('fo'), ascii('yy')]);
    expect(bytesToHex(whole.subarray(2, 4))).toBe('666f');
  });

  it.each([
    ['abc', 'odd length'],
    ['0g', 'not a hex digit'],
    [' 0', 'not a hex digit'],
    ['0x', 'not a hex digit'],
  ])('refuses %j (%s) with a typed error naming the field', (bad) => {
    let caught: unknown;
    try {
      hexToBytes(bad, 'fingerprint');
    } catch (e) {
      caught = e;
    }
    expect(isFedscoreError(caught, 'invalid_argument')).toBe(true);
    expect((caught as { field?: string }).field).toBe('fingerprint');
  });
});

describe('safeUint64 (protobuf uint64 as decoded by protobufjs)', () => {
  // The reference: the same 8 little-endian bytes read by Node's Buffer as a BigInt.
  const fromHalves = (high: number, low: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(low >>> 0, 0);
    b.writeUInt32LE(high >>> 0, 4);
    return b.readBigUInt64LE(0);
  };

  it.each([
    [0, 0],
    [0, 1],
    [0, 0xffffffff],
    [1, 0],
    [0x1234, 0x89abcdef],
    [0x1fffff, 0xffffffff], // 2^53 - 1, the largest accepted
  ])('Long {high: %i, low: %i} reads as the BigInt of its bytes', (high, low) => {
    // protobufjs stores the halves as signed 32-bit integers.
    const v = safeUint64({ high: high | 0, low: low | 0 }, 'n');
    expect(BigInt(v)).toBe(fromHalves(high, low));
  });

  it('accepts 2^53 - 1 and refuses 2^53 and above as wire_decode naming the field', () => {
    expect(safeUint64({ high: 0x1fffff, low: -1 }, 'seq')).toBe(Number.MAX_SAFE_INTEGER);
    for (const v of [{ high: 0x200000, low: 0 }, { high: -1, low: -1 }, 2 ** 53, -1, 1.5]) {
      let caught: unknown;
      try {
        safeUint64(v, 'seq');
      } catch (e) {
        caught = e;
      }
      expect(isFedscoreError(caught, 'wire_decode')).toBe(true);
      expect((caught as { field?: string }).field).toBe('seq');
    }
  });

  it('passes safe non-negative numbers through', () => {
    expect(safeUint64(0, 'n')).toBe(0);
    expect(safeUint64(Number.MAX_SAFE_INTEGER, 'n')).toBe(Number.MAX_SAFE_INTEGER);
  });
});
