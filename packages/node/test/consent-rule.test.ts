/**
 * The consent registry's rule at its edges (docs: consent-registry.ts): the covering consent is the one
 * expiring last whatever the order of the grants, the reason an enterprise is left out is the most
 * specific one (a time-valid consent of too narrow a scope says "out of scope", not "revoked"; among
 * covering consents no longer valid: revoked, then expired, then not yet valid), the default request is
 * every category, and bad queries are refused naming the field. Expectations are written from the
 * grants planted here. Every case runs on both stores (SQLite and PostgreSQL, store-backends.ts).
 */
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import { type ConsentGrant, ConsentRegistry } from '@fedscore/node';
import { expect, it } from 'vitest';
import { describeStores, type StoreBackend } from './store-backends.ts';

const T0 = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;
const ids = generateUniqueUsccs(seededRng('consent-rule'), 12);
const [e0, e1, e2, e3, e4, e5] = ids as [string, string, string, string, string, string];

const grant = (enterprise: string, id: string, over: Partial<ConsentGrant> = {}): ConsentGrant => ({
  id,
  enterprise,
  grantee: 'bank-a',
  purpose: 'training',
  scope: ['*'],
  grantedAt: T0 - 10 * DAY,
  expiresAt: T0 + 100 * DAY,
  ...over,
});

function registry(
  backend: StoreBackend,
  grants: readonly ConsentGrant[],
  revoked: readonly string[] = [],
): ConsentRegistry {
  const store = backend.newStore();
  // The registry really sits on the store under test.
  expect(store.dialect).toBe(backend.name);
  const reg = new ConsentRegistry(store, { now: () => T0 });
  reg.grantAll(grants);
  for (const id of revoked) reg.revoke(id, { at: T0 - DAY });
  return reg;
}

const query = { grantee: 'bank-a', purpose: 'training' as const, categories: ['tax'], at: T0 };

describeStores('consent rule at its edges', (backend) => {
  it('the covering consent expiring last, whichever was granted first', () => {
    const reg = registry(backend, [
      grant(e0, 'long', { expiresAt: T0 + 300 * DAY }),
      grant(e0, 'short', { expiresAt: T0 + 30 * DAY }),
    ]);
    expect(reg.filterByConsent([e0], query).consentIds).toEqual(['long']);
    expect(reg.consentFor(e0, query)).toEqual({ consentId: 'long' });
  });

  it('the most specific reason: narrow but time-valid is out of scope; then revoked, expired, not yet valid', () => {
    const reg = registry(
      backend,
      [
        // e0: a valid consent for 'court' only, and a covering one that was revoked.
        grant(e0, 'e0-narrow', { scope: ['court'] }),
        grant(e0, 'e0-revoked'),
        // e1: covering consents, one revoked and one expired.
        grant(e1, 'e1-revoked'),
        grant(e1, 'e1-expired', { expiresAt: T0 - DAY }),
        // e2: covering consents, one expired and one not yet valid.
        grant(e2, 'e2-expired', { expiresAt: T0 - DAY }),
        grant(e2, 'e2-later', { grantedAt: T0 + DAY }),
        // e3: only a narrow consent, revoked: out of scope (no covering consent ever existed).
        grant(e3, 'e3-narrow', { scope: ['court'] }),
        // e4: only a covering consent that starts later.
        grant(e4, 'e4-later', { grantedAt: T0 + DAY }),
      ],
      ['e0-revoked', 'e1-revoked', 'e3-narrow'],
    );
    const reasons = [e0, e1, e2, e3, e4, e5].map((e) => reg.consentFor(e, query));
    expect(reasons).toEqual([
      { reason: 'outOfScope' },
      { reason: 'revoked' },
      { reason: 'expired' },
      { reason: 'outOfScope' },
      { reason: 'notYetValid' },
      { reason: 'noConsent' },
    ]);
    expect(reg.status(reg.get('e4-later'), T0)).toBe('not_yet_valid');
    expect(reg.status(reg.get('e4-later'), T0 + DAY)).toBe('valid');
    expect(reg.status(reg.get('e2-expired'), T0)).toBe('expired');
    expect(reg.status(reg.get('e1-revoked'), T0)).toBe('revoked');
    expect(reg.filterByConsent([e0, e1, e2, e3, e4, e5], query).excluded).toEqual({
      invalidId: 0,
      noConsent: 1,
      outOfScope: 2,
      revoked: 1,
      expired: 1,
      notYetValid: 1,
    });
  });

  it('no categories asked means every category: a narrow consent does not cover it', () => {
    const reg = registry(backend, [grant(e0, 'narrow', { scope: ['tax'] }), grant(e1, 'all')]);
    const q = { grantee: 'bank-a', purpose: 'training' as const, at: T0 };
    expect(reg.consentFor(e0, q)).toEqual({ reason: 'outOfScope' });
    expect(reg.consentFor(e1, q)).toEqual({ consentId: 'all' });
    expect(reg.filterByConsent([e0, e1], q).included).toEqual([e1]);
  });

  it('ids that are not USCCs (or not strings) are counted as invalid, never looked up', () => {
    const reg = registry(backend, [grant(e0, 'c0')]);
    expect(reg.consentFor('not-a-uscc', query)).toEqual({ reason: 'invalidId' });
    const r = reg.filterByConsent([e0, 42 as unknown as string, 'not-a-uscc'], query);
    expect(r.included).toEqual([e0]);
    expect(r.excluded.invalidId).toBe(2);
  });

  it('bad queries are refused naming the field', () => {
    const reg = registry(backend, [grant(e0, 'c0')]);
    const bad: [Record<string, unknown>, string][] = [
      [{ ...query, grantee: 'no spaces allowed' }, 'grantee'],
      [{ ...query, purpose: 'marketing' }, 'purpose'],
      [{ ...query, categories: ['Not-A-Category'] }, 'categories[0]'],
      [{ ...query, at: 1.5 }, 'at'],
      [{ ...query, at: Number.NaN }, 'at'],
    ];
    for (const [q, field] of bad) {
      expect(() => reg.filterByConsent([e0], q as never), field).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field }),
      );
      expect(() => reg.consentFor(e0, q as never), field).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field }),
      );
    }
  });
});
