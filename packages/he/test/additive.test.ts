/**
 * The three additive backends against float64 plaintext arithmetic on the same inputs. Tolerances:
 * CKKS 1e-5 absolute (values in [-1, 1], n <= 5000); Paillier 1e-8 (32 fraction bits, exact arithmetic on
 * the encoded values: the error is the rounding of inputs to 2^-32); none 1e-12.
 */
import { cryptoRng, memoryLogger, seededRng } from '@fedscore/core';
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
const tol: Record<string, number> = { ckks: 1e-5, paillier: 1e-8, none: 1e-12 };

beforeAll(async () => {
  backends['ckks'] = await createAdditiveHe({ scheme: 'ckks' });
  backends['paillier'] = await createAdditiveHe({ scheme: 'paillier', bits: 1024, insecure: true });
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
    const pub = await loadAdditiveHePublic(he.serializePublic(), { insecure: true });
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
    const sk = await loadAdditiveHeSecret(he.serializeSecret(), { insecure: true });
    expect(maxErr(sk.decrypt(sk.deserializeCiphertext(bytes)), [2.5, -6])).toBeLessThan(tol[name]!);
    pub.dispose();
    sk.dispose();
  });
});

describe('additive backend security flags', () => {
  it('Paillier below 2048 bits needs the insecure flag; none is always flagged', async () => {
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

  it('the diagonal layout needs far fewer rotations than the column layout', () => {
    expect(columnLayoutRotations(23, 30000, 4096)).toBe(276);
    expect(diagonalLayoutRotations(23, 4096)).toBe(38);
    expect(diagonalLayoutRotations(300, 4096)).toBe(514);
  });
});

describe('Paillier exact masking (masks uniform modulo n; issue 11)', () => {
  it('masks, releases residues of the modulus width and unmasks exactly; refuses a seeded Rng', async () => {
    const he = await createAdditiveHe({ scheme: 'paillier', bits: 1024, insecure: true });
    const pub = he.toPublic();
    const values = [1.5, -2.25, 0, 123456.75, -0.000244140625];
    const ct = pub.mulScalar(pub.encrypt(values), 0.5); // exponent 2, as a gradient product
    const { masked, mask } = pub.exact!.addUniformMask(ct, cryptoRng());
    const residues = he.decryptResidues!(masked);
    expect(residues.every((r) => r.length === 128)).toBe(true);
    // The residues are not the values: a masked 0 is a uniform residue, not 0 (probability 2^-1000).
    expect(residues[2]!.some((b) => b !== 0)).toBe(true);
    const back = pub.exact!.unmaskResidues(residues, mask);
    expect(Array.from(back)).toEqual(values.map((v) => v * 0.5));
    expect(() => pub.exact!.addUniformMask(ct, seededRng(1) as never)).toThrow(
      expect.objectContaining({ code: 'insecure_rng', field: 'rng' }),
    );
    expect(() => pub.exact!.unmaskResidues(residues.slice(1), mask)).toThrow(
      expect.objectContaining({ code: 'wire_decode', field: 'residues' }),
    );
  });
});
