/**
 * CKKS layer against plaintext arithmetic (the independent reference is float64 math on the same
 * inputs). Tolerances: 1e-6 absolute for additions and plaintext products at scale 2^40 (the encoding
 * error is ~1e-9 per slot), 1e-4 for ciphertext products and polynomials (scale drift s^2/q absorbed at
 * ~1e-6 relative, values up to ~1e2).
 */

import { crc32 } from 'node:zlib';
import { cryptoRng, FedscoreError, memoryLogger, seededRng, uniform } from '@fedscore/core';
import { expectNoSecret, findSecret } from '@fedscore/core/testing';
import {
  CKKS_PRESETS,
  type CkksSecretContext,
  ckksSecurityBits,
  createCkksContext,
  loadCkksPublicContext,
  loadCkksSecretContext,
  polynomialDepth,
  sumRotationSteps,
} from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let ctx: CkksSecretContext;
let other: CkksSecretContext;

beforeAll(async () => {
  ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
  other = await createCkksContext({ params: 'ckks-8192', relinearization: false });
});
afterAll(() => {
  ctx.dispose();
  other.dispose();
});

const vec = (n: number) =>
  fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: n, maxLength: n });
const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('CKKS vector arithmetic vs plaintext', () => {
  it('add / sub with ciphertexts, plaintexts and scalars (1e-6)', () => {
    fc.assert(
      fc.property(vec(16), vec(16), fc.double({ min: -5, max: 5, noNaN: true }), (x, y, s) =>
        ctx.scope(() => {
          const a = ctx.encrypt(x);
          const b = ctx.encrypt(y);
          expect(
            maxErr(
              ctx.decrypt(a.add(b)),
              x.map((v, i) => v + y[i]!),
            ),
          ).toBeLessThan(1e-6);
          expect(
            maxErr(
              ctx.decrypt(a.sub(y)),
              x.map((v, i) => v - y[i]!),
            ),
          ).toBeLessThan(1e-6);
          expect(
            maxErr(
              ctx.decrypt(a.add(s)),
              x.map((v) => v + s),
            ),
          ).toBeLessThan(1e-6);
          expect(
            maxErr(
              ctx.decrypt(a.neg()),
              x.map((v) => -v),
            ),
          ).toBeLessThan(1e-6);
        }),
      ),
      { numRuns: 8 },
    );
  });

  it('multiply by plaintext and scalar keeps the scale exactly; ciphertext products (1e-6 / 1e-4)', () => {
    fc.assert(
      fc.property(vec(16), vec(16), fc.double({ min: -5, max: 5, noNaN: true }), (x, y, s) =>
        ctx.scope(() => {
          const a = ctx.encrypt(x);
          const p = a.mul(y);
          expect(p.scale).toBe(a.scale);
          expect(p.level).toBe(a.level - 1);
          expect(
            maxErr(
              ctx.decrypt(p),
              x.map((v, i) => v * y[i]!),
            ),
          ).toBeLessThan(1e-6);
          expect(
            maxErr(
              ctx.decrypt(a.mul(s)),
              x.map((v) => v * s),
            ),
          ).toBeLessThan(1e-6);
          const c = a.mul(ctx.encrypt(y));
          expect(
            maxErr(
              ctx.decrypt(c),
              x.map((v, i) => v * y[i]!),
            ),
          ).toBeLessThan(1e-4);
          // level matching: c is one level below a
          expect(
            maxErr(
              ctx.decrypt(c.add(a)),
              x.map((v, i) => v * y[i]! + v),
            ),
          ).toBeLessThan(1e-4);
        }),
      ),
      { numRuns: 6 },
    );
  });

  it('sum and dot product (1e-5)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) =>
        ctx.scope(() => {
          const rng = seededRng(seed);
          const x = Array.from({ length: n }, () => (rng.nextUint32() / 2 ** 32) * 2 - 1);
          const w = Array.from({ length: n }, () => (rng.nextUint32() / 2 ** 32) * 2 - 1);
          const a = ctx.encrypt(x);
          const sum = x.reduce((s, v) => s + v, 0);
          const dot = x.reduce((s, v, i) => s + v * w[i]!, 0);
          expect(Math.abs(ctx.decrypt(a.sum())[0]! - sum)).toBeLessThan(1e-5);
          expect(Math.abs(ctx.decrypt(a.dot(w))[0]! - dot)).toBeLessThan(1e-5);
        }),
      ),
      { numRuns: 6 },
    );
  });

  it('polynomial evaluation: degree-3 sigmoid approximation on [-8, 8] (1e-4 vs the same polynomial)', () => {
    // A degree-3 sigmoid approximation 0.5 + a x - b x^3 on [-8, 8], the form used by Kim et al. 2018.
    const coeffs = [0.5, 0.15012, 0, -0.001593];
    expect(polynomialDepth(3)).toBe(2);
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 8, maxLength: 8 }),
        (x) =>
          ctx.scope(() => {
            const got = ctx.decrypt(ctx.encrypt(x).polyval(coeffs));
            const want = x.map((v) => coeffs[0]! + coeffs[1]! * v + coeffs[3]! * v ** 3);
            expect(maxErr(got, want)).toBeLessThan(1e-4);
          }),
      ),
      { numRuns: 6 },
    );
  });

  it('refuses a polynomial deeper than the levels left', () => {
    ctx.scope(() => {
      const a = ctx.encrypt([1, 2]);
      expect(() => a.polyval([0, 0, 0, 0, 0, 1])).toThrow(expect.objectContaining({ code: 'out_of_range' }));
    });
  });

  it('multiplying by an all-zero plaintext or 0 returns a fresh encryption of zero, not a throw', () => {
    ctx.scope(() => {
      const a = ctx.encrypt([1, 2, 3]);
      const z = a.mul([0, 0, 0]);
      expect(maxErr(ctx.decrypt(z), [0, 0, 0])).toBeLessThan(1e-6);
      expect(z.level).toBe(a.level - 1);
      const z2 = a.mul(0);
      expect(maxErr(ctx.decrypt(z2.add(a.mul(1))), [1, 2, 3])).toBeLessThan(1e-6);
      expect(maxErr(ctx.decrypt(a.mul(ctx.encode([0, 0, 0]))), [0, 0, 0])).toBeLessThan(1e-6);
    });
  });

  it('rotations need declared steps', () => {
    ctx.scope(() => {
      const a = ctx.encrypt([1, 2, 3, 4]);
      expect(Array.from(ctx.decrypt(a.rotate(1)).slice(0, 3)).map(Math.round)).toEqual([2, 3, 4]);
      expect(() => a.rotate(3)).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'steps' }),
      );
    });
  });

  it('decryptForRelease adds flooding noise of the stated size', () => {
    ctx.scope(() => {
      const x = new Float64Array(4096).fill(1);
      const a = ctx.encrypt(x);
      const r = ctx.decryptForRelease(a, { noiseStdDev: 1e-3, rng: cryptoRng() });
      const dev = r.map((v) => v - 1);
      const sd = Math.sqrt(dev.reduce((s, v) => s + v * v, 0) / dev.length);
      expect(sd).toBeGreaterThan(0.9e-3);
      expect(sd).toBeLessThan(1.1e-3);
    });
  });
});

describe('CKKS serialization and contexts', () => {
  it('round-trips ciphertexts; symmetric (seeded) ciphertexts are about half the size', () => {
    ctx.scope(() => {
      const x = [1.5, -2.25, 3];
      const pub = ctx.encrypt(x).serialize();
      const sym = ctx.encryptSymmetricSerialized(x);
      expect(maxErr(ctx.decrypt(ctx.encryptSymmetric(x)), x)).toBeLessThan(1e-6);
      expect(sym.length).toBeLessThan(pub.length * 0.6);
      expect(maxErr(ctx.decrypt(ctx.deserializeVector(pub)), x)).toBeLessThan(1e-6);
      expect(maxErr(ctx.decrypt(ctx.deserializeVector(sym)), x)).toBeLessThan(1e-6);
    });
  });

  it('symmetric encryption at a lower level: fewer primes, proportionally fewer bytes, same values', () => {
    // ckks-8192: data primes 60, 40, 40 bits. A seeded ciphertext is c0 (one word per coefficient per
    // prime) plus a seed, so level l holds (l + 1) / (levels + 1) of the top level's bytes.
    const rng = seededRng('sym-level');
    const x = Float64Array.from({ length: ctx.slotCount }, () => uniform(rng) * 8 - 4);
    const top = ctx.encryptSymmetricSerialized(x, { compression: 'none' });
    const sizes = [0, 1].map((level) => {
      const b = ctx.encryptSymmetricSerialized(x, { compression: 'none', level });
      ctx.scope(() => {
        const v = ctx.deserializeVector(b);
        expect(v.level).toBe(level);
        expect(maxErr(ctx.decrypt(v), x)).toBeLessThan(1e-6);
        // The one product and rescale a level-1 input is for (batch scoring's circuit).
        if (level === 1)
          expect(
            maxErr(
              ctx.decrypt(v.mul(0.5)),
              x.map((t) => t / 2),
            ),
          ).toBeLessThan(1e-6);
      });
      return b.length;
    });
    expect(Math.abs(sizes[1]! / top.length - 2 / 3)).toBeLessThan(0.01);
    expect(Math.abs(sizes[0]! / top.length - 1 / 3)).toBeLessThan(0.01);
    for (const level of [-1, 3, 1.5]) {
      expect(() => ctx.encryptSymmetricSerialized(x, { level })).toThrow(
        expect.objectContaining({ code: 'out_of_range', field: 'level' }),
      );
    }
  });

  it('rejects ciphertexts from another key set, corrupt and truncated bytes with typed errors', () => {
    const bytes = ctx.scope(() => ctx.encrypt([1, 2]).serialize());
    expect(() => other.deserializeVector(bytes)).toThrow(
      expect.objectContaining({ code: 'he_context_mismatch' }),
    );
    const flipped = bytes.slice();
    flipped[Math.floor(bytes.length / 2)]! ^= 0x40;
    expect(() => ctx.deserializeVector(flipped)).toThrow(expect.objectContaining({ code: 'he_corrupt' }));
    expect(() => ctx.deserializeVector(bytes.subarray(0, bytes.length - 100))).toThrow(
      expect.objectContaining({ code: 'he_corrupt' }),
    );
    expect(() => ctx.deserializeVector(new Uint8Array(10))).toThrow(
      expect.objectContaining({ code: 'he_corrupt' }),
    );
    ctx.scope(() => {
      const a = ctx.encrypt([1]);
      const b = other.encrypt([1]);
      expect(() => a.add(b)).toThrow(expect.objectContaining({ code: 'he_context_mismatch' }));
    });
  });

  it('public context: evaluates and encrypts, cannot decrypt, and carries no secret key', async () => {
    const publicBytes = ctx.serialize({ compression: 'none' });
    // No 32-byte window of the secret key, at any offset, in the public blob: raw, or inside its zstd/zlib
    // sections (positive controls: the search finds the key planted plain, in zstd and in zlib).
    const secretKey = ckksSecretKeyBytes(ctx);
    expect(secretKey.length).toBe(8192 * ctx.params.coeffModulusBits.length * 8);
    for (const compression of ['none', 'zstd', 'zlib'] as const) {
      expectNoSecret(ctx.serialize({ compression }), secretKey, `public context (${compression})`);
    }
    // control: the secret blob holds it, compressed as well as plain
    expect(findSecret(ctx.serializeSecret({ compression: 'none' }), secretKey)?.layer).toBe('raw');
    expect(findSecret(ctx.serializeSecret({ compression: 'zstd' }), secretKey)).toBeDefined();
    expect(findSecret(ctx.serializeSecret({ compression: 'zlib' }), secretKey)).toBeDefined();
    const secretBytes = ctx.serializeSecret({ compression: 'none' });
    // Blobs whose kind byte is right for the loader (checksum recomputed), so that the loaders reach
    // their key sections: a "public" blob carrying the secret key, and a "secret" one carrying none.
    // Each must be refused by name; a check on the kind byte alone would let the first one through.
    const publicWithSecretKey = withKind(secretBytes, BLOB_KIND_PUBLIC);
    await expect(loadCkksPublicContext(publicWithSecretKey)).rejects.toThrow(
      expect.objectContaining({ code: 'he_corrupt', field: 'secretKey' }),
    );
    await expect(loadCkksSecretContext(withKind(publicBytes, BLOB_KIND_SECRET))).rejects.toThrow(
      expect.objectContaining({ code: 'he_corrupt', field: 'secretKey' }),
    );
    // The rewrite itself is sound: the untouched kinds, re-checksummed, load.
    (await loadCkksPublicContext(withKind(publicBytes, BLOB_KIND_PUBLIC))).dispose();
    (await loadCkksSecretContext(withKind(secretBytes, BLOB_KIND_SECRET))).dispose();
    await expect(loadCkksSecretContext(publicBytes)).rejects.toThrow(FedscoreError);
    const pub = await loadCkksPublicContext(ctx.serialize());
    try {
      expect('decrypt' in pub).toBe(false);
      expect(pub.fingerprint).toBe(ctx.fingerprint);
      const bytes = pub.scope(() => pub.encrypt([1, 2, 3]).mul([2, 2, 2]).add(1).serialize());
      ctx.scope(() =>
        expect(maxErr(ctx.decrypt(ctx.deserializeVector(bytes)), [3, 5, 7])).toBeLessThan(1e-6),
      );
    } finally {
      pub.dispose();
    }
    const sk = await loadCkksSecretContext(ctx.serializeSecret());
    try {
      const bytes = ctx.scope(() => ctx.encrypt([4]).serialize());
      sk.scope(() => expect(Math.abs(sk.decrypt(sk.deserializeVector(bytes))[0]! - 4)).toBeLessThan(1e-6));
    } finally {
      sk.dispose();
    }
  });

  it('the smoke preset is the release preset on N = 2048: below 128 bits, refused without the opt-in', async () => {
    const smoke = CKKS_PRESETS['ckks-2048-smoke-insecure'];
    const release = CKKS_PRESETS['ckks-16384-release'];
    // The same chain and scale (so the same mask capacity and value range), on a ring 8x smaller.
    expect(smoke.coeffModulusBits).toEqual(release.coeffModulusBits);
    expect(smoke.scaleBits).toBe(release.scaleBits);
    expect(smoke.polyModulusDegree).toBe(2048);
    expect(smoke.securityBits).toBe(0);
    expect(ckksSecurityBits(smoke)).toBe(0);
    await expect(createCkksContext({ params: 'ckks-2048-smoke-insecure' })).rejects.toThrow(
      expect.objectContaining({ code: 'he_insecure_params' }),
    );
    const c = await createCkksContext({
      params: 'ckks-2048-smoke-insecure',
      allowWeakParameters: true,
      logger: memoryLogger(),
    });
    try {
      expect(c.insecure).toBe(true);
      expect(c.description).toContain('INSECURE');
      // A party loading the key holder's context refuses it without its own opt-in.
      await expect(loadCkksPublicContext(c.serialize())).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params' }),
      );
      const values = [0.5, -1.25, 3];
      const back = c.decrypt(c.encrypt(values));
      for (let i = 0; i < values.length; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThan(1e-9);
    } finally {
      c.dispose();
    }
  });

  it('refuses parameters above the 128-bit bound unless allowWeakParameters, flags and warns', async () => {
    const weak = { polyModulusDegree: 4096, coeffModulusBits: [60, 40, 40, 60], scaleBits: 40 };
    await expect(createCkksContext({ params: weak })).rejects.toThrow(
      expect.objectContaining({ code: 'he_insecure_params' }),
    );
    const logger = memoryLogger();
    const c = await createCkksContext({ params: weak, allowWeakParameters: true, logger });
    try {
      expect(c.insecure).toBe(true);
      expect(c.description).toContain('INSECURE');
      expect(logger.records.some((r) => r.level === 'warn')).toBe(true);
      const bytes = c.serialize();
      await expect(loadCkksPublicContext(bytes)).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params' }),
      );
      // The plaintext-scheme opt-in is another switch: it does not admit weak parameters.
      await expect(loadCkksPublicContext(bytes, { allowPlaintextScheme: true })).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params' }),
      );
      // The sender's flag is not believed: the same weak parameters flagged "secure" are refused too.
      await expect(loadCkksPublicContext(withFlags(bytes, 0))).rejects.toThrow(
        expect.objectContaining({ code: 'he_insecure_params' }),
      );
      await expect(loadCkksPublicContext(withFlags(bytes, 0), { allowWeakParameters: true })).rejects.toThrow(
        expect.objectContaining({ code: 'he_corrupt', field: 'flags.insecure' }),
      );
      // Accepted on the opt-in, with a warning: through the logger, or process.emitWarning without one.
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.message);
      process.on('warning', onWarning);
      const loaded = await loadCkksPublicContext(bytes, { allowWeakParameters: true });
      await new Promise((r) => setImmediate(r));
      process.off('warning', onWarning);
      expect(loaded.insecure).toBe(true);
      expect(warnings.some((w) => w.includes('INSECURE'))).toBe(true);
      loaded.dispose();
      const log2 = memoryLogger();
      (await loadCkksPublicContext(bytes, { allowWeakParameters: true, logger: log2 })).dispose();
      expect(log2.records.some((r) => r.level === 'warn' && r.message.includes('INSECURE'))).toBe(true);
    } finally {
      c.dispose();
    }
    await expect(createCkksContext({ params: 'ckks-1024' as never })).rejects.toThrow(
      expect.objectContaining({ code: 'invalid_argument', field: 'params' }),
    );
  });
});

const BLOB_KIND_PUBLIC = 2;
const BLOB_KIND_SECRET = 3;

/** A copy of an HE blob with header byte `at` set to `value` and its CRC-32 trailer recomputed. */
function withHeaderByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[at] = value;
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}
/** Byte 5 is the blob kind (packages/he/src/blob.ts). */
const withKind = (bytes: Uint8Array, kind: number) => withHeaderByte(bytes, 5, kind);
/** Byte 7 holds the flags; bit 0 = insecure parameters. */
const withFlags = (bytes: Uint8Array, flags: number) => withHeaderByte(bytes, 7, flags);

describe('complex packing (two real vectors in one ciphertext)', () => {
  // Reference: float64 arithmetic on the same inputs. a + i sqrt(2) b is rotated and multiplied by a
  // real plaintext; every slot must carry the same factor i (a rotation by an odd step would flip the
  // sign of b's result under X^(N/2) alone). Tolerance 1e-5 (scale 2^40, a rotation's key switching and
  // one rescale: measured ~5e-7).
  it('packs a and b through rotations and plaintext products, both results recovered', () => {
    const rng = seededRng(7);
    const n = ctx.slotCount;
    const a = Float64Array.from({ length: n }, () => uniform(rng) * 2 - 1);
    const b = Float64Array.from({ length: n }, () => uniform(rng) * 2 - 1);
    const w = Float64Array.from({ length: n }, (_, i) => (i % 3) - 1);
    ctx.scope(() => {
      const z = ctx.packComplex(ctx.encrypt(a), ctx.encrypt(b));
      for (const step of [1, 2, 4]) {
        const y = z.rotate(step).mul(w);
        const re = ctx.decrypt(y);
        const im = ctx.decrypt(ctx.imaginaryPart(y));
        const ra = new Float64Array(n);
        const rb = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          ra[i] = a[(i + step) % n]! * w[i]!;
          rb[i] = b[(i + step) % n]! * w[i]!;
        }
        expect(maxErr(re, ra)).toBeLessThan(1e-5);
        expect(maxErr(im, rb)).toBeLessThan(1e-5);
      }
    });
  });

  it('refuses operands at different levels', () => {
    ctx.scope(() => {
      const x = ctx.encrypt(new Float64Array(4).fill(1));
      expect(() => ctx.packComplex(x, x.mul(1))).toThrow(FedscoreError);
    });
  });
});

describe('CKKS encode at a chosen scale', () => {
  it('multiplies the scales, and decrypts the product at the product scale', () => {
    ctx.scope(() => {
      const x = ctx.encrypt(Float64Array.from([0.5, -1.25, 2]));
      const pt = ctx.encode(Float64Array.from([2, 4, -1]), x.level, 2 ** 25);
      expect(pt.scale).toBe(2 ** 25);
      const y = x.mul(pt, { rescale: false });
      expect(y.scale).toBeCloseTo(x.scale * 2 ** 25, -10);
      expect(maxErr(ctx.decrypt(y), Float64Array.from([1, -5, -2]))).toBeLessThan(1e-4);
    });
  });

  it('refuses a scale that is not a finite number >= 1, naming the field', () => {
    for (const scale of [0, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      let err: unknown;
      try {
        ctx.encode(1, undefined, scale);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FedscoreError);
      expect((err as FedscoreError).field).toBe('scale');
    }
  });
});
