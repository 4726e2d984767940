/**
 * ristretto255 as the PSI uses it, against RFC 9496 (Appendix A): the batch scalar multiplication of the
 * blinding workers reproduces the encodings of small multiples of the generator (A.1) and refuses the
 * non-canonical and invalid encodings (A.2) with a typed error naming the element; libsodium's
 * `crypto_core_ristretto255_from_hash` matches the one-way-map vectors (A.3). Then the PSI identities:
 * the batch hash path equals libsodium's wrappers, blinding commutes, and unblinding with the inverse
 * scalar returns H(id). All comparisons are exact (bytes).
 */
import { createHash } from 'node:crypto';
import { generateUniqueUsccs, isFedscoreError, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  blindReference,
  createPsiKey,
  hashToGroupReference,
  invertScalar,
  loadSodium,
  PSI_HASH_DOMAIN,
  prepareIds,
  psiHashDomain,
} from '@fedscore/psi';
import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RFC 9496 A.1: encodings of [k]B for the generator B. */
const MULTIPLES: Record<number, string> = {
  1: 'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76',
  2: '6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919',
  7: '44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d',
  8: '903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c',
  9: '02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031',
  10: '20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f',
  11: 'bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42',
  12: 'e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460',
  13: 'aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f',
  14: '46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e',
  15: 'e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e',
};

/** RFC 9496 A.2: encodings that must be rejected (non-canonical, negative, non-square, s = -1). */
const INVALID = [
  '00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371',
  '3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** RFC 9496 A.3: one-way map (64 uniform bytes -> element). */
const ONE_WAY_MAP: [string, string][] = [
  [
    '5d1be09e3d0c82fc538112490e35701979d99e06ca3e2b5b54bffe8b4dc772c14d98b696a1bbfb5ca32c436cc61c16563790306c79eaca7705668b47dffe5bb6',
    '3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46',
  ],
  [
    'f116b34b8f17ceb56e8732a60d913dd10cce47a6d53bee9204be8b44f6678b270102a56902e2488c46120e9276cfe54638286b9e4b3cdb470b542d46c2068d38',
    'f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b',
  ],
  [
    '8422e1bbdaab52938b81fd602effb6f89110e1e57208ad12d9ad767e2e25510c27140775f9337088b982d83d7fcf0b2fa1edffe51952cbe7365e95c86eaf325c',
    '006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826',
  ],
  [
    'ac22415129b61427bf464e17baee8db65940c233b98afce8d17c57beeb7876c2150d15af1cb1fb824bbd14955f2b57d08d388aab431a391cfc33d5bafb5dbbaf',
    'f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a',
  ],
  [
    '165d697a1ef3d5cf3c38565beefcf88c0f282b8e7dbd28544c483432f1cec7675debea8ebb4e5fe7d6f6e5db15f15587ac4d4d4a1de7191e0c1ca6664abcc413',
    'ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179',
  ],
];

function scalarOf(k: number): Uint8Array {
  const s = new Uint8Array(32);
  s[0] = k;
  return s;
}

const pools: BlindingPool[] = [];
beforeAll(async () => {
  await loadSodium();
  pools.push(await BlindingPool.create({ threads: 0 }), await BlindingPool.create({ threads: 2 }));
});
afterAll(async () => {
  for (const p of pools) await p.close();
});

describe.each([0, 1])('RFC 9496 through the blinding pool (pool %i: inline, then 2 workers)', (which) => {
  it('A.1: [k]B for k = 1, 2, 7..15', async () => {
    const pool = pools[which]!;
    const base = hex(MULTIPLES[1]!);
    for (const [k, want] of Object.entries(MULTIPLES)) {
      expect(toHex(await pool.blind(base, scalarOf(Number(k))))).toBe(want);
    }
  });

  it('A.1: a batch of points, each times the same scalar, and truncated keys', async () => {
    const pool = pools[which]!;
    const batch = new Uint8Array(3 * 32);
    batch.set(hex(MULTIPLES[1]!), 0);
    batch.set(hex(MULTIPLES[2]!), 32);
    batch.set(hex(MULTIPLES[7]!), 64);
    const out = await pool.blind(batch, scalarOf(2), { outBytes: 16 });
    // 2B = 2 x B, 4B is not in our table but 14B = 2 x 7B is
    expect(toHex(out.subarray(0, 16))).toBe(MULTIPLES[2]!.slice(0, 32));
    expect(toHex(out.subarray(32, 48))).toBe(MULTIPLES[14]!.slice(0, 32));
  });

  it('A.2: invalid encodings and the identity are psi_invalid_point errors naming the element', async () => {
    const pool = pools[which]!;
    for (const bad of [...INVALID, '00'.repeat(32)]) {
      const batch = new Uint8Array(64);
      batch.set(hex(MULTIPLES[1]!), 0);
      batch.set(hex(bad), 32);
      const err = await pool
        .blind(batch, scalarOf(3), { field: 'host_points', indexBase: 4096 })
        .catch((e: unknown) => e);
      expect(isFedscoreError(err, 'psi_invalid_point'), bad).toBe(true);
      expect((err as { field: string }).field).toBe('host_points[4097]');
    }
  });
});

describe('RFC 9496 A.3 and the PSI identities', () => {
  it('A.3: crypto_core_ristretto255_from_hash is the one-way map', () => {
    for (const [input, output] of ONE_WAY_MAP) {
      expect(toHex(sodium.crypto_core_ristretto255_from_hash(hex(input)))).toBe(output);
    }
  });

  it('the batch hash path equals the wrappers (USCC and opaque ids); blinding commutes; the inverse unblinds', async () => {
    const usccs = prepareIds(generateUniqueUsccs(seededRng('rfc9496'), 5));
    expect(usccs.count).toBe(5);
    // opaque ids: multi-byte UTF-8 (2, 3 and 4 bytes a code point) through the worker's packed path
    const opaque = prepareIds(
      ['17', 'zoë@example.com', '上海市浦东新区', '🏦 bank 7', usccs.packed.bytes.length.toString()],
      {
        idKind: 'opaque',
      },
    );
    const a = createPsiKey();
    const b = createPsiKey();
    for (const [pool, prepared] of pools.flatMap(
      (p) =>
        [
          [p, usccs],
          [p, opaque],
        ] as const,
    )) {
      const plain = await pool.hashToGroup(prepared.packed, undefined, prepared.hashDomain);
      const blindedA = await pool.hashToGroup(prepared.packed, a.scalar, prepared.hashDomain);
      const blindedB = await pool.hashToGroup(prepared.packed, b.scalar, prepared.hashDomain);
      for (let i = 0; i < prepared.count; i++) {
        const id = new TextDecoder().decode(
          prepared.packed.bytes.subarray(prepared.packed.offsets[i], prepared.packed.offsets[i + 1]),
        );
        const h = hashToGroupReference(id, prepared.hashDomain);
        expect(toHex(plain.subarray(i * 32, i * 32 + 32))).toBe(toHex(h));
        expect(toHex(blindedA.subarray(i * 32, i * 32 + 32))).toBe(toHex(blindReference(a.scalar, h)));
      }
      const ab = await pool.blind(blindedA, b.scalar);
      const ba = await pool.blind(blindedB, a.scalar);
      expect(toHex(ab)).toBe(toHex(ba));
      const unblinded = await pool.blind(blindedA, invertScalar(a.scalar));
      expect(toHex(unblinded)).toBe(toHex(plain));
    }
  });

  it('the id kind is part of the hash domain: one string hashed as three kinds gives three points', () => {
    const [code] = generateUniqueUsccs(seededRng('domain'), 1);
    const domains = [psiHashDomain('uscc'), psiHashDomain('opaque'), psiHashDomain('opaque', true)];
    expect(domains).toEqual([
      'fedscore/psi/ristretto255-sha512/v2/id=uscc',
      'fedscore/psi/ristretto255-sha512/v2/id=opaque',
      'fedscore/psi/ristretto255-sha512/v2/id=opaque+casefold',
    ]);
    expect(PSI_HASH_DOMAIN).toBe(domains[0]);
    const points = domains.map((d) => {
      // independent reference: node's SHA-512 over domain || 0x00 || id, then RFC 9496's one-way map
      const digest = createHash('sha512').update(`${d}\u0000${code!}`).digest();
      const want = sodium.crypto_core_ristretto255_from_hash(new Uint8Array(digest));
      const got = hashToGroupReference(code!, d);
      expect(toHex(got)).toBe(toHex(want));
      return toHex(got);
    });
    expect(new Set(points).size).toBe(3);
  });
});
