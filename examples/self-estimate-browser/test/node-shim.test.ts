/**
 * The browser build's stand-ins equal Node's built-ins: SHA-256 against node:crypto (FIPS 180-4 vectors
 * via Node's OpenSSL), CRC-32 against node:zlib (he's blob checksum; check value of "123456789" is
 * 0xCBF43926).
 */
import { createHash as nodeHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, createHash } from '../src/node-shim.ts';

describe('node-shim sha256', () => {
  it('matches node:crypto on the FIPS 180-4 examples and other lengths', () => {
    for (const s of [
      '',
      'abc',
      'abcdbcdecdefdefgefghfghighijhijkijkljklmjklmnklmnolmnopmnopqnopq',
      'x'.repeat(55),
      'y'.repeat(64),
      'z'.repeat(1000),
    ]) {
      expect(createHash('sha256').update(s).digest('hex')).toBe(nodeHash('sha256').update(s).digest('hex'));
    }
  });
});

describe('node-shim crc32', () => {
  it('gives the CRC-32 check value and equals node:zlib on other lengths and a running value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    for (const n of [0, 1, 3, 64, 1000, 4099]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 0xff);
      expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      expect(crc32(bytes, 0x12345678)).toBe(zlibCrc32(bytes, 0x12345678));
    }
  });
});
