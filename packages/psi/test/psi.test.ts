/**
 * ECDH-PSI correctness against a plain set intersection (JavaScript Set on normalized ids): empty,
 * disjoint, identical, overlapping random sets, duplicates, and case / whitespace / full-width variants
 * of the same USCC, in both modes. Exact: PSI must return the same set, and both parties the same order.
 */
import { generateUniqueUsccs, isFedscoreError, normalizeUscc, seededRng } from '@fedscore/core';
import { BlindingPool, type LocalPsiResult, runPsiLocal } from '@fedscore/psi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let pool: BlindingPool;
beforeAll(async () => {
  pool = await BlindingPool.create({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
});

/** The reference: plain intersection of the normalized sets. */
function plainIntersection(a: readonly string[], b: readonly string[]): Set<string> {
  const sb = new Set(b.map(normalizeUscc));
  return new Set(a.map(normalizeUscc).filter((x) => sb.has(x)));
}

function expectCorrect(r: LocalPsiResult, guest: readonly string[], host: readonly string[]): void {
  const want = plainIntersection(guest, host);
  expect(r.guest.intersectionSize).toBe(want.size);
  expect(r.host.intersectionSize).toBe(want.size);
  expect(new Set(r.guest.intersection)).toEqual(want);
  expect(r.guest.intersection).toHaveLength(want.size);
  // rows point back at the input rows holding those ids
  r.guest.intersection!.forEach((id, i) => {
    expect(normalizeUscc(guest[r.guest.rows![i]!]!)).toBe(id);
  });
}

/** Sets with a given overlap, drawn from one pool of unique codes. */
function sets(
  seed: number,
  nGuest: number,
  nHost: number,
  overlap: number,
): { guest: string[]; host: string[] } {
  const codes = generateUniqueUsccs(seededRng(seed), nGuest + nHost - overlap);
  const guest = codes.slice(0, nGuest);
  const host = [...codes.slice(nGuest - overlap, nGuest), ...codes.slice(nGuest)];
  return { guest, host };
}

describe('runPsiLocal, both mode', () => {
  it('random overlapping sets: same set as a plain intersection, same aligned order on both sides', async () => {
    const { guest, host } = sets(1, 700, 900, 250);
    const r = await runPsiLocal(guest, host, { pool, batchSize: 128 });
    expectCorrect(r, guest, host);
    expect(r.host.intersection).toEqual(r.guest.intersection);
    r.host.intersection!.forEach((id, i) => {
      expect(host[r.host.rows![i]!]).toBe(id);
    });
    expect(r.guest.peerCount).toBe(900);
    expect(r.host.peerCount).toBe(700);
  });

  it('empty sets on either or both sides', async () => {
    const { guest } = sets(2, 50, 0, 0);
    for (const [g, h] of [
      [[], []],
      [guest, []],
      [[], guest],
    ] as const) {
      const r = await runPsiLocal(g, h, { pool });
      expect(r.guest.intersectionSize).toBe(0);
      expect(r.host.intersection).toEqual([]);
    }
  });

  it('disjoint sets', async () => {
    const { guest, host } = sets(3, 300, 200, 0);
    const r = await runPsiLocal(guest, host, { pool, batchSize: 64 });
    expectCorrect(r, guest, host);
    expect(r.guest.intersectionSize).toBe(0);
  });

  it('identical sets in different orders', async () => {
    const { guest } = sets(4, 400, 0, 0);
    const host = [...guest].reverse();
    const r = await runPsiLocal(guest, host, { pool, batchSize: 100 });
    expectCorrect(r, guest, host);
    expect(r.guest.intersectionSize).toBe(400);
    expect(r.host.intersection).toEqual(r.guest.intersection);
  });

  it('case, whitespace and full-width variants of the same USCC match; duplicates are dropped and reported', async () => {
    const { guest, host } = sets(5, 60, 80, 30);
    const shared = guest.slice(30); // the 30 common codes
    const variants = shared.map((c, i) => {
      switch (i % 4) {
        case 0:
          return c.toLowerCase();
        case 1:
          return `  ${c.slice(0, 6)} ${c.slice(6, 12)} ${c.slice(12)}\t`;
        case 2:
          return Array.from(c, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0)).join('');
        default:
          return `\u3000${c}`;
      }
    });
    const hostVariants = [...host.slice(0, 50), ...variants];
    // the guest lists five codes twice, once in another spelling
    const guestDup = [...guest, ...guest.slice(0, 5).map((c) => ` ${c.toLowerCase()} `)];
    const r = await runPsiLocal(guestDup, hostVariants, { pool, batchSize: 16 });
    expect(r.guest.intersectionSize).toBe(30);
    expect(new Set(r.guest.intersection)).toEqual(new Set(shared));
    expect(r.host.intersection).toEqual(r.guest.intersection);
    expect(r.guest.report.duplicates.count).toBe(5);
    expect(r.guest.report.duplicates.examples[0]).toEqual({ line: 61, firstLine: 1 });
    expect(r.guest.ownCount).toBe(60);
    expect(r.host.peerCount).toBe(60);
  });

  it('random sets, many sizes and batch sizes (property: equals the plain intersection)', async () => {
    const rng = seededRng(99);
    for (let t = 0; t < 6; t++) {
      const nGuest = rng.nextUint32() % 150;
      const nHost = rng.nextUint32() % 150;
      const overlap = Math.min(nGuest, nHost, rng.nextUint32() % 100);
      const { guest, host } = sets(100 + t, nGuest, nHost, overlap);
      const r = await runPsiLocal(guest, host, { pool, batchSize: 1 + (rng.nextUint32() % 40) });
      expectCorrect(r, guest, host);
      expect(r.guest.intersectionSize).toBe(overlap);
      expect(r.host.intersection).toEqual(r.guest.intersection);
    }
  });
});

describe('runPsiLocal, guest_only mode', () => {
  it('the guest learns the intersection, the host its size only', async () => {
    const { guest, host } = sets(6, 300, 500, 111);
    const r = await runPsiLocal(guest, host, { pool, mode: 'guest_only', batchSize: 50 });
    expectCorrect(r, guest, host);
    expect(r.host.intersectionSize).toBe(111);
    expect(r.host.intersection).toBeUndefined();
    expect(r.host.rows).toBeUndefined();
  });
});

describe('errors', () => {
  it('an invalid id is an error naming the line, or skipped and counted', async () => {
    const { guest, host } = sets(7, 20, 20, 5);
    const bad = [...guest.slice(0, 3), '91310000MA1K5E2X3Z', ...guest.slice(3)];
    const err = await runPsiLocal(bad, host, {
      pool,
      guestIds: { file: 'bank.csv', lineOf: (r) => r + 2 },
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'invalid_uscc')).toBe(true);
    expect((err as Error).message).toContain('bank.csv:5');
    const r = await runPsiLocal(bad, host, { pool, guestIds: { invalid: 'skip' } });
    expect(r.guest.report.invalid.count).toBe(1);
    expect(r.guest.report.invalid.examples[0]!.line).toBe(4);
    expect(r.guest.intersectionSize).toBe(5);
  });

  it('parties that disagree on the mode stop with psi_mismatch', async () => {
    const { createInMemoryNetwork, runParties } = await import('@fedscore/core');
    const { envelopeCodec } = await import('@fedscore/wire');
    const { runPsiGuest, runPsiHost } = await import('@fedscore/psi');
    const { guest, host } = sets(8, 10, 10, 2);
    const net = createInMemoryNetwork(['g', 'h'], envelopeCodec);
    const err = await runParties(net, {
      g: () => runPsiGuest(guest, { channel: net.channel('g'), peer: 'h', session: 's', pool, mode: 'both' }),
      h: () =>
        runPsiHost(host, { channel: net.channel('h'), peer: 'g', session: 's', pool, mode: 'guest_only' }),
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'psi_mismatch')).toBe(true);
  });
});

describe('limits', () => {
  it('a peer announcing more ids than maxPeerCount is refused before any allocation', async () => {
    const { createInMemoryNetwork, runParties } = await import('@fedscore/core');
    const { envelopeCodec } = await import('@fedscore/wire');
    const { runPsiGuest, runPsiHost } = await import('@fedscore/psi');
    const { guest, host } = sets(9, 10, 30, 2);
    const net = createInMemoryNetwork(['g', 'h'], envelopeCodec);
    const err = await runParties(net, {
      g: () =>
        runPsiGuest(guest, { channel: net.channel('g'), peer: 'h', session: 's', pool, maxPeerCount: 20 }),
      h: () => runPsiHost(host, { channel: net.channel('h'), peer: 'g', session: 's', pool }),
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'out_of_range')).toBe(true);
    expect((err as { field: string }).field).toBe('hello.count');
  });
});

describe('a misbehaving peer', () => {
  it('an invalid point from the host is a psi_invalid_point error naming the element', async () => {
    const { createInMemoryNetwork, runParties, ProtocolSession } = await import('@fedscore/core');
    const { envelopeCodec } = await import('@fedscore/wire');
    const { runPsiGuest, helloStep, hostPointsStep, PSI_PROTOCOL, PSI_VERSION, PSI_HASH_DOMAIN, KEY_BYTES } =
      await import('@fedscore/psi');
    const { guest } = sets(10, 40, 0, 0);
    const net = createInMemoryNetwork(['g', 'h'], envelopeCodec);
    const err = await runParties(net, {
      g: () => runPsiGuest(guest, { channel: net.channel('g'), peer: 'h', session: 's', pool, batchSize: 8 }),
      h: async () => {
        const s = new ProtocolSession(net.channel('h'), {
          protocol: PSI_PROTOCOL,
          version: PSI_VERSION,
          session: 's',
        });
        await s.send('g', helloStep, {
          mode: 'both',
          count: 6,
          batchSize: 4,
          hashDomain: PSI_HASH_DOMAIN,
          keyBytes: KEY_BYTES,
        });
        await s.receive('g', helloStep);
        const good = new Uint8Array(4 * 32);
        // four copies of the ristretto255 generator, then a batch whose second point is not canonical
        const base = Buffer.from('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76', 'hex');
        for (let i = 0; i < 4; i++) good.set(base, i * 32);
        await s.send('g', hostPointsStep, { index: 0, bytes: good });
        const bad = new Uint8Array(2 * 32).fill(0xff);
        bad.set(base, 0);
        await s.send('g', hostPointsStep, { index: 1, bytes: bad });
        // then drains whatever the guest sends, as a broken peer would, until the network is closed
        for (;;) await net.channel('h').receive('g', 's');
      },
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'psi_invalid_point')).toBe(true);
    expect((err as { field: string }).field).toBe('host_points[5]');
  });
});
