/**
 * Jobs a node refuses (issue 12, the node), between two in-process nodes (bank = guest, government =
 * host) over real gRPC + mutual TLS on loopback:
 *   - the data owner decides what it accepts: with its default config (`accept`: secure schemes only),
 *     the government refuses a job whose guest set `insecure: true` and scheme 'none' (labels and partial
 *     predictions in plaintext) at the offer -- a typed `policy` error naming `accept.plaintextScheme`,
 *     the job never stored there -- and one with `insecure: true` under CKKS (weak parameters would pass)
 *     naming `accept.weakParameters`. Before this, the bank's flag alone made the government run them;
 *   - with `accept.plaintextScheme: true` the same plaintext job runs to the end (the opt-in works);
 *   - the bank's own policy refuses such a job at submit (`submitJob` with its `accept`) and, when the
 *     job reached its store anyway, when it coordinates it;
 *   - a job refused for missing consent (no enterprise of the intersection consented) is audited on
 *     both nodes: a `job_refused` entry with the same actor (bank), data owner (government), refusing
 *     party, stage and code on each (before: on neither);
 *   - every refusal is recorded once, whatever the retries, and the audit chains verify.
 * The node cases run on both stores (SQLite and PostgreSQL, store-backends.ts; each node is checked to
 * have opened the store under test). The admission rule itself is checked over every combination of
 * schemes, flags and policy.
 */
import { join } from 'node:path';
import { isFedscoreError } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type AcceptPolicy,
  type AuditEntry,
  checkJobPolicy,
  type JobSpecInput,
  type PartyNode,
  SECURE_ONLY,
  submitJob,
  validateJobSpec,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];

const base = (id: string): JobSpecInput & { id: string } => ({
  id,
  guest: 'bank',
  hosts: ['government'],
  data: { bank: 'loans', government: 'credit' },
  seed: 3,
  binning: { enabled: false },
  train: { scheme: 'ckks', maxEpochs: 1, batchSize: 128 },
});
const plaintext = (id: string): JobSpecInput & { id: string } => ({
  ...base(id),
  insecure: true,
  train: { scheme: 'none', maxEpochs: 1, batchSize: 80 },
});

const refusals = (n: PartyNode, job: string): AuditEntry[] => [
  ...n.audit.entries({ job, kind: 'job_refused' }),
];

describeStores('job refusals', (backend) => {
  let cluster: NodeCluster<Party>;
  let files: Record<Party, string>;

  beforeAll(async () => {
    cluster = await NodeCluster.create({
      parties: PARTIES,
      config: (party, run): NodeConfigOverrides => ({
        data:
          party === 'bank'
            ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
            : { credit: { path: files.government, id: ID_COLUMN } },
        limits: { peerDownSeconds: 20, retries: 1, retryBaseMs: 50 },
        ...(backend.name === 'postgres' && {
          store: { kind: 'postgres', url: backend.url(), schema: `${party}_${run}`.replaceAll('-', '_') },
        }),
      }),
    });
    const w = await writePopulation(
      { enterprises: 300, bankCustomers: 200, seed: 31 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** Two fresh nodes for one case; `accept` per party (default: the config default). */
  async function pair(
    run: string,
    accept: Partial<Record<Party, Partial<AcceptPolicy>>> = {},
    requireConsent = true,
  ): Promise<Record<Party, PartyNode>> {
    const start = (party: Party) =>
      cluster.start(party, {
        run,
        config: {
          governance: { requireConsent },
          // The config schema's input type is mutable; the policy is only read.
          ...(accept[party] !== undefined && { accept: accept[party] as NodeConfigOverrides['accept'] }),
        },
      });
    const nodes = { bank: await start('bank'), government: await start('government') };
    // Each node really opened the store under test.
    for (const p of PARTIES) expect(nodes[p].store.dialect, p).toBe(backend.name);
    return nodes;
  }

  async function stopAll(nodes: Record<Party, PartyNode>): Promise<void> {
    await cluster.stopAll(nodes);
  }

  describe('a node refuses jobs its own config does not accept', () => {
    it("the government refuses the bank's plaintext job at the offer; both audit it once", async () => {
      const nodes = await pair('plaintext-refused', { bank: { plaintextScheme: true } });
      try {
        nodes.bank.submit(plaintext('pt-1'));
        const job = await nodes.bank.runner.waitFor('pt-1', 60_000);
        expect(job.status).toBe('failed');
        expect(job.error?.code).toBe('policy');
        expect(job.error?.message).toContain('accept.plaintextScheme');
        // The government never recorded the job: it ran nothing of it.
        expect(nodes.government.jobs.list().map((j) => j.id)).not.toContain('pt-1');
        const expected = {
          kind: 'job_refused',
          actor: 'bank',
          dataOwner: 'government',
          job: 'pt-1',
          details: {
            stage: 'offer',
            refusedBy: 'government',
            code: 'policy',
            field: 'accept.plaintextScheme',
          },
        };
        expect(refusals(nodes.government, 'pt-1')).toEqual([expect.objectContaining(expected)]);
        expect(refusals(nodes.bank, 'pt-1')).toEqual([expect.objectContaining(expected)]);
        for (const n of Object.values(nodes)) expect(n.audit.verify().ok).toBe(true);
      } finally {
        await stopAll(nodes);
      }
    });

    it('insecure: true under CKKS is refused for weak parameters, even where plaintext is accepted', async () => {
      const nodes = await pair('weak-refused', {
        bank: { weakParameters: true },
        government: { plaintextScheme: true },
      });
      try {
        nodes.bank.submit({ ...base('weak-1'), insecure: true });
        const job = await nodes.bank.runner.waitFor('weak-1', 60_000);
        expect(job.error?.code).toBe('policy');
        expect(refusals(nodes.government, 'weak-1')[0]?.details).toMatchObject({
          field: 'accept.weakParameters',
          refusedBy: 'government',
        });
      } finally {
        await stopAll(nodes);
      }
    });

    it('with accept.plaintextScheme the same plaintext job runs to the end', async () => {
      // (No consent registry in this case: the run itself is what is checked.)
      const nodes = await pair(
        'plaintext-accepted',
        { bank: { plaintextScheme: true }, government: { plaintextScheme: true } },
        false,
      );
      try {
        nodes.bank.submit(plaintext('pt-2'));
        const job = await nodes.bank.runner.waitFor('pt-2', 120_000);
        expect(job.error).toBeUndefined();
        expect(job.status).toBe('done');
        expect(refusals(nodes.government, 'pt-2')).toEqual([]);
      } finally {
        await stopAll(nodes);
      }
    });

    it("the bank's own policy refuses at submit, and when coordinating a job that reached its store", async () => {
      const nodes = await pair('own-policy');
      try {
        expect(() => submitJob(nodes.bank.jobs, 'bank', plaintext('pt-3'), undefined, SECURE_ONLY)).toThrow(
          expect.objectContaining({ code: 'policy', field: 'accept.plaintextScheme' }),
        );
        nodes.bank.submit(plaintext('pt-4')); // the library call records it; the coordinator refuses it
        const job = await nodes.bank.runner.waitFor('pt-4', 30_000);
        expect(job.error?.code).toBe('policy');
        expect(refusals(nodes.bank, 'pt-4')).toEqual([
          expect.objectContaining({ actor: 'bank', details: expect.objectContaining({ refusedBy: 'bank' }) }),
        ]);
        expect(nodes.government.jobs.list()).toEqual([]);
      } finally {
        await stopAll(nodes);
      }
    });
  });

  describe('a job refused for missing consent is audited on both nodes', () => {
    it('no enterprise consented: failed with consent; the same job_refused entry on the bank and the government', async () => {
      const nodes = await pair('no-consent');
      try {
        nodes.bank.submit(base('nc-1'));
        const job = await nodes.bank.runner.waitFor('nc-1', 60_000);
        expect(job.status).toBe('failed');
        expect(job.error?.code).toBe('consent');
        const pick = (e: AuditEntry | undefined) => ({
          actor: e?.actor,
          dataOwner: e?.dataOwner,
          purpose: e?.purpose,
          stage: e?.details?.['stage'],
          refusedBy: e?.details?.['refusedBy'],
          code: e?.details?.['code'],
        });
        const want = {
          actor: 'bank',
          dataOwner: 'government',
          purpose: 'training',
          stage: 'psi',
          refusedBy: 'government',
          code: 'consent',
        };
        const gov = refusals(nodes.government, 'nc-1');
        const bank = refusals(nodes.bank, 'nc-1');
        expect(gov.length).toBe(1);
        expect(bank.length).toBe(1);
        expect(pick(gov[0])).toEqual(want);
        expect(pick(bank[0])).toEqual(want);
        // The government's entry counts what it refused (no values, no identifiers).
        expect(gov[0]?.details?.['intersection']).toBeGreaterThan(0);
        for (const n of Object.values(nodes)) expect(n.audit.verify().ok).toBe(true);
      } finally {
        await stopAll(nodes);
      }
    });
  });

  describe('a party that stays down', () => {
    it('fails the job once it has been unreachable past peerDownSeconds; the coordinator stays up and says why', async () => {
      const limits = { peerDownSeconds: 1, retries: 1, retryBaseMs: 50 };
      const bank = await cluster.start('bank', { run: 'party-down', config: { limits } });
      const government = await cluster.start('government', { run: 'party-down', config: { limits } });
      expect(bank.store.dialect).toBe(backend.name);
      await cluster.stop(government);
      try {
        bank.submit(base('down-1'));
        const job = await bank.runner.waitFor('down-1', 60_000);
        expect(job.status).toBe('failed');
        expect(['io', 'timeout']).toContain(job.error?.code);
        expect(job.error?.message).toContain('unreachable for 1 s');
        // Not coordinated again from the tick: it stays failed, and the node still takes jobs.
        await new Promise((r) => setTimeout(r, 1500));
        expect(bank.jobs.require('down-1').status).toBe('failed');
        expect(bank.jobs.list().map((j) => j.id)).toEqual(['down-1']);
      } finally {
        await cluster.stop(bank);
      }
    }, 120_000);
  });
});

describe('checkJobPolicy over every combination', () => {
  const schemes = ['ckks', 'paillier', 'none'] as const;
  const policies: AcceptPolicy[] = [];
  for (const s of [['ckks'], ['paillier'], ['ckks', 'paillier']] as const) {
    for (const plaintextScheme of [false, true]) {
      for (const weakParameters of [false, true])
        policies.push({ schemes: s, plaintextScheme, weakParameters });
    }
  }
  it('accepts exactly when every used scheme is allowed and insecure HE is allowed as weak parameters', () => {
    let checked = 0;
    for (const binning of [...schemes, 'off'] as const) {
      for (const train of schemes) {
        for (const insecure of [false, true]) {
          const uses = [train, ...(binning === 'off' ? [] : [binning])];
          if (uses.includes('none') && !insecure) continue; // the spec itself refuses it
          const spec = validateJobSpec({
            ...base('x'),
            insecure,
            binning: binning === 'off' ? { enabled: false } : { enabled: true, scheme: binning },
            train: { scheme: train },
          });
          for (const policy of policies) {
            const expectOk =
              uses.every((u) => (u === 'none' ? policy.plaintextScheme : policy.schemes.includes(u))) &&
              (!insecure || !uses.some((u) => u !== 'none') || policy.weakParameters);
            let ok = true;
            try {
              checkJobPolicy(spec, policy, 'government');
            } catch (e) {
              expect(isFedscoreError(e, 'policy')).toBe(true);
              expect((e as { field?: string }).field).toMatch(
                /^accept\.(schemes|plaintextScheme|weakParameters)$/,
              );
              ok = false;
            }
            expect([binning, train, insecure, policy, ok]).toEqual([
              binning,
              train,
              insecure,
              policy,
              expectOk,
            ]);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('a Paillier modulus below 2048 bits is a weak parameter', () => {
    const spec = validateJobSpec({ ...base('p'), train: { scheme: 'paillier', paillierBits: 1024 } });
    expect(() => checkJobPolicy(spec, SECURE_ONLY, 'government')).toThrow(
      expect.objectContaining({ code: 'policy', field: 'accept.weakParameters' }),
    );
    expect(() => checkJobPolicy(spec, { ...SECURE_ONLY, weakParameters: true }, 'government')).not.toThrow();
  });
});
