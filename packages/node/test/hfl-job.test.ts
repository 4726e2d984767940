/**
 * An 'hfl' job across four in-process party nodes over real gRPC + mutual TLS on loopback: the platform
 * (guest: coordinator, holds the common test set) and three banks (hosts: each its own rows of the
 * generated non-IID horizontal banks, `splitHorizontal`), each node with its own state directory.
 *   - FedAvg LR with secure aggregation finishes; the coordinator registered the TensorFlow.js
 *     LayersModel in its model registry; the test AUC equals the in-process run of the same pipeline
 *     stages (`runHflInProcess`, what `fedscore train fedavg` runs) on the same rows and seed, within
 *     1e-9 (the same float32 training and the same exact sum: only the transport differs); each bank
 *     audited its rows' use (data_use, stage train, owner = the bank, user = the platform) with a
 *     verifying chain; the registered model, loaded from the registry's artifact, scores the test set
 *     through the scoring package with the job's AUC.
 *   - A bank whose customers gave no consent refuses: the job fails with the typed `consent` error, and
 *     the refusal is audited on that bank and on the platform.
 * Every test runs twice (issue 18): on each node's embedded SQLite store, and with every node's store in
 * PostgreSQL (a throwaway loopback cluster, one schema per party and run; store-backends.ts: skipped with
 * the reason printed without PostgreSQL binaries, a failure under CI=true).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { auc } from '@fedscore/core';
import { readCsvFile, writeCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, generatePopulation, ID_COLUMN, splitHorizontal } from '@fedscore/datasets';
import type { JobSpecInput, PartyNode } from '@fedscore/node';
import { NodeCluster, trainingConsents } from '@fedscore/node/testing';
import { type HflEvaluateCheckpoint, hflProbabilityModel, runHflInProcess } from '@fedscore/pipeline';
import { scoreWithProbabilityModel } from '@fedscore/scoring';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const BANKS = ['bank-1', 'bank-2', 'bank-3'] as const;
const PARTIES = ['platform', ...BANKS] as const;
type Party = (typeof PARTIES)[number];

describeStores('hfl jobs across a platform node and three bank nodes', (backend) => {
  let cluster: NodeCluster<Party>;
  const files = {} as Record<Party, string>;

  const spec = (id: string): JobSpecInput & { id: string } => ({
    id,
    kind: 'hfl',
    guest: 'platform',
    hosts: [...BANKS],
    data: { platform: 'test', 'bank-1': 'loans', 'bank-2': 'loans', 'bank-3': 'loans' },
    seed: 9,
    model: 'sme-hfl',
    hfl: { model: 'lr', rounds: 6, secureAgg: true, learningRate: 0.3, batchSize: 32 },
  });

  beforeAll(async () => {
    cluster = await NodeCluster.create({
      parties: PARTIES,
      config: (p, run) => ({
        data: {
          [p === 'platform' ? 'test' : 'loans']: {
            path: files[p],
            id: ID_COLUMN,
            label: DEFAULT_LABEL_COLUMN,
          },
        },
        limits: { peerDownSeconds: 30, retries: 2, retryBaseMs: 50, maxAttempts: 2 },
        ...(backend.name === 'postgres' && {
          store: { kind: 'postgres', url: backend.url(), schema: `${p}_${run}`.replaceAll('-', '_') },
        }),
      }),
    });
    const split = splitHorizontal(
      generatePopulation({ enterprises: 5000, overlap: 1, defaultRate: 0.1, seed: 21 }),
      {
        banks: 3,
        bankRows: 400,
        seed: 22,
      },
    );
    const dir = join(cluster.dir, 'data');
    mkdirSync(dir, { recursive: true });
    for (const [i, b] of split.banks.entries()) {
      files[BANKS[i]!] = join(dir, `${b.name}.csv`);
      await writeCsvFile(files[BANKS[i]!], b.table);
    }
    files.platform = join(dir, 'test.csv');
    await writeCsvFile(files.platform, split.test);
  });
  afterAll(async () => {
    await cluster.close();
  });

  /** Start the four nodes; each bank in `consenting` grants the platform consent for all its rows. */
  const startAll = async (run: string, consenting: readonly Party[]): Promise<Record<Party, PartyNode>> => {
    const byParty = await cluster.startAll({ run });
    for (const b of consenting) {
      const t = await readCsvFile(files[b], { idColumn: ID_COLUMN, impute: 'keep' });
      byParty[b].consents.grantAll(trainingConsents(t.ids, 'platform'));
    }
    return byParty;
  };
  const stopAll = (n: Record<Party, PartyNode>): Promise<void> => cluster.stopAll(n);

  it('trains with secure aggregation, registers the LayersModel, matches the in-process run', async () => {
    const n = await startAll('ok', BANKS);
    try {
      for (const p of PARTIES) expect(n[p].store.dialect, p).toBe(backend.name);
      n.platform.submit(spec('hfl-1'));
      const done = await n.platform.runner.waitFor('hfl-1', 240_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const ev = n.platform.jobs.requireCheckpoint<HflEvaluateCheckpoint>('hfl-1', 'evaluate');
      const m = n.platform.models.get('sme-hfl@1');
      expect(m.algorithm).toBe('hfl-fedavg-lr');
      expect(m.modelId).toBe('hfl-1');
      expect(m.parameters['format']).toBe('tfjs-layers-model');
      expect(m.metrics['auc']).toBe(ev.auc);
      // The same stages in one process on the same rows and seed (the CLI's path).
      const read = (f: string) =>
        readCsvFile(f, { file: f, idColumn: ID_COLUMN, labelColumn: DEFAULT_LABEL_COLUMN, impute: 'keep' });
      const local = await runHflInProcess({
        coordinator: 'platform',
        test: await read(files.platform),
        banks: await Promise.all(BANKS.map(async (b) => ({ id: b, table: await read(files[b]) }))),
        seed: 9,
        plan: {
          model: 'lr',
          rounds: 6,
          localEpochs: 1,
          learningRate: 0.3,
          batchSize: 32,
          proximalMu: 0,
          secureAgg: true,
        },
      });
      expect(Math.abs(local.evaluate.auc - ev.auc)).toBeLessThan(1e-9);
      expect(ev.auc).toBeGreaterThan(0.6);
      // The registered LayersModel scores through the scoring package: its AUC on the test set is the
      // job's (float32 predictions; the same ranking).
      const registered = await hflProbabilityModel(n.platform.models.artifacts('sme-hfl@1').artifact!);
      const testTable = await read(files.platform);
      const scored = await scoreWithProbabilityModel(registered, testTable);
      expect(Math.abs(auc(testTable.label!, scored.pd) - ev.auc)).toBeLessThan(1e-9);
      // Each bank audited its own rows' use by the platform; the chains verify.
      for (const b of BANKS) {
        const uses = [...n[b].audit.entries({ job: 'hfl-1', kind: 'data_use' })];
        expect(uses.map((u) => [u.actor, u.dataOwner, u.details?.['stage']])).toEqual([
          ['platform', b, 'train'],
        ]);
        expect(uses[0]!.enterpriseCount).toBe(400);
        expect(n[b].audit.verify().ok).toBe(true);
        // Every bank's node finished the job and registered the published model too.
        expect(n[b].jobs.require('hfl-1').status).toBe('done');
        expect(n[b].models.get('sme-hfl@1').metrics['auc']).toBe(ev.auc);
      }
      // The registration is audited (model_change) on the platform and on each bank.
      for (const p of PARTIES) {
        expect([...n[p].audit.entries({ kind: 'model_change' })].length, p).toBeGreaterThan(0);
      }
      expect(n.platform.audit.verify().ok).toBe(true);
    } finally {
      await stopAll(n);
    }
  }, 300_000);

  it('a bank without consent refuses: typed consent error, audited on the bank and the platform', async () => {
    const n = await startAll('no-consent', ['bank-1', 'bank-2']);
    try {
      n.platform.submit(spec('hfl-2'));
      const done = await n.platform.runner.waitFor('hfl-2', 240_000);
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('consent');
      for (const p of ['bank-3', 'platform'] as const) {
        const refusals = [...n[p].audit.entries({ job: 'hfl-2', kind: 'job_refused' })];
        expect(
          refusals.map((r) => [r.actor, r.dataOwner, r.details?.['refusedBy'], r.details?.['code']]),
          p,
        ).toContainEqual(['platform', 'bank-3', 'bank-3', 'consent']);
      }
      expect([...n['bank-3'].audit.entries({ job: 'hfl-2', kind: 'data_use' })]).toEqual([]);
    } finally {
      await stopAll(n);
    }
  }, 300_000);
});
