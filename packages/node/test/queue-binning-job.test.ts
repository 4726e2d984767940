/**
 * A job whose host node has `queue: pgboss` runs its WOE binning's encrypted bin sums on the queue
 * (issue 18): two in-process party nodes (bank = guest, government = host) over gRPC + mutual TLS, CKKS
 * binning (the default), the government's bin sums as `binSums` tasks evaluated by one `fedscore worker`
 * process holding the bank's public context only. The train stage's products stay on the host's threads
 * (`minColumns` above the column count), so the queue's HE tasks are bin-sum tasks; the align stage's
 * PSI blinding of the government runs on the same queue (`psiHash` / `psiBlind` tasks carrying the
 * run's ephemeral key, psi offload.ts): its jobs are in pg-boss's table, tagged with the job, party and
 * peer, and none of their inputs or results is left once the run has ended.
 *
 * The binning is exact after decoding (counts are rounded out of the flooded sums), so the guest's
 * feature selection -- every feature's IV, what was kept and dropped -- equals the `queue: none` run's
 * exactly, as do both parties' selected columns. The government node's /metrics exports the bin sums'
 * own enqueue-to-result latency (kind `binSums`), and no packed product's.
 */
import type { JobSpecInput, PartyNode } from '@fedscore/node';
import type { BinningCheckpoint } from '@fedscore/pipeline';
import { postgresUnavailable } from '@fedscore/queue/testing';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { metricsAfterKind, type Party, sampleOf, useQueueJob } from './queue-job-fixture.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue binning job test: ${unavailable}`);

const QUEUE = 'he-bins';

describe.skipIf(unavailable !== undefined)(
  'a job with queue: pgboss: the binning host sums on the queue',
  () => {
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

    const q = useQueueJob({
      population: { enterprises: 600, bankCustomers: 500, seed: 19 },
      http: true,
      queue: (_run, url) => ({ kind: 'pgboss', url, name: QUEUE, minColumns: 100_000, expireSeconds: 60 }),
    });
    const run = (name: string, after?: (nodes: Record<Party, PartyNode>) => Promise<void>) =>
      q.run<BinningCheckpoint>(name, spec, 'binning', { after });

    it('the feature selection equals the queue: none run exactly; the sums were queue tasks', async () => {
      const reference = await run('none');
      await q.startWorker(QUEUE);
      let metrics = '';
      const queued = await run('queued', async (nodes) => {
        metrics = await metricsAfterKind(nodes.government, QUEUE, 'binSums');
      });
      const sample = (name: string, labels: string): number => sampleOf(metrics, name, QUEUE, labels);
      expect(sample('fedscore_queue_task_latency_count', 'kind="binSums"')).toBeGreaterThan(0);
      const p50 = sample('fedscore_queue_task_latency_ms', 'kind="binSums",quantile="0.5"');
      const max = sample('fedscore_queue_task_latency_ms', 'kind="binSums",quantile="1"');
      console.log(`queue binning job: bin-sum latency p50 ${p50.toFixed(0)} ms, max ${max.toFixed(0)} ms`);
      expect(p50).toBeGreaterThan(0);
      expect(max).toBeGreaterThanOrEqual(p50);
      // The products stayed on the threads (minColumns): no packed-product latency.
      expect(sample('fedscore_queue_task_latency_count', 'kind="packedProduct"')).toBe(0);
      expect(queued.bank.lineage).toBeDefined();
      expect(queued.bank.lineage).toEqual(reference.bank.lineage);
      expect(queued.bank.selected).toEqual(reference.bank.selected);
      expect(queued.government.selected).toEqual(reference.government.selected);
      const c = new pg.Client({ connectionString: q.url });
      await c.connect();
      try {
        const r = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = $1 AND error IS NULL',
          [QUEUE],
        );
        const hostScores = queued.bank.lineage!.selected.filter((s) => s.party === 'government').length;
        console.log(`queue binning job: ${r.rows[0]!.n} bin-sum task(s), ${hostScores} host feature(s) kept`);
        expect(r.rows[0]!.n).toBeGreaterThan(0);
        // The government's PSI ran on its queue (pg-boss keeps the completed jobs), and its tasks'
        // inputs and results (the run's key, its ids) were dropped when the run ended.
        const prefix = `${JOB}.government.psi-bank.%`;
        const psi = await c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pgboss.job
           WHERE name = $1 AND state = 'completed' AND data->>'taskId' LIKE $2`,
          [QUEUE, prefix],
        );
        expect(psi.rows[0]!.n).toBeGreaterThan(0);
        const left = await c.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM fedscore_task_input WHERE task_id LIKE $1)::int
                + (SELECT count(*) FROM fedscore_task_result WHERE task_id LIKE $1)::int AS n`,
          [prefix],
        );
        expect(left.rows[0]!.n).toBe(0);
      } finally {
        await c.end();
      }
    }, 900_000);
  },
);
