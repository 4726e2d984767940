/**
 * Jobs across three in-process party nodes (bank = guest and coordinator, government = host, arbiter)
 * talking over real gRPC + mutual TLS on loopback, each with its own state directory:
 *   - a whole job (PSI -> hetero-LR under CKKS -> evaluate -> publish; binning is exercised by the
 *     multi-process integration test) finishes with checkpoints
 *     on every node, the government's part of the model only at the government, none at the arbiter, a
 *     test AUC above 0.6 on the generated population (hetero-LR's accuracy against centralized
 *     references is tested in packages/vfl), and a verifying audit chain with one data_use entry per
 *     stage that uses the government's data, on both the bank and the government;
 *   - the same job with the government node stopped during training and a new node started on the same
 *     state directory resumes at the train stage (from the PSI checkpoint) and ends with the same model: every weight within 1e-4
 *     of the uninterrupted run (the difference is CKKS noise and masking only; schedule, split and
 *     alignment are seeded).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  createDevCa,
  type EvaluateCheckpoint,
  issuePartyCert,
  type JobSpecInput,
  type NodeConfig,
  PartyNode,
  type TrainCheckpoint,
  validateNodeConfig,
} from '@fedscore/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PARTIES = ['bank', 'government', 'arbiter'] as const;
type Party = (typeof PARTIES)[number];

async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((r) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

describe('jobs across party nodes', () => {
  const root = mkdtempSync(join(tmpdir(), 'fedscore-jobs-'));
  const ca = createDevCa();
  const tls = Object.fromEntries(
    PARTIES.map((p) => [p, { ca: ca.cert, ...issuePartyCert({ ca, party: p }) }]),
  ) as Record<Party, { ca: string; cert: string; key: string }>;
  let ports: Record<Party, number>;
  let files: { bank: string; government: string };

  const config = (p: Party, run: string): NodeConfig =>
    validateNodeConfig({
      party: p,
      listen: `127.0.0.1:${ports[p]}`,
      stateDir: join(root, run, p),
      tls: { ca: 'unused', cert: 'unused', key: 'unused' },
      peers: Object.fromEntries(
        PARTIES.filter((q) => q !== p).map((q) => [q, { address: `127.0.0.1:${ports[q]}` }]),
      ),
      data:
        p === 'bank'
          ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
          : p === 'government'
            ? { credit: { path: files.government, id: ID_COLUMN } }
            : {},
      limits: { peerDownSeconds: 60, retries: 2, retryBaseMs: 50 },
    });

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
    const p = await freePorts(3);
    ports = { bank: p[0]!, government: p[1]!, arbiter: p[2]! };
    const w = await writePopulation({ enterprises: 1500, bankCustomers: 900, seed: 11 }, join(root, 'data'));
    files = { bank: w.bank.path, government: w.government.path };
  });
  afterAll(() => {});

  const startAll = async (run: string): Promise<Record<Party, PartyNode>> => {
    const nodes = await Promise.all(
      PARTIES.map((p) => PartyNode.start({ config: config(p, run), tls: tls[p] })),
    );
    // The government node requires consent (the default): every enterprise authorizes the bank.
    const gov = nodes[1]!;
    if (gov.consents.list().length === 0) {
      const t = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
      gov.consents.grantAll(
        t.ids.map((enterprise) => ({
          enterprise,
          grantee: 'bank',
          purpose: 'training' as const,
          scope: ['*'],
          grantedAt: Date.now() - 60_000,
          expiresAt: Date.now() + 86_400_000,
        })),
      );
    }
    return { bank: nodes[0]!, government: nodes[1]!, arbiter: nodes[2]! };
  };
  const stopAll = async (nodes: Record<Party, PartyNode>): Promise<void> => {
    await Promise.all(Object.values(nodes).map((n) => n.stop()));
  };

  let reference: TrainCheckpoint | undefined;

  it('runs a whole job and records checkpoints, audit entries and models', async () => {
    const nodes = await startAll('plain');
    try {
      nodes.bank.submit(spec('credit-line-1'));
      const done = await nodes.bank.runner.waitFor('credit-line-1', 170_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const ev = nodes.bank.jobs.requireCheckpoint<EvaluateCheckpoint>('credit-line-1', 'evaluate');
      expect(ev.testRows).toBeGreaterThan(100);
      expect(ev.auc).toBeGreaterThan(0.6);
      reference = nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train');
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
    } finally {
      await stopAll(nodes);
    }
  });

  it('resumes after the government node is killed during training, with the same model', async () => {
    expect(reference).toBeDefined();
    const nodes = await startAll('crash');
    try {
      nodes.bank.submit(spec('credit-line-1'));
      // Wait until training runs, then stop the government node and start a new one on its state.
      for (;;) {
        const j = nodes.bank.jobs.require('credit-line-1');
        if (j.stage === 'train') break;
        if (j.status === 'failed') throw new Error(`job failed early: ${j.error?.message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
      await nodes.government.stop();
      nodes.government = await PartyNode.start({
        config: config('government', 'crash'),
        tls: tls.government,
      });
      const done = await nodes.bank.runner.waitFor('credit-line-1', 170_000);
      expect(done.error).toBeUndefined();
      expect(done.status).toBe('done');
      const events = nodes.bank.jobs.events('credit-line-1');
      expect(events.some((e) => e.kind === 'attempt_failed' && e.stage === 'train')).toBe(true);
      // PSI ran once: the resume started from its checkpoint.
      expect(events.filter((e) => e.kind === 'stage_done' && e.stage === 'psi').length).toBe(1);
      const resumed = nodes.bank.jobs.requireCheckpoint<TrainCheckpoint>('credit-line-1', 'train');
      expect(resumed.model!.featureNames).toEqual(reference!.model!.featureNames);
      resumed.model!.weights.forEach((w, i) => {
        expect(Math.abs(w - reference!.model!.weights[i]!)).toBeLessThan(1e-4);
      });
      expect(Math.abs(resumed.model!.intercept - reference!.model!.intercept)).toBeLessThan(1e-4);
    } finally {
      await stopAll(nodes);
    }
  });
});
