/**
 * PSI on opaque (non-USCC) ids: row numbers, e-mail addresses and Unicode names give exactly the plain
 * intersection (a JavaScript Set over the ids normalized by the rule docs/protocols/psi.md states:
 * trim, NFC, and with caseFold upper-then-lower case -- written out here independently of the library);
 * both parties hold the same aligned order; parties of different kinds or case folding stop with
 * `psi_mismatch` naming the field; invalid opaque ids are `invalid_id` errors naming the line, or
 * skipped and counted; 'auto' resolves per party; a host cache is bound to its kind. Exact.
 */
import { generateUniqueUsccs, isFedscoreError, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  buildHostCache,
  type LocalPsiResult,
  OPAQUE_ID_MAX_BYTES,
  type PsiIdKind,
  prepareIds,
  resolveIdKind,
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

/** The reference normal form, from the documented rule. */
function reference(raw: string, caseFold = false): string {
  const s = raw.trim().normalize('NFC');
  return caseFold ? s.toUpperCase().toLowerCase().normalize('NFC') : s;
}

function plainIntersection(a: readonly string[], b: readonly string[], caseFold = false): Set<string> {
  const sb = new Set(b.map((x) => reference(x, caseFold)));
  return new Set(a.map((x) => reference(x, caseFold)).filter((x) => sb.has(x)));
}

function expectCorrect(
  r: LocalPsiResult,
  guest: readonly string[],
  host: readonly string[],
  caseFold = false,
): void {
  const want = plainIntersection(guest, host, caseFold);
  expect(r.guest.intersectionSize).toBe(want.size);
  expect(r.host.intersectionSize).toBe(want.size);
  expect(new Set(r.guest.intersection)).toEqual(want);
  expect(r.guest.intersection).toHaveLength(want.size);
  if (r.host.intersection !== undefined) expect(r.host.intersection).toEqual(r.guest.intersection);
  r.guest.intersection!.forEach((id, i) => {
    expect(reference(guest[r.guest.rows![i]!]!, caseFold)).toBe(id);
  });
  r.host.intersection?.forEach((id, i) => {
    expect(reference(host[r.host.rows![i]!]!, caseFold)).toBe(id);
  });
}

const rowNumbers = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => String(from + i));

describe('opaque ids against a plain set intersection', () => {
  it('row numbers (the public benchmark sets): 0..699 and 350..1049 share 350 ids', async () => {
    const guest = rowNumbers(0, 700);
    const host = rowNumbers(350, 1050).reverse();
    const r = await runPsiLocal(guest, host, { pool, idKind: 'opaque', batchSize: 97 });
    expectCorrect(r, guest, host);
    expect(r.guest.intersectionSize).toBe(350);
    expect(r.guest.idKind).toBe('opaque');
    expect(r.host.idKind).toBe('opaque');
    // row numbers are not normalized as numbers: '007' is not '7'
    const r2 = await runPsiLocal(['7', '08', ' 9 '], ['007', '8', '9'], { pool, idKind: 'opaque' });
    expect(r2.guest.intersection).toEqual(['9']);
  });

  it('e-mail addresses: exact by default, case-insensitive with caseFold on both sides', async () => {
    const guest = [
      'alice@example.com',
      'Bob.Smith@Example.COM',
      ' carol@example.org\t',
      'dave@example.net',
      'erin+loans@example.com',
    ];
    const host = ['ALICE@example.com', 'bob.smith@example.com', 'carol@example.org', 'frank@example.net'];
    const exact = await runPsiLocal(guest, host, { pool, idKind: 'opaque', batchSize: 2 });
    expectCorrect(exact, guest, host);
    expect(exact.guest.intersection).toEqual(['carol@example.org']);
    const folded = await runPsiLocal(guest, host, { pool, idKind: 'opaque', caseFold: true, batchSize: 3 });
    expectCorrect(folded, guest, host, true);
    expect(new Set(folded.guest.intersection)).toEqual(
      new Set(['alice@example.com', 'bob.smith@example.com', 'carol@example.org']),
    );
    expect(folded.guest.caseFold).toBe(true);
  });

  it('Unicode: CJK names, NFC/NFD spellings, astral characters, full case folding of ß', async () => {
    const guest = [
      '上海浦东发展银行股份有限公司',
      'Café Lumière SARL', // composed é and è
      '🏦 Bank №7',
      'Straße 12 GmbH',
      '北京字节跳动科技有限公司',
      'Ｆｕｌｌ-width stays', // full-width is NOT mapped for opaque ids (only for USCCs)
    ];
    const host = [
      '\u3000上海浦东发展银行股份有限公司 ', // ideographic space trimmed
      'Cafe\u0301 Lumie\u0300re SARL', // decomposed: NFC makes it the same id
      '🏦 Bank №7',
      'STRASSE 12 GMBH',
      'Full-width stays',
    ];
    const exact = await runPsiLocal(guest, host, { pool, idKind: 'opaque', batchSize: 4 });
    expectCorrect(exact, guest, host);
    expect(new Set(exact.guest.intersection)).toEqual(
      new Set(['上海浦东发展银行股份有限公司', 'Café Lumière SARL', '🏦 Bank №7']),
    );
    const folded = await runPsiLocal(guest, host, { pool, idKind: 'opaque', caseFold: true });
    expectCorrect(folded, guest, host, true);
    expect(folded.guest.intersectionSize).toBe(4); // + 'straße 12 gmbh' = 'strasse 12 gmbh'
  });

  it('random opaque sets in guest_only mode; repeats after normalization are dropped and reported', async () => {
    const rng = seededRng('opaque-random');
    const pool32 = Array.from({ length: 400 }, (_, i) => `id-${i}-${rng.nextUint32().toString(36)}`);
    const guest = [...pool32.slice(0, 250), ` ${pool32[3]!}`, pool32[4]!];
    const host = pool32.slice(180);
    const r = await runPsiLocal(guest, host, { pool, idKind: 'opaque', mode: 'guest_only', batchSize: 33 });
    expectCorrect(r, guest, host);
    expect(r.guest.intersectionSize).toBe(70);
    expect(r.host.intersection).toBeUndefined();
    expect(r.guest.report.duplicates.count).toBe(2);
    expect(r.guest.report.duplicates.examples).toEqual([
      { line: 251, firstLine: 4 },
      { line: 252, firstLine: 5 },
    ]);
  });

  it('valid USCCs prepared as opaque on both sides match only as typed (no USCC normalization)', async () => {
    const codes = generateUniqueUsccs(seededRng('opaque-uscc'), 20);
    const guest = codes.slice(0, 12);
    const host = [...codes.slice(8, 10), ...codes.slice(10, 20).map((c) => c.toLowerCase())];
    const r = await runPsiLocal(guest, host, { pool, idKind: 'opaque' });
    expectCorrect(r, guest, host);
    expect(r.guest.intersectionSize).toBe(2);
  });
});

describe('both parties must prepare their ids alike', () => {
  it('kinds that differ stop both parties with psi_mismatch naming idKind', async () => {
    const codes = generateUniqueUsccs(seededRng('mismatch'), 30);
    for (const [g, h] of [
      ['opaque', 'uscc'],
      ['uscc', 'opaque'],
    ] as const) {
      const err = await runPsiLocal(codes.slice(0, 20), codes.slice(10), {
        pool,
        guestIds: { idKind: g },
        hostIds: { idKind: h },
      }).catch((e: unknown) => e);
      expect(isFedscoreError(err, 'psi_mismatch')).toBe(true);
      expect((err as { field: string }).field).toBe('idKind');
      expect((err as Error).message).toContain(`'${g === 'opaque' ? 'uscc' : 'opaque'}'`);
    }
  });

  it('case folding that differs stops them with psi_mismatch naming caseFold', async () => {
    const err = await runPsiLocal(['a@x.org', 'b@x.org'], ['A@x.org'], {
      pool,
      idKind: 'opaque',
      guestIds: { caseFold: true },
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'psi_mismatch')).toBe(true);
    expect((err as { field: string }).field).toBe('caseFold');
  });

  it('options that contradict already prepared ids are refused', async () => {
    const prepared = prepareIds(['1', '2'], { idKind: 'opaque' });
    const err = await runPsiLocal(prepared, ['1'], {
      pool,
      guestIds: { idKind: 'uscc' },
      hostIds: { idKind: 'opaque' },
    }).catch((e: unknown) => e);
    expect(isFedscoreError(err, 'invalid_argument')).toBe(true);
    expect((err as { field: string }).field).toBe('idKind');
    expect(() => prepareIds(['x'], { caseFold: true })).toThrow(/opaque ids only/);
    expect(() => prepareIds(['x'], { idKind: 'opaque', orgCheck: false })).toThrow(/USCC ids only/);
    expect(() => prepareIds(['x'], { idKind: 'auto' as PsiIdKind })).toThrow(/resolveIdKind/);
  });
});

describe('invalid opaque ids', () => {
  const longest = '上'.repeat(Math.floor(OPAQUE_ID_MAX_BYTES / 3)) + 'x'.repeat(OPAQUE_ID_MAX_BYTES % 3);
  const tooLong = `${longest}y`;
  const loneSurrogate = `abc\ud800def`;

  it(`accept up to ${OPAQUE_ID_MAX_BYTES} UTF-8 bytes; empty, longer or ill-formed ids are invalid_id errors naming the line`, () => {
    expect(new TextEncoder().encode(longest).length).toBe(OPAQUE_ID_MAX_BYTES);
    expect(prepareIds([longest, '🏦'], { idKind: 'opaque' }).count).toBe(2);
    for (const [bad, reason] of [
      ['  \t', 'empty'],
      ['', 'empty'],
      [tooLong, 'too_long'],
      [loneSurrogate, 'ill_formed'],
    ] as const) {
      const err = (() => {
        try {
          prepareIds(['ok', bad], { idKind: 'opaque', file: 'bank.csv', field: 'id', lineOf: (r) => r + 2 });
        } catch (e) {
          return e;
        }
      })();
      expect(isFedscoreError(err, 'invalid_id'), reason).toBe(true);
      const e = err as { file: string; line: number; field: string; message: string; details: object };
      expect([e.file, e.line, e.field]).toEqual(['bank.csv', 3, 'id']);
      expect(e.details).toMatchObject({ reason });
      if (bad.length > 0) expect(e.message).not.toContain(bad.trim() || '\t');
    }
  });

  it("with invalid: 'skip' they are counted with their reasons, and PSI runs on the rest", async () => {
    const guest = ['1', '', tooLong, '2', loneSurrogate, 42 as unknown as string, '3'];
    const r = await runPsiLocal(guest, ['2', '3', '4'], {
      pool,
      idKind: 'opaque',
      guestIds: { invalid: 'skip' },
    });
    expect(r.guest.intersection?.slice().sort()).toEqual(['2', '3']);
    expect(r.guest.report.invalid.count).toBe(4);
    expect(r.guest.report.invalid.examples.map((x) => x.reason)).toEqual([
      'empty',
      'too_long',
      'ill_formed',
      'not_string',
    ]);
  });
});

describe('resolveIdKind (auto): each party decides from its own ids', () => {
  it("'uscc' when most non-blank ids are valid USCCs after normalization, else 'opaque'", () => {
    const codes = generateUniqueUsccs(seededRng('auto'), 5);
    expect(resolveIdKind([...codes, ` ${codes[0]!.toLowerCase()}`])).toEqual({
      idKind: 'uscc',
      requested: 'auto',
      validUscc: 6,
      nonBlank: 6,
    });
    // a USCC file with a typo stays 'uscc' (its bad row is then an invalid_uscc error naming the line)
    expect(resolveIdKind([...codes.slice(0, 3), `${codes[3]!.slice(0, 17)}Q`, '  ', codes[4]!])).toEqual({
      idKind: 'uscc',
      requested: 'auto',
      validUscc: 4,
      nonBlank: 5,
      firstNonUsccRow: 3,
    });
    expect(resolveIdKind(['0', '1', codes[0]!, '3'])).toMatchObject({ idKind: 'opaque', firstNonUsccRow: 0 });
    expect(resolveIdKind(['a', codes[0]!])).toMatchObject({ idKind: 'opaque' }); // a tie is not a majority
    expect(resolveIdKind([])).toMatchObject({ idKind: 'uscc' });
    expect(resolveIdKind(['0', '1'], 'uscc')).toEqual({ idKind: 'uscc', requested: 'uscc' });
    expect(resolveIdKind(codes, 'opaque')).toEqual({ idKind: 'opaque', requested: 'opaque' });
    expect(() => resolveIdKind(codes, 'rows' as 'auto')).toThrow(/idKind/);
  });
});

describe('host cache and id kind', () => {
  it('an opaque cache serves a session; a cache of the same strings prepared as USCCs is refused', async () => {
    const codes = generateUniqueUsccs(seededRng('cache-kind'), 60);
    const hostOpaque = prepareIds(codes.slice(0, 40), { idKind: 'opaque' });
    const cache = await buildHostCache(hostOpaque, { pool, batchSize: 16 });
    const bank = codes.slice(30);
    const r = await runPsiLocal(bank, hostOpaque, { pool, idKind: 'opaque', hostCache: cache });
    expectCorrect(r, bank, codes.slice(0, 40));
    expect(r.guest.intersectionSize).toBe(10);
    const usccCache = await buildHostCache(codes.slice(0, 40), { pool });
    const err = await runPsiLocal(bank, hostOpaque, { pool, idKind: 'opaque', hostCache: usccCache }).catch(
      (e: unknown) => e,
    );
    expect(isFedscoreError(err, 'psi_cache_mismatch')).toBe(true);
    expect((err as { field: string }).field).toBe('cache.hashDomain');
    expect((err as Error).message).toContain('built for uscc ids');
  });
});
