/**
 * Issue 18: the peers of a party run as two coordinator replicas reach the replica that holds a job's
 * lease, with no load balancer deciding it (docs/deploy.md section 8, "Routing a peer to the lease
 * holder"). Three in-process nodes over gRPC + mutual TLS (bank = guest and coordinator, government =
 * host, arbiter); the bank runs as replicas A and B, each with its own port and state directory, on one
 * PostgreSQL schema. The government's and the arbiter's config list both bank addresses, the replica
 * that does NOT hold the job's lease first (`peers.bank.addresses: [B, A]`).
 *
 *   1. A holds the lease; every first message of a peer reaches B, which refuses it with the typed,
 *      retryable `not_lease_holder` naming A's advertised address (recorded in the lease row); the peer
 *      resends it to A and sticks to A. The job completes with no failed stage attempt, and the model is
 *      bit-identical (float64 bytes, tolerance 0: scheme 'none', the same party secrets) to the run of a
 *      single bank replica. With routing switched off (the lease row naming no holder and the peers
 *      listing B only) the same messages would be refused for good: that is the loss this removes.
 *   2. A is stopped mid-epoch 3: B takes the job over once A's lease (6 s) has expired and the peers,
 *      whose route for the job is A, move to B when A is unreachable; the job finishes from the
 *      epoch-2 checkpoints with the same model bit for bit.
 *
 * B advertises its address through the variable `advertise.env` names; A through the default (its
 * `listen`, a loopback address). Skipped with the reason printed without PostgreSQL binaries (CI: a
 * failure).
 */
import { join } from 'node:path';
import { type LogRecord, memoryLogger, type ProgressCallback } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import type { PartyNode, TrainCheckpoint } from '@fedscore/node';
import { freePorts, NodeCluster, type NodeConfigOverrides, waitUntil } from '@fedscore/node/testing';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLineJob, modelHex as f64, grantTrainingConsents } from './replica-fixtures.ts';

const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];
const JOB = 'credit-line-routed';
/** The bank replicas' lease (config `store.leaseMs`): B takes over this long after A stopped renewing. */
const BANK_LEASE_MS = 6000;

const why = postgresUnavailable();
if (why !== undefined) console.log(`skipping the lease routing test: ${why}`);

describe.skipIf(why !== undefined)('peers follow the bank replica that holds the job lease', () => {
  let pg: PgCluster;
  let cluster: NodeCluster<Party>;
  let files: { bank: string; government: string };
  /** Bank replica B's gRPC port (A has the cluster's bank port); government replica 2's. */
  let portB: number;
  let portG2: number;
  const addressA = (): string => `127.0.0.1:${cluster.ports.bank}`;
  const addressB = (): string => `127.0.0.1:${portB}`;
  const addressG1 = (): string => `127.0.0.1:${cluster.ports.government}`;
  const addressG2 = (): string => `127.0.0.1:${portG2}`;

  beforeAll(async () => {
    pg = await startPgCluster();
    [portB, portG2] = (await freePorts(2)) as [number, number];
    cluster = await NodeCluster.create({
      parties: PARTIES,
      config: (p, run): NodeConfigOverrides => ({
        data:
          p === 'bank'
            ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
            : p === 'government'
              ? { credit: { path: files.government, id: ID_COLUMN } }
              : {},
        accept: { plaintextScheme: true },
        // Both bank replicas of a scenario ('1a', '1b') share the scenario's schema.
        ...(p === 'bank' && {
          store: {
            kind: 'postgres',
            url: pg.url,
            schema: `bank_${run[0]}`,
            leaseMs: BANK_LEASE_MS,
            leaseRenewMs: 250,
          },
        }),
        // The peers of the bank list both replicas, B (never the holder here) first.
        ...(p !== 'bank' &&
          run !== 'ref' &&
          !run.startsWith('3') && {
            peers: {
              bank: { addresses: [addressB(), addressA()] },
              ...(p === 'government'
                ? { arbiter: { address: `127.0.0.1:${cluster.ports.arbiter}` } }
                : { government: { address: addressG1() } }),
            },
          }),
        // Scenario 3: the government (a follower) runs as replicas G1 and G2 on one schema; the bank
        // lists them [G1, G2], the arbiter [G2, G1].
        ...(run.startsWith('3') &&
          p === 'government' && {
            store: { kind: 'postgres', url: pg.url, schema: 'government_3' },
            peers: {
              bank: { address: addressA() },
              arbiter: { address: `127.0.0.1:${cluster.ports.arbiter}` },
            },
          }),
        ...(run.startsWith('3') &&
          p === 'bank' && {
            peers: {
              government: { addresses: [addressG1(), addressG2()] },
              arbiter: { address: `127.0.0.1:${cluster.ports.arbiter}` },
            },
          }),
        ...(run.startsWith('3') &&
          p === 'arbiter' && {
            peers: { bank: { address: addressA() }, government: { addresses: [addressG2(), addressG1()] } },
          }),
      }),
    });
    const w = await writePopulation(
      { enterprises: 500, bankCustomers: 320, seed: 13 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
  });
  afterAll(async () => {
    await cluster?.close();
    pg?.stop();
  });

  const spec = () => creditLineJob(JOB);
  const grantConsents = (government: PartyNode): Promise<void> =>
    grantTrainingConsents(government, files.government);
  const messages = (records: readonly LogRecord[], message: string): LogRecord[] =>
    records.filter((r) => r.message === message);
  let reference: Record<'bank' | 'government', TrainCheckpoint> | undefined;

  /**
   * Bank replica A (run `<s>a`) takes the job's lease; then replica B (run `<s>b`, same schema, its own
   * port and state directory), the government and the arbiter (run `<s>a`) start.
   */
  const startReplicas = async (
    scenario: string,
    progressA?: ProgressCallback,
  ): Promise<{
    a: PartyNode;
    b: PartyNode;
    government: PartyNode;
    arbiter: PartyNode;
    logs: Record<'a' | 'b' | 'government' | 'arbiter', ReturnType<typeof memoryLogger>>;
  }> => {
    cluster.copyPartySecrets('ref', `${scenario}a`, ['bank', 'government']);
    const logs = {
      a: memoryLogger('info'),
      b: memoryLogger('info'),
      government: memoryLogger('info'),
      arbiter: memoryLogger('info'),
    };
    const a = await cluster.start('bank', {
      run: `${scenario}a`,
      logger: logs.a,
      ...(progressA !== undefined && { progress: progressA }),
    });
    a.submit(spec());
    await waitUntil('replica A to hold the job lease', () => a.runner.leaseState().role === 'holder');
    expect(a.jobs.lease(JOB)?.address).toBe(addressA());
    const b = await cluster.start('bank', {
      run: `${scenario}b`,
      logger: logs.b,
      env: { FEDSCORE_TEST_BANK_B: addressB() },
      config: { listen: addressB(), advertise: { env: 'FEDSCORE_TEST_BANK_B' } },
    });
    const government = await cluster.start('government', { run: `${scenario}a`, logger: logs.government });
    await grantConsents(government);
    const arbiter = await cluster.start('arbiter', { run: `${scenario}a`, logger: logs.arbiter });
    return { a, b, government, arbiter, logs };
  };

  it('the reference: one bank replica', async () => {
    const nodes = await cluster.startAll({ run: 'ref' });
    try {
      await grantConsents(nodes.government);
      nodes.bank.submit(spec());
      const done = await nodes.bank.runner.waitFor(JOB, 180_000);
      expect(done.error).toBeUndefined();
      reference = {
        bank: nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
        government: nodes.government.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
      };
      expect(reference.bank.epochs).toBe(4);
    } finally {
      await cluster.stopAll(nodes);
    }
  });

  it('a peer that reaches the standby replica first is sent to the holder; no attempt is lost, the model is bit-identical', async () => {
    expect(reference).toBeDefined();
    const n = await startReplicas('1');
    try {
      const done = await n.a.runner.waitFor(JOB, 180_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = n.a.jobs.events(JOB);
      // Every stage ran once: no message of a peer was lost to the standby replica.
      expect(events.filter((e) => e.kind === 'attempt_failed')).toEqual([]);
      expect(events.some((e) => e.kind === 'lease_taken_over')).toBe(false);
      expect(n.b.runner.leaseState()).toEqual({ role: 'standby', jobs: 0 });
      for (const p of ['bank', 'government'] as const) {
        const t = (p === 'bank' ? n.a : n.government).jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
        expect(f64(t), p).toBe(f64(reference![p]));
      }
      // Both peers were told by B where the holder is, and went there (the named holder, A).
      for (const peer of ['government', 'arbiter'] as const) {
        const redirected = messages(n.logs[peer].records, 'deliver redirected to the lease holder');
        expect(redirected.length, peer).toBeGreaterThan(0);
        for (const r of redirected) {
          expect(r.fields, peer).toMatchObject({
            peer: 'bank',
            from: addressB(),
            to: addressA(),
            named: true,
          });
        }
        // It moved once, and stayed with A: no switch back (and no other switch) in the whole job.
        const switched = messages(n.logs[peer].records, 'peer address switched');
        expect(
          switched.map((r) => r.fields),
          peer,
        ).toEqual([expect.objectContaining({ peer: 'bank', from: addressB(), to: addressA() })]);
      }
      const told = messages(n.logs.b.records, 'inbound message for a job this replica does not hold');
      expect(told.length).toBeGreaterThanOrEqual(2);
      expect(told[0]!.fields).toMatchObject({ holder: addressA() });
      // What an operator sees on /metrics: the standby's routing refusals, each peer's one switch.
      const metric = (node: PartyNode, name: string, label: Record<string, string>) =>
        node
          .metrics()
          .find((m) => m.name === name && Object.entries(label).every(([k, v]) => m.labels?.[k] === v))
          ?.value;
      expect(metric(n.b, 'fedscore_rejected_calls_total', { code: 'not_lease_holder' })).toBe(told.length);
      for (const peer of [n.government, n.arbiter]) {
        expect(metric(peer, 'fedscore_peer_address_switches_total', { peer: 'bank' })).toBe(1);
      }
      // Routing is not a security event: nothing in the standby's audit log about it.
      expect(n.b.audit.verify().ok).toBe(true);
      expect([...n.b.audit.entries({ kind: 'security_event' })]).toEqual([]);
    } finally {
      await cluster.stopAll([n.a, n.b, n.government, n.arbiter]);
    }
  });

  it('the holder stops mid-epoch 3: B takes the job over and the peers follow it; bit-identical', async () => {
    expect(reference).toBeDefined();
    let stopped: Promise<void> | undefined;
    let replicaA: PartyNode | undefined;
    const stopInEpoch3: ProgressCallback = (ev) => {
      if (stopped !== undefined || replicaA === undefined || ev.stage !== 'hetero-lr batch') return;
      if (replicaA.jobs.epochCheckpoints(JOB, 'train').length >= 2) stopped = cluster.stop(replicaA);
    };
    const n = await startReplicas('2', stopInEpoch3);
    replicaA = n.a;
    try {
      await waitUntil('replica A to stop in epoch 3', () => stopped !== undefined, 180_000);
      await stopped;
      const done = await n.b.runner.waitFor(JOB, 180_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = n.b.jobs.events(JOB);
      expect(events.some((e) => e.kind === 'lease_taken_over')).toBe(true);
      expect(n.b.jobs.leaseEpoch(JOB)).toBe(2);
      expect(events.filter((e) => e.kind === 'train_resumed').map((e) => e.detail)).toEqual(['epoch=2']);
      for (const p of ['bank', 'government'] as const) {
        const t = (p === 'bank' ? n.b : n.government).jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
        expect(t.resumedFrom, p).toBe(2);
        expect(f64(t), p).toBe(f64(reference![p]));
      }
      // The government first went from B to the holder A, then, A gone, to B.
      const switched = messages(n.logs.government.records, 'peer address switched').map((r) => r.fields);
      expect(switched[0]).toMatchObject({ peer: 'bank', from: addressB(), to: addressA() });
      expect(switched).toContainEqual(
        expect.objectContaining({ peer: 'bank', from: addressA(), to: addressB() }),
      );
      expect(n.b.audit.verify().ok).toBe(true);
    } finally {
      await cluster.stopAll([n.a, n.b, n.government, n.arbiter]);
    }
  });

  it('a following party runs as replicas: a peer that reaches the other replica is sent to the one the coordinator prepared', async () => {
    expect(reference).toBeDefined();
    cluster.copyPartySecrets('ref', '3a', ['bank', 'government']);
    const logs = { g1: memoryLogger('info'), g2: memoryLogger('info'), arbiter: memoryLogger('info') };
    const g1 = await cluster.start('government', { run: '3a', logger: logs.g1 });
    const g2 = await cluster.start('government', {
      run: '3b',
      logger: logs.g2,
      config: { listen: addressG2() },
    });
    const arbiter = await cluster.start('arbiter', { run: '3a', logger: logs.arbiter });
    const bank = await cluster.start('bank', { run: '3a' });
    try {
      await grantConsents(g1);
      bank.submit(spec());
      const done = await bank.runner.waitFor(JOB, 180_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      expect(bank.jobs.events(JOB).filter((e) => e.kind === 'attempt_failed')).toEqual([]);
      expect(f64(bank.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'))).toBe(f64(reference!.bank));
      expect(f64(g1.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'))).toBe(f64(reference!.government));
      // The arbiter's messages for the government reached G2 first, which named G1 (the replica the
      // bank's PREPARE reached); G2 ran nothing.
      const redirected = messages(logs.arbiter.records, 'deliver redirected to the lease holder');
      expect(redirected.length).toBeGreaterThan(0);
      expect(redirected[0]!.fields).toMatchObject({ peer: 'government', from: addressG2(), to: addressG1() });
      const told = messages(logs.g2.records, 'inbound message for a job this replica does not hold');
      expect(told[0]!.fields).toMatchObject({ holder: addressG1() });
      expect(messages(logs.g2.records, 'stage attempt started')).toEqual([]);
    } finally {
      await cluster.stopAll([g1, g2, arbiter, bank]);
    }
  });
});
