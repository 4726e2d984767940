/**
 * A job whose host node has `queue: pgboss` runs its WOE binning's encrypted bin sums on the queue
 * (issue 18): two in-process party nodes (bank = guest, government = host) over gRPC + mutual TLS, CKKS
 * binning (the default), the government's bin sums as `binSums` tasks evaluated by one `fedscore worker`
 * process holding the bank's public context only. The train stage's products stay on the host's threads
 * (`minColumns` above the column count), so every task in the queue is a bin-sum task.
 *
 * The binning is exact after decoding (counts are rounded out of the flooded sums), so the guest's
 * feature selection -- every feature's IV, what was kept and dropped -- equals the `queue: none` run's
 * exactly, as do both parties' selected columns.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import type { JobSpecInput } from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, trainingConsents } from '@fedscore/node/testing';
import type { BinningCheckpoint } from '@fedscore/pipeline';
import { type PgCluster, postgresUnavailable, startPgCluster, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue binning job test: ${unavailable}`);

const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];
const QUEUE = 'he-bins';

describe.skipIf(unavailable !== undefined)(
  'a job with queue: pgboss: the binning host sums on the queue',
  () => {
    let cluster: NodeCluster<Party>;
    let db: PgCluster;
    let files: { bank: string; government: string };
    const children: ChildProcess[] = [];
    const JOB = 'queued-woe';
    const spec: JobSpecInput & { id: string } = {
      id: JOB,
      guest: 'bank',
      hosts: ['government'],
      data: { bank: 'loans', government: 'credit' },
      seed: 5,
      binning: { enabled: true, scheme: 'ckks' },
      train: { scheme: 'ckks', maxEpochs: 1, batchSize: 128 },
    };

    beforeAll(async () => {
      db = await startPgCluster();
      cluster = await NodeCluster.create({
        parties: PARTIES,
        config: (p, run): NodeConfigOverrides => ({
          data:
            p === 'bank'
              ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
              : { credit: { path: files.government, id: ID_COLUMN } },
          ...(p === 'government' &&
            run !== 'none' && {
              queue: { kind: 'pgboss', url: db.url, name: QUEUE, minColumns: 100_000, expireSeconds: 60 },
            }),
        }),
      });
      const w = await writePopulation(
        { enterprises: 600, bankCustomers: 500, seed: 19 },
        join(cluster.dir, 'data'),
      );
      files = { bank: w.bank.path, government: w.government.path };
    }, 120_000);

    afterAll(async () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await cluster?.close();
      db?.stop();
    });

    const run = async (name: string): Promise<Record<Party, BinningCheckpoint>> => {
      if (name !== 'none') cluster.copyPartySecrets('none', name, ['bank', 'government']);
      const nodes = await cluster.startAll({ run: name });
      try {
        if (nodes.government.consents.list().length === 0) {
          const t = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
          nodes.government.consents.grantAll(trainingConsents(t.ids, 'bank'));
        }
        nodes.bank.submit(spec);
        const done = await nodes.bank.runner.waitFor(JOB, 400_000);
        expect(done.error).toBeUndefined();
        expect(done.status).toBe('done');
        return {
          bank: nodes.bank.jobs.requireCheckpoint<BinningCheckpoint>(JOB, 'binning'),
          government: nodes.government.jobs.requireCheckpoint<BinningCheckpoint>(JOB, 'binning'),
        };
      } finally {
        await cluster.stopAll(nodes);
      }
    };

    it('the feature selection equals the queue: none run exactly; the sums were queue tasks', async () => {
      const reference = await run('none');
      await startWorker(db.url, QUEUE, children);
      const queued = await run('queued');
      expect(queued.bank.lineage).toBeDefined();
      expect(queued.bank.lineage).toEqual(reference.bank.lineage);
      expect(queued.bank.selected).toEqual(reference.bank.selected);
      expect(queued.government.selected).toEqual(reference.government.selected);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const r = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = $1 AND error IS NULL',
          [QUEUE],
        );
        const hostScores = queued.bank.lineage!.selected.filter((s) => s.party === 'government').length;
        console.log(`queue binning job: ${r.rows[0]!.n} bin-sum task(s), ${hostScores} host feature(s) kept`);
        expect(r.rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
    }, 900_000);
  },
);
