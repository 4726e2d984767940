/**
 * Cancel and retry of a job across three in-process party nodes (bank = guest and coordinator,
 * government = host, arbiter) over real gRPC + mutual TLS on loopback, scheme 'none' so that runs
 * compare bit for bit:
 *   - the uninterrupted reference run of the job;
 *   - the same job (same id, seed and party secrets) cancelled on the bank's node mid-epoch 2 of
 *     training: within seconds every node has the job `cancelled`, no stage attempt running and every
 *     attempt's local work returned (the protocol stopped, not just the bookkeeping), no train checkpoint
 *     and no further epoch checkpoint anywhere, and a `job_change` audit entry on each node (the bank's
 *     naming who asked, the others naming the bank); the bank's runner got an acknowledgement of the
 *     cancel notice from both other parties;
 *   - then retried: it completes with PSI not re-run, training resumed from the per-epoch checkpoints the
 *     cancel kept, a `job_change` retry entry on every node, and a model bit-identical (float64 bytes,
 *     tolerance 0) to the reference run on the bank and the government;
 *   - at the store level: cancel and retry refuse the states they do not apply to, a repeated cancel
 *     request is one audit entry, and a retry resumes a failed job at its recorded stage (a job that
 *     never started a stage starts from the beginning).
 * Every test runs twice (issue 18): on each node's embedded SQLite store, and with every node's store in
 * PostgreSQL (a throwaway loopback cluster, one schema per party and run; store-backends.ts: skipped with
 * the reason printed without PostgreSQL binaries, a failure under CI=true).
 */
import { join } from 'node:path';
import type { ProgressCallback } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  AuditLog,
  cancelJob,
  type EvaluateCheckpoint,
  JOB_CANCEL_STAGE,
  JobStore,
  type PartyNode,
  retryJob,
  type TrainCheckpoint,
  validateJobSpec,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, waitUntil } from '@fedscore/node/testing';
import { fedscore } from '@fedscore/wire';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { creditLineJob, modelHex as f64, grantTrainingConsents } from './replica-fixtures.ts';
import { describeStores } from './store-backends.ts';

const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];

describeStores('job cancel and retry across party nodes', (backend) => {
  let cluster: NodeCluster<Party>;
  let files: { bank: string; government: string };

  const JOB = 'credit-line-c';
  const spec = creditLineJob(JOB);

  beforeAll(async () => {
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
        ...(backend.name === 'postgres' && {
          store: { kind: 'postgres', url: backend.url(), schema: `${p}_${run}` },
        }),
      }),
    });
    const w = await writePopulation(
      { enterprises: 600, bankCustomers: 450, seed: 13 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** The three nodes of `run`, the government's progress callback `watch` (to act mid-training). */
  const startAll = async (run: string, watch?: ProgressCallback): Promise<Record<Party, PartyNode>> => {
    const nodes = await cluster.startAll({ run }, watch && { government: { progress: watch } });
    await grantTrainingConsents(nodes.government, files.government);
    return nodes;
  };
  const stopAll = (nodes: Record<Party, PartyNode>): Promise<void> => cluster.stopAll(nodes);

  let reference: Record<'bank' | 'government', TrainCheckpoint> | undefined;

  it('the uninterrupted reference run', async () => {
    const nodes = await startAll('ref');
    try {
      nodes.bank.submit(spec);
      const done = await nodes.bank.runner.waitFor(JOB, 120_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      reference = {
        bank: nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
        government: nodes.government.jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train'),
      };
      expect(reference.bank.epochs).toBe(4);
      // Publish stored the guest's held-out curves with its model: groups of >= the floor of rows that
      // add up to the test set; the host's registry entry has none (the labels are the guest's).
      const ev = nodes.bank.jobs.requireCheckpoint<EvaluateCheckpoint>(JOB, 'evaluate');
      const curves = nodes.bank.models.get(`${JOB}@1`).evaluation;
      expect(curves?.rows).toBe(ev.testRows);
      expect(curves!.groups.length).toBeGreaterThanOrEqual(2);
      for (const g of curves!.groups) expect(g.rows).toBeGreaterThanOrEqual(Math.max(50, curves!.rows / 100));
      expect(nodes.government.models.get(`${JOB}@1`).evaluation).toBeUndefined();
    } finally {
      await stopAll(nodes);
    }
  }, 150_000);

  it('cancelled mid-training stops every party; retried, it completes bit-identical to the reference', async () => {
    expect(reference).toBeDefined();
    // The reference run's party secrets (the mask seeds derive from them), as one deployment would have.
    cluster.copyPartySecrets('ref', 'cancel', ['bank', 'government']);
    // The bank's operator cancels at the government's first batch after its epoch-1 checkpoint.
    let nodes: Record<Party, PartyNode> | undefined;
    let asked = false;
    let cancelledAt: { epochEvents: number } | undefined;
    const cancelInEpoch2: ProgressCallback = (ev) => {
      if (asked || nodes === undefined || ev.stage !== 'hetero-lr host batch') return;
      if (nodes.government.jobs.epochCheckpoints(JOB, 'train').length < 1) return;
      asked = true;
      const n = nodes;
      setImmediate(() => {
        n.bank.cancel(JOB, 'console:anna');
        cancelledAt = {
          epochEvents: n.government.jobs.events(JOB).filter((e) => e.kind === 'epoch_checkpoint').length,
        };
      });
    };
    nodes = await startAll('cancel', cancelInEpoch2);
    try {
      nodes.bank.submit(spec);
      await waitUntil('the bank cancelled the job', () => cancelledAt !== undefined, 120_000);
      // The coordinator marked it at once; every other party within the notice's round trip.
      expect(nodes.bank.jobs.require(JOB).status).toBe('cancelled');
      await waitUntil('every node has the job cancelled', () =>
        PARTIES.every((p) => nodes![p].jobs.require(JOB).status === 'cancelled'),
      );
      // No attempt running, and every attempt's own work has returned (the protocol stopped).
      await waitUntil('every stage attempt returned', () =>
        PARTIES.every((p) => nodes![p].runner.unsettledStages(JOB) === 0),
      );
      const stoppedAt = nodes.government.jobs.events(JOB).filter((e) => e.kind === 'epoch_checkpoint').length;
      await new Promise((r) => setTimeout(r, 1500));
      for (const p of PARTIES) {
        const n = nodes[p];
        expect(n.runner.runningStages(), p).toBe(0);
        expect(n.runner.unsettledStages(), p).toBe(0);
        expect(n.jobs.require(JOB).status, p).toBe('cancelled');
        expect(n.jobs.checkpoint(JOB, 'train'), p).toBeUndefined();
        // PSI (the data parties' stage) completed before the cancel and stays.
        if (p !== 'arbiter') expect(n.jobs.checkpoint(JOB, 'psi'), p).toBeDefined();
        // The kept per-epoch checkpoints: at least epoch 1 (the retry resumes from them).
        expect(n.jobs.epochCheckpoints(JOB, 'train').length, p).toBeGreaterThanOrEqual(1);
        const changes = [...n.audit.entries({ job: JOB, kind: 'job_change' })];
        expect(
          changes.map((e) => [e.actor, e.details?.['action'], e.details?.['by']]),
          p,
        ).toEqual([['bank', 'cancel', p === 'bank' ? 'console:anna' : undefined]]);
        expect(n.audit.verify().ok, p).toBe(true);
      }
      // No epoch written after the cancel (at most the one being committed as it arrived).
      expect(stoppedAt - cancelledAt!.epochEvents).toBeLessThanOrEqual(1);
      expect(nodes.government.jobs.events(JOB).filter((e) => e.kind === 'epoch_checkpoint').length).toBe(
        stoppedAt,
      );
      // The cancel notice was acknowledged by both other parties.
      await waitUntil(
        'the cancel notice is acknowledged',
        () => nodes!.bank.jobs.events(JOB).filter((e) => e.kind === 'cancel_notified').length === 2,
      );
      expect(
        nodes.bank.jobs
          .events(JOB)
          .filter((e) => e.kind === 'cancel_notified')
          .map((e) => e.detail)
          .sort(),
      ).toEqual(['arbiter', 'government']);
      // A cancelled job is not cancelled twice, and a follower does not retry it.
      expect(() => nodes!.bank.cancel(JOB, 'console:anna')).toThrow(/cancelled/);
      expect(() => nodes!.government.retry(JOB, 'cli:ops')).toThrow(/coordinated by 'bank'/);

      nodes.bank.retry(JOB, 'cli:ops');
      const done = await nodes.bank.runner.waitFor(JOB, 120_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = nodes.bank.jobs.events(JOB);
      expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
      expect(events.filter((e) => e.kind === 'train_resumed').length).toBe(1);
      for (const p of PARTIES) {
        await waitUntil(`${p} has the job done`, () => nodes![p].jobs.require(JOB).status === 'done');
        const t = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
        expect(t.resumedFrom, p).toBeGreaterThanOrEqual(1);
        const changes = [...nodes[p].audit.entries({ job: JOB, kind: 'job_change' })];
        expect(
          changes.map((e) => [e.actor, e.details?.['action'], e.details?.['by']]),
          p,
        ).toEqual([
          ['bank', 'cancel', p === 'bank' ? 'console:anna' : undefined],
          ['bank', 'retry', p === 'bank' ? 'cli:ops' : undefined],
        ]);
      }
      // A cancel notice from a party that is not the coordinator is refused, and changes nothing.
      await expect(
        nodes.government.transport.control('arbiter', {
          stage: {
            jobId: JOB,
            stage: JOB_CANCEL_STAGE,
            attempt: 0,
            action: fedscore.node.StageCommand.Action.ABORT,
          },
        }),
      ).rejects.toMatchObject({ code: 'peer_identity' });
      expect(nodes.arbiter.jobs.require(JOB).status).toBe('done');
      for (const p of ['bank', 'government'] as const) {
        const t = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(JOB, 'train');
        expect(t.model!.featureNames).toEqual(reference![p].model!.featureNames);
        expect(f64(t), p).toBe(f64(reference![p]));
        expect(t.epochs).toBe(reference![p].epochs);
      }
    } finally {
      await stopAll(nodes);
    }
  }, 300_000);

  it("a cancel or retry is refused in a state it does not apply to, and written to the store by another process is acted on at the runner's poll", () => {
    const store = backend.newStore();
    try {
      const jobs = new JobStore(store);
      const audit = new AuditLog(store);
      const s = validateJobSpec({ ...spec, id: 'job-x' });
      jobs.put({ ...s, id: 'job-x' }, 'bank');
      expect(() => retryJob(jobs, audit, 'bank', 'job-x', 'cli:ops')).toThrow(/only a failed or cancelled/);
      expect(() => cancelJob(jobs, audit, 'bank', 'job-x', 'bad actor!')).toThrow(/short name/);
      expect(jobs.require('job-x').cancelRequestedBy).toBeUndefined();
      const j = cancelJob(jobs, audit, 'bank', 'job-x', 'cli:ops');
      expect(j.cancelRequestedBy).toBe('cli:ops');
      // Asked twice: one audit entry.
      cancelJob(jobs, audit, 'bank', 'job-x', 'cli:ops');
      expect([...audit.entries({ kind: 'job_change' })].length).toBe(1);
      expect(jobs.markCancelled('job-x')).toBe(true);
      expect(jobs.markCancelled('job-x')).toBe(false);
      // Retried before any stage: from the start.
      expect(retryJob(jobs, audit, 'bank', 'job-x', 'cli:ops').status).toBe('submitted');
      jobs.setAttempt('job-x', 'train', 3);
      jobs.finish('job-x', { code: 'io', message: 'peer down' });
      const r = retryJob(jobs, audit, 'bank', 'job-x', 'cli:ops');
      expect([r.status, r.stage, r.attempt, r.error]).toEqual(['running', 'train', 3, undefined]);
      expect([...audit.entries({ kind: 'job_change' })].map((e) => e.details?.['action'])).toEqual([
        'cancel',
        'retry',
        'retry',
      ]);
      expect(audit.verify().ok).toBe(true);
    } finally {
      store.close();
    }
  });
});
