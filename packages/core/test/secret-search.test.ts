/**
 * The secret search of `@fedscore/core/testing` that every "carries no secret key" test uses, checked
 * against a naive reference (every window of the secret compared at every offset of the haystack with
 * Buffer.indexOf): it finds a copy of any window at any offset, as plain bytes and inside zstd frames and
 * zlib streams (whole, followed by other bytes, or truncated), nested one level, and reports nothing on
 * bytes that hold no window; `expectNoSecret` throws on a present secret in each form and passes on an
 * absent one.
 */
import { randomBytes } from 'node:crypto';
import { deflateSync, zstdCompressSync } from 'node:zlib';
import { seededRng, uniformInt } from '@fedscore/core';
import { expectNoSecret, findSecret } from '@fedscore/core/testing';
import { describe, expect, it } from 'vitest';

const W = 32;

function naiveHit(hay: Uint8Array, secret: Uint8Array): boolean {
  const h = Buffer.from(hay);
  for (let s = 0; s + W <= secret.length; s++) if (h.indexOf(secret.subarray(s, s + W)) >= 0) return true;
  return false;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * `inner` between random letters of a 4-symbol alphabet: the compressor entropy-codes the literals, so the
 * compressed form holds no verbatim copy of `inner` (checked where it matters).
 */
function wrap(inner: Uint8Array): Uint8Array {
  const rng = seededRng('letters');
  const letters = (n: number) => Uint8Array.from({ length: n }, () => 0x41 + uniformInt(rng, 4));
  return concat(letters(3001), inner, letters(2999));
}

describe('findSecret', () => {
  const rng = seededRng('secret-search');
  const secret = rng.fillBytes(new Uint8Array(4096));
  const hay = rng.fillBytes(new Uint8Array(200_000));

  it('finds a window copied from any offset of the secret to any offset of the haystack', () => {
    expect(naiveHit(hay, secret)).toBe(false);
    expect(findSecret(hay, secret)).toBeUndefined();
    for (let k = 0; k < 40; k++) {
      const from = uniformInt(rng, secret.length - W + 1);
      const to = uniformInt(rng, hay.length - W + 1);
      const copy = Uint8Array.from(hay);
      copy.set(secret.subarray(from, from + W), to);
      const hit = findSecret(copy, secret);
      expect(hit).toEqual({ secretOffset: from, offset: to, layer: 'raw' });
      expect(naiveHit(copy, secret)).toBe(true);
    }
    // 31 bytes of a window are not a window
    const short = Uint8Array.from(hay);
    short.set(secret.subarray(100, 100 + W - 1), 5000);
    expect(findSecret(short, secret)).toBeUndefined();
  });

  it('finds it inside zstd and zlib sections, whole, followed by other bytes, truncated, or nested', () => {
    const piece = secret.subarray(1000, 1000 + 3 * W);
    const zstd = zstdCompressSync(wrap(piece));
    const zlib = deflateSync(wrap(piece));
    for (const [name, frame] of [
      ['zstd', zstd],
      ['zlib', zlib],
    ] as const) {
      expect(naiveHit(frame, secret)).toBe(false);
      const placed = concat(hay.subarray(0, 777), frame, hay.subarray(777, 5000));
      expect(findSecret(placed, secret, { decompress: false })).toBeUndefined();
      expect(findSecret(placed, secret)?.layer).toBe(`${name}@777`);
    }
    // a zlib stream cut short still yields what it decoded so far
    expect(findSecret(concat(hay.subarray(0, 10), zlib.subarray(0, zlib.length - 20)), secret)?.layer).toBe(
      'zlib@10',
    );
    // a zstd frame inside a zlib stream
    const nested = deflateSync(concat(new TextEncoder().encode('x'.repeat(500)), zstd));
    expect(findSecret(concat(hay.subarray(0, 64), nested), secret)?.layer).toBe('zlib@64>zstd@500');
  });

  it('searches a list of buffers as one, and a short secret whole', () => {
    const key = new Uint8Array(randomBytes(20));
    expect(findSecret([hay.subarray(0, 100), key, hay.subarray(100, 200)], key)?.offset).toBe(100);
    expect(findSecret([hay.subarray(0, 100), key.subarray(0, 19)], key)).toBeUndefined();
  });
});

describe('expectNoSecret', () => {
  const rng = seededRng('expect-no-secret');
  const secret = rng.fillBytes(new Uint8Array(2048));
  const hay = rng.fillBytes(new Uint8Array(50_000));

  it('passes on bytes without the secret (its positive controls hold) and throws on each form of it', () => {
    expect(() => expectNoSecret(hay, secret, 'clean')).not.toThrow();
    const piece = secret.subarray(512, 512 + W);
    for (const [form, bytes] of [
      ['raw', concat(hay, piece)],
      ['zstd', concat(hay, zstdCompressSync(wrap(piece)))],
      ['zlib', concat(hay, deflateSync(wrap(piece)))],
    ] as const) {
      expect(() => expectNoSecret(bytes, secret, form)).toThrow(
        new RegExp(`^expectNoSecret\\(${form}\\): holds bytes 512\\.\\.544 of the secret.*\\(${form}`),
      );
    }
  });
});
