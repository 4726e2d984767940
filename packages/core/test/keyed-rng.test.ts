/**
 * Key-derived generators (keyed-rng.ts): the keystream is ChaCha20 (RFC 8439) under a BLAKE2b subkey,
 * checked against OpenSSL's ChaCha20 (node:crypto) as an independent implementation; derivation binds
 * every context field; the type and run-time checks refuse seeded generators.
 */
import { createCipheriv } from 'node:crypto';
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  isCryptoRng,
  loadRngKey,
  requireCryptoRng,
  seededRng,
  uniform,
} from '@fedscore/core';
import sodium from 'libsodium-wrappers-sumo';
import { describe, expect, it } from 'vitest';

const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);

function lp(parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const out: number[] = [];
  for (const b of bytes)
    out.push(b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b);
  return Uint8Array.from(out);
}

describe('loadRngKey / derive', () => {
  it('is ChaCha20-IETF (OpenSSL as the reference) under BLAKE2b(secret, domain || label || sorted context)', async () => {
    const key = await loadRngKey(secret);
    const rng = key.derive('hetero-lr/mask', { epoch: 3, job: 'job-1', digest: Uint8Array.of(1, 2) });
    await sodium.ready;
    // The documented encoding, written out here independently of keyed-rng.ts.
    const msg = lp([
      'fedscore/keyed-rng/1',
      'hetero-lr/mask',
      'digest',
      Uint8Array.of(0x62, 0x3a, 1, 2),
      'epoch',
      'n:3',
      'job',
      's:job-1',
    ]);
    const subkey = sodium.crypto_generichash(32, msg, secret);
    // OpenSSL's chacha20 IV = 32-bit little-endian block counter || 96-bit nonce.
    const c = createCipheriv('chacha20', subkey, new Uint8Array(16));
    const want = c.update(new Uint8Array(3000));
    const got = rng.fillBytes(new Uint8Array(1000));
    const got2 = new Uint8Array(2000);
    for (let i = 0; i < 2000; i += 4) {
      const x = rng.nextUint32();
      got2.set([x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24], i);
    }
    expect(Buffer.from(got).equals(want.subarray(0, 1000))).toBe(true);
    expect(Buffer.from(got2).equals(want.subarray(1000, 3000))).toBe(true);
  });

  it('same secret, label and context: same stream; any change: another stream', async () => {
    const key = await loadRngKey(secret);
    const ctx = { job: 'j', party: 'bank', epoch: 0, batch: 1 };
    const a = key.derive('m', ctx).fillBytes(new Uint8Array(32));
    expect(key.derive('m', { ...ctx }).fillBytes(new Uint8Array(32))).toEqual(a);
    for (const other of [
      key.derive('m2', ctx),
      key.derive('m', { ...ctx, epoch: 1 }),
      key.derive('m', { ...ctx, batch: 2 }),
      key.derive('m', { ...ctx, party: 'gov' }),
      key.derive('m', { ...ctx, extra: '' }),
      (await loadRngKey(Uint8Array.from(secret, (b, i) => (i === 0 ? b ^ 1 : b)))).derive('m', ctx),
    ]) {
      expect(other.fillBytes(new Uint8Array(32))).not.toEqual(a);
    }
    // A string and a number with the same digits are different context values.
    expect(key.derive('m', { e: '1' }).nextUint32()).not.toBe(key.derive('m', { e: 1 }).nextUint32());
  });

  it('key id is stable and one-way (does not contain the secret)', async () => {
    const a = await loadRngKey(secret);
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect((await loadRngKey(Uint8Array.from(secret))).id).toBe(a.id);
    expect(Buffer.from(secret).toString('hex')).not.toContain(a.id.slice(0, 8));
  });

  it('refuses secrets that are not 256 random bits', async () => {
    for (const bad of [
      new Uint8Array(16),
      new Uint8Array(33),
      new Uint8Array(32),
      new Uint8Array(32).fill(7),
    ]) {
      await expect(loadRngKey(bad, 'maskKey')).rejects.toMatchObject({
        code: 'invalid_argument',
        field: 'maskKey',
      });
    }
  });

  it('looks uniform (mean and variance of 20,000 draws within 5 sigma)', async () => {
    const rng = (await loadRngKey(secret)).derive('stats');
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = uniform(rng);
      s += u;
      s2 += u * u;
    }
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - s ** 2 / n ** 2 - 1 / 12)).toBeLessThan(0.005);
  });
});

describe('requireCryptoRng', () => {
  it('accepts cryptoRng() and derived generators', async () => {
    expect(isCryptoRng(cryptoRng())).toBe(true);
    const d = (await loadRngKey(secret)).derive('x');
    expect(requireCryptoRng(d, 'rng')).toBe(d);
  });

  it('refuses a seeded generator and an impostor claiming cryptographic: true', () => {
    const seeded = seededRng(1);
    const impostor = { ...seeded, cryptographic: true };
    for (const r of [seeded, impostor, undefined, {}]) {
      try {
        requireCryptoRng(r, 'maskRng');
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(FedscoreError);
        expect(e).toMatchObject({ code: 'insecure_rng', field: 'maskRng' });
      }
    }
    // @ts-expect-error -- a SeededRng is not a CryptoRng
    const typed: CryptoRng = seeded;
    expect(typed.cryptographic).toBe(false);
  });
});
