/**
 * Attack: membership inference through PSI run before the consent check (issue 11, finding 3).
 * Source: the review of issue 11 on fedscore; the inherent leakage of set intersection is stated by
 * Huberman, Franklin and Hogg, "Enhancing privacy and trust in electronic communities" (ACM EC 1999)
 * and Ion et al., "On Deploying Secure Computing: Private Intersection-Sum-with-Cardinality" (EuroS&P
 * 2020): each party learns which of its own ids are in the other's *input set*, so whatever enters PSI
 * is disclosed to the other side.
 *
 * What it would recover: a bank (the job's guest) puts into its submitted set the USCC of an enterprise
 * that never authorized it and learns whether the government node holds that enterprise (a data subject
 * of the public-credit platform, e.g. one with court judgments or tax arrears); symmetrically the
 * government learns which of the bank's customers that did not authorize anything are bank customers.
 *
 * Weakened configuration (the old order, reimplemented here: it no longer exists in the node): the
 * government intersects its whole table with the bank's set and filters the intersection by consent
 * afterwards. The bank reads the target's membership straight off its PSI result, for the target
 * present and absent. Default (packages/node psi stage): the government runs PSI on its consenting
 * enterprises only. Run twice, with the non-consenting target present in and absent from the
 * government's table, the bank's whole view -- its stage checkpoint (aligned rows, hold-out, consent
 * summary) and every message it receives (protocol, step, payload size, in order) -- is identical.
 * The reverse direction is checked the same way on the government's view. The government's policy on
 * the bank's set size refuses an oversized set before sending a single blinded id.
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
  ConsentRegistry,
  JobStore,
  NodeStore,
  type PsiCheckpoint,
  type PsiPolicy,
  runStageRole,
  validateJobSpec,
} from '@fedscore/node';
import { helloStep, runPsiGuest, runPsiHost } from '@fedscore/psi';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

const DAY = 86_400_000;
const AT = Date.UTC(2026, 0, 15);
const codes = generateUniqueUsccs(seededRng('psi-before-consent'), 400);
/** Enterprises of the government that authorized the bank (training, all categories). */
const consenting = codes.slice(0, 60);
/** Enterprises of the government that authorized nobody. */
const otherGov = codes.slice(60, 200);
/** The attack's target: never authorized the bank; the bank slips its USCC into its set. */
const target = codes[200]!;
/** Bank customers outside the government's table. */
const bankOnly = codes.slice(201, 260);
/** The reverse direction's secret: a bank customer that authorized nothing; held by the government. */
const silentCustomer = codes[260]!;
/** A bank customer the government does not hold (replaces `silentCustomer` in the second run). */
const otherCustomer = codes[261]!;

function table(ids: string[], withLabel: boolean): Table {
  const rng = seededRng(`rows-${ids.length}`);
  return createTable({
    ids,
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
    seed: 3,
    consent: { purpose: 'training', categories: ['*'] },
  }),
  id: 'attack-job',
};

interface View {
  /** Every message the party received: protocol, step and payload size, in order. */
  readonly received: readonly string[];
  readonly checkpoint: PsiCheckpoint | undefined;
  readonly error?: string;
  /** The set size the peer announced in its PSI hello. */
  readonly peerCount?: number;
}

/** One psi stage of the node (both roles, default configuration) over a capturing in-memory network. */
async function nodePsi(
  govIds: string[],
  bankIds: string[],
  policy?: PsiPolicy,
): Promise<{ bank: View; government: View }> {
  const root = mkdtempSync(join(tmpdir(), 'fedscore-attack-psi-'));
  const net = createInMemoryNetwork(['bank', 'government'], envelopeCodec, {
    capture: true,
    receiveTimeoutMs: 20_000,
  });
  const govStore = NodeStore.open(join(root, 'government'));
  const bankStore = NodeStore.open(join(root, 'bank'));
  const consents = new ConsentRegistry(govStore);
  consents.grantAll(
    consenting.map((enterprise, i) => ({
      id: `c-${i}`,
      enterprise,
      grantee: 'bank',
      purpose: 'training' as const,
      scope: ['*'],
      grantedAt: AT - DAY,
      expiresAt: AT + 300 * DAY,
    })),
  );
  const tables: Record<string, Table> = { credit: table(govIds, false), loans: table(bankIds, true) };
  const ctx = (party: 'bank' | 'government', store: NodeStore) => ({
    spec,
    party,
    key: 'attack-job/psi/0',
    attempt: 0,
    channel: net.channel(party),
    jobs: new JobStore(store),
    data: (name: string) => Promise.resolve(tables[name]!),
    stateDir: join(root, party),
    logger: noopLogger,
    progress: noProgress,
    ...(party === 'government' && {
      consent: (ids: readonly string[]) =>
        consents.filterByConsentAsync(ids, {
          grantee: 'bank',
          purpose: 'training',
          categories: ['*'],
          at: AT,
        }),
      ...(policy !== undefined && { psiPolicy: policy }),
    }),
  });
  const run = async (party: 'bank' | 'government', store: NodeStore) => {
    try {
      return { checkpoint: (await runStageRole('psi', ctx(party, store))) as PsiCheckpoint };
    } catch (e) {
      net.closeAll(e as Error); // the other role must not wait for a party that gave up
      return { checkpoint: undefined, error: isFedscoreError(e) ? e.code : String(e) };
    }
  };
  const [bank, government] = await Promise.all([run('bank', bankStore), run('government', govStore)]);
  const received = (p: string) => net.receivedBy(p).map((m) => `${m.protocol}/${m.step}:${m.payload.length}`);
  const peerCount = (p: string) => {
    const h = net.receivedBy(p).find((m) => m.step === 'hello');
    return h === undefined ? undefined : helloStep.decode(h.payload).count;
  };
  govStore.close();
  bankStore.close();
  return {
    bank: { ...bank, received: received('bank'), peerCount: peerCount('bank') },
    government: { ...government, received: received('government'), peerCount: peerCount('government') },
  };
}

/** The old order: PSI on the whole government table, consent filtering afterwards (weakened). */
async function psiThenConsent(
  govIds: string[],
  bankIds: string[],
): Promise<{ bankLearns: Set<string>; govLearns: Set<string> }> {
  const net = createInMemoryNetwork(['bank', 'government'], envelopeCodec);
  const common = { session: 'old-order', mode: 'both' as const, threads: 1 };
  const [g, h] = await Promise.all([
    runPsiGuest(bankIds, { ...common, channel: net.channel('bank'), peer: 'government' }),
    runPsiHost(govIds, { ...common, channel: net.channel('government'), peer: 'bank' }),
  ]);
  // (The government would now drop non-consenting rows from what takes part -- too late: both PSI
  // outputs below were already computed.)
  return { bankLearns: new Set(g.intersection), govLearns: new Set(h.intersection) };
}

const govWith = [...consenting, ...otherGov, target, silentCustomer];
const govWithout = [...consenting, ...otherGov, silentCustomer];
const bankIds = [...consenting.slice(0, 40), ...bankOnly, target];

describe('attack: PSI before consent (membership of non-consenting enterprises)', () => {
  it('weakened (PSI on the whole table, consent after): the bank learns whether the government holds the target', async () => {
    const present = await psiThenConsent(govWith, bankIds);
    const absent = await psiThenConsent(govWithout, bankIds);
    // The recovered secret: the target's membership, read correctly in both worlds.
    expect(present.bankLearns.has(target)).toBe(true);
    expect(absent.bankLearns.has(target)).toBe(false);
    // ...and the government learns that the target (which authorized nothing) is a bank customer.
    expect(present.govLearns.has(target)).toBe(true);
  });

  it('default (PSI on the consented set): the bank view is identical with the target present or absent', async () => {
    const present = await nodePsi(govWith, bankIds);
    const absent = await nodePsi(govWithout, bankIds);
    for (const v of [present, absent]) {
      expect(v.bank.error).toBeUndefined();
      expect(v.government.error).toBeUndefined();
    }
    // Everything the bank holds or received is the same in both worlds, sizes included.
    expect(present.bank.received).toEqual(absent.bank.received);
    // (The wall-clock seconds of each PSI run, kept for the CLI's report, differ from run to run.)
    const untimed = (c: typeof present.bank.checkpoint) =>
      c === undefined ? c : { ...c, psi: c.psi?.map(({ seconds: _s, ...run }) => run) };
    expect(untimed(present.bank.checkpoint)).toEqual(untimed(absent.bank.checkpoint));
    const aligned = present.bank.checkpoint!.rows.map((r) => bankIds[r]!);
    expect(aligned.sort()).toEqual(consenting.slice(0, 40).sort());
    expect(aligned).not.toContain(target);
    // The government's announced set is its consenting enterprises: 60, not 60 + 140 + 2.
    expect(present.bank.peerCount).toBe(consenting.length);
    expect(absent.bank.peerCount).toBe(consenting.length);
  });

  it('default, reverse direction: the government view does not depend on a non-consenting bank customer', async () => {
    const withSilent = [...consenting.slice(0, 40), ...bankOnly, silentCustomer];
    const withOther = [...consenting.slice(0, 40), ...bankOnly, otherCustomer];
    // Weakened: the government learns that `silentCustomer` banks with the bank.
    expect((await psiThenConsent(govWith, withSilent)).govLearns.has(silentCustomer)).toBe(true);
    const a = await nodePsi(govWith, withSilent);
    const b = await nodePsi(govWith, withOther);
    expect(a.government.received).toEqual(b.government.received);
    expect(a.government.checkpoint).toEqual(b.government.checkpoint);
    expect(a.government.checkpoint!.rows.map((r) => govWith[r]!)).not.toContain(silentCustomer);
  });

  it("the government's policy refuses an oversized bank set before sending any blinded id", async () => {
    const many = [...bankIds, ...codes.slice(262, 400)]; // 238 ids for 60 consenting enterprises
    const r = await nodePsi(govWith, many, { maxSubmittedIds: 1_000_000, maxSubmittedRatio: 2 });
    expect(r.government.error).toBe('psi_policy');
    expect(r.bank.checkpoint).toBeUndefined();
    // The bank received the government's hello (its consented-set size) and nothing else.
    expect(r.bank.received.map((m) => m.split(':')[0])).toEqual(['psi.ecdh-ristretto255/hello']);
    const ok = await nodePsi(govWith, many, { maxSubmittedIds: 1_000_000, maxSubmittedRatio: 4 });
    expect(ok.government.error).toBeUndefined();
    const absolute = await nodePsi(govWith, many, { maxSubmittedIds: 200, maxSubmittedRatio: 0 });
    expect(absolute.government.error).toBe('psi_policy');
  });
});
