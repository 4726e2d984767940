/**
 * The "who learns what" table of docs/protocols/psi.md, checked against every message of real runs
 * (`createInMemoryNetwork(..., { capture: true })` through `runPsiLocal`), with USCC ids and with
 * opaque ids (e-mail addresses, account numbers, company names in Chinese), in both modes:
 *
 * - no message carries a raw id (as typed, normalized, or in any spelling the parties used), the SHA-512
 *   digest an id is hashed to, or the unblinded group element H(id) -- searched as whole values and as
 *   their first 16 bytes (the length of a comparison key) anywhere in every encoded envelope;
 * - each direction carries exactly the steps of the table, in order, with the sizes the table gives;
 * - in "guest_only" mode the host receives nothing but the guest's blinded points and the size (no
 *   keys of its own ids, no digest);
 * - no log record carries an id.
 */
import { createHash } from 'node:crypto';
import { generateUniqueUsccs, memoryLogger, normalizeUscc, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  hashToGroupReference,
  KEY_BYTES,
  loadSodium,
  normalizeOpaqueId,
  POINT_BYTES,
  PSI_PROTOCOL,
  type PsiIdKind,
  psiHashDomain,
  runPsiLocal,
} from '@fedscore/psi';
import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let pool: BlindingPool;
beforeAll(async () => {
  await loadSodium();
  pool = await BlindingPool.create({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
});

const BATCH = 32;

interface IdSets {
  readonly guest: readonly string[];
  readonly host: readonly string[];
  readonly normalize: (raw: string) => string;
}

/** 150 guest ids, 160 host ids, 50 shared; the guest writes a third of its ids in another spelling. */
const ID_SETS: Record<PsiIdKind, IdSets> = (() => {
  const codes = generateUniqueUsccs(seededRng('privacy'), 260);
  // opaque ids of three shapes; every one at least 8 UTF-8 bytes, so a chance match of its bytes in the
  // random-looking payloads is negligible and a hit means a leak
  const opaque = Array.from({ length: 260 }, (_, i) =>
    i % 3 === 0
      ? `customer.${i}@bank.example.cn`
      : i % 3 === 1
        ? `上海第${i}号科技有限公司`
        : `ACCT-${String(i * 7919).padStart(8, '0')}`,
  );
  return {
    uscc: {
      guest: codes.slice(0, 150).map((c, i) => (i % 3 === 0 ? ` ${c.toLowerCase()}` : c)),
      host: codes.slice(100),
      normalize: normalizeUscc,
    },
    opaque: {
      // surrounding white space (ASCII and ideographic) is trimmed, so these spell the same ids
      guest: opaque.slice(0, 150).map((c, i) => (i % 3 === 0 ? `\u3000${c} ` : c)),
      host: opaque.slice(100),
      normalize: (raw: string) => normalizeOpaqueId(raw),
    },
  };
})();

/** Every byte string that would reveal an id: as given, normalized, its digest, its unblinded point. */
function secrets(kind: PsiIdKind): { label: string; bytes: Uint8Array }[] {
  const { guest, host, normalize } = ID_SETS[kind];
  const domain = psiHashDomain(kind);
  const out: { label: string; bytes: Uint8Array }[] = [];
  const enc = new TextEncoder();
  for (const raw of [...guest, ...host]) {
    const id = normalize(raw);
    out.push({ label: `raw id ${raw}`, bytes: enc.encode(raw) });
    out.push({ label: `normalized id ${id}`, bytes: enc.encode(id) });
    const digest = new Uint8Array(
      createHash('sha512')
        .update(enc.encode(`${domain}\u0000`))
        .update(enc.encode(id))
        .digest(),
    );
    out.push({ label: `sha512 of ${id}`, bytes: digest.subarray(0, KEY_BYTES) });
    const point = hashToGroupReference(id, domain);
    out.push({ label: `H(${id})`, bytes: point.subarray(0, KEY_BYTES) });
    // the last 8 bytes of an id (a USCC's organization code and checks) alone must not appear either
    const bytes = enc.encode(id);
    out.push({ label: `tail of ${id}`, bytes: bytes.subarray(bytes.length - 8) });
  }
  return out;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle) >= 0;
}

/** The table of docs/protocols/psi.md, as step names in order per direction. */
function expectedSteps(
  mode: 'both' | 'guest_only',
  from: 'guest' | 'host',
  nGuest: number,
  nHost: number,
): string[] {
  const batches = (n: number) => Math.ceil(n / BATCH);
  if (from === 'guest') {
    return [
      'hello',
      ...Array<string>(batches(nGuest)).fill('guest_points'),
      ...(mode === 'both' ? Array<string>(batches(nHost)).fill('host_keys') : []),
      'result',
    ];
  }
  return [
    'hello',
    ...Array<string>(batches(nHost)).fill('host_points'),
    ...Array<string>(batches(nGuest)).fill('guest_keys'),
    ...(mode === 'both' ? ['result'] : []),
  ];
}

describe.each([
  ['both', 'uscc'],
  ['guest_only', 'uscc'],
  ['both', 'opaque'],
  ['guest_only', 'opaque'],
] as const)('captured messages, %s mode, %s ids', (mode, kind) => {
  it('carry no raw id, no id digest and no unblinded point; steps and sizes follow the table', async () => {
    const logger = memoryLogger('debug');
    const { guest: guestIds, host: hostIds, normalize } = ID_SETS[kind];
    const r = await runPsiLocal(guestIds, hostIds, {
      pool,
      mode,
      idKind: kind,
      batchSize: BATCH,
      capture: true,
      logger,
    });
    expect(r.guest.intersectionSize).toBe(50);
    expect(r.guest.idKind).toBe(kind);
    const messages = r.captured;
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.every((m) => m.protocol === PSI_PROTOCOL)).toBe(true);

    const needles = secrets(kind);
    // controls: the needles are the real values (digest -> point as the protocol computes it), and the
    // search finds a needle placed in a buffer
    const id0 = normalize(guestIds[0]!);
    expect(id0).not.toBe(guestIds[0]); // the first id is written in another spelling
    const d0 = needles.find((n) => n.label === `sha512 of ${id0}`)!;
    const full = createHash('sha512')
      .update(`${psiHashDomain(kind)}\u0000${id0}`)
      .digest();
    expect(Buffer.from(d0.bytes).equals(full.subarray(0, KEY_BYTES))).toBe(true);
    expect(
      Buffer.from(sodium.crypto_core_ristretto255_from_hash(new Uint8Array(full))).equals(
        Buffer.from(hashToGroupReference(id0, psiHashDomain(kind))),
      ),
    ).toBe(true);
    // the intersection is the plain one of the normalized sets
    const hostSet = new Set(hostIds.map(normalize));
    expect(new Set(r.guest.intersection)).toEqual(
      new Set(guestIds.map(normalize).filter((x) => hostSet.has(x))),
    );
    expect(contains(new Uint8Array([1, 2, ...d0.bytes, 3]), d0.bytes)).toBe(true);
    for (const m of messages) {
      for (const s of needles) {
        if (contains(m.bytes, s.bytes)) throw new Error(`message ${m.step} #${m.seq} contains ${s.label}`);
      }
    }

    // the hello carries the id kind (in the hash domain tag), as the table says, both ways
    const hellos = messages.filter((m) => m.step === 'hello');
    expect(hellos).toHaveLength(2);
    for (const h of hellos)
      expect(contains(h.payload, new TextEncoder().encode(psiHashDomain(kind)))).toBe(true);

    const nGuest = 150;
    const nHost = 160;
    for (const from of ['guest', 'host'] as const) {
      const steps = messages.filter((m) => m.from === from).map((m) => m.step);
      expect(steps).toEqual(expectedSteps(mode, from, nGuest, nHost));
    }
    // points are 32 bytes, keys 16 bytes: total payload per stream matches the set sizes
    const payloadOf = (step: string) =>
      messages.filter((m) => m.step === step).reduce((s, m) => s + m.payload.length, 0);
    expect(payloadOf('guest_points')).toBeGreaterThanOrEqual(nGuest * POINT_BYTES);
    expect(payloadOf('guest_points')).toBeLessThan(nGuest * POINT_BYTES + 16 * Math.ceil(nGuest / BATCH));
    expect(payloadOf('guest_keys')).toBeGreaterThanOrEqual(nGuest * KEY_BYTES);
    expect(payloadOf('guest_keys')).toBeLessThan(nGuest * KEY_BYTES + 16 * Math.ceil(nGuest / BATCH));
    if (mode === 'guest_only') {
      // the host receives: hello, the guest's blinded points, and the size -- nothing about its own ids
      const toHost = new Set(messages.filter((m) => m.to === 'host').map((m) => m.step));
      expect(toHost).toEqual(new Set(['hello', 'guest_points', 'result']));
      const result = messages.find((m) => m.to === 'host' && m.step === 'result')!;
      expect(result.payload.length).toBeLessThan(8); // the size only, no digest
      expect(r.host.intersection).toBeUndefined();
    }

    const logText = JSON.stringify(logger.records);
    for (const raw of [...guestIds, ...hostIds]) expect(logText).not.toContain(normalize(raw));
  });
});
