/**
 * Issue 18: a replica of a party that dies mid-job is replaced by another replica on the same PostgreSQL
 * store, which resumes the job from the checkpoints in that store. Three in-process nodes over gRPC +
 * mutual TLS (bank = guest and coordinator, government = host, arbiter), as in jobs.test.ts.
 *
 * Scheme 'none' (exact arithmetic), so the reference is an uninterrupted run of the same job with the same
 * party secrets, compared bit for bit (float64 bytes, tolerance 0). Government replica A is stopped
 * mid-epoch 3 (after its epoch-2 checkpoint); replica B starts with an empty state directory of its own
 * and the same database and schema: the consents, the job, its checkpoints and the party secret it needs
 * come from PostgreSQL only. Then the coordinator: bank replica A is stopped mid-epoch 3; replica B
 * (empty state directory, same database) waits for A's job lease to expire, takes the job over and
 * finishes it, bit-identical again. The bank replicas' lease is set in their config (`store.leaseMs:
 * 6000`, `store.leaseRenewMs: 250`): the takeover comes after 6 s, well before the default 15 s. The bank's and government's stores are PostgreSQL (a
 * throwaway loopback cluster, one schema per party and scenario), the arbiter's SQLite. Skipped with the
 * reason printed without PostgreSQL binaries (CI: a failure).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProgressCallback } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  JOB_LEASE_MS,
  JobStore,
  MASK_SEED_SECRET,
  NodeStore,
  type PartyNode,
  STORE_FILE,
  type TrainCheckpoint,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLineJob, modelHex as f64, grantTrainingConsents } from './replica-fixtures.ts';

const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];
const JOB = 'credit-line-replica';
/** The bank replicas' lease in the takeover scenario (config `store.leaseMs`). */
const BANK_LEASE_MS = 6000;

const why = postgresUnavailable();
if (why !== undefined) console.log(`skipping the replica failover test: ${why}`);

describe.skipIf(why !== undefined)(
  'a replica dies mid-job; another on the same PostgreSQL store resumes it',
  () => {
    let pg: PgCluster;
    let cluster: NodeCluster<Party>;
    let files: { bank: string; government: string };
    // Each party's schema per run: the reference run's own; the replicas of a scenario ('g*': government
    // replicas, 'b*': bank replicas) share one per party.
    const schemaOf = (party: Party, run: string): string => `${party}_${run === 'ref' ? 'ref' : run[0]}`;

    beforeAll(async () => {
      pg = await startPgCluster();
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
          ...(p !== 'arbiter' && {
            store: {
              kind: 'postgres',
              url: pg.url,
              schema: schemaOf(p, run),
              // The bank replicas' lease (YAML store.leaseMs / leaseRenewMs) in the takeover scenario.
              ...(p === 'bank' && run.startsWith('b') && { leaseMs: BANK_LEASE_MS, leaseRenewMs: 250 }),
            },
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
    let reference: Record<'bank' | 'government', TrainCheckpoint> | undefined;
    /** The same deployment's party secrets (the mask seeds derive from them), into a scenario's schemas. */
    const copySecrets = (scenario: string): void => {
      for (const p of ['bank', 'government'] as const) {
        const from = NodeStore.postgres(pg.url, { schema: schemaOf(p, 'ref') });
        const to = NodeStore.postgres(pg.url, { schema: schemaOf(p, scenario) });
        try {
          const secret = new JobStore(from).partySecret(MASK_SEED_SECRET);
          new JobStore(to);
          to.run(
            'INSERT INTO job_secrets (name, secret, created_at) VALUES (?, ?, ?)',
            MASK_SEED_SECRET,
            secret,
            0,
          );
        } finally {
          from.close();
          to.close();
        }
      }
    };

    it('the uninterrupted reference run (bank and government on PostgreSQL)', async () => {
      const nodes = await cluster.startAll({ run: 'ref' });
      try {
        expect(nodes.government.store.dialect).toBe('postgres');
        expect(nodes.bank.store.dialect).toBe('postgres');
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

    it('replica B (empty state directory, same database) resumes from the checkpoints; the model is bit-identical', async () => {
      expect(reference).toBeDefined();
      copySecrets('g');
      let stopped: Promise<void> | undefined;
      let replicaA: PartyNode | undefined;
      const stopInEpoch3: ProgressCallback = (ev) => {
        if (stopped !== undefined || replicaA === undefined || ev.stage !== 'hetero-lr host batch') return;
        if (replicaA.jobs.epochCheckpoints(JOB, 'train').length >= 2) stopped = cluster.stop(replicaA);
      };
      const nodes = await cluster.startAll({ run: 'ga' }, { government: { progress: stopInEpoch3 } });
      replicaA = nodes.government;
      try {
        await grantConsents(nodes.government);
        nodes.bank.submit(spec());
        for (let t0 = Date.now(); stopped === undefined; ) {
          const j = nodes.bank.jobs.require(JOB);
          if (j.status !== 'running' && j.status !== 'submitted')
            throw new Error(`job ${j.status} before the stop`);
          if (Date.now() - t0 > 180_000) throw new Error('training never reached epoch 3');
          await new Promise((r) => setTimeout(r, 20));
        }
        await stopped;
        // Replica B: a state directory of its own (run 'gb'), the government's database and schema.
        nodes.government = await cluster.start('government', { run: 'gb' });
        expect(existsSync(join(cluster.stateDir('government', 'gb'), STORE_FILE))).toBe(false);
        const done = await nodes.bank.runner.waitFor(JOB, 180_000);
        expect(done.error).toBeUndefined();
        expect(done.status).toBe('done');
        const events = nodes.bank.jobs.events(JOB);
        expect(events.some((e) => e.kind === 'attempt_failed' && e.stage === 'train')).toBe(true);
        expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
        const resumed = events.filter((e) => e.kind === 'train_resumed').map((e) => e.detail);
        expect(resumed).toEqual(['epoch=2']);
        // Replica B wrote only the epochs after the resume point; replica A's are in the same store.
        const govEvents = nodes.government.jobs.events(JOB);
        expect(
          govEvents.filter((e) => e.kind === 'epoch_checkpoint' && e.attempt === 0).map((e) => e.detail),
        ).toEqual(['epoch=1', 'epoch=2']);
        expect(
          govEvents.filter((e) => e.kind === 'epoch_checkpoint' && e.attempt! > 0).map((e) => e.detail),
        ).toEqual(['epoch=3', 'epoch=4']);
        for (const p of ['bank', 'government'] as const) {
          const t = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
          expect(t.resumedFrom, p).toBe(2);
          expect(f64(t), p).toBe(f64(reference![p]));
          expect(t.epochs).toBe(reference![p].epochs);
        }
        // Both replicas' audit entries form one chain that verifies.
        expect(nodes.government.audit.verify().ok).toBe(true);
      } finally {
        await cluster.stopAll(nodes);
      }
    });

    it('the coordinator replica dies mid-job: bank replica B takes the job over when its lease expires, bit-identical', async () => {
      expect(reference).toBeDefined();
      copySecrets('b');
      let stopped: Promise<void> | undefined;
      let replicaA: PartyNode | undefined;
      const stopInEpoch3: ProgressCallback = (ev) => {
        if (stopped !== undefined || replicaA === undefined || ev.stage !== 'hetero-lr batch') return;
        if (replicaA.jobs.epochCheckpoints(JOB, 'train').length >= 2) stopped = cluster.stop(replicaA);
      };
      const nodes = await cluster.startAll({ run: 'ba' }, { bank: { progress: stopInEpoch3 } });
      replicaA = nodes.bank;
      try {
        await grantConsents(nodes.government);
        nodes.bank.submit(spec());
        const t0 = Date.now();
        while (stopped === undefined) {
          const j = replicaA.jobs.require(JOB);
          if (j.status !== 'running' && j.status !== 'submitted')
            throw new Error(`job ${j.status} before the stop`);
          if (Date.now() - t0 > 180_000) throw new Error('training never reached epoch 3');
          await new Promise((r) => setTimeout(r, 20));
        }
        await stopped;
        const stoppedAt = Date.now();
        // Replica B: its own empty state directory, the bank's database and schema; A's lease still runs.
        nodes.bank = await cluster.start('bank', { run: 'bb' });
        const done = await nodes.bank.runner.waitFor(JOB, 180_000);
        expect(done.error).toBeUndefined();
        expect(done.status).toBe('done');
        const events = nodes.bank.jobs.events(JOB);
        const takeover = events.find((e) => e.kind === 'lease_taken_over');
        expect(takeover).toBeDefined();
        // Not before A's lease (renewed every 0.25 s until it stopped) had expired: the configured
        // length, not the default.
        expect(takeover!.time - stoppedAt).toBeGreaterThan(BANK_LEASE_MS - 1_000);
        expect(takeover!.time - stoppedAt).toBeLessThan(JOB_LEASE_MS);
        expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
        expect(events.filter((e) => e.kind === 'train_resumed').map((e) => e.detail)).toEqual(['epoch=2']);
        for (const p of ['bank', 'government'] as const) {
          const t = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
          expect(t.resumedFrom, p).toBe(2);
          expect(f64(t), p).toBe(f64(reference![p]));
        }
        expect(nodes.bank.audit.verify().ok).toBe(true);
      } finally {
        await cluster.stopAll(nodes);
      }
    });
  },
);
