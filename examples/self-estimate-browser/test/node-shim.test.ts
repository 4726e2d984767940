/** The browser build's SHA-256 stand-in equals node:crypto (FIPS 180-4 vectors via Node's OpenSSL). */
import { createHash as nodeHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHash } from '../src/node-shim.ts';

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
