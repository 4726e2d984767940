/**
 * Jobs across three in-process party nodes (bank = guest and coordinator, government = host, arbiter)
 * talking over real gRPC + mutual TLS on loopback, each with its own state directory:
 *   - a whole job (PSI -> hetero-LR under CKKS -> evaluate -> publish; binning is exercised by the
 *     multi-process integration test) finishes with checkpoints
 *     on every node, the government's part of the model only at the government, none at the arbiter, a
 *     test AUC above 0.6 on the generated population (hetero-LR's accuracy against centralized
 *     references is tested in packages/vfl), a verifying audit chain with one data_use entry per
 *     stage that uses the government's data, on both the bank and the government, and one per-epoch
 *     training checkpoint per epoch on every party (the arbiter too), dropped when the job ends;
 *   - issue 8, scheme 'none': the government node is stopped mid-epoch 3 (after its epoch-2 checkpoint),
 *     its latest checkpoint is corrupted on disk, and a new node is started on its state directory. The
 *     corrupt checkpoint is dropped, the train stage resumes from epoch 1 (the latest epoch every party
 *     still holds: a `train_resumed` event and `resumedFrom` on every party), PSI is not re-run, and the
 *     model is bit-identical (float64 bytes, tolerance 0) to an uninterrupted run of the same job (same
 *     id, seed and party secrets, hence the same mask keys). CKKS resume (within the release flooding) is checked
 *     across OS processes in integration.test.ts.
 * Every test runs twice (issue 18): on each node's embedded SQLite store, and with every node's store in
 * PostgreSQL (a throwaway loopback cluster, one schema per party and run; store-backends.ts: skipped with
 * the reason printed without PostgreSQL binaries, a failure under CI=true). The PostgreSQL run adds ~15 s.
 */
import { join } from 'node:path';
import type { ProgressCallback } from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type EvaluateCheckpoint,
  type JobSpecInput,
  JobStore,
  type PartyNode,
  type TrainCheckpoint,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { creditLineJob, modelHex as f64, grantTrainingConsents } from './replica-fixtures.ts';
import { describeStores } from './store-backends.ts';

const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];

describeStores('jobs across party nodes', (backend) => {
  let cluster: NodeCluster<Party>;
  let files: { bank: string; government: string };
  // A smaller population for the scheme-'none' resume runs (PSI dominates their time).
  let small: { bank: string; government: string };
  const dataOf = (run: string) => (run.startsWith('none-') ? small : files);

  const spec = (id: string): JobSpecInput & { id: string } => ({
    id,
    guest: 'bank',
    hosts: ['government'],
    arbiter: 'arbiter',
    data: { bank: 'loans', government: 'credit' },
    seed: 7,
    // Binning runs in the multi-process integration test; here the resume starts from the PSI checkpoint.
    binning: { enabled: false },
    train: { scheme: 'ckks', maxEpochs: 2, batchSize: 256 },
  });

  beforeAll(async () => {
    cluster = await NodeCluster.create({
      parties: PARTIES,
      config: (p, run): NodeConfigOverrides => ({
        data:
          p === 'bank'
            ? { loans: { path: dataOf(run).bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
            : p === 'government'
              ? { credit: { path: dataOf(run).government, id: ID_COLUMN } }
              : {},
        // The scheme-'none' runs: every node opts in to the plaintext scheme (issue 12: the job's flag
        // alone is not enough).
        ...(run.startsWith('none-') && { accept: { plaintextScheme: true } }),
        ...(backend.name === 'postgres' && {
          store: { kind: 'postgres', url: backend.url(), schema: `${p}_${run}`.replaceAll('-', '_') },
        }),
      }),
    });
    const w = await writePopulation(
      { enterprises: 1500, bankCustomers: 900, seed: 11 },
      join(cluster.dir, 'data'),
    );
    files = { bank: w.bank.path, government: w.government.path };
    const ws = await writePopulation(
      { enterprises: 500, bankCustomers: 320, seed: 13 },
      join(cluster.dir, 'small'),
    );
    small = { bank: ws.bank.path, government: ws.government.path };
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** The three nodes of `run`, the government's progress callback `watch` (to act mid-training). */
  const startAll = async (run: string, watch?: ProgressCallback): Promise<Record<Party, PartyNode>> => {
    const nodes = await cluster.startAll({ run }, watch && { government: { progress: watch } });
    // The government node requires consent (the default): every enterprise authorizes the bank.
    await grantTrainingConsents(nodes.government, dataOf(run).government);
    return nodes;
  };
  const stopAll = (nodes: Record<Party, PartyNode>): Promise<void> => cluster.stopAll(nodes);

  it('runs a whole job and records checkpoints, audit entries and models', async () => {
    const nodes = await startAll('plain');
    try {
      for (const p of PARTIES) expect(nodes[p].store.dialect, p).toBe(backend.name);
      nodes.bank.submit(spec('credit-line-1'));
      const done = await nodes.bank.runner.waitFor('credit-line-1', 170_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const ev = nodes.bank.jobs.requireCheckpoint<EvaluateCheckpoint>('credit-line-1', 'evaluate');
      expect(ev.testRows).toBeGreaterThan(100);
      expect(ev.auc).toBeGreaterThan(0.6);
      expect(nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train').epochs).toBe(2);
      const hostTrain = nodes.government.jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train');
      expect(hostTrain.model?.weights.length).toBeGreaterThan(0);
      // The government holds only its own part of the model; the arbiter holds none.
      expect(
        nodes.arbiter.jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train').model,
      ).toBeUndefined();
      // Both data parties audited the bank's use of the government's data (psi, train, evaluate); the
      // chains verify.
      for (const p of ['bank', 'government'] as const) {
        const uses = [...nodes[p].audit.entries({ job: 'credit-line-1', kind: 'data_use' })];
        expect(uses.map((u) => [u.actor, u.dataOwner, u.details?.['stage']])).toEqual([
          ['bank', 'government', 'psi'],
          ['bank', 'government', 'train'],
          ['bank', 'government', 'evaluate'],
        ]);
        expect(nodes[p].audit.verify().ok).toBe(true);
      }
      // Publish registered the model on the data parties.
      expect(nodes.government.models.get('credit-line-1@1').modelId).toBe('credit-line-1');
      // Every party (the arbiter too) checkpointed every epoch; the job's end dropped them.
      for (const p of PARTIES) {
        const epochs = nodes[p].jobs.events('credit-line-1').filter((e) => e.kind === 'epoch_checkpoint');
        expect(
          epochs.map((e) => e.detail),
          p,
        ).toEqual(['epoch=1', 'epoch=2']);
        expect(nodes[p].jobs.epochCheckpoints('credit-line-1', 'train')).toEqual([]);
        expect(nodes[p].jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train').resumedFrom).toBe(
          0,
        );
      }
    } finally {
      await stopAll(nodes);
    }
  });

  // Issue 8 in scheme 'none': the uninterrupted run, then the same job killed mid-training and resumed.
  const exact = (id: string) => creditLineJob(id);
  const EXACT = 'credit-line-2';
  let exactRef: Record<'bank' | 'government', TrainCheckpoint> | undefined;

  it("scheme 'none': the uninterrupted reference run", async () => {
    const nodes = await startAll('none-ref');
    try {
      nodes.bank.submit(exact(EXACT));
      const done = await nodes.bank.runner.waitFor(EXACT, 120_000);
      expect(done.error).toBeUndefined();
      exactRef = {
        bank: nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>(EXACT, 'train'),
        government: nodes.government.jobs.requireCheckpoint<TrainCheckpoint>(EXACT, 'train'),
      };
      expect(exactRef.bank.epochs).toBe(4);
      expect(exactRef.bank.resumedFrom).toBe(0);
    } finally {
      await stopAll(nodes);
    }
  });

  it("scheme 'none': killed mid-epoch 3 with a corrupt latest checkpoint, resumed from epoch 1, bit-identical", async () => {
    expect(exactRef).toBeDefined();
    // The same job on fresh state directories with the reference run's party secrets (the mask seeds
    // derive from them), as the restarted node of one deployment would have.
    cluster.copyPartySecrets('none-ref', 'none-crash', ['bank', 'government']);
    // Stop the government node at its first batch after it wrote its epoch-2 checkpoint (mid-epoch 3).
    let killed: Promise<void> | undefined;
    let government: PartyNode | undefined;
    const killInEpoch3: ProgressCallback = (ev) => {
      if (killed !== undefined || government === undefined || ev.stage !== 'hetero-lr host batch') return;
      if (government.jobs.epochCheckpoints(EXACT, 'train').length >= 2) killed = cluster.stop(government);
    };
    const nodes = await startAll('none-crash', killInEpoch3);
    government = nodes.government;
    try {
      nodes.bank.submit(exact(EXACT));
      for (let t0 = Date.now(); killed === undefined; ) {
        const j = nodes.bank.jobs.require(EXACT);
        if (j.status !== 'running' && j.status !== 'submitted')
          throw new Error(`job ${j.status} before the kill`);
        if (Date.now() - t0 > 120_000) throw new Error('training never reached epoch 3');
        await new Promise((r) => setTimeout(r, 20));
      }
      await killed;
      // Corrupt the government's latest checkpoint (one bit of its body) while the node is down.
      const store = cluster.openStore('government', { run: 'none-crash' });
      const jobs = new JobStore(store);
      const held = jobs.epochCheckpoints(EXACT, 'train');
      expect(held.map((c) => c.epoch)).toEqual([1, 2]);
      const torn = Uint8Array.from(held[1]!.bytes);
      torn[torn.length - 3]! ^= 0x01;
      store.run('UPDATE job_epoch_checkpoints SET bytes = ? WHERE job_id = ? AND epoch = 2', torn, EXACT);
      store.close();
      nodes.government = await cluster.start('government', { run: 'none-crash' });
      const done = await nodes.bank.runner.waitFor(EXACT, 120_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');

      const events = nodes.bank.jobs.events(EXACT);
      expect(events.some((e) => e.kind === 'attempt_failed' && e.stage === 'train')).toBe(true);
      expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
      // The corrupt checkpoint was dropped; every party resumed from epoch 1, the latest all still held.
      expect(
        nodes.government.jobs
          .events(EXACT)
          .filter((e) => e.kind === 'epoch_checkpoint_dropped')
          .map((e) => e.detail),
      ).toEqual(['epoch=2 field=sha256']);
      expect(events.filter((e) => e.kind === 'train_resumed').map((e) => e.detail)).toEqual(['epoch=1']);
      for (const p of PARTIES) {
        expect(nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(EXACT, 'train').resumedFrom, p).toBe(1);
        expect(nodes[p].jobs.epochCheckpoints(EXACT, 'train')).toEqual([]);
      }
      // The resumed attempt wrote epochs 2..4 again.
      const resumedEpochs = nodes.government.jobs
        .events(EXACT)
        .filter((e) => e.kind === 'epoch_checkpoint' && e.attempt! > 0)
        .map((e) => e.detail);
      expect(resumedEpochs).toEqual(['epoch=2', 'epoch=3', 'epoch=4']);
      // Bit-identical to the uninterrupted run: every party's weights and intercept as float64 bytes.
      for (const p of ['bank', 'government'] as const) {
        const t = nodes[p].jobs.requireCheckpoint<TrainCheckpoint>(EXACT, 'train');
        expect(t.model!.featureNames).toEqual(exactRef![p].model!.featureNames);
        expect(f64(t), p).toBe(f64(exactRef![p]));
        expect(t.keptEpoch).toBe(exactRef![p].keptEpoch);
        expect(t.epochs).toBe(exactRef![p].epochs);
      }
    } finally {
      await stopAll(nodes);
    }
  });
});
