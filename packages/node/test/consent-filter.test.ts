/**
 * Consent filtering in the node's psi stage, host side (packages/pipeline `alignHost`, bound by the node):
 * the government offers to PSI exactly the enterprises of its table with a consent valid at the job's
 * instant for the bank, the purpose and every category (table ids matched after USCC normalization),
 * records what it excluded by reason (never sent), refuses a job no enterprise consented to before any
 * PSI message, and sends the bank a summary whose consent reference covers exactly the aligned set.
 * The reference for every expectation is the list of grants the test planted, not the registry's code.
 * Both parties' stores (consents, jobs) are SQLite and then PostgreSQL (store-backends.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createInMemoryNetwork,
  createTable,
  generateUniqueUsccs,
  isFedscoreError,
  noopLogger,
  noProgress,
  numericColumn,
  seededRng,
  type Table,
  uniform,
} from '@fedscore/core';
import {
  type ConsentGrant,
  ConsentRegistry,
  consentSetFingerprint,
  JobStore,
  type NodeStore,
  type PsiCheckpoint,
  runStageRole,
  validateJobSpec,
} from '@fedscore/node';
import { helloStep } from '@fedscore/psi';
import { envelopeCodec } from '@fedscore/wire';
import { expect, it } from 'vitest';
import { describeStores, type StoreBackend } from './store-backends.ts';

const DAY = 86_400_000;
const AT = Date.UTC(2026, 2, 1);
const codes = generateUniqueUsccs(seededRng('consent-filter'), 120);
/** Valid for the bank, training, all categories at AT. */
const valid = codes.slice(0, 20);
const revoked = codes.slice(20, 25);
const expired = codes.slice(25, 30);
const narrow = codes.slice(30, 35); // scope ['tax'] only; the job asks for court_judgments too
const early = codes.slice(35, 38); // granted after AT
const none = codes.slice(38, 45); // no consent at all
const otherBank = codes.slice(45, 48); // consent for another bank only
const bankOnly = codes.slice(60, 90);

const CATEGORIES = ['tax', 'court_judgments'];

function grants(): ConsentGrant[] {
  const g = (enterprise: string, i: number, over: Partial<ConsentGrant> = {}): ConsentGrant => ({
    id: `c-${i}`,
    enterprise,
    grantee: 'bank',
    purpose: 'training',
    scope: ['*'],
    grantedAt: AT - 10 * DAY,
    expiresAt: AT + 100 * DAY,
    ...over,
  });
  return [
    ...valid.map((e, i) => g(e, i)),
    ...revoked.map((e, i) => g(e, 100 + i)),
    ...expired.map((e, i) => g(e, 200 + i, { expiresAt: AT })), // valid on [granted, expires): not at AT
    ...narrow.map((e, i) => g(e, 300 + i, { scope: ['tax'] })),
    ...early.map((e, i) => g(e, 400 + i, { grantedAt: AT + 1 })),
    ...otherBank.map((e, i) => g(e, 500 + i, { grantee: 'bank-b' })),
  ];
}

function table(ids: readonly string[], withLabel: boolean): Table {
  const rng = seededRng(`consent-filter/${ids.length}`);
  return createTable({
    ids: [...ids],
    columns: [
      numericColumn(
        'x',
        Float64Array.from(ids, () => uniform(rng)),
      ),
    ],
    ...(withLabel && { label: Float64Array.from(ids, (_, i) => (i % 3 === 0 ? 1 : 0)) }),
  });
}

const spec = {
  ...validateJobSpec({
    guest: 'bank',
    hosts: ['government'],
    data: { bank: 'loans', government: 'credit' },
    seed: 5,
    consent: { purpose: 'training', categories: CATEGORIES },
  }),
  id: 'consent-filter-job',
};

interface Side {
  readonly checkpoint?: PsiCheckpoint;
  readonly error?: unknown;
  readonly received: string[];
  readonly peerCount?: number;
}

/** Both roles of the psi stage over an in-memory network; the government applies `check` when given. */
async function psiStage(
  backend: StoreBackend,
  govIds: readonly string[],
  bankIds: readonly string[],
  withConsent: boolean,
  grantList: readonly ConsentGrant[] = grants(),
  /** A consent id revoked, back-dated before the job's instant, right after the first consent check. */
  revokeDuring?: string,
): Promise<{ bank: Side; government: Side }> {
  const root = mkdtempSync(join(tmpdir(), 'fedscore-consent-filter-'));
  const net = createInMemoryNetwork(['bank', 'government'], envelopeCodec, {
    capture: true,
    receiveTimeoutMs: 20_000,
  });
  const govStore = backend.newStore();
  const bankStore = backend.newStore();
  for (const st of [govStore, bankStore]) expect(st.dialect).toBe(backend.name);
  const consents = new ConsentRegistry(govStore);
  if (grantList.length > 0) consents.grantAll(grantList);
  for (const e of revoked) {
    const id = grantList.find((g) => g.enterprise === e)?.id;
    if (id !== undefined) consents.revoke(id, { at: AT - DAY });
  }
  const tables: Record<string, Table> = { credit: table(govIds, false), loans: table(bankIds, true) };
  let checks = 0;
  const ctx = (party: 'bank' | 'government', store: NodeStore) => ({
    spec,
    party,
    key: `${spec.id}/psi/0`,
    attempt: 0,
    channel: net.channel(party),
    jobs: new JobStore(store),
    data: (name: string) => Promise.resolve(tables[name]!),
    stateDir: join(root, party),
    logger: noopLogger,
    progress: noProgress,
    ...(party === 'government' &&
      withConsent && {
        consent: async (ids: readonly string[]) => {
          const f = await consents.filterByConsentAsync(ids, {
            grantee: 'bank',
            purpose: 'training',
            categories: CATEGORIES,
            at: AT,
          });
          if (revokeDuring !== undefined && checks++ === 0) consents.revoke(revokeDuring, { at: AT - DAY });
          return f;
        },
      }),
  });
  const run = async (party: 'bank' | 'government', store: NodeStore) => {
    try {
      return { checkpoint: (await runStageRole('psi', ctx(party, store))) as PsiCheckpoint };
    } catch (e) {
      net.closeAll(e as Error);
      return { error: e };
    }
  };
  const [bank, government] = await Promise.all([run('bank', bankStore), run('government', govStore)]);
  const side = (p: string, r: { checkpoint?: PsiCheckpoint; error?: unknown }): Side => {
    const got = net.receivedBy(p);
    const h = got.find((m) => m.step === 'hello');
    return {
      ...r,
      received: got.map((m) => `${m.protocol}/${m.step}`),
      ...(h !== undefined && { peerCount: helloStep.decode(h.payload).count }),
    };
  };
  govStore.close();
  bankStore.close();
  return { bank: side('bank', bank), government: side('government', government) };
}

const excludedIds = [...revoked, ...expired, ...narrow, ...early, ...none, ...otherBank];
/** The government's table: every kind of enterprise, some consenting ones in lower case (normalized). */
const govIds = [...excludedIds, ...valid.slice(0, 5).map((c) => c.toLowerCase()), ...valid.slice(5)];

describeStores('consent filtering before PSI (government side of the psi stage)', (backend) => {
  it('offers exactly the consenting enterprises, counts the others by reason, summarizes the aligned set', async () => {
    const bankIds = [...codes.slice(0, 48), ...bankOnly]; // every government enterprise and others
    const r = await psiStage(backend, govIds, bankIds, true);
    expect(r.government.error).toBeUndefined();
    expect(r.bank.error).toBeUndefined();
    // The set the government announced and blinded: its 20 consenting enterprises, nothing else.
    expect(r.bank.peerCount).toBe(valid.length);
    const gov = r.government.checkpoint!;
    expect(gov.consentedSet).toEqual({
      offered: valid.length,
      excluded: {
        invalidId: 0,
        noConsent: none.length + otherBank.length, // another bank's consent is none for this bank
        outOfScope: narrow.length,
        revoked: revoked.length,
        expired: expired.length,
        notYetValid: early.length,
      },
      excludedTotal: excludedIds.length,
    });
    const alignedGov = gov.rows.map((row) => govIds[row]!.toUpperCase());
    expect([...alignedGov].sort()).toEqual([...valid].sort());
    const alignedBank = r.bank.checkpoint!.rows.map((row) => bankIds[row]!);
    expect([...alignedBank].sort()).toEqual([...valid].sort());
    const summary = {
      enforced: true,
      purpose: 'training',
      aligned: valid.length,
      consentRef: consentSetFingerprint(valid.map((_, i) => `c-${i}`)),
      at: AT,
    };
    expect(r.bank.checkpoint!.consent).toEqual({ government: summary });
    expect(gov.consent).toEqual({ government: summary });
  }, 60_000);

  it("the consent reference covers the aligned set only, not the government's whole consented set", async () => {
    // The bank holds 8 of the 20 consenting enterprises (and the non-consenting ones).
    const bankIds = [...valid.slice(3, 11), ...excludedIds, ...bankOnly];
    const r = await psiStage(backend, govIds, bankIds, true);
    expect(r.government.error).toBeUndefined();
    const summary = r.bank.checkpoint!.consent!.government!;
    expect(summary.aligned).toBe(8);
    expect(summary.consentRef).toBe(consentSetFingerprint(valid.slice(3, 11).map((_, i) => `c-${i + 3}`)));
    expect(r.government.checkpoint!.consentedSet!.offered).toBe(valid.length);
    expect(r.bank.checkpoint!.rows.map((row) => bankIds[row]!).sort()).toEqual(valid.slice(3, 11).sort());
  }, 60_000);

  it('no consenting enterprise: a typed consent refusal before any PSI message', async () => {
    const bankIds = [...codes.slice(0, 48), ...bankOnly];
    const r = await psiStage(backend, govIds, bankIds, true, []);
    expect(isFedscoreError(r.government.error)).toBe(true);
    expect(r.government.error).toMatchObject({ code: 'consent', field: 'consent' });
    expect(r.bank.checkpoint).toBeUndefined();
    // Not a single blinded id (not even the hello with the set size) reached the bank.
    expect(r.bank.received).toEqual([]);
  }, 60_000);

  it('without a consent check (a host that does not require consent) the whole table takes part, not enforced', async () => {
    const bankIds = [...codes.slice(0, 48), ...bankOnly];
    const r = await psiStage(backend, govIds, bankIds, false);
    expect(r.government.error).toBeUndefined();
    expect(r.bank.peerCount).toBe(govIds.length);
    expect(r.government.checkpoint!.consentedSet).toBeUndefined();
    // The bank's ids are upper case; the five lower-case government ids match after normalization.
    expect(r.bank.checkpoint!.consent).toEqual({
      government: { enforced: false, purpose: 'training', aligned: govIds.length },
    });
  }, 60_000);

  it('an aligned enterprise whose consent is found revoked before the job (back-dated) stops the job', async () => {
    const bankIds = [...codes.slice(0, 48), ...bankOnly];
    // c-3 (valid[3]) is offered to PSI, then revoked with an instant before the job's: the summary's
    // check of the aligned set finds one enterprise fewer and the government refuses to go on.
    const r = await psiStage(backend, govIds, bankIds, true, grants(), 'c-3');
    expect(r.government.error).toMatchObject({ code: 'internal', field: 'consent' });
    expect(r.bank.checkpoint).toBeUndefined();
    expect(r.bank.received.some((m) => m.endsWith('/consent-summary'))).toBe(false);
  }, 60_000);
});
