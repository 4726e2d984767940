/**
 * Host cache mode: a set blinded once serves several sessions with different banks and gives the same
 * intersections as fresh runs (checked against a plain Set intersection); the cache serializes without
 * its key unless asked, round-trips exactly, and refuses other ids or a missing or wrong key. Its key's
 * rotation policy is enforced (issue 11, finding 8): a cache past its age or session budget, or dated in
 * the future, is refused with `psi_key_expired` before a single point is sent; the session count is
 * kept in the file.
 */
import { generateUniqueUsccs, isFedscoreError, seededRng } from '@fedscore/core';
import { expectNoSecret, findSecret } from '@fedscore/core/testing';
import {
  BlindingPool,
  buildHostCache,
  createPsiKey,
  DEFAULT_PSI_KEY_ROTATION,
  decodeHostCache,
  encodeHostCache,
  prepareIds,
  runPsiLocal,
} from '@fedscore/psi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let pool: BlindingPool;
beforeAll(async () => {
  pool = await BlindingPool.create({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
});

const codes = generateUniqueUsccs(seededRng('cache'), 700);
const hostIds = codes.slice(0, 400);
const bankA = [...codes.slice(350, 400), ...codes.slice(400, 500)]; // 50 shared
const bankB = [...codes.slice(0, 120), ...codes.slice(500, 700)]; // 120 shared

function plain(a: readonly string[], b: readonly string[]): Set<string> {
  const s = new Set(b);
  return new Set(a.filter((x) => s.has(x)));
}

describe('host cache', () => {
  it('one cache serves two banks in both modes, with the same result as a plain intersection', async () => {
    const host = prepareIds(hostIds);
    const cache = await buildHostCache(host, { pool, batchSize: 64 });
    expect(cache.count).toBe(400);
    for (const [bank, mode] of [
      [bankA, 'both'],
      [bankB, 'guest_only'],
      [bankA, 'guest_only'],
    ] as const) {
      const r = await runPsiLocal(bank, host, { pool, hostCache: cache, mode, batchSize: 50 });
      expect(new Set(r.guest.intersection)).toEqual(plain(bank, hostIds));
      expect(r.host.intersectionSize).toBe(plain(bank, hostIds).size);
      if (mode === 'both') expect(r.host.intersection).toEqual(r.guest.intersection);
    }
    // the key survives the sessions (a cached key is never wiped by a run)
    expect(cache.key.scalar.some((b) => b !== 0)).toBe(true);
  });

  it('serializes without the key by default, round-trips exactly, and checks the key', async () => {
    const cache = await buildHostCache(hostIds.slice(0, 50), { pool, nowMs: 1_700_000_000_000 });
    const publicBytes = encodeHostCache(cache);
    // the 32-byte scalar in no form (raw or inside a compressed section), with positive controls
    expectNoSecret(publicBytes, cache.key.scalar, 'host cache without the key');
    const noKey = (() => {
      try {
        decodeHostCache(publicBytes);
      } catch (e) {
        return e;
      }
    })();
    expect(isFedscoreError(noKey, 'psi_cache_mismatch')).toBe(true);
    const wrong = (() => {
      try {
        decodeHostCache(publicBytes, { key: createPsiKey() });
      } catch (e) {
        return e;
      }
    })();
    expect(isFedscoreError(wrong, 'psi_cache_mismatch')).toBe(true);
    const back = decodeHostCache(publicBytes, { key: cache.key });
    expect(back.points).toEqual(cache.points);
    expect(back.order).toEqual(cache.order);
    expect(back.createdMs).toBe(1_700_000_000_000);
    const withKey = decodeHostCache(encodeHostCache(cache, { includeSecretKey: true }));
    expect(withKey.key.scalar).toEqual(cache.key.scalar);
    // control: the search finds the key in the encoding that includes it
    expect(findSecret(encodeHostCache(cache, { includeSecretKey: true }), cache.key.scalar)).toBeDefined();
    expect(() => decodeHostCache(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(/host cache/);
  });

  it('a cache built from other ids is refused', async () => {
    const cache = await buildHostCache(hostIds.slice(0, 30), { pool });
    const other = [...hostIds.slice(0, 29), hostIds[40]!];
    const err = await runPsiLocal(bankA, other, { pool, hostCache: cache }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'psi_cache_mismatch')).toBe(true);
  });
});

describe('host cache key rotation', () => {
  const T0 = 1_760_000_000_000;
  const DAY = 86_400_000;
  const expired = (field: string) => expect.objectContaining({ code: 'psi_key_expired', field });

  it('refuses a key past its age, counts sessions in the file, and refuses past the session budget', async () => {
    expect(DEFAULT_PSI_KEY_ROTATION).toEqual({ maxKeyAgeMs: 30 * DAY, maxSessionsPerKey: 100 });
    const cache = await buildHostCache(hostIds.slice(0, 60), { pool, nowMs: T0 });
    expect(cache.sessions).toBe(0);
    const run = (now: number, maxSessionsPerKey?: number) =>
      runPsiLocal(bankB, hostIds.slice(0, 60), {
        pool,
        hostCache: cache,
        now: () => now,
        ...(maxSessionsPerKey !== undefined && { hostKeyRotation: { maxSessionsPerKey } }),
      });
    // Default policy: 30 days.
    await expect(run(T0 + 31 * DAY)).rejects.toThrow(expired('cache.createdMs'));
    await expect(run(T0 - DAY)).rejects.toThrow(expired('cache.createdMs')); // dated in the future
    expect(cache.sessions).toBe(0); // a refused session is not counted
    const ok = await run(T0 + 29 * DAY);
    expect(new Set(ok.guest.intersection)).toEqual(plain(bankB, hostIds.slice(0, 60)));
    expect(cache.sessions).toBe(1);
    await run(T0 + DAY, 2);
    expect(cache.sessions).toBe(2);
    await expect(run(T0 + DAY, 2)).rejects.toThrow(expired('cache.sessions'));
    // The count survives the file, and the refusal with it.
    const back = decodeHostCache(encodeHostCache(cache, { includeSecretKey: true }));
    expect(back.sessions).toBe(2);
    await expect(
      runPsiLocal(bankB, hostIds.slice(0, 60), {
        pool,
        hostCache: back,
        now: () => T0 + DAY,
        hostKeyRotation: { maxSessionsPerKey: 2 },
      }),
    ).rejects.toThrow(expired('cache.sessions'));
    // Rotation: a rebuilt cache has a fresh key and a fresh count, and serves again.
    const rotated = await buildHostCache(hostIds.slice(0, 60), { pool, nowMs: T0 + 40 * DAY });
    expect(rotated.key.id).not.toBe(cache.key.id);
    expect(rotated.key.scalar).not.toEqual(cache.key.scalar);
    const again = await runPsiLocal(bankB, hostIds.slice(0, 60), {
      pool,
      hostCache: rotated,
      now: () => T0 + 41 * DAY,
    });
    expect(again.host.intersectionSize).toBe(plain(bankB, hostIds.slice(0, 60)).size);
  });
});
