/**
 * The PSI blinding key: where it comes from, that it is what blinds, and that it is wiped. Each test fails
 * when one defence is removed (docs/conventions.md, "Tests that fail when a defence is removed"):
 *
 * - a non-cryptographic generator is refused for the key and the shuffle (a seeded key is guessable, and
 *   a guessed key unblinds every id), by `createPsiKey` and by a run, before anything is sent;
 * - an injected generator is the one used: the key is 64 of its bytes reduced mod l (checked with
 *   libsodium's `crypto_core_ristretto255_scalar_reduce`, an independent implementation), the wide bytes
 *   are wiped, and two runs with the same seed send the same bytes (with another seed, different ones);
 * - each party blinds with its own key, and a run wipes its key when it ends; a host with a cache sends the
 *   cache's points and never blinds its own ids again (its key is used only on the guest's points);
 * - a peer's batch of points at the wrong index or of the wrong size is refused before it is blinded.
 */
import {
  createInMemoryNetwork,
  generateUniqueUsccs,
  isFedscoreError,
  memoryLogger,
  ProtocolSession,
  type Rng,
  runParties,
  seededRng,
} from '@fedscore/core';
import {
  BlindingPool,
  buildHostCache,
  createPsiKey,
  helloStep,
  hostPointsStep,
  PSI_PROTOCOL,
  PSI_VERSION,
  prepareIds,
  runPsiGuest,
  runPsiLocal,
  type ScalarBytes,
} from '@fedscore/psi';
import { envelopeCodec } from '@fedscore/wire';
import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let pool: BlindingPool;
beforeAll(async () => {
  await sodium.ready;
  pool = await BlindingPool.create({ threads: 1 });
}, 60_000);
afterAll(async () => {
  await pool?.close();
});

const codes = generateUniqueUsccs(seededRng('psi-key'), 90);
const guestIds = codes.slice(0, 60);
const hostIds = codes.slice(30, 90);

/** A generator that records every buffer it fills (to see what happens to them afterwards). */
function recording(seed: string): Rng & { filled: Uint8Array[] } {
  const inner = seededRng(seed);
  const filled: Uint8Array[] = [];
  return {
    cryptographic: false,
    filled,
    nextUint32: () => inner.nextUint32(),
    fillBytes: (out: Uint8Array) => {
      inner.fillBytes(out);
      filled.push(out);
      return out;
    },
  };
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);

describe('createPsiKey', () => {
  it('refuses a seeded generator unless allowInsecureRng, naming the field', () => {
    let caught: unknown;
    try {
      createPsiKey({ rng: seededRng(1) });
    } catch (e) {
      caught = e;
    }
    expect(isFedscoreError(caught, 'insecure_rng')).toBe(true);
    expect((caught as { field?: string }).field).toBe('rng');
    expect((caught as Error).message).toMatch(/cryptographic/);
  });

  it('with an injected generator: id from its first 8 bytes, scalar = its next 64 bytes mod l (libsodium), wide bytes wiped', () => {
    const rng = recording('key');
    const key = createPsiKey({ rng, allowInsecureRng: true });
    const reference = seededRng('key');
    const id = reference.fillBytes(new Uint8Array(8));
    const wide = reference.fillBytes(new Uint8Array(64));
    expect(key.id).toBe(Buffer.from(id).toString('hex'));
    expect(
      Buffer.from(key.scalar).equals(Buffer.from(sodium.crypto_core_ristretto255_scalar_reduce(wide))),
    ).toBe(true);
    expect(isZero(key.scalar)).toBe(false);
    // The 64 wide bytes the scalar came from are zeroed once reduced.
    expect(rng.filled.map((b) => b.length)).toEqual([8, 64]);
    expect(isZero(rng.filled[1]!)).toBe(true);
  });

  it('by default: a 16-hex-digit id and a fresh nonzero scalar below l each time', () => {
    const a = createPsiKey();
    const b = createPsiKey();
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.scalar).toHaveLength(32);
    expect(Buffer.from(a.scalar).equals(Buffer.from(b.scalar))).toBe(false);
    // Canonical (already reduced): reducing it again changes nothing.
    const padded = new Uint8Array(64);
    padded.set(a.scalar);
    expect(
      Buffer.from(sodium.crypto_core_ristretto255_scalar_reduce(padded)).equals(Buffer.from(a.scalar)),
    ).toBe(true);
  });
});

describe('a PSI run and its keys', () => {
  it('refuses a seeded generator before sending anything', async () => {
    const logger = memoryLogger('debug');
    const e = await runPsiLocal(guestIds, hostIds, {
      pool,
      capture: true,
      rng: { guest: seededRng(1), host: seededRng(2) },
      logger,
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isFedscoreError(e, 'insecure_rng')).toBe(true);
    expect((e as { field?: string }).field).toBe('rng');
    expect((e as Error).message).toMatch(/cryptographic/);
  });

  it("refuses an impostor: a plain object claiming cryptographic: true (core's isCryptoRng, not the flag)", async () => {
    // A seeded generator dressed up with the flag: before, `rng.cryptographic` let it through.
    const impostor = (seed: number): Rng => {
      const inner = seededRng(seed);
      return {
        cryptographic: true,
        nextUint32: () => inner.nextUint32(),
        fillBytes: (out: Uint8Array) => inner.fillBytes(out),
      };
    };
    const refused = (e: unknown) => {
      expect(isFedscoreError(e, 'insecure_rng')).toBe(true);
      expect((e as { field?: string }).field).toBe('rng');
    };
    refused(
      (() => {
        try {
          createPsiKey({ rng: impostor(1) });
        } catch (e) {
          return e;
        }
      })(),
    );
    refused(
      await runPsiLocal(guestIds, hostIds, { pool, rng: { guest: impostor(1), host: impostor(2) } }).then(
        () => undefined,
        (err: unknown) => err,
      ),
    );
    refused(
      await buildHostCache(prepareIds(hostIds), { pool, rng: impostor(3) }).then(
        () => undefined,
        (err: unknown) => err,
      ),
    );
    // The test escape still works, by name.
    expect(createPsiKey({ rng: impostor(1), allowInsecureRng: true }).id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('uses the injected generators: the same seeds send the same bytes, another seed other bytes', async () => {
    const run = (guestSeed: string) =>
      runPsiLocal(guestIds, hostIds, {
        pool,
        capture: true,
        batchSize: 16,
        rng: { guest: seededRng(guestSeed), host: seededRng('host') },
        allowInsecureRng: true,
      });
    const a = await run('guest');
    const b = await run('guest');
    const c = await run('other');
    // The same intersection (its aligned order follows the keys, so it differs between keys).
    expect([...a.guest.intersection!].sort()).toEqual([...c.guest.intersection!].sort());
    expect(a.guest.intersectionSize).toBe(30);
    const bytes = (r: typeof a, from: string) =>
      Buffer.concat(r.captured.filter((m) => m.from === from).map((m) => m.bytes));
    expect(bytes(a, 'guest').equals(bytes(b, 'guest'))).toBe(true);
    expect(bytes(a, 'host').equals(bytes(b, 'host'))).toBe(true);
    // Another guest seed: another key and shuffle, so every point the guest sends differs.
    expect(bytes(a, 'guest').equals(bytes(c, 'guest'))).toBe(false);
  });

  /** The shared pool, recording every scalar it is handed (the object, and a copy at the time). */
  function spyPool() {
    const scalars: ScalarBytes[] = [];
    const copies: Uint8Array[] = [];
    const hashed: Uint8Array[] = [];
    const spy = {
      threads: pool.threads,
      hashToGroup: (ids: never, scalar: ScalarBytes | undefined, domain: string) => {
        if (scalar) {
          scalars.push(scalar);
          copies.push(Uint8Array.from(scalar));
          hashed.push(Uint8Array.from(scalar));
        }
        return pool.hashToGroup(ids, scalar, domain);
      },
      blind: (points: never, scalar: ScalarBytes, options: never) => {
        scalars.push(scalar);
        copies.push(Uint8Array.from(scalar));
        return pool.blind(points, scalar, options);
      },
      stats: () => pool.stats(),
      close: async () => {},
    } as unknown as BlindingPool;
    return { spy, scalars, copies, hashed };
  }
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

  it('each party blinds with its own key, and the key is wiped when the run ends', async () => {
    const { spy, scalars, copies } = spyPool();
    const r = await runPsiLocal(guestIds, hostIds, { pool: spy, batchSize: 16 });
    expect(r.guest.intersectionSize).toBe(30);
    expect([r.guest.role, r.host.role]).toEqual(['guest', 'host']);
    // Two distinct keys were used (one per party), each nonzero while in use ...
    const distinct = new Set(copies.map((c) => Buffer.from(c).toString('hex')));
    expect(distinct.size).toBe(2);
    for (const c of copies) expect(isZero(c)).toBe(false);
    // ... and every key object is all zeros after the run.
    for (const s of scalars) expect(isZero(s)).toBe(true);
  });

  it("a host with a cache sends the cache's points, never re-blinds its ids, and keeps its key", async () => {
    const host = prepareIds(hostIds);
    const cache = await buildHostCache(host, { pool, batchSize: 16 });
    const cacheKey = hex(cache.key.scalar);
    const { spy, hashed } = spyPool();
    const r = await runPsiLocal(guestIds, host, {
      pool: spy,
      hostCache: cache,
      batchSize: 16,
      capture: true,
    });
    expect(r.guest.intersectionSize).toBe(30);
    expect(r.host.role).toBe('host');
    // The points the host sent are the cache's, byte for byte, in its order.
    const sent = r.captured
      .filter((m) => m.from === 'host' && m.step === hostPointsStep.name)
      .map((m) => hostPointsStep.decode(m.payload).bytes);
    expect(Buffer.concat(sent).equals(Buffer.from(cache.points))).toBe(true);
    // Only the guest hashed its ids to the group: one key, not the cache's.
    expect(new Set(hashed.map(hex))).toEqual(new Set([hashed.map(hex)[0]]));
    expect(hashed.map(hex)).not.toContain(cacheKey);
    // A cached key outlives the session.
    expect(hex(cache.key.scalar)).toBe(cacheKey);
  });

  it("a peer's batch of points at the wrong index or of the wrong size is refused before blinding", async () => {
    for (const [what, index, count, code, field] of [
      ['wrong index', 1, 16, 'protocol_sequence', `${hostPointsStep.name}.index`],
      ['one point short', 0, 15, 'wire_decode', hostPointsStep.name],
    ] as const) {
      const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
      const spec = { protocol: PSI_PROTOCOL, version: PSI_VERSION, session: 'rogue' };
      const { spy, copies } = spyPool();
      const e = await runParties(network, {
        guest: () =>
          runPsiGuest(guestIds, {
            channel: network.channel('guest'),
            peer: 'host',
            session: 'rogue',
            pool: spy,
            batchSize: 16,
          }),
        host: async () => {
          // A host that answers the hello with its own count and then sends a malformed first batch.
          const session = new ProtocolSession(network.channel('host'), spec);
          const hello = await session.receive('guest', helloStep);
          await session.send('guest', helloStep, { ...hello, count: 40 });
          await session.send('guest', hostPointsStep, { index, bytes: new Uint8Array(count * 32) });
        },
      }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isFedscoreError(e, code), what).toBe(true);
      expect((e as { field?: string }).field, what).toBe(field);
      // Nothing of the peer's was blinded with the guest's key (its own ids may have been hashed).
      expect(copies.length, what).toBeLessThanOrEqual(Math.ceil(guestIds.length / 16));
    }
  });
});
