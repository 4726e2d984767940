/**
 * Post-loan monitoring end to end over the in-memory network with the real envelope codec: consent-gated
 * watchlists and alerts, cursor idempotence, audit entries on both sides that the data owner can
 * reconcile, malformed protocol payloads, and rescoring of alerted enterprises under CKKS with the
 * scoring package's online protocol (joint score within 1e-4 of the plaintext sum, as its own tests use).
 */
import {
  createInMemoryNetwork,
  generateUniqueUsccs,
  isFedscoreError,
  loadRngKey,
  ProtocolSession,
  runParties,
  seededRng,
} from '@fedscore/core';
import {
  AlertInbox,
  AuditLog,
  ConsentRegistry,
  CreditEventFeed,
  checkMonitorAlerts,
  consentGatedPartialScore,
  MONITOR_ALERTS,
  MONITOR_REQUEST,
  MONITORING_PROTOCOL,
  MONITORING_VERSION,
  MonitoringService,
  NodeStore,
  reconcileAuditLogs,
  rescoreAlerted,
} from '@fedscore/node';
import {
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  OnlineScoringBank,
  OnlineScoringGovernment,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 5, 1);
const ids = generateUniqueUsccs(seededRng('monitoring-test'), 10);
const [e0, e1, e2, e3, e4, e5] = ids as [string, string, string, string, string, string];

function world() {
  let now = T0;
  const clock = () => now;
  const govStore = NodeStore.inMemory();
  const govAudit = new AuditLog(govStore, { now: clock });
  const consents = new ConsentRegistry(govStore, { audit: govAudit, party: 'gov', now: clock });
  const feed = new CreditEventFeed(govStore, { now: clock });
  const service = new MonitoringService({
    store: govStore,
    consents,
    audit: govAudit,
    party: 'gov',
    now: clock,
  });
  const bankStore = NodeStore.inMemory();
  const bankAudit = new AuditLog(bankStore, { now: clock });
  const inbox = new AlertInbox(bankStore, { audit: bankAudit, party: 'bank-a', now: clock });
  for (const [i, e] of [e0, e1, e2, e4].entries()) {
    consents.grant({
      id: `m${i}`,
      enterprise: e,
      grantee: 'bank-a',
      purpose: 'monitoring',
      scope: ['*'],
      grantedAt: T0 - DAY,
      expiresAt: T0 + 365 * DAY,
    });
  }
  let polls = 0;
  const poll = async (watch: Parameters<AlertInbox['poll']>[2] = {}) => {
    const network = createInMemoryNetwork(['bank-a', 'gov'], envelopeCodec);
    const spec = { protocol: MONITORING_PROTOCOL, version: MONITORING_VERSION, session: `poll-${++polls}` };
    const out = await runParties(network, {
      gov: () => service.serve(new ProtocolSession(network.channel('gov'), spec), 'bank-a'),
      bank: () => inbox.poll(new ProtocolSession(network.channel('bank-a'), spec), 'gov', watch),
    });
    return out.bank;
  };
  return {
    advance: (ms: number) => {
      now += ms;
    },
    clock,
    consents,
    feed,
    service,
    inbox,
    govAudit,
    bankAudit,
    poll,
  };
}

describe('post-loan monitoring', () => {
  it('alerts a bank only for watched, consenting borrowers, once each', async () => {
    const w = world();
    const until = T0 + 180 * DAY;
    const first = await w.poll({ add: [e0, e1, e2, e3].map((enterprise) => ({ enterprise, until })) });
    expect(first.reply.watchAccepted).toBe(3);
    expect(first.reply.watchRefused.noConsent).toBe(1); // e3 never authorized monitoring
    expect(first.reply.alerts).toEqual([]);

    w.advance(DAY);
    w.feed.recordAll([
      { enterprise: e0, kind: 'court_judgment', occurredAt: T0, reference: '(2025) Hu 0101 Min Chu 1' },
      { enterprise: e3, kind: 'tax_arrears', occurredAt: T0 }, // not watched
      { enterprise: e5, kind: 'administrative_penalty', occurredAt: T0 }, // not a borrower
      { enterprise: e1, kind: 'dishonest_debtor', occurredAt: T0 + 1 },
    ]);
    const second = await w.poll();
    expect(second.reply.alerts.map((a) => [a.enterprise, a.kind, a.severity])).toEqual([
      [e0, 'court_judgment', 'high'],
      [e1, 'dishonest_debtor', 'high'],
    ]);
    expect(second.reply.throughSeq).toBe(4);
    expect(JSON.stringify(second.reply)).not.toContain('Min Chu'); // the source reference stays home
    expect(second.stored).toBe(2);
    expect(w.inbox.cursor('gov')).toBe(4);
    expect(w.inbox.pendingEnterprises()).toEqual([e0, e1].sort());

    // Nothing new: no alerts, no audit entry.
    const entriesBefore = w.govAudit.head().entries;
    expect((await w.poll()).reply.alerts).toEqual([]);
    expect(w.govAudit.head().entries).toBe(entriesBefore);

    // A re-delivery (e.g. the bank crashed before storing its cursor) stores nothing twice.
    w.inbox.store.run('UPDATE monitor_cursor SET through_seq = 0');
    const again = await w.poll();
    expect(again.reply.alerts.length).toBe(2);
    expect(again.stored).toBe(0);
    expect(w.inbox.alerts().length).toBe(2);
  });

  it('stops alerting after revocation and after the loan ends', async () => {
    const w = world();
    await w.poll({
      add: [
        { enterprise: e0, until: T0 + 10 * DAY },
        { enterprise: e1, until: T0 + 100 * DAY },
        { enterprise: e2, until: T0 + 100 * DAY },
      ],
    });
    w.consents.revoke('m1', { at: T0 + DAY });
    w.advance(20 * DAY); // e0's loan has ended
    w.feed.recordAll([
      { enterprise: e0, kind: 'tax_arrears', occurredAt: T0 + 19 * DAY },
      { enterprise: e1, kind: 'tax_arrears', occurredAt: T0 + 19 * DAY },
      { enterprise: e2, kind: 'administrative_penalty', occurredAt: T0 + 19 * DAY },
    ]);
    const r = await w.poll({ remove: [] });
    expect(r.reply.alerts.map((a) => a.enterprise)).toEqual([e2]);
    expect(r.reply.throughSeq).toBe(3);
    const batch = w.service.alertsFor('bank-a', 0);
    expect(batch.withheld).toBe(1); // e1: watched but consent revoked
  });

  it('records each delivery on both sides so the data owner can reconcile the bank', async () => {
    const w = world();
    await w.poll({ add: [e0, e1].map((enterprise) => ({ enterprise, until: T0 + 90 * DAY })) });
    w.feed.recordAll([
      { enterprise: e0, kind: 'court_judgment', occurredAt: T0 },
      { enterprise: e1, kind: 'tax_arrears', occurredAt: T0 },
    ]);
    await w.poll();
    w.feed.record({ enterprise: e1, kind: 'dishonest_debtor', occurredAt: T0 });
    await w.poll();
    const govUses = [...w.govAudit.entries({ kind: 'data_use' })];
    expect(govUses.map((e) => [e.actor, e.dataOwner, e.purpose, e.enterpriseCount])).toEqual([
      ['bank-a', 'gov', 'monitoring', 2],
      ['bank-a', 'gov', 'monitoring', 1],
    ]);
    // Each delivery's alerts by severity (a court judgment and a dishonest-debtor listing are high, tax
    // arrears medium), the counts the government's Alerts page sums per bank.
    expect(govUses.map((e) => [e.details?.['alerts'], e.details?.['high'], e.details?.['medium']])).toEqual([
      [2, 1, 1],
      [1, 1, 0],
    ]);
    const claims = [...w.bankAudit.entries()];
    const ok = reconcileAuditLogs(w.govAudit.entries(), claims, { dataOwner: 'gov', user: 'bank-a' });
    expect(ok).toMatchObject({ ok: true, matched: 2 });
    // A bank that hides its second use is caught.
    const hidden = reconcileAuditLogs(w.govAudit.entries(), claims.slice(0, 1), {
      dataOwner: 'gov',
      user: 'bank-a',
    });
    expect(hidden.ok).toBe(false);
    expect(hidden.unclaimed.length).toBe(1);
    expect(JSON.stringify([...govUses, ...claims])).not.toContain(e0);
    expect(() => w.feed.record({ enterprise: e0, kind: 'rumour' as never, occurredAt: T0 })).toThrow(
      expect.objectContaining({ field: 'event.kind' }),
    );
    expect(() => w.feed.record({ enterprise: 'ABC', kind: 'tax_arrears', occurredAt: T0 })).toThrow(
      expect.objectContaining({ code: 'invalid_uscc', field: 'event.enterprise' }),
    );
  });

  it('rescores alerted borrowers under encryption; consent is checked again by the government', async () => {
    const w = world();
    await w.poll({ add: [e0, e1, e2].map((enterprise) => ({ enterprise, until: T0 + 90 * DAY })) });
    w.feed.recordAll([
      { enterprise: e0, kind: 'court_judgment', occurredAt: T0 },
      { enterprise: e1, kind: 'tax_arrears', occurredAt: T0 },
      { enterprise: e2, kind: 'administrative_penalty', occurredAt: T0 },
    ]);
    await w.poll();
    w.consents.revoke('m1', { at: T0 }); // e1 withdraws after the alert was delivered
    // The government's partial: a stand-in linear term over its current event counts.
    const eventsOf = (e: string) => w.feed.list(0).filter((x) => x.enterprise === e).length;
    const govPartial = (e: string) => (e === e2 ? undefined : 0.25 - 0.8 * eventsOf(e));
    const bankPartial = (e: string) => (e === e0 ? -1.1 : 0.4);
    const gated = consentGatedPartialScore({
      consents: w.consents,
      audit: w.govAudit,
      party: 'gov',
      grantee: 'bank-a',
      purpose: 'monitoring',
      job: 'rescore-1',
      partialScoreOf: govPartial,
      now: w.clock,
    });
    const gov = new OnlineScoringGovernment({
      partialScoreOf: gated.partialScoreOf,
      rng: (await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => i + 1))).derive('monitoring'),
      policy: { allowExactMode: true }, // refused by default; this test checks the exact joint score
    });
    const scorer = await OnlineScoringBank.create({ mode: 'exact' });
    const network = createInMemoryNetwork(['bank-a', 'gov'], envelopeCodec);
    const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'rescore-1' };
    try {
      const out = await runParties(network, {
        gov: () => gov.serve(new ProtocolSession(network.channel('gov'), spec), 'bank-a'),
        bank: () =>
          rescoreAlerted({
            inbox: w.inbox,
            scorer,
            session: new ProtocolSession(network.channel('bank-a'), spec),
            government: 'gov',
            modelId: 'sme-credit-line@1',
            bankPartialOf: bankPartial,
          }),
      });
      const byId = new Map(out.bank.rescored.map((r) => [r.enterprise, r]));
      expect(Math.abs(byId.get(e0)!.score! - (-1.1 + 0.25 - 0.8))).toBeLessThan(1e-4);
      expect(byId.get(e1)!.found).toBe(false); // consent revoked: "no record"
      expect(byId.get(e2)!.found).toBe(false); // the government holds no data for it
      expect(out.bank.notFound).toBe(2);
      expect(out.gov).toEqual({ requests: 3, notFound: 2, refused: 0 });
      expect(gated.refused()).toBe(1);
      expect(w.inbox.pendingEnterprises()).toEqual([]);
      expect(w.inbox.rescores(e0).map((r) => r.modelId)).toEqual(['sme-credit-line@1']);
      const rescoreUses = [...w.govAudit.entries({ job: 'rescore-1' })];
      expect(rescoreUses.map((e) => [e.kind, e.enterpriseCount, e.consentRef])).toEqual([
        ['data_use', 1, 'm0'],
      ]);
    } finally {
      scorer.dispose();
      gov.dispose();
    }
  });

  it('pages large backlogs with a cursor', async () => {
    const w = world();
    await w.poll({ add: [{ enterprise: e0, until: T0 + 90 * DAY }] });
    w.feed.recordAll(
      Array.from({ length: 5 }, (_, i) => ({
        enterprise: e0,
        kind: 'tax_arrears' as const,
        occurredAt: T0 + i,
      })),
    );
    const p1 = w.service.alertsFor('bank-a', 0, { limit: 2 });
    expect([p1.alerts.map((a) => a.seq), p1.throughSeq, p1.more]).toEqual([[1, 2], 2, true]);
    const p2 = w.service.alertsFor('bank-a', p1.throughSeq, { limit: 3 });
    expect([p2.alerts.map((a) => a.seq), p2.throughSeq, p2.more]).toEqual([[3, 4, 5], 5, false]);
  });

  it('refuses malformed protocol payloads with typed errors naming the field', () => {
    const enc = new TextEncoder();
    const decodeReq = (v: unknown) => MONITOR_REQUEST.decode(enc.encode(JSON.stringify(v)));
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(isFedscoreError(e, 'wire_decode')).toBe(true);
        return (e as { field?: string }).field;
      }
      throw new Error('expected a wire_decode error');
    };
    expect(field(() => decodeReq({ afterSeq: -1, add: [], remove: [] }))).toBe('monitor-request.afterSeq');
    expect(field(() => decodeReq({ afterSeq: 0, add: [{ enterprise: 'x', until: 1 }], remove: [] }))).toBe(
      'monitor-request.add[0].enterprise',
    );
    expect(field(() => decodeReq({ afterSeq: 0, add: [], remove: [], extra: 1 }))).toBe(
      'monitor-request.extra',
    );
    expect(field(() => MONITOR_REQUEST.decode(Uint8Array.of(0xff, 0xfe)))).toBe('monitor-request');
    const alerts = {
      watchAccepted: 0,
      watchRefused: { invalidId: 0, noConsent: 0, outOfScope: 0, revoked: 0, expired: 0, notYetValid: 0 },
      alerts: [{ seq: 3, enterprise: e0, kind: 'tax_arrears', occurredAt: 1, severity: 'medium' }],
      throughSeq: 3,
      more: false,
    };
    expect(checkMonitorAlerts(alerts).alerts.length).toBe(1);
    expect(field(() => checkMonitorAlerts({ ...alerts, throughSeq: 2 }))).toBe(
      'monitor-alerts.alerts[0].seq',
    );
    expect(
      field(() => checkMonitorAlerts({ ...alerts, alerts: [{ ...alerts.alerts[0], severity: 'high' }] })),
    ).toBe('monitor-alerts.alerts[0].severity');
    // Random bytes and random JSON never decode silently into something else.
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.json().map((j) => enc.encode(j)),
        ),
        (bytes) => {
          for (const step of [MONITOR_REQUEST, MONITOR_ALERTS]) {
            try {
              step.decode(bytes);
            } catch (e) {
              expect(isFedscoreError(e, 'wire_decode')).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });
});

describe('monitoring.alerts: docs/governance.md against captured messages', () => {
  it('the messages table lists exactly the steps that cross the wire, and the government sees no more', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../../docs/governance.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Post-loan monitoring'));
    const rows = [...section.matchAll(/^\|\s*\d+\s*\|\s*(\w+) -> (\w+)\s*\|\s*`([a-z-]+)`\s*\|/gm)].map(
      (m) => [m[1] === 'bank' ? 'bank-a' : 'gov', m[2] === 'bank' ? 'bank-a' : 'gov', m[3]],
    );
    expect(rows).toEqual([
      ['bank-a', 'gov', 'monitor-request'],
      ['gov', 'bank-a', 'monitor-alerts'],
    ]);
    const w = world();
    const network = createInMemoryNetwork(['bank-a', 'gov'], envelopeCodec, { capture: true });
    const spec = { protocol: MONITORING_PROTOCOL, version: MONITORING_VERSION, session: 'cap' };
    w.feed.record({ enterprise: e0, kind: 'court_judgment', occurredAt: T0, reference: 'CASE-SECRET-1' });
    w.feed.record({ enterprise: e5, kind: 'tax_arrears', occurredAt: T0 });
    await runParties(network, {
      gov: () => w.service.serve(new ProtocolSession(network.channel('gov'), spec), 'bank-a'),
      bank: () =>
        w.inbox.poll(new ProtocolSession(network.channel('bank-a'), spec), 'gov', {
          add: [{ enterprise: e0, until: T0 + DAY }],
        }),
    });
    expect(network.captured.map((m) => [m.from, m.to, m.step])).toEqual(rows);
    const dec = new TextDecoder();
    const toGov = network
      .receivedBy('gov')
      .map((m) => JSON.parse(dec.decode(m.payload)) as Record<string, unknown>);
    expect(toGov.map((p) => Object.keys(p).sort())).toEqual([['add', 'afterSeq', 'remove']]);
    const toBank = network.receivedBy('bank-a').map((m) => dec.decode(m.payload));
    expect(toBank.join()).not.toContain('CASE-SECRET-1');
    expect(toBank.join()).not.toContain(e5); // an enterprise the bank does not watch
    expect(toBank.join()).toContain(e0);
  });
});
