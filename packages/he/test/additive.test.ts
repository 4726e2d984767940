/**
 * The three additive backends against float64 plaintext arithmetic on the same inputs. Tolerances:
 * CKKS 1e-5 absolute (values in [-1, 1], n <= 5000); Paillier 1e-8 (32 fraction bits, exact arithmetic on
 * the encoded values: the error is the rounding of inputs to 2^-32); none 1e-12.
 */
import { crc32 } from 'node:zlib';
import { memoryLogger, seededRng } from '@fedscore/core';
import {
  type AdditiveHeSecret,
  columnLayoutRotations,
  createAdditiveHe,
  diagonalLayoutRotations,
  loadAdditiveHePublic,
  loadAdditiveHeSecret,
} from '@fedscore/he';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const backends: Record<string, AdditiveHeSecret> = {};
/** This file's backends include weak Paillier and 'none': both opt-ins, warnings to a logger. */
const LOAD_ANY = { allowWeakParameters: true, allowPlaintextScheme: true, logger: memoryLogger() };
const tol: Record<string, number> = { ckks: 1e-5, paillier: 1e-8, none: 1e-12 };

beforeAll(async () => {
  backends['ckks'] = await createAdditiveHe({ scheme: 'ckks' });
  backends['paillier'] = await createAdditiveHe({
    scheme: 'paillier',
    bits: 1024,
    allowWeakParameters: true,
  });
  backends['none'] = await createAdditiveHe({ scheme: 'none' });
});
afterAll(() => {
  for (const b of Object.values(backends)) b.dispose();
});

const rand = (rng: ReturnType<typeof seededRng>, n: number) =>
  Float64Array.from({ length: n }, () => (rng.nextUint32() / 2 ** 32) * 2 - 1);
const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe.each(['ckks', 'paillier', 'none'])('additive backend %s', (name) => {
  it('encrypt, add, sub, addPlain, mulScalar, mulPlain, sum, dot match plaintext', () => {
    const he = backends[name]!;
    const rng = seededRng(`additive-${name}`);
    const n = name === 'paillier' ? 12 : 5000; // CKKS: two ciphertexts of 4096 slots
    const x = rand(rng, n);
    const y = rand(rng, n);
    const ex = he.encrypt(x);
    const ey = he.encrypt(y);
    const t = tol[name]!;
    expect(maxErr(he.decrypt(ex), x)).toBeLessThan(t);
    expect(
      maxErr(
        he.decrypt(he.add(ex, ey)),
        x.map((v, i) => v + y[i]!),
      ),
    ).toBeLessThan(t);
    expect(
      maxErr(
        he.decrypt(he.sub(ex, ey)),
        x.map((v, i) => v - y[i]!),
      ),
    ).toBeLessThan(t);
    expect(
      maxErr(
        he.decrypt(he.addPlain(ex, y)),
        x.map((v, i) => v + y[i]!),
      ),
    ).toBeLessThan(t);
    expect(
      maxErr(
        he.decrypt(he.mulScalar(ex, -2.5)),
        x.map((v) => v * -2.5),
      ),
    ).toBeLessThan(t);
    expect(maxErr(he.decrypt(he.mulScalar(ex, 0)), new Float64Array(n))).toBeLessThan(t);
    const prod = he.mulPlain(ex, y);
    expect(
      maxErr(
        he.decrypt(prod),
        x.map((v, i) => v * y[i]!),
      ),
    ).toBeLessThan(t);
    // mixing fixed-point depths (Paillier exponents, CKKS levels)
    expect(
      maxErr(
        he.decrypt(he.add(prod, ex)),
        x.map((v, i) => v * y[i]! + v),
      ),
    ).toBeLessThan(t);
    expect(Math.abs(he.decrypt(he.sum(ex))[0]! - x.reduce((s, v) => s + v, 0))).toBeLessThan(t * 10);
    expect(Math.abs(he.decrypt(he.dot(ex, y))[0]! - x.reduce((s, v, i) => s + v * y[i]!, 0))).toBeLessThan(
      t * 10,
    );
  });

  it('dotColumns = X^T d (the hetero-LR gradient)', () => {
    const he = backends[name]!;
    const rng = seededRng(`cols-${name}`);
    const n = name === 'paillier' ? 10 : 5000;
    const F = 5;
    const d = rand(rng, n);
    const cols = Array.from({ length: F }, () => rand(rng, n));
    cols[2] = new Float64Array(n); // an all-zero feature
    const want = cols.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));
    const got = he.decrypt(he.dotColumns(he.encrypt(d), cols));
    expect(maxErr(got, want)).toBeLessThan(tol[name]! * 10);
  });

  it('serializes through a public context and back to the key holder; rejects foreign ciphertexts', async () => {
    const he = backends[name]!;
    const pub = await loadAdditiveHePublic(he.serializePublic(), LOAD_ANY);
    expect(pub.fingerprint).toBe(he.fingerprint);
    const ct = pub.mulScalar(pub.encrypt([1.25, -3]), 2);
    expect(() => (pub as AdditiveHeSecret).decrypt(ct)).toThrow(
      expect.objectContaining({ code: 'unsupported' }),
    );
    const bytes = pub.serializeCiphertext(ct);
    expect(maxErr(he.decrypt(he.deserializeCiphertext(bytes)), [2.5, -6])).toBeLessThan(tol[name]!);
    const other = backends[name === 'none' ? 'ckks' : 'none']!;
    expect(() => other.deserializeCiphertext(bytes)).toThrow(
      expect.objectContaining({ code: 'he_context_mismatch' }),
    );
    const cut = bytes.subarray(0, bytes.length - 3);
    expect(() => he.deserializeCiphertext(cut)).toThrow(expect.objectContaining({ code: 'he_corrupt' }));
    const sk = await loadAdditiveHeSecret(he.serializeSecret(), LOAD_ANY);
    expect(maxErr(sk.decrypt(sk.deserializeCiphertext(bytes)), [2.5, -6])).toBeLessThan(tol[name]!);
    pub.dispose();
    sk.dispose();
  });
});

describe('additive backend security flags', () => {
  it('Paillier below 2048 bits needs allowWeakParameters; none is always flagged', async () => {
    await expect(createAdditiveHe({ scheme: 'paillier', bits: 1024 })).rejects.toThrow(
      expect.objectContaining({ code: 'he_insecure_params', field: 'bits' }),
    );
    expect(backends['paillier']!.insecure).toBe(true);
    expect(backends['none']!.insecure).toBe(true);
    expect(backends['none']!.description).toContain('INSECURE');
    expect(backends['ckks']!.insecure).toBe(false);
    expect(backends['ckks']!.securityBits).toBe(128);
    const logger = memoryLogger();
    (await createAdditiveHe({ scheme: 'none', logger })).dispose();
    expect(logger.records.some((r) => r.level === 'warn')).toBe(true);
  });

  it('loaders judge the key, not the sender: two separate opt-ins, the plan checked, always a warning', async () => {
    const weak = backends['paillier']!.serializePublic(); // 1024-bit modulus
    const plain = backends['none']!.serializePublic();
    const refused = (code: string, field: string) => expect.objectContaining({ code, field });
    await expect(loadAdditiveHePublic(weak)).rejects.toThrow(refused('he_insecure_params', 'n'));
    await expect(loadAdditiveHePublic(weak, { allowPlaintextScheme: true })).rejects.toThrow(
      refused('he_insecure_params', 'n'),
    );
    await expect(loadAdditiveHePublic(plain)).rejects.toThrow(refused('he_insecure_params', 'scheme'));
    await expect(loadAdditiveHePublic(plain, { allowWeakParameters: true })).rejects.toThrow(
      refused('he_insecure_params', 'scheme'),
    );
    // The plan: a 'none' context under a Paillier plan, a 1024-bit key under a 2048-bit plan.
    await expect(
      loadAdditiveHePublic(plain, { ...LOAD_ANY, expected: { scheme: 'paillier' } }),
    ).rejects.toThrow(refused('he_context_mismatch', 'scheme'));
    await expect(
      loadAdditiveHePublic(weak, { ...LOAD_ANY, expected: { scheme: 'paillier', paillierBits: 2048 } }),
    ).rejects.toThrow(refused('he_context_mismatch', 'n'));
    // Accepted on the matching opt-in, with a warning through the logger.
    const logger = memoryLogger();
    const pub = await loadAdditiveHePublic(weak, {
      allowWeakParameters: true,
      expected: { scheme: 'paillier', paillierBits: 1024 },
      logger,
    });
    expect(pub.insecure).toBe(true);
    expect(logger.records.filter((r) => r.level === 'warn').length).toBe(1);
    const logger2 = memoryLogger();
    (await loadAdditiveHePublic(plain, { allowPlaintextScheme: true, logger: logger2 })).dispose();
    expect(logger2.records.some((r) => r.level === 'warn' && r.message.includes('NOT encrypted'))).toBe(true);
  });

  it('a public Paillier blob carrying the secret key is refused, and a secret one without it', async () => {
    const he = backends['paillier']!;
    // Right kind byte for each loader (checksum recomputed), so the key fields are what is checked.
    await expect(loadAdditiveHePublic(withKind(he.serializeSecret(), 2), LOAD_ANY)).rejects.toThrow(
      expect.objectContaining({ code: 'he_corrupt', field: 'secretKey' }),
    );
    await expect(loadAdditiveHeSecret(withKind(he.serializePublic(), 3), LOAD_ANY)).rejects.toThrow(
      expect.objectContaining({ code: 'he_corrupt', field: 'secretKey' }),
    );
    // The rewrite is sound: unchanged kinds, re-checksummed, load.
    (await loadAdditiveHePublic(withKind(he.serializePublic(), 2), LOAD_ANY)).dispose();
    (await loadAdditiveHeSecret(withKind(he.serializeSecret(), 3), LOAD_ANY)).dispose();
  });

  it('the diagonal layout needs far fewer rotations than the column layout', () => {
    expect(columnLayoutRotations(23, 30000, 4096)).toBe(276);
    expect(diagonalLayoutRotations(23, 4096)).toBe(38);
    expect(diagonalLayoutRotations(300, 4096)).toBe(514);
  });
});

/** A copy of an HE blob with its kind byte (offset 5, packages/he/src/blob.ts) set and its CRC-32 redone. */
function withKind(bytes: Uint8Array, kind: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[5] = kind;
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}
