/**
 * The consent registry. The reference for `filterByConsent` is a direct, independent restatement of the
 * rule (valid on [grantedAt, expiresAt), before revokedAt, scope covering every requested category),
 * checked on random registries with fast-check.
 */
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import {
  AuditLog,
  type ConsentGrant,
  ConsentRegistry,
  consentSetFingerprint,
  enterpriseSetFingerprint,
  type NodeStore,
} from '@fedscore/node';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const T0 = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;
const ids = generateUniqueUsccs(seededRng('consent-test'), 40);
const [e0, e1, e2, e3, e4, e5] = ids as [string, string, string, string, string, string];

function makeRegistry(newStore: () => NodeStore): { reg: ConsentRegistry; audit: AuditLog } {
  const store = newStore();
  const audit = new AuditLog(store, { now: () => T0 });
  return { reg: new ConsentRegistry(store, { audit, party: 'gov', now: () => T0 }), audit };
}

const grant = (enterprise: string, over: Partial<ConsentGrant> = {}): ConsentGrant => ({
  enterprise,
  grantee: 'bank-a',
  purpose: 'training',
  scope: ['*'],
  grantedAt: T0,
  expiresAt: T0 + 365 * DAY,
  ...over,
});

describeStores('ConsentRegistry', (backend) => {
  const registry = () => makeRegistry(backend.newStore);
  it('consentFor (one indexed lookup, online scoring) agrees with filterByConsent per enterprise', () => {
    const { reg } = registry();
    reg.grant(grant(e0, { id: 'c0' }));
    reg.grant(grant(e0, { id: 'c0-later', expiresAt: T0 + 400 * DAY }));
    reg.grant(grant(e1, { id: 'c1', expiresAt: T0 + 10 * DAY }));
    reg.grant(grant(e2, { id: 'c2' }));
    reg.revoke('c2', { at: T0 + 5 * DAY, reason: 'enterprise withdrew' });
    reg.grant(grant(e3, { id: 'c3', scope: ['tax'] }));
    reg.grant(grant(e4, { id: 'c4', grantedAt: T0 + 50 * DAY }));
    reg.grant(grant(e5, { id: 'c5', grantee: 'bank-b' }));
    const query = {
      grantee: 'bank-a',
      purpose: 'training' as const,
      categories: ['tax', 'court_judgments'],
      at: T0 + 20 * DAY,
    };
    for (const e of [e0, e1, e2, e3, e4, e5, 'not-a-uscc', e0.toLowerCase()]) {
      const one = reg.consentFor(e, query);
      const all = reg.filterByConsent([e], query);
      expect(one.consentId).toBe(all.consentIds[0]);
      if (one.reason !== undefined) expect(all.excluded[one.reason]).toBe(1);
    }
    expect(reg.consentFor(e0, query).consentId).toBe('c0-later');
  });

  it('includes enterprises with valid consent and counts every exclusion by reason', () => {
    const { reg } = registry();
    reg.grant(grant(e0, { id: 'c0' }));
    reg.grant(grant(e1, { id: 'c1', expiresAt: T0 + 10 * DAY }));
    reg.grant(grant(e2, { id: 'c2' }));
    reg.revoke('c2', { at: T0 + 5 * DAY, reason: 'enterprise withdrew' });
    reg.grant(grant(e3, { id: 'c3', scope: ['tax'] }));
    reg.grant(grant(e4, { id: 'c4', grantedAt: T0 + 50 * DAY }));
    reg.grant(grant(e5, { id: 'c5', grantee: 'bank-b' }));
    const at = T0 + 20 * DAY;
    const r = reg.filterByConsent([e0, e1, e2, e3, e4, e5, 'not-a-uscc', e0], {
      grantee: 'bank-a',
      purpose: 'training',
      categories: ['tax', 'court_judgments'],
      at,
    });
    expect(r.included).toEqual([e0]);
    expect(r.consentIds).toEqual(['c0']);
    expect(r.excluded).toEqual({
      invalidId: 1,
      noConsent: 1,
      outOfScope: 1,
      revoked: 1,
      expired: 1,
      notYetValid: 1,
    });
    expect(r.excludedTotal).toBe(6);
    expect(r.enterpriseFingerprint).toBe(enterpriseSetFingerprint([e0]));
    expect(r.consentRef).toBe(consentSetFingerprint(['c0']));
    // a narrower request is covered by c3's scope
    const tax = reg.filterByConsent([e3], {
      grantee: 'bank-a',
      purpose: 'training',
      categories: ['tax'],
      at,
    });
    expect(tax.included).toEqual([e3]);
  });

  it('revocation takes effect for jobs that start after it', () => {
    const { reg } = registry();
    reg.grant(grant(e0, { id: 'c0' }));
    const q = { grantee: 'bank-a', purpose: 'training' as const };
    const before = reg.filterByConsent([e0], { ...q, at: T0 + DAY });
    reg.revoke('c0', { at: T0 + 2 * DAY });
    expect(before.included).toEqual([e0]); // the earlier job's set is unchanged
    expect(reg.filterByConsent([e0], { ...q, at: T0 + 2 * DAY - 1 }).included).toEqual([e0]);
    expect(reg.filterByConsent([e0], { ...q, at: T0 + 2 * DAY }).excluded.revoked).toBe(1);
    expect(() => reg.revoke('c0')).toThrow(expect.objectContaining({ code: 'invalid_state' }));
    expect(() => reg.revoke('nope')).toThrow(expect.objectContaining({ code: 'not_found', field: 'id' }));
    expect(reg.status(reg.get('c0'), T0 + 3 * DAY)).toBe('revoked');
  });

  it('picks the consent expiring last when several cover a use; purposes are separate', () => {
    const { reg } = registry();
    reg.grant(grant(e0, { id: 'short', expiresAt: T0 + DAY }));
    reg.grant(grant(e0, { id: 'long', expiresAt: T0 + 9 * DAY }));
    reg.grant(grant(e1, { id: 'scoring-only', purpose: 'scoring' }));
    const r = reg.filterByConsent([e0, e1], { grantee: 'bank-a', purpose: 'training', at: T0 });
    expect(r.consentIds).toEqual(['long']);
    expect(r.excluded.noConsent).toBe(1);
  });

  it('validates grants, naming the field, and grants atomically', () => {
    const { reg } = registry();
    const bad = (
      g: Partial<ConsentGrant> & Record<string, unknown>,
      field: string,
      code = 'invalid_argument',
    ) =>
      expect(() => reg.grant({ ...grant(e0), ...g } as ConsentGrant)).toThrow(
        expect.objectContaining({ code, field }),
      );
    bad({ enterprise: '91350100M000100Y44' }, 'consent.enterprise', 'invalid_uscc');
    bad({ grantee: 'bank a!' }, 'consent.grantee');
    bad({ purpose: 'marketing' as never }, 'consent.purpose');
    bad({ scope: [] }, 'consent.scope');
    bad({ scope: ['tax', 'Bad Category'] }, 'consent.scope[1]');
    bad({ expiresAt: T0 }, 'consent.expiresAt', 'out_of_range');
    bad({ grantedAt: 1.5 }, 'consent.grantedAt');
    bad({ id: 'has space' }, 'consent.id');
    reg.grant(grant(e0, { id: 'dup' }));
    bad({ id: 'dup' }, 'consent.id', 'duplicate_id');
    expect(() => reg.grantAll([grant(e1, { id: 'ok-1' }), grant(e2, { purpose: 'x' as never })])).toThrow(
      expect.objectContaining({ field: 'consents[1].purpose' }),
    );
    expect(reg.list().map((c) => c.id)).toEqual(['dup']);
  });

  it('normalizes USCCs (full-width, lower case) and lists by filter', () => {
    const { reg } = registry();
    const fullWidth = [...e0.toLowerCase()]
      .map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0))
      .join('');
    const rec = reg.grant(grant(fullWidth));
    expect(rec.enterprise).toBe(e0);
    reg.grant(grant(e1, { grantee: 'bank-b' }));
    expect(reg.list({ grantee: 'bank-b' }).map((c) => c.enterprise)).toEqual([e1]);
    expect(reg.list({ enterprise: e0.toLowerCase() }).map((c) => c.id)).toEqual([rec.id]);
    expect(
      reg.filterByConsent([e0.toLowerCase()], { grantee: 'bank-a', purpose: 'training', at: T0 }).included,
    ).toEqual([e0]);
  });

  it('records grants and revocations in the audit log without enterprise ids', () => {
    const { reg, audit } = registry();
    reg.grant(grant(e0, { id: 'c0' }));
    reg.revoke('c0', { at: T0 + DAY });
    const entries = [...audit.entries()];
    expect(entries.map((e) => [e.kind, e.details?.['action'], e.consentRef])).toEqual([
      ['consent_change', 'grant', 'c0'],
      ['consent_change', 'revoke', 'c0'],
    ]);
    expect(JSON.stringify(entries)).not.toContain(e0);
    expect(entries[0]?.enterpriseFingerprint).toBe(enterpriseSetFingerprint([e0]));
    expect(audit.verify().ok).toBe(true);
  });

  it('agrees with a direct restatement of the rule on random registries', () => {
    const categories = ['tax', 'penalties', 'court_judgments'];
    const consentArb = fc.record({
      who: fc.integer({ min: 0, max: 7 }),
      grantee: fc.constantFrom('bank-a', 'bank-b'),
      purpose: fc.constantFrom('training' as const, 'scoring' as const),
      scope: fc.oneof(fc.constant<string[]>(['*']), fc.subarray(categories, { minLength: 1 })),
      start: fc.integer({ min: 0, max: 20 }),
      length: fc.integer({ min: 1, max: 20 }),
      revokedAfter: fc.option(fc.integer({ min: 0, max: 25 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(consentArb, { maxLength: 25 }),
        fc.integer({ min: 0, max: 40 }),
        fc.subarray(categories, { minLength: 1 }),
        (consents, day, needed) => {
          const { reg } = registry();
          for (const [i, c] of consents.entries()) {
            reg.grant({
              id: `c${i}`,
              enterprise: ids[c.who]!,
              grantee: c.grantee,
              purpose: c.purpose,
              scope: c.scope,
              grantedAt: T0 + c.start * DAY,
              expiresAt: T0 + (c.start + c.length) * DAY,
            });
            if (c.revokedAfter !== undefined) reg.revoke(`c${i}`, { at: T0 + c.revokedAfter * DAY });
          }
          const at = T0 + day * DAY;
          const got = reg.filterByConsent(ids.slice(0, 8), {
            grantee: 'bank-a',
            purpose: 'training',
            categories: needed,
            at,
          });
          const expected = ids
            .slice(0, 8)
            .filter((_id, who) =>
              consents.some(
                (c) =>
                  c.who === who &&
                  c.grantee === 'bank-a' &&
                  c.purpose === 'training' &&
                  (c.scope.includes('*') || needed.every((n) => c.scope.includes(n))) &&
                  at >= T0 + c.start * DAY &&
                  at < T0 + (c.start + c.length) * DAY &&
                  (c.revokedAfter === undefined || at < T0 + c.revokedAfter * DAY),
              ),
            );
          expect(got.included).toEqual(expected);
          expect(got.included.length + got.excludedTotal).toBe(8);
          const noConsent = ids
            .slice(0, 8)
            .filter(
              (_, who) =>
                !consents.some((c) => c.who === who && c.grantee === 'bank-a' && c.purpose === 'training'),
            );
          expect(got.excluded.noConsent).toBe(noConsent.length);
        },
      ),
      // (a PostgreSQL store per run costs a connection and its migrations: fewer runs there)
      { numRuns: backend.name === 'postgres' ? 25 : 150, seed: 42 },
    );
  });
});
